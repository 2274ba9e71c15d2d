"""A local SMTP server that hands every message it receives to a callback (aiosmtpd).

The demo uses it to show the e-mails CellFed sends; the tests use it as their mail server.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage

from cellfed.launch.process import free_port


class MailSink:
    def __init__(
        self, deliver: Callable[[list[str], EmailMessage], None], port: int | None = None
    ) -> None:
        from aiosmtpd.controller import Controller  # a dev dependency: demo and tests only

        self.deliver = deliver
        self.controller = Controller(self, hostname="127.0.0.1", port=port or free_port())

    @property
    def port(self) -> int:
        return self.controller.port

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.deliver(list(envelope.rcpt_tos), message)
        return "250 OK"

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
