"""The researcher's side of stock, agreements and shipment (issue 11), over AccessService.

* The receipt: once a part is shipped, its owner confirms the date it arrived and the state
  of the material (good, damaged, thawed) with an optional note; relayed to the node as a
  ``confirm_receipt`` action, which fulfils the part there.
* The signed MTA: the owner uploads the signed copy of the biobank's MTA (a PDF, with the
  attachment checks). It is kept here with the request's files (so the node fetches it as it
  fetches them, with its token, and nobody else can) and relayed as an ``evidence`` action
  that names it.

Everything is checked before anything is stored; a refusal is SubmissionInvalid (what was
wrong, in the researcher's words) or TransitionRefused (not in this state).
"""

from __future__ import annotations

import datetime as dt

from federation.database import new_id, utcnow
from federation.web.login import User
from portal.access.attachments import CheckedFile
from portal.access.biobank_documents import document_of
from portal.access.membership import owned_part, readable_part
from portal.access.models import Attachment, PartEvent
from portal.access.service import (
    AccessService,
    RequestNotFound,
    SubmissionInvalid,
    _attachment_ref,
)
from schemas.lifecycle import Actor

ARRIVAL_STATES = {
    "good": "Good: frozen, intact, as described",
    "damaged": "Damaged: broken or leaking vials, or a damaged package",
    "thawed": "Thawed: the material arrived warm (dry ice or dry shipper exhausted)",
}
MAX_NOTE = 2000
SIGNED_COPY_TYPE = "application/pdf"


LOCAL_DATE_AHEAD = dt.timedelta(days=1)
"""How far a date a person types may be ahead of UTC's: their zone may be up to 14 hours east."""


def receipt_text(received_on: str, state: str, note: str, today: dt.date) -> str:
    """The receipt as the part's history says it; SubmissionInvalid naming each bad field."""
    problems = []
    day = None
    try:
        day = dt.date.fromisoformat((received_on or "").strip())
    except ValueError:
        problems.append(f"received on: {received_on!r} is not a date (YYYY-MM-DD)")
    if day is not None and day > today + LOCAL_DATE_AHEAD:  # their date may be UTC's tomorrow
        problems.append(f"received on: {day.isoformat()} is in the future")
    if state not in ARRIVAL_STATES:
        problems.append(f"state on arrival: one of {', '.join(ARRIVAL_STATES)}")
    if len((note or "").strip()) > MAX_NOTE:
        problems.append(f"note: at most {MAX_NOTE} characters")
    if problems or day is None:
        raise SubmissionInvalid(problems)
    text = f"Received on {day.isoformat()}; state on arrival: {state}."
    return f"{text} {note.strip()}" if (note or "").strip() else text


def check_owner(
    service: AccessService, user: User, request_id: str, part_id: str, what: str
) -> None:
    """RequestNotFound or OwnerOnly (membership.py) before any input is read: what a
    co-applicant or a stranger is answered does not depend on what they sent."""
    with service.sessions() as session:
        if owned_part(session, user, request_id, part_id, what) is None:
            raise RequestNotFound(f"you have no request part {part_id}")


def confirm_receipt(
    service: AccessService,
    user: User,
    request_id: str,
    part_id: str,
    form: dict[str, str],
    today: dt.date | None = None,
) -> None:
    text = receipt_text(
        form.get("received_on", ""),
        form.get("state", ""),
        form.get("note", ""),
        today or utcnow().date(),
    )
    service.act(user, request_id, part_id, "confirm_receipt", text)


def send_signed_copy(
    service: AccessService,
    user: User,
    request_id: str,
    part_id: str,
    checked: CheckedFile,
    note: str = "",
) -> None:
    """Keep the signed MTA with the request's files and relay it as evidence, in one
    transaction (the file goes again if it fails)."""
    if checked.content_type != SIGNED_COPY_TYPE:
        what = f"the signed MTA must be a PDF document, not {checked.content_type}"
        raise SubmissionInvalid([f"{checked.filename}: {what}"])
    attachment_id, now = new_id(), utcnow()
    text = (note or "").strip() or f"Signed MTA: {checked.filename}"
    stored_name = service.files.save(checked.data)
    try:
        with service.sessions.begin() as session:
            # the owner only; a co-applicant reads but does not sign (membership.py)
            part = owned_part(session, user, request_id, part_id, "send the signed MTA")
            if part is None:
                raise RequestNotFound(f"you have no request part {part_id}")
            session.add(
                Attachment(
                    id=attachment_id, request_id=request_id, filename=checked.filename,
                    stored_name=stored_name, content_type=checked.content_type,
                    size=checked.size, sha256=checked.sha256, created_at=now,
                )
            )  # fmt: skip
            evidence = {
                "condition": "mta",
                "kind": "signed_copy",
                "attachment": _attachment_ref(attachment_id, checked),
            }
            service.relay_action(session, user, part, "evidence", text, evidence)
    except BaseException:
        service.files.delete(stored_name)
        raise
    service.outbox.wake()


def biobank_document(
    service: AccessService,
    user: User,
    request_id: str,
    part_id: str,
    evidence_id: str,
) -> Attachment:
    """A document the biobank gave as evidence (its MTA to sign, its countersignature), as
    its node sent it with the event (biobank_documents.py), for whoever reads the request (its
    owner and co-applicants, as with the request's own attachments). RequestNotFound for
    anyone else, or an event that is no biobank's evidence with a document."""
    with service.sessions() as session:
        part = readable_part(session, user, request_id, part_id)
        if part is None:
            raise RequestNotFound(f"you have no request part {part_id}")
        event = session.get(PartEvent, evidence_id)
        found = None
        if (
            event is not None
            and event.part_id == part.id
            and event.type == "evidence"
            and event.actor == Actor.BIOBANK.value
        ):
            found = document_of(session, part, evidence_id)
        if found is None:
            raise RequestNotFound(f"part {part_id} has no document {evidence_id}")
        return found
