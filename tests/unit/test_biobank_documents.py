"""A biobank's document arrives with its evidence event (portal/access/biobank_documents.py):
checked again at the portal (PDF only, the attachments' limit), kept once with the request's
files, served to the request's readers; a document that fails is refused with its event and
nothing of it is stored (no row, no file)."""

from __future__ import annotations

import base64
import datetime as dt
import os

import pytest

from federation.database import new_id
from portal.access.service import ForgedEvent
from schemas.access import EventSchema
from tests.unit.test_collaborators import ALICE, MALLORY, PDF, Portal


def _encoded(data: bytes) -> str:
    return base64.b64encode(data).decode()


def evidence(part_id: str, seq: int, document: dict | None, actor: str = "biobank") -> dict:
    raw = {
        "id": new_id(), "part_id": part_id, "seq": seq, "type": "evidence", "actor": actor,
        "actor_name": "Bea Biobank", "at": dt.datetime.now(dt.UTC).isoformat(),
        "state": "under_review",
    }  # fmt: skip
    if document is not None:
        raw["document"] = document
    return EventSchema().load(raw)


@pytest.fixture
def portal(tmp_path):
    portal = Portal(tmp_path, ATTACHMENT_MAX_BYTES=1024)
    yield portal
    portal.access.engine.dispose()


def read(portal: Portal, url: str, who=ALICE):
    resp = portal.client(who).get(url)
    resp.get_data()
    resp.close()  # the download's file handle
    return resp


def files_of(portal: Portal) -> list[str]:
    return sorted(os.listdir(portal.service.files.directory))


def test_a_document_is_kept_once_and_served_to_the_owner_only(portal):
    request_id, part_id, _ = portal.submit()
    event = evidence(part_id, 1, {"filename": "mta.pdf", "content": _encoded(PDF)})
    assert portal.service.apply_events("n1", part_id, [event]) == 1
    before = files_of(portal)
    assert portal.service.apply_events("n1", part_id, [event]) == 0  # a repeat keeps nothing
    assert files_of(portal) == before and len(before) == 2  # the ethics file and the MTA
    url = f"/requests/{request_id}/parts/{part_id}/documents/{event['id']}"
    got = read(portal, url)
    assert got.status_code == 200 and got.data == PDF
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert read(portal, url, MALLORY).status_code == 404


def test_an_event_that_came_without_its_document_gets_it_with_the_report(portal):
    """A part redelivered lists its events bare; the node's own report brings the file."""
    request_id, part_id, _ = portal.submit()
    event = evidence(part_id, 1, {"filename": "mta.pdf", "content": _encoded(PDF)})
    bare = {k: v for k, v in event.items() if k != "document"}
    portal.service.apply_events("n1", part_id, [bare])
    url = f"/requests/{request_id}/parts/{part_id}/documents/{event['id']}"
    assert read(portal, url).status_code == 404
    portal.service.apply_events("n1", part_id, [event])
    assert read(portal, url).data == PDF


@pytest.mark.parametrize(
    ("document", "actor", "said"),
    [
        ({"filename": "mta.pdf", "content": "not base64!"}, "biobank", "mta.pdf: the document's"),
        ({"filename": "mta.png", "content": _encoded(b"\x89PNG\r\n\x1a\n" + b"0" * 16)},
         "biobank", "mta.png: a biobank's document must be a PDF, not image/png"),
        ({"filename": "mta.txt", "content": _encoded(b"just words")}, "biobank",
         "mta.txt: a biobank's document must be a PDF, not text/plain"),
        ({"filename": "mta.pdf", "content": _encoded(b"\x00\x01\x02 not a file type")},
         "biobank", "mta.pdf: only"),
        ({"filename": "big.pdf", "content": _encoded(b"%PDF-1.7\n" + b"0" * 2000)}, "biobank",
         "big.pdf: larger than the limit"),
        ({"filename": "mta.pdf", "content": _encoded(PDF)}, "researcher",
         "only a biobank's evidence has a document"),
    ],
)  # fmt: skip
def test_a_bad_document_refuses_its_event_and_stores_nothing(portal, document, actor, said):
    request_id, part_id, _ = portal.submit()
    before = files_of(portal)
    history = [e.id for e in portal.service.request_of(ALICE, request_id).parts[0].events]
    with pytest.raises(ForgedEvent, match=said):
        portal.service.apply_events("n1", part_id, [evidence(part_id, 1, document, actor)])
    assert files_of(portal) == before
    found = portal.service.request_of(ALICE, request_id)
    assert [a.filename for a in found.attachments] == ["ethics.pdf"]
    assert [e.id for e in found.parts[0].events] == history
