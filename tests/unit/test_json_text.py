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


def test_only_digit_runs_that_can_begin_a_number_send_text_to_the_json_module():
    from federation.json_text import may_hold_a_long_integer

    digest = "ab" + "1234567890" * 2 + "cd"  # a content hash's hex digits: inside a string
    assert not may_hold_a_long_integer(f'{{"hash": "{digest}"}}'.encode())
    index = "bench-catalogue-v2-20261201141825996795"  # a rebuilt index's name: in every answer
    assert not may_hold_a_long_integer(f'{{"_index": "{index}", "took": 3}}'.encode())
    for text in (
        f"{HUGE}",
        f"-{HUGE}",
        f"[1,{HUGE}]",
        f"[1,-{HUGE}]",
        f'{{"n":-{HUGE}}}',
        f'{{"n":\n {HUGE}}}',
        f'{{"n": -{HUGE}}}',
    ):
        assert may_hold_a_long_integer(text.encode()), text
        assert loads(text) == json.loads(text)


@given(st.lists(st.integers() | st.text(alphabet='0123456789abcdef"\\:, -'), max_size=8))
def test_digit_runs_in_strings_and_integers_of_any_size_read_as_json_reads_them(values):
    for text in (json.dumps(values), json.dumps(values, separators=(",", ":"))):
        assert loads(text) == json.loads(text)
        assert [type(v) for v in loads(text)] == [type(v) for v in json.loads(text)]
