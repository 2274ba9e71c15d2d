"""The engine client's orjson serializer (search/json_codec.py): the JSON the stock one
writes and reads, and the stock one's answer wherever orjson refuses."""

import datetime as dt
import json

import pytest

from search.engine import ENGINES, SearchEngine
from search.json_codec import serializer_class


@pytest.mark.parametrize("kind", ENGINES)
def test_the_client_of_each_engine_kind_uses_it(kind):
    engine = SearchEngine("http://127.0.0.1:9", kind)
    assert isinstance(engine.client.transport.serializer, serializer_class(kind))


@pytest.mark.parametrize("kind", ENGINES)
def test_it_writes_and_reads_what_the_stock_serializer_does(kind):
    ours = serializer_class(kind)()
    stock = serializer_class(kind).__mro__[1]()
    data = {"a": [1, 2.5, None, True], "é": "Zürich «x»", "when": dt.date(2024, 2, 3), 7: "k"}
    assert json.loads(ours.dumps(data)) == json.loads(stock.dumps(data))
    assert ours.dumps('{"already": "text"}') == '{"already": "text"}'
    assert ours.loads(stock.dumps(data)) == stock.loads(stock.dumps(data))


@pytest.mark.parametrize("kind", ENGINES)
def test_what_orjson_refuses_gets_the_stock_answer(kind):
    ours = serializer_class(kind)()
    assert ours.dumps({"big": 2**70}) == '{"big":1180591620717411303424}'
    assert ours.loads('{"n": NaN}')["n"] != ours.loads('{"n": NaN}')["n"]  # NaN, as json reads
    assert ours.loads('{"big": 1180591620717411303425}') == {"big": 2**70 + 1}
    assert type(ours.loads('{"big": 1180591620717411303425}')["big"]) is int
