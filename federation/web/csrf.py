"""CSRF protection for every form of a Flask app: a per-session token in a hidden field.

Small on purpose (instead of Flask-WTF): the apps have no WTForms forms, and one
``before_request`` hook covers every state-changing request by default, so a new form cannot
forget it. JSON APIs that authenticate with bearer tokens (never cookies) are exempt by
URL prefix: a browser cannot be tricked into sending a bearer token.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

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
        sent = request.form.get(FIELD) or request.headers.get("X-CSRF-Token") or ""
        expected = session.get(SESSION_KEY) or ""
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            abort(
                400,
                "This form was not sent from this site, or your session has expired. "
                "Go back, reload the page and try again. Nothing was changed.",
            )
