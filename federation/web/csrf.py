"""CSRF protection for every form of a Flask app: a per-session token in a hidden field.

Small on purpose (instead of Flask-WTF): the apps have no WTForms forms, and one
``before_request`` hook covers every state-changing request by default, so a new form cannot
forget it. JSON APIs that authenticate with bearer tokens (never cookies) are exempt by
URL prefix: a browser cannot be tricked into sending a bearer token.

The token lives in the session, so a POST whose session holds none (no cookie, an expired
session, a client that never loaded a form) is refused before its body is read: otherwise
anyone could make an app parse, and spool to disk, the largest body a route accepts.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from typing import NoReturn

from flask import Flask, abort, request, session
from markupsafe import Markup, escape

SESSION_KEY = "_csrf"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    token = session.get(SESSION_KEY)
    if not token:
        token = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_field() -> Markup:
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(csrf_token())}">')


def init_csrf(app: Flask, exempt_prefixes: Iterable[str] = ("/api/",)) -> None:
    exempt = tuple(exempt_prefixes)
    app.jinja_env.globals.update(csrf_field=csrf_field, csrf_token=csrf_token)

    @app.before_request
    def _check_csrf() -> None:
        if request.method in SAFE_METHODS or request.path.startswith(exempt):
            return
        expected = session.get(SESSION_KEY) or ""
        if not expected:  # no session, or one that never showed a form: no token can match,
            _refuse()  # so the body is refused unread (not parsed, not spooled to disk)
        sent = request.form.get(FIELD) or request.headers.get("X-CSRF-Token") or ""
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            _refuse()


def _refuse() -> NoReturn:
    abort(
        400,
        "This form was not sent from this site, or your session has expired. "
        "Go back, reload the page and try again. Nothing was changed.",
    )
