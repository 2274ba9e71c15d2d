"""The JSON body of an API request, loaded by its schema: 400 naming each field that is wrong.

Shared by the node's and the portal's APIs, so every one of them answers bad input alike.
"""

from __future__ import annotations

from typing import Any

from flask import abort, request
from marshmallow import Schema, ValidationError

from schemas.errors import format_errors


def load_json(schema: Schema) -> dict[str, Any]:
    """The request's JSON object as ``schema`` loads it; 400 if it is not one or not valid."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "send a JSON object (Content-Type: application/json)")
    try:
        return schema.load(body)
    except ValidationError as exc:
        abort(400, "; ".join(format_errors(exc.messages)))
