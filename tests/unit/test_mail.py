"""Poison e-mails (review L11): a line break in what people typed (a project title, a biobank's
name) never adds a header, and a message that cannot be built is refused for good instead of
being retried for ever by the outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from federation.mail import SmtpSender, clean_header, email_payload
from federation.outbox import Outbox, OutboxMixin, Refused


class Base(DeclarativeBase):
    pass


class Mails(OutboxMixin, Base):
    __tablename__ = "mails"


class Message(OutboxMixin):
    """A plain object with the outbox columns (no table needed to send)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def smtp_config(port: int) -> dict:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_STARTTLS": False,
        "SMTP_FROM": "CellFed <cellfed@example.org>",
        "DELIVERY_TIMEOUT": 5,
    }


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "New request: Cardiac\r\nBcc: victim@example.org",
            "New request: Cardiac Bcc: victim@example.org",
        ),
        ("UK\nPSC\x00 Bank\t", "UK PSC Bank"),
        ("a\u2028b\x85c\x7fd", "a b c d"),
        ("Ethikvotum Köln", "Ethikvotum Köln"),
    ],
)
def test_header_values_lose_their_control_characters(raw, clean):
    assert clean_header(raw) == clean
    assert email_payload("a@example.org", raw, "body")["subject"] == clean


def test_a_subject_with_a_line_break_is_sent_on_one_line(smtp_sink):
    # Queued before subjects were cleaned: the sender cleans it again.
    payload = {
        "to": "bob@example.org",
        "subject": "Request: x\r\nBcc: eve@example.org",
        "body": "b",
    }
    SmtpSender(smtp_config(smtp_sink.port))(Message(id=3, payload=payload))
    [got] = smtp_sink.messages
    assert got["to"] == ["bob@example.org"]
    assert got["subject"] == "Request: x Bcc: eve@example.org"


def test_an_address_with_a_line_break_is_refused_not_repaired():
    sender = SmtpSender(smtp_config(1))  # never reached: the message cannot be built
    payload = email_payload("bob@example.org\r\nBcc: eve@example.org", "s", "b")
    with pytest.raises(Refused, match="cannot be built"):
        sender(Message(id=1, payload=payload))


def test_the_outbox_gives_up_on_a_poison_message_and_sends_the_next(tmp_path, smtp_sink):
    engine = create_engine(f"sqlite:///{tmp_path / 'mails.sqlite3'}")
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    outbox = Outbox(Mails, sessions, {"email": SmtpSender(smtp_config(smtp_sink.port))})
    with sessions.begin() as session:
        bad = email_payload("bob@example.org\nBcc: eve@example.org", "s", "b")
        outbox.enqueue(session, "email", "bob", bad, key="part-1")
        outbox.enqueue(
            session, "email", "bob", email_payload("bob@example.org", "t", "b"), "part-1"
        )
    first = outbox.run_once()
    assert (first.failed, first.retried) == (1, 0)
    second = outbox.run_once()  # the next in line for the key is no longer blocked
    assert second.delivered == 1
    assert [m["subject"] for m in smtp_sink.messages] == ["t"]
    with sessions() as session:
        poison = session.get(Mails, 1)
        assert poison.status == "failed" and poison.attempts == 1
        assert "cannot be built" in poison.last_error
    engine.dispose()
