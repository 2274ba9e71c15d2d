"""Whom each part of a researcher's request waits on, and since when: on the request page
(through ``waiting_views`` in templates) and as JSON; and the "keep waiting" choice on a part
marked unresponsive. Thin over portal/access/escalation.py."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, flash, jsonify, redirect, url_for

from federation.web.login import current_user, login_required, signed_in_user
from portal.access.escalation import CLOCK_EVENT_LABELS, KeepWaitingRefused, escalation_of
from portal.access.membership import OwnerOnly
from portal.access.service import RequestNotFound

bp = Blueprint("waiting", __name__)


@bp.app_context_processor
def _waiting_globals() -> dict:
    return {
        "waiting_views": lambda parts: escalation_of(current_app).views(parts),
        "clock_event_labels": CLOCK_EVENT_LABELS,
    }


@bp.post("/requests/<request_id>/parts/<part_id>/keep-waiting")
@login_required
def keep_waiting(request_id: str, part_id: str):
    try:
        escalation_of(current_app).keep_waiting(signed_in_user(), request_id, part_id)
    except RequestNotFound as exc:
        abort(404, str(exc))
    except OwnerOnly as exc:  # a co-applicant reads the waiting but does not choose
        abort(403, str(exc))
    except KeepWaitingRefused as exc:
        abort(409, f"Not done: {exc}. Nothing was changed.")
    flash("Recorded: you keep waiting on this biobank.")
    return redirect(url_for("access.request_page", request_id=request_id) + f"#part-{part_id}")


@bp.get("/api/v1/requests/<request_id>/waiting")
def waiting_json(request_id: str):
    """Per part of the signed-in researcher's request: whom it waits on, since when."""
    from portal.access.context import current_access

    user = current_user()
    if user is None:
        abort(401, "Please log in first.")
    try:
        found = current_access().service.request_of(user, request_id)
    except RequestNotFound as exc:
        abort(404, str(exc))
    views = escalation_of(current_app).views(found.parts)
    parts = [
        {
            "part_id": p.id,
            "biobank_id": p.biobank_id,
            "biobank_name": p.biobank_name,
            "node_id": p.node_id,
            "state": p.state,
            **views[p.id].as_json(),
        }
        for p in found.parts
    ]
    return jsonify(request_id=found.id, parts=parts)


def init_waiting(app: Flask) -> None:
    app.register_blueprint(bp)
