"""Abuse limits for the web apps: how often a client may call a route, and how large a body a
route may be sent. Both are configuration data, keyed by endpoint name, so an app factory can
limit routes that other modules define without touching them.

* **Rates** (Flask-Limiter). A :class:`RateRule` names a setting holding a limit such as
  ``"10/minute;60/hour"`` (empty: no limit) and the routes it covers: a blueprint, or some of
  its endpoints. A client is the signed-in user (issuer and subject), else the client's IP
  address (behind a proxy, see ``PROXY_HOPS`` in :mod:`federation.web.headers`). Counts live in
  memory by default, one store per process; with several workers (gunicorn ``-w 4``) set
  ``RATE_LIMIT_STORAGE_URI`` to a store they share (``redis://host:6379``, which needs the
  ``redis`` package), or each worker allows the whole limit. If that store fails, counting
  falls back to memory rather than refusing requests. A client over a limit gets a 429 with
  ``Retry-After``, through the app's own error handler (JSON under ``/api/``, a page for
  people).
* **Bodies.** Every request may send at most ``BODY_MAX_BYTES`` (1 MB); the endpoints an app
  names (uploads) may send more. The limit is set on the request before any other hook runs,
  so the CSRF check's form parsing, which runs before authentication, is bounded too
  (Werkzeug answers 413).

The checks run before the app's other ``before_request`` hooks: a client over its limit is
refused before its body is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from flask_limiter import Limiter
from limits import parse_many
from werkzeug.exceptions import RequestEntityTooLarge

from federation.web.limit_storage import storage_uri
from federation.web.login import current_user


def setting(app: Flask, key: str) -> Any:
    """A limit's setting, as loaded with the rest (its default is in cellfed/config.py)."""
    return app.config[key]


@dataclass(frozen=True)
class RateRule:
    """``setting`` limits the routes of ``blueprint``: each endpoint on its own, or, with
    ``endpoints``, only those, sharing one budget."""

    setting: str
    blueprint: str
    endpoints: tuple[str, ...] = ()


def client_key() -> str:
    """Who is counted: the signed-in user, else the client's address. The session is opened
    only when the request has a session cookie (an opened session adds ``Vary: Cookie``,
    which public API answers should not carry)."""
    if current_app.config["SESSION_COOKIE_NAME"] in request.cookies:
        user = current_user()
        if user is not None:
            return f"user:{user.iss}|{user.sub}"
    return f"ip:{request.remote_addr or 'unknown'}"


def _message(limit: str) -> str:
    allowed = " and ".join(str(item) for item in parse_many(limit))
    return f"Too many requests: at most {allowed} here. Please wait a little and try again."


def init_limits(
    app: Flask, rules: Iterable[RateRule] = (), uploads: Mapping[str, int] | None = None
) -> Limiter | None:
    """Limit request bodies (``uploads`` maps endpoints to their own larger limit) and, with
    ``rules``, request rates (the blueprints must be registered). Both checks run before the
    app's other ``before_request`` hooks. Returns the rate limiter, if there is one."""
    funcs = app.before_request_funcs.setdefault(None, [])
    others = list(funcs)
    rules = list(rules)
    limiter = _rate_limits(app, rules) if rules and setting(app, "RATE_LIMIT_ENABLED") else None
    default = int(setting(app, "BODY_MAX_BYTES"))
    sizes = dict(uploads or {})
    app.config["MAX_CONTENT_LENGTH"] = default

    def _body_limit() -> None:
        limit = sizes.get(request.endpoint or "", default)
        request.max_content_length = limit  # Werkzeug stops reading there (413)
        if (request.content_length or 0) > limit:  # said to be larger: refuse it unread
            raise RequestEntityTooLarge()

    added = [f for f in funcs if f not in others]
    funcs[:] = [_body_limit, *added, *others]
    return limiter


def _outside(endpoints: frozenset[str]) -> Callable[[], bool]:
    """Whether this request's endpoint is none of ``endpoints`` (exempt from their limit)."""
    return lambda: request.endpoint not in endpoints


def _rate_limits(app: Flask, rules: list[RateRule]) -> Limiter:
    limiter = Limiter(
        client_key,
        storage_uri=storage_uri(setting(app, "RATE_LIMIT_STORAGE_URI")),
        key_prefix=app.import_name,
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.init_app(app)
    for rule in rules:
        value = setting(app, rule.setting)
        if not value:
            continue
        blueprint = app.blueprints[rule.blueprint]
        # Flask types its blueprints by the sansio base class; Flask-Limiter limits a whole
        # blueprint only when it is a flask.Blueprint (anything else it takes for a view).
        if not isinstance(blueprint, Blueprint):
            raise TypeError(f"{rule.setting}: {rule.blueprint!r} is not a flask.Blueprint")
        if rule.endpoints:
            missing = [e for e in rule.endpoints if e not in app.view_functions]
            if missing:
                raise LookupError(f"{rule.setting} names unknown endpoints: {missing}")
            covered = frozenset(rule.endpoints)
            limit = limiter.shared_limit(
                value,
                scope=rule.setting.lower(),
                error_message=_message(value),
                exempt_when=_outside(covered),
            )
        else:
            limit = limiter.limit(value, error_message=_message(value))
        limit(blueprint)

    @app.after_request
    def _retry_after(response: Response) -> Response:
        current = limiter.current_limit
        if response.status_code == 429 and current is not None:
            wait = max(1, int(current.reset_at - time.time()))
            response.headers.setdefault("Retry-After", str(wait))
        return response

    return limiter
