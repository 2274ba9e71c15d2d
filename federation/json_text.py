"""Reading JSON with orjson, and reading it as the json module does.

orjson parses several times faster, but it reads an integer beyond 64 bits as a float (the
json module: the exact integer) and refuses NaN and Infinity (the json module reads them).
Text holding a run of 19 digits or more, which any such integer needs, goes to the json
module, as does what orjson refuses; so a value reads the same whichever parser ran, and
json's error is the error. The check costs a tenth of orjson's parse (bytes.translate).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DIGITS_AS_ZERO = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))
_LONG_RUN = b"0" * 19  # 2**63 has 19 digits


def may_hold_a_long_integer(data: bytes) -> bool:
    return data.translate(_DIGITS_AS_ZERO).find(_LONG_RUN) != -1


def loads(data: str | bytes) -> Any:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if may_hold_a_long_integer(raw):
        return json.loads(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
