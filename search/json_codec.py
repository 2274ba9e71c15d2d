"""JSON for the engine's clients and the web apps, through orjson.

Parsing the engine's answers and writing the API's responses was a tenth of the portal's CPU
per search with the standard library (bench/README.md, "Profile"); orjson does the same work
several times faster. What orjson cannot write (an integer beyond 64 bits, a type it does not
know that the caller's ``default`` does not either) falls back to the standard library, so
nothing that serialised before fails now.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import orjson

OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(data: Any, default: Any = None, sort_keys: bool = False) -> str:
    """Compact JSON text, not ASCII-escaped (as the engines' clients send it)."""
    try:
        options = OPTIONS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
        return orjson.dumps(data, default=default, option=options).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(
            data, default=default, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys
        )


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def engine_serializer(kind: str) -> Any:
    """The client library's JSON serializer, with orjson doing the work."""
    package = "opensearchpy" if kind == "opensearch" else "elasticsearch"
    JSONSerializer = importlib.import_module(f"{package}.serializer").JSONSerializer
    SerializationError = importlib.import_module(f"{package}.exceptions").SerializationError

    class OrjsonSerializer(JSONSerializer):  # type: ignore[valid-type, misc]
        def loads(self, s: str) -> Any:
            try:
                return loads(s)
            except orjson.JSONDecodeError as exc:
                raise SerializationError(s, exc) from exc

        def dumps(self, data: Any) -> Any:
            if isinstance(data, str):
                return data  # already serialised (a bulk body, say)
            try:
                return dumps(data, default=self.default)
            except (ValueError, TypeError) as exc:
                raise SerializationError(data, exc) from exc

    return OrjsonSerializer()
