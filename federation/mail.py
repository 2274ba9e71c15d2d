"""E-mail notifications: the outbox sender that hands a message to an SMTP server.

Works with an unauthenticated relay (the usual case inside an institute: the Negotiator once
could not be deployed without SMTP auth, BBMRI-ERIC/negotiator#386) and with STARTTLS and
login when SMTP_USER is set.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from federation.outbox import OutboxMixin, Refused, Retry


def email_payload(to: str, subject: str, body: str) -> dict[str, str]:
    return {"to": to, "subject": subject[:200], "body": body}


class SmtpSender:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.host = config["SMTP_HOST"]
        self.port = int(config["SMTP_PORT"])
        self.starttls = bool(config["SMTP_STARTTLS"])
        self.user = config.get("SMTP_USER")
        self.password = config.get("SMTP_PASSWORD")
        self.sender = config["SMTP_FROM"]
        self.timeout = float(config.get("DELIVERY_TIMEOUT", 10))

    def __call__(self, message: OutboxMixin) -> None:
        payload = message.payload
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = payload["to"]
        mail["Subject"] = payload["subject"]
        # The outbox id makes the Message-ID stable, so a resend is recognisable as one.
        mail["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain="cellfed")
        mail.set_content(payload["body"])
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:  # our configuration: retry once fixed
            raise Retry(f"the mail server refused our login: {exc.smtp_code}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise Refused(f"the mail server refused {payload['to']}: {codes}") from exc
            raise Retry(f"the mail server deferred {payload['to']}: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500 and exc.smtp_code not in (421,):
                raise Refused(f"the mail server refused the message: {exc.smtp_code}") from exc
            raise Retry(f"the mail server deferred the message: {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise Retry(f"cannot reach the mail server {self.host}:{self.port}: {exc}") from exc
