"""The mailbox API for push-mode nodes (portal/access/mailbox.py): long-poll the messages
addressed to you, acknowledge what you stored. The node's own client-credentials token, as
for its event reports (api.py); a node reads and acknowledges its own mailbox only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from federation.bearer import principal
from portal.access.api import nodes_only
from portal.access.context import current_access
from portal.access.mailbox import Ack, NotInMailbox, message_wire
from portal.access.mailbox_params import AckInvalid, parse_acks, parse_poll

bp = Blueprint("mailbox_api", __name__)


def _own_mailbox(node_id: str) -> None:
    """403 for another node's token, 404 for a node that has no mailbox here."""
    if principal().client_id != node_id:
        abort(403, f"this token is not node {node_id}'s: a node reads its own mailbox only")
    member = next((m for m in current_access().members() if m.id == node_id), None)
    if member is None or not member.pushes:
        abort(404, f"node {node_id} has no mailbox: it is not a push-mode member")


@bp.get("/<node_id>/mailbox")
@nodes_only
def poll(node_id: str):
    """The node's open messages after ``after``, waiting up to ``wait`` seconds for one."""
    _own_mailbox(node_id)
    try:
        after, wait = parse_poll(request.args, float(current_app.config["MAILBOX_MAX_WAIT"]))
    except ValueError as exc:
        abort(400, str(exc))
    found = current_access().mailbox.poll(node_id, after, wait)
    cursor = found[-1].id if found else after
    return jsonify(node_id=node_id, cursor=cursor, messages=[message_wire(m) for m in found])


@bp.post("/<node_id>/mailbox/ack")
@nodes_only
def ack(node_id: str):
    """Mark the listed messages delivered (or refused, with the node's reason)."""
    _own_mailbox(node_id)
    body: Any = request.get_json(silent=True)
    try:
        acks: list[Ack] = parse_acks(body)
    except AckInvalid as exc:
        abort(400, str(exc))
    try:
        new = current_access().mailbox.ack(node_id, acks)
    except NotInMailbox as exc:
        abort(404, str(exc))
    return jsonify(acknowledged=len(acks), new=new), 200
