"""Access requests at a node: the inbox of parts, its API for the portal, its pages for the
biobank's admins, and the outbox that reports every change back (mirrors ``portal/access/``).

``init_inbox(app, store)`` wires it into a node app; ``start_delivery(app, stop)`` runs the
outbox in a background thread (``cellfed node serve`` and the demo do).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from flask import Flask

from federation.mail import SmtpSender
from federation.node.identity import identity_of
from federation.node.inbox import agreements, api, co_applicants, sharing_views, views
from federation.node.inbox.models import NodeLoginSession, NodeOutbox
from federation.node.inbox.reporter import PortalReporter
from federation.node.inbox.service import INBOX_KEY, Inbox, inbox_of
from federation.node.store import CatalogueStore
from federation.outbox import Outbox
from federation.registry import RegistryError, load_members
from federation.web.csrf import init_csrf
from federation.web.login import init_login, secure_session
from federation.web.sessions import LoginSessions


def node_url(config: dict[str, Any]) -> str | None:
    """This node's public URL: NODE_URL, else its entry in the member registry."""
    if config.get("NODE_URL"):
        return config["NODE_URL"]
    try:
        members = load_members(config["MEMBERS_FILE"])
    except RegistryError:
        return None
    return next((m.url for m in members if m.id == config["NODE_ID"]), None)


def init_inbox(app: Flask, store: CatalogueStore) -> None:
    """The inbox, its outbox to the portal, login and CSRF for its pages, and its routes.
    The tables are the store's (Alembic migration 0003)."""
    config = app.config
    identity = identity_of(app)
    senders: dict[str, Any] = {"event": PortalReporter(config["PORTAL_URL"], identity.credentials)}
    if config.get("SMTP_HOST"):
        senders["email"] = SmtpSender(config)
    outbox = Outbox(NodeOutbox, store.sessions, senders, max_backoff=config["DELIVERY_MAX_BACKOFF"])
    public = node_url(dict(config))
    app.extensions[INBOX_KEY] = inbox = Inbox(
        store,
        config["NODE_ID"],
        config["NODE_NAME"],
        outbox,
        contact_email=config.get("NODE_CONTACT_EMAIL"),
        node_url=public,
        consent_override_allowed=config["CONSENT_OVERRIDE_ALLOWED"],
    )
    agreements.install(inbox)  # the researcher's relayed evidence (issue 11)

    cookie = "cellfed_node_" + re.sub(r"[^A-Za-z0-9_]", "_", config["NODE_ID"])
    secure_session(app, public or "", cookie)
    init_csrf(app)
    logins = LoginSessions(lambda: store.sessions, NodeLoginSession)
    init_login(app, identity.client_id, home_endpoint="views.overview", sessions=logins)
    app.register_blueprint(api.bp, url_prefix="/api/v1/access")
    app.register_blueprint(co_applicants.bp, url_prefix="/api/v1/access")
    app.register_blueprint(views.bp)
    app.register_blueprint(sharing_views.bp)  # holds, evidence, shipment (issue 11)


def start_delivery(app: Flask, stop: threading.Event) -> threading.Thread:
    """Run the node's outbox (events to the portal, e-mail) in a background thread."""
    thread = threading.Thread(
        target=inbox_of(app).outbox.run_forever,
        args=(stop, app.config["DELIVERY_INTERVAL"]),
        name=f"outbox-{app.config['NODE_ID']}",
        daemon=True,
    )
    thread.start()
    return thread
