"""Reading JSON with orjson, and reading it as the json module does.

orjson parses several times faster, but it reads an integer beyond 64 bits as a float (the
json module: the exact integer) and refuses NaN and Infinity (the json module reads them).
Text holding a run of 19 digits or more, which any such integer needs, goes to the json
module, as does what orjson refuses; so a value reads the same whichever parser ran, and
json's error is the error. The check costs a tenth of orjson's parse (bytes.translate).

Only a run that can begin a number counts: one at the start of the text or after what may
stand before a number in JSON (``: , [`` or white space, then a minus sign or not). A run
inside a string after a letter or a hyphen (a content hash's hex digits: a feed page of
1,000 holds several; an index name's timestamp, ``catalogue-v2-20261201141825996795``, in
every engine answer) cannot be a number, and had sent nearly every feed page and engine
answer to the json module, four times slower.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_BEFORE_A_NUMBER = b":,[ \t\n\r"
# Digits become "0", what may stand before a number ":", a minus sign stays, anything else " ".
_MARKS = bytes(
    48 if 48 <= i <= 57 else 58 if i in _BEFORE_A_NUMBER else 45 if i == 45 else 32
    for i in range(256)
)
_LONG_RUN = b"0" * 19  # 2**63 has 19 digits
_STARTS = (_LONG_RUN, b"-" + _LONG_RUN)


def may_hold_a_long_integer(data: bytes) -> bool:
    marked = data.translate(_MARKS)
    return (
        marked.startswith(_STARTS)
        or marked.find(b":" + _LONG_RUN) != -1
        or marked.find(b":-" + _LONG_RUN) != -1
    )


def loads(data: str | bytes) -> Any:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if may_hold_a_long_integer(raw):
        return json.loads(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
