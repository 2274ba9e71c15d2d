"""The co-applicants of a request as JSON, for the signed-in researcher (the JSON twin of
the request page's forms, portal/access/collaborator_views.py).

These routes sit under ``/api/`` but are called with the portal's session cookie, not a
bearer token, so the app-wide CSRF hook (which exempts ``/api/``) does not cover them: every
write here wants the session's CSRF token in ``X-CSRF-Token`` itself (a cross-site page can
send neither the header without a CORS grant nor the token it cannot read)."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, jsonify, request, session

from federation.web.csrf import SESSION_KEY
from federation.web.login import User, current_user
from portal.access.collaborators import collaborator_wire
from portal.access.context import current_access
from portal.access.membership import OwnerOnly
from portal.access.service import RequestNotFound, SubmissionInvalid

bp = Blueprint("collaborators_api", __name__)


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """401 without a login; for writes, 403 without the session's CSRF token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            abort(401, "sign in at the portal first (this API uses the portal's session)")
        if request.method not in ("GET", "HEAD"):
            expected = session.get(SESSION_KEY) or ""
            sent = request.headers.get("X-CSRF-Token") or ""
            if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
                abort(403, "send the session's CSRF token in X-CSRF-Token; nothing was changed")
        return view(user, *args, **kwargs)

    return wrapper


def _answer(user: User, request_id: str, status: int = 200):
    role, rows = current_access().collaborators.listing(user, request_id)
    body: dict[str, Any] = {"request_id": request_id, "role": role.value}
    body["co_applicants"] = [collaborator_wire(r) for r in rows]
    return jsonify(body), status


@bp.get("/requests/<request_id>/co-applicants")
@signed_in
def listing(user: User, request_id: str):
    try:
        return _answer(user, request_id)
    except RequestNotFound as exc:
        abort(404, str(exc))


@bp.post("/requests/<request_id>/co-applicants")
@signed_in
def add(user: User, request_id: str):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, 'send a JSON object such as {"email": "…"} (Content-Type: application/json)')
    try:
        current_access().collaborators.add(user, request_id, body.get("email"))
        return _answer(user, request_id, 201)
    except RequestNotFound as exc:
        abort(404, str(exc))
    except OwnerOnly as exc:
        abort(403, str(exc))
    except SubmissionInvalid as exc:
        abort(400, str(exc))


@bp.delete("/requests/<request_id>/co-applicants/<collaborator_id>")
@signed_in
def remove(user: User, request_id: str, collaborator_id: str):
    try:
        current_access().collaborators.remove(user, request_id, collaborator_id)
        return _answer(user, request_id)
    except RequestNotFound as exc:
        abort(404, str(exc))
    except OwnerOnly as exc:
        abort(403, str(exc))
