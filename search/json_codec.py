"""The engine client's JSON, with orjson: bulk bodies out, answers in.

The stock serializers use the json module, and for a harvest that is the indexer's largest
single cost after checking records (bench/README.md, Federation, Profile). orjson writes
and reads the same JSON; whatever it refuses (integers beyond 64 bits, a malformed answer)
goes to the stock serializer, which answers, or fails, exactly as before.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from federation import json_text

_OPTIONS = orjson.OPT_NON_STR_KEYS  # as json.dumps, which writes int keys as strings


@cache  # one class per engine kind, not one per client
def serializer_class(kind: str) -> type:
    """The serializer class for the client of engine ``kind`` (search/engine.py ENGINES)."""
    if kind == "elasticsearch7":
        from elasticsearch.serializer import JSONSerializer as Stock
    else:
        from opensearchpy.serializer import JSONSerializer as Stock  # type: ignore[assignment]

    class OrjsonSerializer(Stock):
        def dumps(self, data: Any) -> Any:
            if isinstance(data, str | bytes):
                return data  # already serialised, as the stock one leaves it
            try:
                return orjson.dumps(data, default=self.default, option=_OPTIONS).decode()
            except (orjson.JSONEncodeError, TypeError):
                return super().dumps(data)

        def loads(self, s: Any) -> Any:
            try:
                return json_text.loads(s)
            except (ValueError, RecursionError):
                return super().loads(s)  # the library's own error

    return OrjsonSerializer


def codec(kind: str) -> dict[str, Any]:
    """The client options that give an engine client of ``kind`` this module's JSON."""
    return {"serializer": serializer_class(kind)()}
