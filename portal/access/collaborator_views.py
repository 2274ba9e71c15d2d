"""The request page's co-applicants: add by e-mail, remove (the owner only), as plain forms
with CSRF like every form here; and the hook that binds a signed-in user's invitations
(portal/access/membership.py says who may do what)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for

from federation.web.login import current_user, login_required, signed_in_user
from portal.access.context import current_access
from portal.access.membership import OwnerOnly
from portal.access.service import RequestNotFound, SubmissionInvalid
from portal.access.views import _request_page

bp = Blueprint("collaborators", __name__)

BINDING_BLUEPRINTS = frozenset({"access", "collaborators", "collaborators_api"})
"""Where a signed-in user's invitations are bound first: the pages that show requests."""


@bp.before_app_request
def _bind_invitations() -> None:
    if request.blueprint not in BINDING_BLUEPRINTS:
        return
    user = current_user()
    if user is not None and user.email:  # a verified address only (federation/web/login.py)
        current_access().collaborators.bind(user)


def _back(request_id: str):
    return redirect(url_for("access.request_page", request_id=request_id) + "#co-applicants")


@bp.post("/requests/<request_id>/co-applicants")
@login_required
def add(request_id: str):
    try:
        row = current_access().collaborators.add(
            signed_in_user(), request_id, request.form.get("email", "")
        )
    except RequestNotFound as exc:
        abort(404, str(exc))
    except OwnerOnly as exc:
        abort(403, str(exc))
    except SubmissionInvalid as exc:
        return _request_page(request_id, f"Not added: {exc}. Nothing was changed.", 400)
    flash(f"{row.email} is a co-applicant now; they see the request once they sign in.")
    return _back(request_id)


@bp.post("/requests/<request_id>/co-applicants/<collaborator_id>/remove")
@login_required
def remove(request_id: str, collaborator_id: str):
    try:
        row = current_access().collaborators.remove(signed_in_user(), request_id, collaborator_id)
    except RequestNotFound as exc:
        abort(404, str(exc))
    except OwnerOnly as exc:
        abort(403, str(exc))
    flash(f"{row.name or row.email} is no longer a co-applicant on this request.")
    return _back(request_id)
