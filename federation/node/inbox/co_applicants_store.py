"""Storing a part's co-applicants at the node (the list the portal sends, whole), apart from
the HTTP handler so the mailbox (portal_messages.py) stores it through the same code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from federation.node.inbox.co_applicant_models import InboxCoApplicant
from federation.node.inbox.models import InboxPart


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
