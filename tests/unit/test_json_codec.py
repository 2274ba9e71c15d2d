"""orjson behind the engines' clients and the apps' JSON: the same text as before, faster."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from flask import Flask, jsonify
from markupsafe import Markup

from federation.web.json_provider import init_json
from search.json_codec import dumps, engine_serializer, loads


@pytest.mark.parametrize("kind", ["opensearch", "elasticsearch7"])
def test_the_engine_serializer_writes_what_the_client_library_wrote(kind):
    if kind == "opensearch":
        from opensearchpy.serializer import JSONSerializer
    else:
        from elasticsearch.serializer import JSONSerializer
    data = {
        "when": dt.datetime(2026, 12, 1, 9, 30, 5, 123456, tzinfo=dt.UTC),
        "day": dt.date(2026, 12, 1),
        "id": uuid.UUID(int=7),
        "name": "Zellbank Berlin – Ärzte",
        "n": [1, 2.5, None, True],
    }
    ours, theirs = engine_serializer(kind), JSONSerializer()
    assert json.loads(ours.dumps(data)) == json.loads(theirs.dumps(data))
    assert ours.dumps("already text\n") == "already text\n"  # bulk bodies pass through
    assert ours.loads('{"a": [1, "é"]}') == {"a": [1, "é"]}


def test_a_bad_answer_from_the_engine_is_the_client_librarys_error():
    from opensearchpy.exceptions import SerializationError

    with pytest.raises(SerializationError):
        engine_serializer("opensearch").loads("{not json")


def test_what_orjson_cannot_write_falls_back_to_the_standard_library():
    huge = 2**70  # beyond 64 bits
    assert loads(dumps({"n": huge})) == {"n": huge}
    assert dumps({2: "x"}) == '{"2":"x"}'
    assert dumps({"b": 1, "a": 2}, sort_keys=True) == '{"a":2,"b":1}'


def test_the_apps_json_keeps_flasks_formats_and_the_views_key_order():
    app = Flask(__name__)
    init_json(app)

    @app.get("/x")
    def x():
        return jsonify(
            z=1, a=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), m=Markup("<b>x</b>"), big=2**70
        )

    resp = app.test_client().get("/x")
    assert resp.mimetype == "application/json"
    assert list(resp.json) == ["z", "a", "m", "big"]
    assert resp.json["a"] == "Tue, 01 Dec 2026 00:00:00 GMT"  # an HTTP date, as Flask wrote it
    assert resp.json["m"] == "<b>x</b>" and resp.json["big"] == 2**70
    assert app.json.loads(b'{"a": 1}') == {"a": 1}
