"""A part's co-applicants at the node: the researcher's collaborators, whom the portal names
(schemas/co_applicants.py) so the biobank's admins see who else reads the request and may
write in it. The portal sends the whole list whenever it changes; the node keeps the latest
(co_applicant_models.py, migration 0007), shows it on the part's page, and serves the API
call that replaces it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.node.inbox.api import json_object as _json_object
from federation.node.inbox.api import portal_only
from federation.node.inbox.co_applicant_models import InboxCoApplicant
from federation.node.inbox.portal_messages import apply_message
from federation.node.inbox.service import current_inbox


def co_applicants_of(session: Session, part_id: str) -> list[InboxCoApplicant]:
    return list(
        session.execute(
            select(InboxCoApplicant)
            .where(InboxCoApplicant.part_id == part_id)
            .order_by(InboxCoApplicant.position)
        ).scalars()
    )


bp = Blueprint("co_applicants_api", __name__)


@bp.app_context_processor
def _template_access() -> dict[str, Any]:
    """``co_applicants(part_id)`` for the part's page (its view checked the admin's biobank)."""

    def co_applicants(part_id: str) -> list[InboxCoApplicant]:
        with current_inbox().sessions() as session:
            return co_applicants_of(session, part_id)

    return {"co_applicants": co_applicants}


@bp.put("/parts/<part_id>/co-applicants")
@portal_only
def put_co_applicants(part_id: str):
    """The part's co-applicants, the whole list, from the portal; a repeat changes nothing."""
    outcome = apply_message(current_inbox(), "co_applicants", part_id, _json_object())
    if outcome.status == 400:
        abort(400, outcome.body["detail"])
    if outcome.applied:
        current_app.logger.info(
            "part %s has %s co-applicant(s)", part_id, outcome.body["co_applicants"]
        )
    return jsonify(outcome.body), outcome.status
