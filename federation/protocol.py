"""What both ends of the sync agree on, beyond the wire schemas in schemas/feed.py."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

# orjson writes some small floats (|x| < 1e-4) differently from Python's repr ("1e-5" or
# "0.00001" for "1e-05"); every other JSON value it writes as json.dumps below does. Where
# its output could hold such a float (or a string that looks like one), the slow path
# decides, so the canonical form never changes (tests/unit/test_canonical_json.py).
_DIGITS = frozenset(b"0123456789")
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS
_ORJSON_OPTIONS |= orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _slow_canonical(record: Any) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_json(record: Any) -> bytes:
    """A record's canonical JSON (sorted keys, no spaces, UTF-8): what its hash is of.

    orjson when it is certain to write the same bytes; json.dumps otherwise (what orjson
    refuses, such as integers beyond 64 bits, non-string keys or dates, goes there too, and
    fails or succeeds exactly as before). One exception: NaN and the infinities, which orjson
    writes as null and json.dumps as NaN; no schema lets them into a record.
    """
    try:
        text = orjson.dumps(record, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return _slow_canonical(record)
    return _slow_canonical(record) if _maybe_tiny_float(text) else text


def _maybe_tiny_float(text: bytes) -> bool:
    """Whether ``text`` holds "0.0000" or a digit, "e-", a digit: as the regex
    ``[0-9]e-[0-9]|0\\.0000`` would say, some ten times faster (bytes.find is C)."""
    if b"0.0000" in text:
        return True
    at = text.find(b"e-")
    while at != -1:
        if 0 < at < len(text) - 2 and text[at - 1] in _DIGITS and text[at + 2] in _DIGITS:
            return True
        at = text.find(b"e-", at + 2)
    return False


def canonical_hash(text: bytes) -> str:
    """The content hash of a record's canonical JSON bytes."""
    return hashlib.sha256(text).hexdigest()


def canonical_form(record: dict[str, Any]) -> tuple[bytes, str]:
    """(canonical JSON bytes, content hash) of a record: a node stores both at write time."""
    text = canonical_json(record)
    return text, canonical_hash(text)


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON (sorted keys, no spaces, UTF-8).

    The node sends it with each entry; the indexer recomputes it to catch records damaged
    on the way, and keeps it so the index can be compared with the nodes exactly.
    """
    return canonical_hash(canonical_json(record))


def tombstone_hash(kind: str, local_id: str) -> str:
    return hashlib.sha256(f"deleted:{kind}:{local_id}".encode()).hexdigest()
