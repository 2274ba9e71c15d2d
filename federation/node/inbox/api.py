"""The node's access-request API, called by the portal only (its client-credentials token,
with this node in the token's audience). Both calls are idempotent by the ids they carry."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from federation.bearer import require_token
from federation.node.identity import current_identity
from federation.node.inbox.portal_messages import apply_message
from federation.node.inbox.service import current_inbox

bp = Blueprint("inbox_api", __name__)

portal_only = require_token(
    verifier=lambda: current_identity().verifier,
    audience=lambda: current_app.config["NODE_ID"],  # tokens minted for this node only
    clients=lambda: {current_app.config["PORTAL_CLIENT_ID"]},
)


def json_object() -> dict[str, Any]:
    """The request's JSON object body, or 400."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "send a JSON object (Content-Type: application/json)")
    return body


def _problem(status: int, error: str, detail: str):
    return jsonify(error=error, detail=detail), status


def _answer(kind: str, part_id: str):
    """Apply the portal's message through the code the mailbox uses too (portal_messages.py)."""
    outcome = apply_message(current_inbox(), kind, part_id, json_object())
    if outcome.status == 400:
        abort(400, outcome.body["detail"])
    return jsonify(outcome.body), outcome.status


@bp.put("/parts/<part_id>")
@portal_only
def put_part(part_id: str):
    """Receive one part of a request; repeating the same part is answered 200, not stored again."""
    return _answer("deliver_part", part_id)


@bp.post("/parts/<part_id>/actions")
@portal_only
def post_action(part_id: str):
    """A researcher's action (withdraw, provide_info, message); repeats return the same event."""
    return _answer("action", part_id)


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())


@cache
def spec() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("openapi.json").read_text())
