"""The apps' JSON responses through orjson: writing the search API's answer with the standard
library was a measurable share of the portal's CPU per search (bench/README.md, "Profile").

The same values as Flask's own provider writes: dates as HTTP dates, dataclasses as objects,
``Markup`` as its text, keys in the order the views build them. Not the same bytes: text is
UTF-8 rather than ``\\u`` escapes, and NaN is written as null (JSON has no NaN).
"""

from __future__ import annotations

from typing import Any, cast

import orjson
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider

from federation import json_text


class OrjsonProvider(DefaultJSONProvider):
    sort_keys = False  # the views' order is the documents' order (OpenAPI examples too)

    def _bytes(self, obj: Any, indent: bool = False) -> bytes | None:
        # Dates pass through to Flask's default, which writes them as HTTP dates.
        options = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
        if indent:
            options |= orjson.OPT_INDENT_2
        try:
            return orjson.dumps(obj, default=self.default, option=options)
        except (orjson.JSONEncodeError, TypeError):
            return None  # beyond orjson (an integer over 64 bits): Flask's own way

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if set(kwargs) <= {"indent", "separators"}:
            data = self._bytes(obj, indent=bool(kwargs.get("indent")))
            if data is not None:
                return data.decode()
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json_text.loads(s) if not kwargs else super().loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        indent = (self.compact is None and self._app.debug) or self.compact is False
        data = self._bytes(obj, indent=indent)
        if data is None:
            return cast(Response, super().response(obj))
        response_class = cast(type[Response], self._app.response_class)
        return response_class(data + b"\n", mimetype=self.mimetype)


def init_json(app: Flask) -> None:
    app.json = OrjsonProvider(app)
