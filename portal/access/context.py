"""The portal's access-request machinery, built once per app: database, broker, outbox,
service, token verifier; and its accessor for views and APIs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import sessionmaker

from federation.database import database_engine
from federation.mail import SmtpSender
from federation.outbox import Outbox
from federation.registry import Member, load_members
from federation.tokens import ClientCredentials
from federation.trust import TokenVerifier
from portal.access.attachments import AttachmentStore
from portal.access.broker import ActionRelayer, NodeClient, PartDeliverer
from portal.access.collaborators import CoApplicantsRelayer, CollaboratorService
from portal.access.mailbox import Mailbox, MailboxSenders
from portal.access.models import PortalOutbox
from portal.access.service import AccessService
from portal.migrations import migrate_on_start

ACCESS_KEY = "cellfed.access"
"""The app extension that holds the portal's AccessContext."""

Lookup = Callable[[str], dict[str, Any] | None]  # record uid -> its search document, or None


class AccessContext:
    """Everything access requests need, built once per app. The database is brought to the
    newest revision on first use (an app that never takes a request never writes a database
    file), where migrating on start is allowed (portal/migrations, federation/migrate.py); in
    production a database that is behind is refused until ``cellfed portal migrate`` ran."""

    def __init__(self, config: dict[str, Any], lookup: Lookup) -> None:
        self.config = config
        url = config["PORTAL_DATABASE_URL"]
        self.engine = database_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._ready = False
        self._lock = threading.Lock()
        members_file = config["MEMBERS_FILE"]
        members: Any = cache(lambda: load_members(members_file))
        client_id = config.get("OIDC_CLIENT_ID") or "portal"
        self.credentials = (
            ClientCredentials.from_config(config, client_id)
            if config.get("OIDC_CLIENT_SECRET")
            else None
        )
        self.nodes = NodeClient(self.credentials, members, config.get("NODE_TOKEN_SCOPE"))
        self.outbox = Outbox(
            PortalOutbox,
            self.sessions,
            {},
            max_backoff=config["DELIVERY_MAX_BACKOFF"],
            on_failed=lambda m, reason: self.service.delivery_failed(m, reason),
        )
        self.service = AccessService(
            self.sessions,
            self.outbox,
            AttachmentStore(config["ATTACHMENTS_DIR"]),
            lookup,
            members,
            config["PORTAL_URL"],
        )
        self.service.document_max_bytes = int(config["ATTACHMENT_MAX_BYTES"])
        held = MailboxSenders(members)  # push-mode members fetch theirs (mailbox.py)
        self.outbox.register("deliver_part", held.wrap(PartDeliverer(self.nodes, self.service)))
        self.outbox.register("action", held.wrap(ActionRelayer(self.nodes, self.service)))
        self.collaborators = CollaboratorService(
            self.sessions, self.outbox, config["COLLABORATORS_MAX"], config["PORTAL_URL"]
        )
        self.outbox.register("co_applicants", held.wrap(CoApplicantsRelayer(self.nodes.call)))
        self.mailbox = Mailbox(
            self.sessions, self.outbox, self.service, config["MAILBOX_POLL_INTERVAL"]
        )
        if config.get("SMTP_HOST"):
            self.outbox.register("email", SmtpSender(config))
        self.verifier = TokenVerifier.from_config(config)
        self.members = members

    def ready(self) -> AccessContext:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    migrate_on_start(self.engine, self.config)
                    self._ready = True
        return self

    def member_ids(self) -> set[str]:
        members: list[Member] = self.members()
        return {m.id for m in members}


def access_context(config: dict[str, Any]) -> AccessContext:
    """The access machinery without the web app (``cellfed portal deliver``)."""
    return AccessContext(dict(config), lambda uid: None).ready()


def access_of(app: Flask) -> AccessContext:
    return app.extensions[ACCESS_KEY].ready()


def current_access() -> AccessContext:
    """The access context of the portal app handling this request."""
    return access_of(current_app)
