"""Wire access requests into a node app: inbox, outbox to the portal, login, CSRF, routes."""

from __future__ import annotations

import re
import threading
from typing import Any

import requests
from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from federation.csrf import init_csrf
from federation.mail import SmtpSender
from federation.node.inbox import Inbox
from federation.node.models import Base
from federation.node.requests_models import NodeOutbox
from federation.node.store import CatalogueStore
from federation.outbox import Outbox, OutboxMixin, Refused, Retry
from federation.registry import RegistryError, load_members
from federation.tokens import ClientCredentials, TokenUnavailable
from federation.trust import TokenVerifier
from federation.webauth import init_login, secure_session


class PortalReporter:
    """Outbox sender: report one event of a part to the portal, with the node's own token."""

    def __init__(self, portal_url: str, credentials: ClientCredentials | None) -> None:
        self.url = f"{portal_url.rstrip('/')}/api/v1/access/events"
        self.credentials = credentials

    def __call__(self, message: OutboxMixin) -> None:
        if self.credentials is None:
            raise Retry("OIDC_CLIENT_SECRET is not set: cannot get a token for the portal")
        try:
            resp = self.credentials.request("POST", self.url, json=message.payload)
        except TokenUnavailable as exc:
            raise Retry(str(exc)) from exc
        except requests.RequestException as exc:
            raise Retry(f"the portal is not reachable: {exc}") from exc
        if resp.status_code in (200, 201):
            return
        detail = _detail(resp)
        if resp.status_code in (400, 404, 409, 422):
            raise Refused(f"the portal refused the event ({resp.status_code}): {detail}")
        raise Retry(f"the portal answered {resp.status_code}: {detail}")


def _detail(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("detail") or resp.json().get("error"))
    except ValueError:
        return resp.text[:200]


def node_url(config: dict[str, Any]) -> str | None:
    """This node's public URL: NODE_URL, else its entry in the member registry."""
    if config.get("NODE_URL"):
        return config["NODE_URL"]
    try:
        members = load_members(config["MEMBERS_FILE"])
    except RegistryError:
        return None
    return next((m.url for m in members if m.id == config["NODE_ID"]), None)


def init_access(app: Flask, store: CatalogueStore) -> None:
    config = app.config
    node_id = config["NODE_ID"]
    client_id = config.get("OIDC_CLIENT_ID") or node_id
    Base.metadata.create_all(store.engine)  # the access tables beside the catalogue

    credentials = (
        ClientCredentials.from_config(config, client_id)
        if config.get("OIDC_CLIENT_SECRET")
        else None
    )
    senders: dict[str, Any] = {"event": PortalReporter(config["PORTAL_URL"], credentials)}
    if config.get("SMTP_HOST"):
        senders["email"] = SmtpSender(config)
    outbox = Outbox(NodeOutbox, store.sessions, senders, max_backoff=config["DELIVERY_MAX_BACKOFF"])
    public = node_url(dict(config))
    app.extensions["cellfed.inbox"] = Inbox(
        store,
        node_id,
        config["NODE_NAME"],
        outbox,
        contact_email=config.get("NODE_CONTACT_EMAIL"),
        node_url=public,
    )
    app.extensions["cellfed.node_outbox"] = outbox
    app.extensions["cellfed.node_credentials"] = credentials
    app.extensions["cellfed.verifier"] = TokenVerifier.from_config(config)

    cookie = "cellfed_node_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)
    secure_session(app, public or "", cookie)
    init_csrf(app)
    init_login(app, client_id, home_endpoint="pages.overview")

    from federation.node import inbox_api, inbox_pages

    app.register_blueprint(inbox_api.bp, url_prefix="/api/v1/access")
    app.register_blueprint(inbox_pages.bp)
    app.register_error_handler(HTTPException, _error)


def _error(exc: HTTPException):
    """JSON for the APIs, a page for people (the inbox is used in a browser)."""
    if request.path.startswith("/api/"):
        return jsonify(error=exc.name, detail=exc.description), exc.code
    name = current_app.config["NODE_NAME"]
    return render_template("node/error.html", error=exc, node_name=name), exc.code


def get_inbox() -> Inbox:
    return current_app.extensions["cellfed.inbox"]


def start_delivery(app: Flask, stop: threading.Event) -> threading.Thread:
    """Run the node's outbox (events to the portal, e-mail) in a background thread."""
    outbox: Outbox = app.extensions["cellfed.node_outbox"]
    thread = threading.Thread(
        target=outbox.run_forever,
        args=(stop, app.config["DELIVERY_INTERVAL"]),
        name=f"outbox-{app.config['NODE_ID']}",
        daemon=True,
    )
    thread.start()
    return thread
