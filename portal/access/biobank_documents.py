"""A biobank's agreement documents (its MTA to sign, its countersignature), kept at the portal.

The node sends each document with its ``evidence`` event (``document``: the name and the
bytes in base64), so the portal never calls a node for one: a push-mode node, which nobody
can reach, shares its documents like any other. The bytes are checked again here as an upload
(federation/uploads.py, PDF only: a node's word is not trusted) and kept like the request's
own attachments (the same store, the same retention rule), under the event's id, for the
request's readers (portal/access/sharing.py ``biobank_document``).
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from sqlalchemy.orm import Session

from federation.database import utcnow
from federation.uploads import AttachmentRejected, CheckedFile, check_upload
from portal.access.attachments import AttachmentStore
from portal.access.models import Attachment, RequestPart
from schemas.lifecycle import Actor

DOCUMENT_TYPE = "application/pdf"


class DocumentRejected(ValueError):
    """The document an event carries cannot be kept; the message names it and says why."""


def checked_document(document: dict[str, Any], max_bytes: int) -> CheckedFile:
    """The event's document, decoded and checked as an upload (PDF only)."""
    name = document["filename"]
    try:
        data = base64.b64decode(document["content"], validate=True)
    except (binascii.Error, ValueError):
        raise DocumentRejected(f"{name}: the document's content is not base64") from None
    try:
        checked = check_upload(io.BytesIO(data), name, max_bytes)
    except AttachmentRejected as exc:
        raise DocumentRejected(str(exc)) from None
    if checked.content_type != DOCUMENT_TYPE:
        raise DocumentRejected(
            f"{checked.filename}: a biobank's document must be a PDF, not {checked.content_type}"
        )
    return checked


def keep_document(
    session: Session,
    files: AttachmentStore,
    part: RequestPart,
    event: dict[str, Any],
    max_bytes: int,
) -> str | None:
    """Keep the document ``event`` carries, once (a repeat keeps nothing): the stored name
    of the new file, for the caller to delete if its transaction fails; DocumentRejected."""
    document = event.get("document")
    if document is None:
        return None
    if event["type"] != "evidence" or event["actor"] != Actor.BIOBANK.value:
        raise DocumentRejected(f"event {event['id']}: only a biobank's evidence has a document")
    kept = session.get(Attachment, event["id"])
    if kept is not None:
        if kept.request_id != part.request_id:
            raise DocumentRejected(f"event {event['id']}: its id names another request's file")
        return None
    checked = checked_document(document, max_bytes)
    stored_name = files.save(checked.data)
    session.add(
        Attachment(
            id=event["id"], request_id=part.request_id, filename=checked.filename,
            stored_name=stored_name, content_type=checked.content_type, size=checked.size,
            sha256=checked.sha256, created_at=utcnow(),
        )
    )  # fmt: skip
    return stored_name


def document_of(session: Session, part: RequestPart, evidence_id: str) -> Attachment | None:
    """The document the part's biobank sent with its evidence event ``evidence_id``."""
    found = session.get(Attachment, evidence_id)
    if found is None or found.request_id != part.request_id:
        return None
    session.expunge(found)
    return found
