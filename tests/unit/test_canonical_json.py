"""The fast canonical JSON (orjson) writes exactly the bytes of the reference form, so a
record's content hash is the same whichever side, and whichever version, computes it."""

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from federation.protocol import canonical_form, canonical_json, content_hash
from tests.builders import cell_line


def reference(record):
    """The canonical form as the protocol first defined it."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


# JSON as a record can hold it: every float but NaN and infinities (which no record has),
# integers beyond 64 bits, any text (tiny floats spelt out in strings too).
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["1e-05", "0.00001", "x9e-7y", "é", "\u2028", "\x7f", "😀"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=800)
@given(st.dictionaries(st.text(), json_values, max_size=8))
def test_the_canonical_bytes_are_the_reference_bytes(record):
    assert canonical_json(record) == reference(record)


@settings(max_examples=300)
@given(st.floats(allow_nan=False, allow_infinity=False, max_value=1e-3, min_value=-1e-3))
def test_small_floats_which_orjson_spells_otherwise_keep_the_reference_form(value):
    assert canonical_json({"v": value, "w": [value]}) == reference({"v": value, "w": [value]})


def test_the_hash_is_of_the_canonical_bytes():
    record = cell_line("L1", name="Zürich-1")
    text, digest = canonical_form(record)
    assert text == reference(record)
    assert digest == content_hash(record) == hashlib.sha256(reference(record)).hexdigest()


def test_what_orjson_refuses_fails_or_succeeds_as_before():
    import datetime as dt

    for value in ({"big": 2**70}, {1: "an int key"}):
        assert canonical_json(value) == reference(value)
    for value in ({"when": dt.date(2024, 1, 2)}, {"bad": "\ud800"}):
        failures = []
        for encode in (canonical_json, reference):
            try:
                encode(value)
            except (TypeError, UnicodeEncodeError) as exc:
                failures.append(type(exc))
        assert len(failures) == 2 and failures[0] is failures[1]


@settings(max_examples=1000)
@given(
    st.lists(
        st.sampled_from([b"e-", b"e", b"-", b"1", b"0.0000", b"0.000", b"a", b'"']), max_size=12
    )
)
def test_the_tiny_float_scan_says_what_its_regex_says(parts):
    import re

    from federation.protocol import _maybe_tiny_float

    text = b"".join(parts)
    assert _maybe_tiny_float(text) == bool(re.search(rb"[0-9]e-[0-9]|0\.0000", text))
