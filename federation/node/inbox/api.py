"""The node's access-request API, called by the portal only (its client-credentials token,
with this node in the token's audience). Both calls are idempotent by the ids they carry."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify

from federation.bearer import require_token
from federation.node.identity import current_identity
from federation.node.inbox.agreements import document_for_portal
from federation.node.inbox.service import PartConflict, PartNotAccepted, PartNotFound, current_inbox
from federation.web.json_body import load_json
from schemas.access import ActionSchema, PartSchema
from schemas.lifecycle import TransitionRefused

bp = Blueprint("inbox_api", __name__)

portal_only = require_token(
    verifier=lambda: current_identity().verifier,
    audience=lambda: current_app.config["NODE_ID"],  # tokens minted for this node only
    clients=lambda: {current_app.config["PORTAL_CLIENT_ID"]},
)


def _problem(status: int, error: str, detail: str):
    return jsonify(error=error, detail=detail), status


@bp.put("/parts/<part_id>")
@portal_only
def put_part(part_id: str):
    """Receive one part of a request; repeating the same part is answered 200, not stored again."""
    data = load_json(PartSchema())
    if data["id"] != part_id:
        abort(400, f"the body's id {data['id']!r} is not the URL's {part_id!r}")
    try:
        part, events, created = current_inbox().receive(data)
    except PartNotAccepted as exc:
        return _problem(422, "part_not_accepted", str(exc))
    except PartConflict as exc:
        return _problem(409, "conflict", str(exc))
    return jsonify(part=part, events=events), 201 if created else 200


@bp.post("/parts/<part_id>/actions")
@portal_only
def post_action(part_id: str):
    """A researcher's action (withdraw, provide_info, message); repeats return the same event."""
    data = load_json(ActionSchema())
    try:
        event, created = current_inbox().relay(part_id, data)
    except PartNotFound as exc:
        return _problem(404, "not_found", str(exc))
    except PartConflict as exc:
        return _problem(409, "conflict", str(exc))
    except TransitionRefused as exc:
        return _problem(409, "transition_refused", str(exc))
    return jsonify(event=event), 201 if created else 200


@bp.get("/parts/<part_id>/evidence/<evidence_id>")
@portal_only
def evidence_document(part_id: str, evidence_id: str):
    """A document the biobank gave as evidence (its MTA, its countersignature), for the
    portal to pass on to the request's owner and co-applicants (the portal decides who)."""
    try:
        row = document_for_portal(current_inbox(), part_id, evidence_id)
    except PartNotFound as exc:
        return _problem(404, "not_found", str(exc))
    return Response(
        row.content,
        content_type=row.content_type or "application/octet-stream",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())


@cache
def spec() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("openapi.json").read_text())
