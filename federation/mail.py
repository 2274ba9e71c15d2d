"""E-mail notifications: the outbox sender that hands a message to an SMTP server.

Works with an unauthenticated relay (the usual case inside an institute: the Negotiator once
could not be deployed without SMTP auth, BBMRI-ERIC/negotiator#386) and with STARTTLS and
login when SMTP_USER is set.

Subjects are made from what people typed (a project title, a biobank's name). A line break in
a header would let it add headers of its own; the standard library refuses such a value with a
``ValueError``, which would leave the message retrying for ever. So subjects lose their control
characters, and a message that still cannot be built is refused for good (``Refused``). So is
a message the relay will never take: every recipient refused with a 5xx, our sender refused
for it with a 5xx, or an address with non-ASCII characters at a relay without SMTPUTF8. A
relay that cannot be reached, or answers 4xx (or 421), is tried again later (``Retry``).
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Mapping
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from federation.outbox import OutboxMixin, Refused, Retry

# C0 and C1 controls (CR, LF, tab, NUL, ...), DEL, and the Unicode line and paragraph separators.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_header(value: str) -> str:
    """A header value on one line: control characters become spaces, and runs of spaces one."""
    return " ".join(CONTROLS.sub(" ", value).split())


# Headers a message may add: unsubscribe links (RFC 2369) and their one-click POST (RFC 8058).
EXTRA_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


def email_payload(
    to: str, subject: str, body: str, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {"to": to, "subject": clean_header(subject)[:200], "body": body}
    if headers:
        payload["headers"] = {k: clean_header(v) for k, v in headers.items() if k in EXTRA_HEADERS}
    return payload


class SmtpSender:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.host = config["SMTP_HOST"]
        self.port = int(config["SMTP_PORT"])
        self.starttls = bool(config["SMTP_STARTTLS"])
        self.user = config.get("SMTP_USER")
        self.password = config.get("SMTP_PASSWORD")
        self.sender = config["SMTP_FROM"]
        self.timeout = float(config.get("DELIVERY_TIMEOUT", 10))

    def build(self, message: OutboxMixin) -> EmailMessage:
        """The e-mail for an outbox message; raises ``Refused`` if none can be made of it
        (an address with a line break, say: retrying cannot change that)."""
        payload = message.payload
        mail = EmailMessage()
        mail["From"] = self.sender  # our configuration: not the message's fault
        try:
            mail["To"] = payload["to"]  # an address is refused, never repaired
            mail["Subject"] = clean_header(payload["subject"])  # also for messages queued earlier
            # The outbox id makes the Message-ID stable, so a resend is recognisable as one.
            mail["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain="cellfed")
            for name, value in (payload.get("headers") or {}).items():
                if name in EXTRA_HEADERS:
                    mail[name] = clean_header(value)
            mail.set_content(payload["body"])
        except (ValueError, TypeError, KeyError, MessageError) as exc:
            raise Refused(f"this e-mail cannot be built: {exc}") from exc
        return mail

    def __call__(self, message: OutboxMixin) -> None:
        payload = message.payload
        mail = self.build(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                self._send(smtp, mail, payload["to"])
        except smtplib.SMTPAuthenticationError as exc:  # our configuration: retry once fixed
            raise Retry(f"the mail server refused our login: {exc.smtp_code}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise Refused(f"the mail server refused {payload['to']}: {codes}") from exc
            raise Retry(f"the mail server deferred {payload['to']}: {codes}") from exc
        except smtplib.SMTPSenderRefused as exc:  # MAIL FROM, with this message's size/options
            if exc.smtp_code >= 500 and exc.smtp_code != 421:
                raise Refused(
                    f"the mail server refused to take this message from us: {exc.smtp_code}"
                ) from exc
            raise Retry(f"the mail server deferred the message: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500 and exc.smtp_code not in (421,):
                raise Refused(f"the mail server refused the message: {exc.smtp_code}") from exc
            raise Retry(f"the mail server deferred the message: {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise Retry(f"cannot reach the mail server {self.host}:{self.port}: {exc}") from exc

    @staticmethod
    def _send(smtp: smtplib.SMTP, mail: EmailMessage, to: str) -> None:
        """Hand ``mail`` over. An address with non-ASCII characters needs a relay offering
        SMTPUTF8 (RFC 6531); a relay without it never takes the message, so it is refused
        for good (``SMTPNotSupportedError`` of ``starttls``/``login`` is our configuration,
        and stays a retry)."""
        try:
            smtp.send_message(mail)
        except smtplib.SMTPNotSupportedError as exc:
            raise Refused(
                f"the mail server cannot take the address {to!r}: it has non-ASCII "
                "characters, and the server does not offer SMTPUTF8"
            ) from exc
