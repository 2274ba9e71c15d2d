"""Agreements with evidence: each condition of an approval is a checklist item with its proof.

An MTA condition needs three documents, in order: the biobank's MTA document (uploaded by
an admin here), the researcher's signed copy, and the biobank's countersignature (here).
Every other condition is met when an admin marks it met, with a note saying how. A
condition is met when every piece of its evidence is there; a shipment cannot be recorded
until every condition of the part's approval is met (shipment.py asks :func:`unmet`).

Documents are PDF only, with the portal's checks of an upload (portal/access/attachments.py:
size, type by content, a name that matches it); they are kept where they are uploaded and
served only to the part's biobank's admins (the inbox's 404 for anyone else's part). Each
piece of evidence is an ``evidence`` event of the part: in the audit trail, and reported
to the portal so the researcher is told; a document goes with its report (the portal keeps
its copy for the request's readers, so it never calls the node for one).
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.database import utcnow
from federation.node.inbox.models import ConditionEvidence, InboxPart
from federation.node.inbox.service import Acting, Inbox, PartNotFound, event_wire
from federation.uploads import check_upload
from schemas.lifecycle import CONDITIONS, Actor, TransitionRefused


@dataclass(frozen=True)
class Evidence:
    """One item of a condition's checklist: what it is, who provides it, whether a file."""

    kind: str
    label: str
    by: Actor
    document: bool = False


MTA_EVIDENCE = (
    Evidence("mta_document", "The biobank's MTA document", Actor.BIOBANK, document=True),
    Evidence("signed_copy", "The researcher's signed copy", Actor.RESEARCHER, document=True),
    Evidence("countersignature", "The biobank's countersignature", Actor.BIOBANK, document=True),
)
MARKED_MET = (Evidence("met", "The biobank's confirmation that it is met", Actor.BIOBANK),)
DOCUMENT_TYPE = "application/pdf"


def evidence_for(condition: str) -> tuple[Evidence, ...]:
    """The checklist of one condition (config as data: add a condition's list here)."""
    return MTA_EVIDENCE if condition == "mta" else MARKED_MET


class EvidenceRefused(TransitionRefused):
    """Evidence that cannot be taken as sent; the message names the condition and the item."""


@dataclass(frozen=True)
class ChecklistItem:
    condition: str
    label: str
    evidence: tuple[tuple[Evidence, ConditionEvidence | None], ...]

    @property
    def met(self) -> bool:
        return all(found is not None for _, found in self.evidence)


def conditions_of(part: InboxPart) -> list[str]:
    """The conditions of the part's (latest) approval."""
    approvals = [e for e in part.events if e.type == "approve"]
    return list(approvals[-1].conditions or []) if approvals else []


def checklist(session: Session, part: InboxPart) -> list[ChecklistItem]:
    rows = session.execute(
        select(ConditionEvidence)
        .where(ConditionEvidence.part_id == part.id)
        .order_by(ConditionEvidence.at)
    ).scalars()
    latest = {(r.condition, r.kind): r for r in rows}  # a later upload replaces an earlier
    return [
        ChecklistItem(
            c,
            CONDITIONS[c],
            tuple((e, latest.get((c, e.kind))) for e in evidence_for(c)),
        )
        for c in conditions_of(part)
    ]


def unmet(session: Session, part: InboxPart) -> list[str]:
    """What is missing, one line per condition that is not met (empty: all met)."""
    return [
        f"{item.condition}: missing "
        + ", ".join(e.label.lower() for e, found in item.evidence if found is None)
        for item in checklist(session, part)
        if not item.met
    ]


def checklist_of(inbox: Inbox, part_id: str, biobanks: Collection[str]) -> list[ChecklistItem]:
    with inbox.sessions() as session:
        items = checklist(session, inbox._visible(session, part_id, biobanks))
        session.expunge_all()
        return items


def add_evidence(
    inbox: Inbox,
    part_id: str,
    biobanks: Collection[str],
    acting: Acting,
    condition: str,
    kind: str,
    *,
    note: str | None = None,
    upload: tuple[IO[bytes], str | None] | None = None,
    max_bytes: int = 10 * 1024 * 1024,
) -> dict[str, Any]:
    """Record one piece of evidence (an admin's, at this node) with its ``evidence`` event
    and the report to the portal. EvidenceRefused, AttachmentRejected or TransitionRefused:
    nothing is stored."""
    with inbox.sessions.begin() as session:
        part = inbox._visible(session, part_id, biobanks)
        item = _item(session, part, condition, kind, acting.actor)
        row = ConditionEvidence(
            part_id=part.id, condition=condition, kind=kind,
            note=(note or "").strip() or None, actor=acting.actor.value,
            actor_name=acting.name, at=utcnow(),
        )  # fmt: skip
        if item.document:
            _attach(row, item, upload, max_bytes)
        elif not row.note:
            raise EvidenceRefused(f"{condition}: say how the condition was met (a note)")
        said = f"{CONDITIONS[condition]}: {item.label.lower()}"
        said += f" ({row.filename})" if row.filename else f": {row.note}"
        event = inbox._append(session, part, "evidence", acting, text=said, origin="node")
        row.id = event.id  # the researcher's portal asks for a document by its event
        session.add(row)
        wire = event_wire(event)
        report = {**wire, "document": document_wire(row)} if row.content else wire
        inbox.outbox.enqueue(session, "event", "portal", report, key=part.id)
    inbox.outbox.wake()
    return wire


def document_wire(row: ConditionEvidence) -> dict[str, str]:
    """The document as its evidence event carries it to the portal (EventDocumentSchema): the
    portal keeps its own copy and never calls the node for it (outbound-only nodes)."""
    if row.filename is None or row.content is None:
        raise ValueError(f"evidence {row.id} has no document")
    return {"filename": row.filename, "content": base64.b64encode(row.content).decode("ascii")}


def _item(session: Session, part: InboxPart, condition: str, kind: str, actor: Actor) -> Evidence:
    """The checklist item ``kind`` of ``condition``, if this actor may provide it now."""
    conditions = conditions_of(part)
    if condition not in conditions:
        named = ", ".join(conditions) or "none"
        raise EvidenceRefused(
            f"condition {condition!r} is not one of this approval's (its conditions: {named})"
        )
    items = {e.kind: e for e in evidence_for(condition)}
    if kind not in items:
        raise EvidenceRefused(
            f"{condition}: no evidence {kind!r}; its checklist: {', '.join(items)}"
        )
    item = items[kind]
    if item.by != actor:
        raise EvidenceRefused(f"{condition}: {item.label.lower()} comes from the {item.by.value}")
    if kind == "countersignature":
        have = {e.kind for e, found in _condition(session, part, condition) if found}
        if "signed_copy" not in have:
            raise EvidenceRefused("mta: countersign only once the researcher's signed copy is in")
    return item


def _condition(
    session: Session, part: InboxPart, condition: str
) -> tuple[tuple[Evidence, ConditionEvidence | None], ...]:
    return next(i.evidence for i in checklist(session, part) if i.condition == condition)


def _attach(
    row: ConditionEvidence,
    item: Evidence,
    upload: tuple[IO[bytes], str | None] | None,
    max_bytes: int,
) -> None:
    if upload is None:
        raise EvidenceRefused(f"{row.condition}: {item.label.lower()} needs a file (a PDF)")
    checked = check_upload(upload[0], upload[1], max_bytes)  # AttachmentRejected
    if checked.content_type != DOCUMENT_TYPE:
        raise EvidenceRefused(
            f"{checked.filename}: {item.label.lower()} must be a PDF document, not "
            f"{checked.content_type}"
        )
    row.filename, row.content_type = checked.filename, checked.content_type
    row.sha256, row.content = checked.sha256, checked.data


def document(
    inbox: Inbox, part_id: str, biobanks: Collection[str], evidence_id: str
) -> ConditionEvidence:
    """A document of the part (kept here, or a reference to the portal's copy: no content),
    for the part's biobank's admins only (404 otherwise)."""
    with inbox.sessions() as session:
        inbox._visible(session, part_id, biobanks)
        row = session.get(ConditionEvidence, evidence_id)
        if row is None or row.part_id != part_id or row.filename is None:
            raise PartNotFound(f"part {part_id} has no document {evidence_id}")
        session.expunge(row)
        return row


def keep_relayed(session: Session, part: InboxPart, action: dict[str, Any]) -> None:
    """The researcher's evidence, relayed by the portal (the inbox's relay hook): the file
    stays at the portal; the node keeps its reference and fetches it on demand, like the
    request's attachments."""
    ref = action.get("evidence")
    if ref is None:
        raise EvidenceRefused("evidence: name the condition and the document")
    condition, kind, attachment = ref["condition"], ref["kind"], ref["attachment"]
    item = _item(session, part, condition, kind, Actor.RESEARCHER)
    if item.document and attachment["content_type"] != DOCUMENT_TYPE:
        raise EvidenceRefused(
            f"{attachment['filename']}: {item.label.lower()} must be a PDF document, not "
            f"{attachment['content_type']}"
        )
    session.add(
        ConditionEvidence(
            id=attachment["id"], part_id=part.id, condition=condition, kind=kind,
            note=(action.get("text") or "").strip() or None, filename=attachment["filename"],
            content_type=attachment["content_type"], sha256=attachment["sha256"],
            actor=Actor.RESEARCHER.value, actor_name=action["actor_name"], at=utcnow(),
        )
    )  # fmt: skip


def install(inbox: Inbox) -> None:
    """Let the inbox keep the researcher's relayed evidence."""
    inbox.relay_hooks["evidence"] = keep_relayed
