"""The portal's access API for member nodes: report events, fetch attachments. Each call
needs the node's own client-credentials token; a node reaches only its own parts. An
attachment removed under the retention rule (portal/access/retention.py) is 410 Gone."""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, send_file

from federation.bearer import principal, require_token
from federation.web.json_body import load_json
from portal.access.context import current_access
from portal.access.models import Attachment
from portal.access.retention import removed_notice
from portal.access.service import ForgedEvent, RequestNotFound
from schemas.access import EventSchema

bp = Blueprint("access_api", __name__)

nodes_only = require_token(
    verifier=lambda: current_access().verifier,
    audience=lambda: current_app.config["OIDC_AUDIENCE"],
    clients=lambda: current_access().member_ids(),  # a node's client id is its member id
)


def _node_id() -> str:
    """The calling node's member id (its token's client id, which ``nodes_only`` checked)."""
    client_id = principal().client_id
    if client_id is None:
        raise AssertionError("nodes_only let a token without a client id through")
    return client_id


@bp.post("/events")
@nodes_only
def post_event():
    """One event of a part, from the node that holds the part. Repeats change nothing."""
    event = load_json(EventSchema())
    try:
        new = current_access().service.apply_events(_node_id(), event["part_id"], [event])
    except RequestNotFound as exc:
        abort(404, str(exc))
    except ForgedEvent as exc:
        abort(409, str(exc))
    return jsonify(accepted=True, new=bool(new)), 200


@bp.get("/parts/<part_id>/attachments/<attachment_id>")
@nodes_only
def attachment(part_id: str, attachment_id: str):
    try:
        found = current_access().service.attachment_for_node(_node_id(), part_id, attachment_id)
    except RequestNotFound as exc:
        abort(404, str(exc))
    return send_attachment(found)


def send_attachment(found: Attachment):
    """The file as a download; 410 Gone when it was removed under the retention rule (or
    went missing), saying so."""
    notice = removed_notice(found)
    if notice:
        abort(410, f"{found.filename} was {notice}")
    handle = current_access().service.files.open(found.stored_name)
    if handle is None:  # also a file deleted between reading the row and opening it
        abort(410, "the attachment's file is gone from the portal's storage")
    resp = send_file(
        handle,
        mimetype=found.content_type,
        as_attachment=True,
        download_name=found.filename,
        max_age=0,
    )
    resp.content_length = os.fstat(handle.fileno()).st_size
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())


@cache
def spec() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("openapi.json").read_text())
