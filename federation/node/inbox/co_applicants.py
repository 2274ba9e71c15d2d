"""A part's co-applicants at the node: the researcher's collaborators, whom the portal names
(schemas/co_applicants.py) so the biobank's admins see who else reads the request and may
write in it. The portal sends the whole list whenever it changes; the node keeps the latest
(co_applicant_models.py, migration 0007), shows it on the part's page, and serves the API
call that replaces it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from federation.node.inbox.api import portal_only
from federation.node.inbox.co_applicant_models import InboxCoApplicant
from federation.node.inbox.models import InboxPart
from federation.node.inbox.service import current_inbox
from federation.web.json_body import load_json
from schemas.co_applicants import CoApplicantsSchema


class CoApplicantsNotFound(LookupError):
    """No such part at this node (HTTP 404)."""


def replace_co_applicants(session: Session, data: dict[str, Any]) -> int:
    """Keep ``data`` (CoApplicantsSchema, loaded) as the part's co-applicants; returns how many."""
    if session.get(InboxPart, data["part_id"]) is None:
        raise CoApplicantsNotFound(f"no part {data['part_id']} at this node")
    session.execute(delete(InboxCoApplicant).where(InboxCoApplicant.part_id == data["part_id"]))
    for position, co in enumerate(data["co_applicants"]):
        session.add(
            InboxCoApplicant(
                part_id=data["part_id"],
                position=position,
                name=co.get("name"),
                email=co["email"],
                added_at=co["added_at"],
            )
        )
    return len(data["co_applicants"])


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
    data = load_json(CoApplicantsSchema())
    if data["part_id"] != part_id:
        abort(400, f"the body's part_id {data['part_id']!r} is not the URL's {part_id!r}")
    try:
        with current_inbox().sessions.begin() as session:
            count = replace_co_applicants(session, data)
    except CoApplicantsNotFound as exc:
        return jsonify(error="not_found", detail=str(exc)), 404
    current_app.logger.info("part %s has %d co-applicant(s)", part_id, count)
    return jsonify(part_id=part_id, co_applicants=count), 200
