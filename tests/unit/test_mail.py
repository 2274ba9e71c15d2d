"""Poison e-mails (review L11): a line break in what people typed (a project title, a biobank's
name) never adds a header, and a message that cannot be built is refused for good instead of
being retried for ever by the outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from federation.mail import SmtpSender, clean_header, email_payload
from federation.outbox import Outbox, OutboxMixin, Refused, Retry


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


# -- what the relay answers: refused for good, or tried again -------------------------------
@pytest.fixture
def relay(request):
    """A real SMTP server answering MAIL FROM and RCPT TO as a test says (aiosmtpd); it
    offers SMTPUTF8 unless the test's parameter says False."""
    from aiosmtpd.controller import Controller

    from cellfed.launch.process import free_port

    class Answers:
        mail = rcpt = None  # e.g. "550 5.7.1 not from you"; None: accept

        async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
            if self.mail:
                return self.mail
            envelope.mail_from = address
            return "250 OK"

        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
            if self.rcpt:
                return self.rcpt
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            return "250 OK"

    answers = Answers()
    utf8 = getattr(request, "param", True)
    controller = Controller(answers, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=utf8)
    controller.start()
    yield answers, controller.port
    controller.stop()


def mail_to(address: str) -> Message:
    return Message(id=7, payload=email_payload(address, "New request", "body"))


@pytest.mark.parametrize(
    ("step", "answer", "outcome", "says"),
    [
        ("mail", "550 5.7.1 <script>relay's own words</script>", Refused, "from us: 550"),
        ("mail", "451 4.3.0 try later", Retry, "deferred the message: 451"),
        ("mail", "421 4.3.2 closing", Retry, "421"),
        ("rcpt", "550 5.1.1 <script>no such user</script>", Refused, "refused bob@"),
        ("rcpt", "450 4.2.1 mailbox busy", Retry, "deferred bob@"),
    ],
)
def test_a_relays_refusal_is_for_good_and_a_deferral_is_retried(relay, step, answer, outcome, says):
    answers, port = relay
    setattr(answers, step, answer)
    with pytest.raises((Refused, Retry)) as caught:
        SmtpSender(smtp_config(port))(mail_to("bob@example.org"))
    assert isinstance(caught.value, outcome), caught.value
    assert says in str(caught.value) and "<script" not in str(caught.value)


def test_a_relay_that_cannot_be_reached_or_lacks_starttls_is_retried(relay):
    from cellfed.launch.process import free_port

    with pytest.raises(Retry, match="cannot reach the mail server"):
        SmtpSender(smtp_config(free_port()))(mail_to("bob@example.org"))
    _, port = relay  # a relay without STARTTLS while we ask for it: our configuration
    with pytest.raises(Retry):
        SmtpSender({**smtp_config(port), "SMTP_STARTTLS": True})(mail_to("bob@example.org"))


@pytest.mark.parametrize("relay", [False], indirect=True)
def test_a_non_ascii_address_is_refused_for_good_at_a_relay_without_smtputf8(relay):
    _, port = relay
    with pytest.raises(Refused, match="does not offer SMTPUTF8"):
        SmtpSender(smtp_config(port))(mail_to("bänk@example.org"))
    SmtpSender(smtp_config(port))(mail_to("bank@example.org"))  # an ASCII address goes


def test_a_non_ascii_address_goes_through_a_relay_with_smtputf8(relay):
    _, port = relay
    SmtpSender(smtp_config(port))(mail_to("bänk@müller-biobank.de"))
