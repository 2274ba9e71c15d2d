"""Attachments are judged by their bytes and stored safely; a request or action the node
would refuse is a 400 naming the field, with nothing stored; e-mail reaches a real SMTP
server."""

from __future__ import annotations

import io
import os
import stat

import pytest
from sqlalchemy import func, select

from federation.mail import SmtpSender, email_payload
from federation.outbox import OutboxMixin, Retry
from federation.web.csrf import FIELD
from federation.web.login import User
from portal.access.attachments import (
    AttachmentRejected,
    AttachmentStore,
    check_upload,
    clean_filename,
    sniff,
)
from portal.access.models import (
    AccessRequest,
    Attachment,
    Notification,
    PartEvent,
    PortalOutbox,
    RequestPart,
)
from portal.access.service import SubmissionInvalid
from tests.unit.test_retention import ALICE, PROJECT, Portal

PDF = b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 16, "image/jpeg"),
        ("Ethikvotum Nr. 12/2026 — genehmigt\n".encode(), "text/plain"),
        (EXE, None),
        (b"<html>\x00</html>", None),
        (b"\xff\xfe\x00\x00bad", None),
    ],
)
def test_the_type_comes_from_the_content(data, expected):
    assert sniff(data) == expected


def test_a_disguised_executable_is_refused_by_name():
    with pytest.raises(AttachmentRejected, match=r"ethics\.pdf: only PDF"):
        check_upload(io.BytesIO(EXE), "ethics.pdf", 1024 * 1024)


def test_the_name_must_agree_with_the_content():
    with pytest.raises(AttachmentRejected, match="notes.pdf: the content is plain text"):
        check_upload(io.BytesIO(b"just some notes"), "notes.pdf", 1024)
    assert check_upload(io.BytesIO(PNG), "scan.PNG", 1024).content_type == "image/png"


def test_size_limits_name_the_file():
    with pytest.raises(AttachmentRejected, match="big.pdf: larger than the limit of 1 MB"):
        check_upload(io.BytesIO(PDF + b"x" * (1024 * 1024)), "big.pdf", 1024 * 1024)
    with pytest.raises(AttachmentRejected, match="empty.txt: the file is empty"):
        check_upload(io.BytesIO(b""), "empty.txt", 1024)
    ok = check_upload(io.BytesIO(PDF), "ethics.pdf", len(PDF))
    assert (ok.content_type, ok.size, len(ok.sha256)) == ("application/pdf", len(PDF), 64)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\ethics.pdf", "ethics.pdf"),
        ("vote\x00.pdf", "vote.pdf"),
        ("..", "attachment"),
        (None, "attachment"),
        ("Ethikvotum Köln.pdf", "Ethikvotum Köln.pdf"),
    ],
)
def test_display_names_lose_paths_and_control_characters(raw, clean):
    assert clean_filename(raw) == clean


def test_files_are_stored_privately_under_random_names(tmp_path):
    store = AttachmentStore(tmp_path / "files")
    a, b = store.save(PDF), store.save(PDF)
    assert a != b and len(a) == 32
    path = store.path(a)
    assert path.read_bytes() == PDF
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


def test_the_store_opens_and_lists_only_its_own_files(tmp_path):
    store = AttachmentStore(tmp_path / "files")
    assert list(store.names()) == []  # no directory yet
    kept = store.save(PDF)
    (store.directory / "notes.txt").write_text("not a stored name")
    (store.directory / ("0" * 32)).mkdir()  # a directory, not a file
    assert list(store.names()) == [kept]
    with store.open(kept) as fh:
        assert fh.read() == PDF
    store.delete(kept)
    store.delete(kept)  # twice: nothing to do
    assert store.open(kept) is None and list(store.names()) == []


# -- a request or action the node would refuse ------------------------------------------
LONG_NAME = User(
    ALICE.iss, ALICE.sub, "A" * 201, ALICE.email, frozenset({"researcher"}), frozenset()
)
TABLES = (AccessRequest, Attachment, RequestPart, PartEvent, Notification, PortalOutbox)


def stored(portal: Portal) -> dict[str, int]:
    """How many rows each portal table holds, and how many attachment files are kept."""
    with portal.service.sessions() as session:
        rows = {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in TABLES
        }
    return {**rows, "files": len(list(portal.service.files.names()))}


@pytest.fixture
def portal(tmp_path):
    portal = Portal(tmp_path)
    yield portal
    portal.access.engine.dispose()


def test_a_request_the_node_would_refuse_is_a_400_naming_the_field(portal):
    client = portal.client(LONG_NAME)
    with client.session_transaction() as session:
        session["cart"] = ["n1:cell_line:L1", "n1:cell_line:L2"]  # two biobanks: one line
        token = session["_csrf"]
    form = {**PROJECT, FIELD: token, "attachments": (io.BytesIO(PDF), "ethics.pdf")}
    resp = client.post("/requests", data=form, content_type="multipart/form-data")
    assert resp.status_code == 400
    problem = "your name as the identity provider gives it is longer than 200 characters"
    assert resp.text.count(f"<li>{problem}</li>") == 1
    assert set(stored(portal).values()) == {0}  # no request, part, event, message or file
    with client.session_transaction() as session:
        assert session["cart"] == ["n1:cell_line:L1", "n1:cell_line:L2"]  # kept to try again


def test_an_action_the_node_would_refuse_is_a_400_naming_the_field(portal):
    request_id = portal.submit()
    part = portal.parts(request_id)["bb1"]
    before = stored(portal)
    client = portal.client(LONG_NAME)  # the identity provider now gives a longer name
    with client.session_transaction() as session:
        token = session["_csrf"]
    url = f"/requests/{request_id}/parts/{part.id}/withdraw"
    resp = client.post(url, data={FIELD: token})
    assert resp.status_code == 400
    assert (
        "Not sent: your name as the identity provider gives it is longer than 200 characters. "
        "Nothing was changed."
    ) in resp.text
    assert stored(portal) == before
    assert [e.type for e in portal.parts(request_id)["bb1"].events] == ["submit"]


def test_each_refused_field_is_named_in_the_researchers_words(portal):
    odd = User(ALICE.iss, "s" * 256, ALICE.name, "alice@", frozenset(), frozenset())
    with pytest.raises(SubmissionInvalid) as caught:
        portal.submit(user=odd)
    assert caught.value.problems == [
        "your account id at the identity provider is longer than 255 characters",
        "your e-mail address as the identity provider gives it is not a valid e-mail address",
    ]
    assert set(stored(portal).values()) == {0}


class Message(OutboxMixin):
    """A plain object with the outbox columns (no table needed to send)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def smtp_config(port: int) -> dict:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_STARTTLS": False,
        "SMTP_USER": None,
        "SMTP_PASSWORD": None,
        "SMTP_FROM": "CellFed <cellfed@example.org>",
        "DELIVERY_TIMEOUT": 5,
    }


def test_mail_reaches_an_unauthenticated_smtp_server(smtp_sink):
    payload = email_payload("alice@example.org", "Your request was approved", "Details inside.")
    SmtpSender(smtp_config(smtp_sink.port))(Message(id=7, payload=payload))
    [got] = smtp_sink.messages
    assert got["to"] == ["alice@example.org"]
    assert got["subject"] == "Your request was approved"
    assert got["body"].strip() == "Details inside."
    assert "outbox-7" in got["message_id"]  # a stable Message-ID: resends are recognisable


def test_an_unreachable_mail_server_means_retry():
    from cellfed.launch.process import free_port

    sender = SmtpSender(smtp_config(free_port()))
    with pytest.raises(Retry, match="cannot reach the mail server"):
        sender(Message(id=1, payload=email_payload("a@example.org", "s", "b")))
