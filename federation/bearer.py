"""Flask side of :mod:`federation.trust`: protect a JSON endpoint with a bearer token."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

from flask import current_app, g, jsonify, request

from federation.trust import (
    MACHINE_ROLES,
    IssuerUnavailable,
    Principal,
    TokenError,
    TokenVerifier,
    bearer_token,
)


def _refuse(status: int, error: str, detail: str):
    resp = jsonify(error=error, detail=detail)
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{error}"'
        )
    return resp


def require_token(
    verifier: Callable[[], TokenVerifier],
    audience: Callable[[], str | Collection[str]],
    clients: Callable[[], Collection[str]],
    machine: bool = True,
) -> Callable[[Callable], Callable]:
    """Accept only a trusted token for ``audience`` issued to one of ``clients`` (its
    ``azp``); the principal is put in ``g.principal``. Each argument is called per request,
    so the values come from the app's config.

    ``machine`` (the default: every API behind this is called by a service): the token must
    also be the client's own, from the client-credentials grant, not a token a person got by
    logging in through that client (same ``azp``); see :func:`federation.trust.machine_problem`.
    The service accounts' realm roles are ``OIDC_MACHINE_ROLES`` (default: MACHINE_ROLES)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            raw = bearer_token(request.headers.get("Authorization"))
            if raw is None:
                return _refuse(
                    401, "missing_token", "send an access token: Authorization: Bearer …"
                )
            wanted = audience()
            roles_claim = current_app.config["OIDC_ROLES_CLAIM"]
            try:
                principal = verifier().principal(
                    raw, wanted if isinstance(wanted, str) else list(wanted), roles_claim
                )
            except IssuerUnavailable as exc:
                return _refuse(503, exc.reason, str(exc))
            except TokenError as exc:
                return _refuse(401, exc.reason, str(exc))
            if principal.client_id not in clients():
                return _refuse(
                    403, "client_not_allowed", f"client {principal.client_id!r} may not call this"
                )
            if machine:
                roles = current_app.config.get("OIDC_MACHINE_ROLES") or MACHINE_ROLES
                problem = principal.machine_problem(roles)
                if problem is not None:
                    return _refuse(403, "machine_token_required", problem)
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorate


def principal() -> Principal:
    return g.principal
