"""The researcher's pages for stock, agreements and shipment (issue 11), beside views.py.

Thin over cart_stock.py and sharing.py: the amount of a cart line, the receipt of a shipped
part, the signed MTA, and the biobank's documents (kept here as its node sent them, for the
request's owner and co-applicants, as the request's attachments; anyone else gets 404; acts
are the owner's, a co-applicant gets 403). Plain forms with the CSRF field; no JavaScript needed.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for

from federation.web.login import login_required, signed_in_user
from portal.access import cart, cart_stock, sharing
from portal.access.api import send_attachment
from portal.access.attachments import AttachmentRejected, check_upload
from portal.access.context import current_access
from portal.access.membership import OwnerOnly
from portal.access.service import RequestNotFound, SubmissionInvalid
from portal.access.views import _request_page
from schemas.lifecycle import TransitionRefused

bp = Blueprint("sharing", __name__)


@bp.app_context_processor
def _sharing_globals() -> dict:
    return {
        "arrival_states": sharing.ARRIVAL_STATES,
        "cart_amounts": cart_stock.amounts(),
        "lots_available": cart_stock.lots_available,
    }


@bp.post("/cart/amount")
def cart_amount():
    uid = request.form.get("uid", "")
    try:
        amount = cart_stock.parse(uid, request.form.get("quantity"), request.form.get("lot_id"))
        cart_stock.set_amount(uid, amount, cart.items())
    except cart_stock.AmountError as exc:
        abort(400, f"{exc}. Nothing was changed.")
    return redirect(url_for("access.cart_page"))


def _back(request_id: str, part_id: str):
    return redirect(url_for("access.request_page", request_id=request_id) + f"#part-{part_id}")


def _owner_acts(
    request_id: str,
    part_id: str,
    call: Callable[[], object],
    invalid: tuple[type[Exception], ...],
    done: str,
):
    """Run one act of the request's owner on a part: someone else's request is 404, a
    co-applicant's 403, a refusal (409) or bad input (400) is shown with nothing changed;
    success goes back to the part with ``done``."""
    try:
        call()
    except RequestNotFound as exc:
        abort(404, str(exc))
    except OwnerOnly as exc:  # a co-applicant reads the request but does not act on it
        abort(403, str(exc))
    except TransitionRefused as exc:
        return _request_page(request_id, f"Not done: {exc}. Nothing was changed.", 409)
    except invalid as exc:
        return _request_page(request_id, f"Not sent: {exc}. Nothing was changed.", 400)
    flash(done)
    return _back(request_id, part_id)


@bp.post("/requests/<request_id>/parts/<part_id>/receipt")
@login_required
def receipt(request_id: str, part_id: str):
    form = {k: request.form.get(k, "") for k in ("received_on", "state", "note")}

    def confirm() -> None:
        sharing.check_owner(
            current_access().service, signed_in_user(), request_id, part_id, "confirm receipt"
        )
        sharing.confirm_receipt(
            current_access().service, signed_in_user(), request_id, part_id, form
        )

    return _owner_acts(
        request_id,
        part_id,
        confirm,
        (SubmissionInvalid,),
        "Receipt sent to the biobank. Its confirmation will show in the history.",
    )


@bp.post("/requests/<request_id>/parts/<part_id>/signed-copy")
@login_required
def signed_copy(request_id: str, part_id: str):
    upload = request.files.get("document")

    def send() -> None:
        sharing.check_owner(
            current_access().service, signed_in_user(), request_id, part_id, "send the signed MTA"
        )
        if upload is None or not upload.filename:
            raise SubmissionInvalid(["choose the signed MTA (a PDF) to upload"])
        checked = check_upload(
            upload.stream, upload.filename, current_app.config["ATTACHMENT_MAX_BYTES"]
        )
        sharing.send_signed_copy(
            current_access().service, signed_in_user(), request_id, part_id, checked,
            request.form.get("note", ""),
        )  # fmt: skip

    return _owner_acts(
        request_id,
        part_id,
        send,
        (SubmissionInvalid, AttachmentRejected),
        "Signed MTA sent to the biobank for its countersignature.",
    )


@bp.get("/requests/<request_id>/parts/<part_id>/documents/<evidence_id>")
@login_required
def document(request_id: str, part_id: str, evidence_id: str):
    try:
        found = sharing.biobank_document(
            current_access().service, signed_in_user(), request_id, part_id, evidence_id
        )
    except RequestNotFound as exc:
        abort(404, str(exc))
    return send_attachment(found)  # as the request's own files: 410 once retention removed it
