"""Access requests at the portal: login, cart, requests, the broker to the nodes, notifications.

``init_access(app)`` wires it into the portal app; ``start_delivery(app, stop)`` runs the
broker's outbox in a background thread (the demo and ``cellfed portal serve`` do). The
node's half has the same shape, in ``federation/node/inbox/``.
"""

from __future__ import annotations

import threading

from flask import Flask

from federation.web.csrf import init_csrf
from federation.web.login import init_login, secure_session
from federation.web.sessions import LoginSessions
from portal.access import (
    api,
    collaborator_api,
    collaborator_views,
    mailbox_api,
    sharing_views,
    views,
)
from portal.access.context import ACCESS_KEY, AccessContext, Lookup, access_of
from portal.access.models import PortalLoginSession
from portal.access.waiting import init_waiting


def init_access(app: Flask, lookup: Lookup) -> None:
    """``lookup(uid)`` returns a catalogue record's search document, or None."""
    config = app.config
    limit = config["ATTACHMENT_MAX_BYTES"] * config["ATTACHMENT_MAX_COUNT"] + 1024 * 1024
    config["MAX_CONTENT_LENGTH"] = config.get("MAX_CONTENT_LENGTH") or limit
    app.extensions[ACCESS_KEY] = AccessContext(dict(config), lookup)

    secure_session(app, config["PORTAL_URL"], "cellfed_portal")
    init_csrf(app)
    init_login(
        app,
        config.get("OIDC_CLIENT_ID") or "portal",
        home_endpoint="views.search_page",
        sessions=LoginSessions(lambda: access_of(app).sessions, PortalLoginSession),
    )
    app.register_blueprint(api.bp, url_prefix="/api/v1/access")
    app.register_blueprint(views.bp)
    init_waiting(app)  # whom each part waits on; keep waiting (portal/access/waiting.py)
    app.register_blueprint(collaborator_views.bp)  # co-applicants (membership.py)
    app.register_blueprint(collaborator_api.bp, url_prefix="/api/v1/access")
    app.register_blueprint(sharing_views.bp)  # amounts, receipts, MTA documents (issue 11)
    app.register_blueprint(mailbox_api.bp, url_prefix="/api/v1/nodes")  # push-mode nodes


def start_delivery(app: Flask, stop: threading.Event) -> threading.Thread:
    """Run the broker's outbox (parts and actions to nodes, e-mail) in a background thread."""
    thread = threading.Thread(
        target=access_of(app).outbox.run_forever,
        args=(stop, app.config["DELIVERY_INTERVAL"]),
        name="portal-outbox",
        daemon=True,
    )
    thread.start()
    return thread
