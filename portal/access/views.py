"""The researcher's pages: cart, submit, my requests, one request, notifications; and the
alliance operators' view of the broker. Server-rendered forms, no JavaScript needed.

The views are thin over ``AccessService``; a search engine that is down (``SearchUnavailable``)
is answered 503 by the app's own error handler, not here."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from federation.web.filters import when
from federation.web.login import (
    current_user,
    login_required,
    role_required,
    safe_next,
    signed_in_user,
)
from portal.access import cart, cart_stock, terms
from portal.access.api import send_attachment
from portal.access.attachments import ALLOWED_TYPES, AttachmentRejected, check_upload
from portal.access.context import current_access
from portal.access.membership import COLLABORATOR_EVENTS, OwnerOnly, Role, role_for
from portal.access.retention import removed_notice
from portal.access.service import RequestNotFound, SubmissionInvalid
from schemas.access import DISEASE_SPECIFIC, INTENDED_USES
from schemas.lifecycle import (
    CONDITIONS,
    STATE_LABELS,
    TRANSITIONS,
    Actor,
    TransitionRefused,
    allowed,
)

bp = Blueprint("access", __name__, template_folder="templates")

RESEARCHER_BUTTONS = {
    "provide_info": "Send the information",
    "message": "Send a message",
    "withdraw": "Withdraw this part",
}
PROJECT_FIELDS = ("title", "description", "intended_use", "disease", "ethics_ref")


bp.add_app_template_filter(when, "when")


@bp.app_context_processor
def _access_globals() -> dict:
    user = current_user()
    unread = 0
    if user is not None:
        try:
            unread = current_access().service.unread(user)
        except Exception:  # the nav must render even if the database is unwell
            unread = 0
    return {
        "cart_count": len(cart.items()),
        "unread_count": unread,
        "state_labels": {s.value: label for s, label in STATE_LABELS.items()},
        "event_labels": {"submit": "Submitted", **{e: t.label for e, t in TRANSITIONS.items()}},
        "condition_labels": CONDITIONS,
        "intended_uses": INTENDED_USES,
    }


# -- cart --------------------------------------------------------------------------------
@bp.post("/cart/add")
def cart_add():
    uid = request.form.get("uid", "")
    try:
        cart.add(uid, current_app.config["CART_MAX_ITEMS"])
    except cart.CartError as exc:
        abort(400, str(exc))
    flash(f"Added {uid.split(':', 2)[-1]} to your request.")
    return redirect(safe_next(request.form.get("next"), url_for("access.cart_page")))


@bp.post("/cart/remove")
def cart_remove():
    cart.remove(request.form.get("uid", ""))
    cart_stock.drop(request.form.get("uid", ""))
    return redirect(url_for("access.cart_page"))


def _cart_page(problems: list[str] | None = None, form: dict | None = None, status: int = 200):
    lines = current_access().service.resolve(cart.items())
    return render_template(
        "access/cart.html",
        groups=current_access().service.group(lines),
        missing=[line for line in lines if not line.found],
        problems=problems or [],
        form=form or {},
        disease_specific=DISEASE_SPECIFIC,
        max_mb=current_app.config["ATTACHMENT_MAX_BYTES"] // (1024 * 1024),
        max_files=current_app.config["ATTACHMENT_MAX_COUNT"],
        accepted=", ".join(ALLOWED_TYPES.values()),
        **terms.cart_context(
            current_access().service.lookup,
            cart.items(),
            request.form if request.method == "POST" else None,
        ),
    ), status


@bp.get("/cart")
def cart_page():
    return _cart_page()


@bp.post("/cart/check")
def cart_check():
    """The request form's "check" button: the cart again, with each item's verdict against
    the project as declared so far (works without JavaScript)."""
    form: dict[str, str | bool] = {k: request.form.get(k, "").strip() for k in PROJECT_FIELDS}
    form["commercial"] = request.form.get("commercial") == "yes"
    return _cart_page(form=form)


# -- requests ----------------------------------------------------------------------------
@bp.post("/requests")
@role_required("researcher", "Only researchers can submit access requests.")
def submit() -> ResponseReturnValue:
    form: dict[str, str | bool] = {k: request.form.get(k, "").strip() for k in PROJECT_FIELDS}
    form["commercial"] = request.form.get("commercial") == "yes"
    problems: list[str] = []
    uploads = [f for f in request.files.getlist("attachments") if f and f.filename]
    limit = current_app.config["ATTACHMENT_MAX_COUNT"]
    if len(uploads) > limit:
        problems.append(f"attach at most {limit} files (you chose {len(uploads)})")
    checked = []
    for upload in uploads[:limit]:
        try:
            checked.append(
                check_upload(
                    upload.stream, upload.filename, current_app.config["ATTACHMENT_MAX_BYTES"]
                )
            )
        except AttachmentRejected as exc:
            problems.append(f"attachment {exc}")
    project = {**form, "disease": form["disease"] or None}
    project.update(terms.project_terms(request.form))
    if not problems:
        try:
            request_id = current_access().service.submit(
                signed_in_user(), project, cart.items(), checked, cart_stock.amounts()
            )
        except SubmissionInvalid as exc:
            problems = exc.problems
    if problems:
        return _cart_page(problems, form, 400)
    cart.clear()
    cart_stock.clear()
    flash("Your request was submitted. Each biobank will answer separately below.")
    return redirect(url_for("access.request_page", request_id=request_id))


@bp.get("/requests")
@login_required
def requests_page():
    return render_template(
        "access/requests.html", requests=current_access().service.requests_of(signed_in_user())
    )


def _request_page(request_id: str, error: str | None = None, status: int = 200):
    try:
        found = current_access().service.request_of(signed_in_user(), request_id)
    except RequestNotFound as exc:
        abort(404, str(exc))
    role = role_for(signed_in_user(), found)  # co-applicants: read and message only
    pending = {
        p.id: any(e.status == "pending" and e.type != "message" for e in p.events)
        for p in found.parts
    }
    actions = {
        p.id: []
        if p.delivery == "failed" or pending[p.id]
        else [
            a
            for a in allowed(p.state, Actor.RESEARCHER)
            if a in RESEARCHER_BUTTONS and (role is Role.OWNER or a in COLLABORATOR_EVENTS)
        ]
        for p in found.parts
    }
    return render_template(
        "access/request.html",
        req=found,
        actions=actions,
        pending=pending,
        buttons=RESEARCHER_BUTTONS,
        transitions=TRANSITIONS,
        removed={a.id: removed_notice(a) for a in found.attachments},
        error=error,
        role=role.value,
        co_applicants=current_access().collaborators.listing(signed_in_user(), request_id)[1],
    ), status


@bp.get("/requests/<request_id>")
@login_required
def request_page(request_id: str):
    return _request_page(request_id)


@bp.post("/requests/<request_id>/parts/<part_id>/<event>")
@login_required
def act(request_id: str, part_id: str, event: str):
    if event not in RESEARCHER_BUTTONS:
        abort(404, f"there is no action {event!r}")
    try:
        current_access().service.act(
            signed_in_user(), request_id, part_id, event, request.form.get("text", "")
        )
    except RequestNotFound as exc:
        abort(404, str(exc))
    except OwnerOnly as exc:  # a co-applicant's withdraw or answer (membership.py)
        abort(403, str(exc))
    except TransitionRefused as exc:
        return _request_page(request_id, f"Not done: {exc}. Nothing was changed.", 409)
    except SubmissionInvalid as exc:  # the node would refuse it as built
        return _request_page(request_id, f"Not sent: {exc}. Nothing was changed.", 400)
    flash("Sent to the biobank. Its confirmation will show in the history.")
    return redirect(url_for("access.request_page", request_id=request_id) + f"#part-{part_id}")


@bp.get("/requests/<request_id>/attachments/<attachment_id>")
@login_required
def attachment(request_id: str, attachment_id: str):
    try:
        found = current_access().service.attachment_of(signed_in_user(), request_id, attachment_id)
    except RequestNotFound as exc:
        abort(404, str(exc))
    return send_attachment(found)


# -- notifications -----------------------------------------------------------------------
@bp.get("/notifications")
@login_required
def notifications():
    return render_template(
        "access/notifications.html", notes=current_access().service.notifications(signed_in_user())
    )


@bp.post("/notifications/read")
@login_required
def notifications_read():
    current_access().service.mark_read(signed_in_user())
    return redirect(url_for("access.notifications"))


# -- the alliance operators --------------------------------------------------------------
@bp.get("/admin/deliveries")
@role_required("alliance-admin", "Only the alliance's operators can see the broker's deliveries.")
def deliveries():
    messages, delivered = current_access().service.deliveries()
    return render_template("access/deliveries.html", messages=messages, delivered=delivered)


@bp.post("/admin/deliveries/<int:message_id>/retry")
@role_required("alliance-admin", "Only the alliance's operators can retry deliveries.")
def retry(message_id: int):
    if not current_access().outbox.retry_now(message_id):
        abort(404, f"there is no undelivered message #{message_id}")
    flash(f"Message #{message_id} will be retried now.")
    return redirect(url_for("access.deliveries"))
