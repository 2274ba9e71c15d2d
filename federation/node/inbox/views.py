"""The biobank admins' inbox at their node: list, read, ask, approve, reject, fulfil, message.

An admin sees only the parts of the biobanks their token names for this node; anyone else's
part answers 404, like a part that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from federation.node.identity import current_identity
from federation.node.inbox.models import InboxPart
from federation.node.inbox.service import Acting, PartNotFound, current_inbox
from federation.node.inbox.terms import part_context
from federation.tokens import TokenUnavailable
from federation.web.filters import when
from federation.web.login import current_user, login_required
from schemas.access import INTENDED_USES
from schemas.lifecycle import (
    CONDITIONS,
    STATE_LABELS,
    TRANSITIONS,
    Actor,
    State,
    TransitionRefused,
    allowed,
)

bp = Blueprint("inbox", __name__, template_folder="templates")

# More of what a part's page shows, each ``extra(part, biobanks) -> dict`` (sharing_views.py
# adds stock, agreements and shipment this way, so this module need not know them).
DETAIL_EXTRAS: list[Callable[[InboxPart, frozenset[str]], dict[str, Any]]] = []

BUTTONS = {
    "request_info": "Ask for information",
    "approve": "Approve",
    "reject": "Reject",
    "fulfil": "Mark as fulfilled (material sent)",
    "message": "Send a message",
}


def admin_biobanks() -> frozenset[str]:
    user = current_user()
    biobanks = user.biobanks_at(current_app.config["NODE_ID"]) if user else frozenset()
    if not biobanks:
        abort(
            403,
            f"You are logged in as {user.name if user else 'nobody'}, who administers no "
            f"biobank at node {current_app.config['NODE_ID']}. Ask the alliance's operators "
            "to add your biobanks to your account.",
        )
    return biobanks


bp.add_app_template_filter(when, "when")


@bp.app_context_processor
def _labels() -> dict:
    return {
        "state_labels": {s.value: label for s, label in STATE_LABELS.items()},
        "event_labels": {e: t.label for e, t in TRANSITIONS.items()},
        "intended_uses": INTENDED_USES,
        "condition_labels": CONDITIONS,
    }


@bp.get("/inbox")
@login_required
def inbox():
    biobanks = admin_biobanks()
    state = request.args.get("state") or None
    if state is not None and state not in {s.value for s in State}:
        abort(400, f"unknown state {state!r}; known: {', '.join(s.value for s in State)}")
    return render_template(
        "inbox/inbox.html",
        parts=current_inbox().parts(biobanks, state),
        biobanks=sorted(biobanks),
        state=state,
        node_name=current_app.config["NODE_NAME"],
    )


def _detail(part_id: str, error: str | None = None, status: int = 200):
    try:
        part = current_inbox().part(part_id, admin_biobanks())
    except PartNotFound as exc:
        abort(404, str(exc))
    actions = [e for e in allowed(part.state, Actor.BIOBANK) if e in BUTTONS]
    extras = [extra(part, admin_biobanks()) for extra in DETAIL_EXTRAS]
    return render_template(
        "inbox/part.html",
        part=part,
        p=part.payload,
        actions=actions,
        buttons=BUTTONS,
        transitions=TRANSITIONS,
        error=error,
        node_name=current_app.config["NODE_NAME"],
        **part_context(
            current_inbox().store, part.payload, current_inbox().consent_override_allowed
        ),
        **{k: v for extra in extras for k, v in extra.items()},
    ), status


@bp.get("/inbox/<part_id>")
@login_required
def part_page(part_id: str):
    return _detail(part_id)


def answer_action(
    part_id: str,
    call: Callable[[], object],
    refused: tuple[type[Exception], ...],
    verb: str,
    done: str,
):
    """Run one admin action on a part: someone else's part is 404, a refusal is shown on the
    part's page with nothing changed (409), success goes back to the part with ``done``."""
    try:
        call()
    except PartNotFound as exc:
        abort(404, str(exc))
    except refused as exc:
        return _detail(part_id, f"Not {verb}: {exc}. Nothing was changed.", 409)
    flash(done)
    return redirect(url_for("inbox.part_page", part_id=part_id))


def file_response(body: Any, filename: str, content_type: str) -> Response:
    """A download for this part's admins only: never cached, never sniffed as a page."""
    return Response(
        body,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{_ascii(filename)}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@bp.post("/inbox/<part_id>/<event>")
@login_required
def act(part_id: str, event: str):
    biobanks = admin_biobanks()
    if event not in BUTTONS:
        abort(404, f"there is no action {event!r}")
    user = current_user()
    if user is None:  # login_required lets no one else in
        abort(401, "Please log in first.")
    return answer_action(
        part_id,
        lambda: current_inbox().decide(
            part_id,
            biobanks,
            Acting(Actor.BIOBANK, user.name, user.sub),
            event,
            text=request.form.get("text"),
            conditions=request.form.getlist("conditions"),
            override_reason=request.form.get("override_reason"),
        ),
        (TransitionRefused,),
        "done",
        f"{TRANSITIONS[event].label}: saved, and on its way to the researcher.",
    )


@bp.get("/inbox/<part_id>/attachments/<attachment_id>")
@login_required
def attachment(part_id: str, attachment_id: str):
    """Fetch an attachment from the portal (where it is kept) with the node's token."""
    try:
        part = current_inbox().part(part_id, admin_biobanks())
    except PartNotFound as exc:
        abort(404, str(exc))
    refs = {a["id"]: a for a in part.payload.get("attachments", [])}
    if attachment_id not in refs:
        abort(404, "this part has no such attachment")
    upstream = fetch_from_portal(part_id, attachment_id, "attachment")
    if upstream.status_code == 410:  # removed under the portal's retention rule
        upstream.close()
        abort(410, "The portal no longer keeps this file: it was removed under its retention rule.")
    if upstream.status_code != 200:
        abort(502, f"the portal answered {upstream.status_code} for this attachment")
    ref = refs[attachment_id]
    return file_response(
        stream_with_context(upstream.iter_content(64 * 1024)), ref["filename"], ref["content_type"]
    )


def fetch_from_portal(part_id: str, attachment_id: str, noun: str) -> Any:
    """The portal's streamed answer for a file it keeps for this part, asked with the node's
    token; 503 naming the ``noun`` when the node has no secret or the portal is unreachable."""
    credentials = current_identity().credentials
    if credentials is None:
        abort(503, f"this node has no client secret configured, so it cannot fetch {noun}s")
    url = (
        f"{current_app.config['PORTAL_URL'].rstrip('/')}/api/v1/access/parts/{part_id}"
        f"/attachments/{attachment_id}"
    )
    try:
        return credentials.request("GET", url, stream=True)
    except (TokenUnavailable, OSError) as exc:
        abort(503, f"the portal cannot be reached for the {noun}: {exc}")


def _ascii(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._- " else "_" for c in name)[:100] or "attachment"
