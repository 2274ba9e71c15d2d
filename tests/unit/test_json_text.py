"""Reading JSON with orjson as the json module reads it (federation/json_text.py)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.json_text import loads

HUGE = 2**70 + 1  # beyond 64 bits and not a float's exact value


@pytest.mark.parametrize("text", [f'{{"n": {HUGE}}}', f"[-{HUGE}]", '{"n": 18446744073709551616}'])
def test_integers_beyond_64_bits_read_exactly(text):
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)
    value = next(iter(loads(text).values())) if text.startswith("{") else loads(text)[0]
    assert type(value) is int


def test_what_orjson_refuses_reads_as_json_reads_it_and_json_errors_stay():
    assert math.isnan(loads('{"x": NaN}')["x"])
    with pytest.raises(ValueError):
        loads(b'{"x": ')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(json_values)
def test_any_json_reads_the_same_as_with_the_json_module(value):
    text = json.dumps(value)
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)
