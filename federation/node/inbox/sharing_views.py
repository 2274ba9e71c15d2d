"""The admin's pages for stock, agreements and shipment (issue 11), beside the inbox's.

Thin over holds.py, agreements.py and shipment.py: read the form, call the service, show its
refusal on the part's page with nothing changed (409) or go back to the part. Plain HTML
forms with the CSRF field; nothing needs JavaScript. Someone else's part answers 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    request,
    stream_with_context,
)
from werkzeug.datastructures import MultiDict

from federation.database import utcnow
from federation.node.inbox import agreements, holds, shipment
from federation.node.inbox.holds import HoldAsked
from federation.node.inbox.models import InboxPart
from federation.node.inbox.service import Acting, PartNotFound, current_inbox
from federation.node.inbox.stock import StockRefused
from federation.node.inbox.views import (
    DETAIL_EXTRAS,
    admin_biobanks,
    answer_action,
    fetch_from_portal,
    file_response,
)
from federation.uploads import AttachmentRejected
from federation.web.login import current_user, login_required
from schemas.lifecycle import Actor, TransitionRefused
from schemas.parts import lot_vials_free

bp = Blueprint("sharing", __name__)


def _acting() -> Acting:
    user = current_user()
    if user is None:  # login_required lets no one else in
        abort(401, "Please log in first.")
    return Acting(Actor.BIOBANK, user.name, user.sub)


def parse_date(value: str | None, name: str) -> dt.date | None:
    """A form's YYYY-MM-DD, None when empty; StockRefused naming the field otherwise."""
    if not (value or "").strip():
        return None
    try:
        return dt.date.fromisoformat((value or "").strip())
    except ValueError:
        raise StockRefused(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_lots(form: MultiDict[str, str], prefix: str) -> list[HoldAsked]:
    """Fields ``<prefix>|<line>|<lot>`` holding a count of vials; empty or 0 ones are skipped."""
    asked = []
    for key, value in form.items():
        if not key.startswith(prefix + "|") or not value.strip():
            continue
        if key.count("|") != 2:
            raise StockRefused(f"field {key!r}: expected {prefix}|<line>|<lot>")
        _, line_id, lot_id = key.split("|", 2)
        try:
            vials = int(value)
        except ValueError:
            raise StockRefused(
                f"lot {lot_id!r} of {line_id!r}: {value!r} is not a number"
            ) from None
        if vials:
            asked.append(HoldAsked(line_id, lot_id, vials))
    return asked


def sharing_context(part: InboxPart, biobanks: frozenset[str]) -> dict[str, Any]:
    """What the part's page shows of stock, agreements and shipment (views.DETAIL_EXTRAS)."""
    inbox = current_inbox()
    stock_now = {}
    lines = [i["id"] for i in part.payload["items"] if i["kind"] == "cell_line"]
    records = inbox.store.get_many("cell_line", lines)  # one query, not one per item
    for item in part.payload["items"]:
        if item["kind"] == "cell_line":
            record = records.get(item["id"]) or {}
            stock_now[item["id"]] = [
                {**lot, "free": lot_vials_free(lot)}
                for lot in record.get("lots", [])
                if lot.get("vials_available") is not None
            ]
    asked = {
        (i["id"], i["lot_id"]): i.get("quantity", 1)
        for i in part.payload["items"]
        if i.get("lot_id")
    }
    return {
        "stock_now": stock_now,
        "asked": asked,
        "holds": holds.holds_of(inbox, part.id, biobanks),
        "checklist": agreements.checklist_of(inbox, part.id, biobanks),
        "shipment": shipment.shipment_of(inbox, part.id, biobanks),
        "shipping_conditions": shipment.SHIPPING_CONDITIONS,
        "today": utcnow().date().isoformat(),  # the date the checks compare with
    }


DETAIL_EXTRAS.append(sharing_context)


@bp.post("/inbox/<part_id>/approve-with-holds")
@login_required
def approve(part_id: str):
    biobanks = admin_biobanks()
    form = request.form
    return answer_action(
        part_id,
        lambda: holds.approve_with_holds(
            current_inbox(),
            part_id,
            biobanks,
            _acting(),
            parse_lots(form, "hold"),
            parse_date(form.get("until"), "until"),
            text=form.get("text"),
            conditions=form.getlist("conditions"),
            max_days=int(current_app.config["HOLD_MAX_DAYS"]),
            override_reason=form.get("override_reason"),
        ),
        (StockRefused, TransitionRefused),
        "approved",
        "Approved: saved, the vials are held, and the researcher is told.",
    )


@bp.post("/inbox/<part_id>/release")
@login_required
def release(part_id: str):
    biobanks = admin_biobanks()
    return answer_action(
        part_id,
        lambda: holds.release_holds(
            current_inbox(), part_id, biobanks, _acting(), request.form.get("text")
        ),
        (StockRefused, TransitionRefused),
        "released",
        "The held vials are free again; the researcher is told.",
    )


@bp.post("/inbox/<part_id>/evidence")
@login_required
def evidence(part_id: str):
    biobanks = admin_biobanks()
    file = request.files.get("document")
    upload = (file.stream, file.filename) if file and file.filename else None
    return answer_action(
        part_id,
        lambda: agreements.add_evidence(
            current_inbox(),
            part_id,
            biobanks,
            _acting(),
            request.form.get("condition", ""),
            request.form.get("kind", ""),
            note=request.form.get("note"),
            upload=upload,
            max_bytes=int(current_app.config["ATTACHMENT_MAX_BYTES"]),
        ),
        (TransitionRefused, AttachmentRejected),
        "saved",
        "Evidence saved; the researcher is told.",
    )


@bp.get("/inbox/<part_id>/evidence/<evidence_id>")
@login_required
def document(part_id: str, evidence_id: str):
    """A document kept at this node (the MTA, its countersignature), for this part's admins."""
    try:
        row = agreements.document(current_inbox(), part_id, admin_biobanks(), evidence_id)
    except PartNotFound as exc:
        abort(404, str(exc))
    if row.content is None:  # the researcher's signed copy, kept at the portal
        return _from_portal(part_id, row.id, row.filename or "", row.content_type or "")
    return file_response(
        row.content, row.filename or "", row.content_type or "application/octet-stream"
    )


def _from_portal(part_id: str, attachment_id: str, filename: str, content_type: str):
    """Stream a file the portal keeps for this part (as views.attachment does for the
    request's files)."""
    upstream = fetch_from_portal(part_id, attachment_id, "document")
    if upstream.status_code != 200:
        upstream.close()
        abort(502, f"the portal answered {upstream.status_code} for this document")
    return file_response(
        stream_with_context(upstream.iter_content(64 * 1024)), filename, content_type
    )


@bp.post("/inbox/<part_id>/ship")
@login_required
def ship(part_id: str):
    biobanks = admin_biobanks()
    form = request.form

    def record() -> None:
        sent = shipment.ShipmentForm(
            carrier=form.get("carrier", ""),
            tracking_number=form.get("tracking_number", ""),
            shipped_on=parse_date(form.get("shipped_on"), "shipped_on"),
            conditions=form.get("conditions", ""),
            lots=parse_lots(form, "ship"),
        )
        shipment.record_shipment(current_inbox(), part_id, biobanks, _acting(), sent)

    return answer_action(
        part_id,
        record,
        (StockRefused, shipment.ShipmentRefused, TransitionRefused),
        "recorded",
        "Shipment recorded; the researcher is told and asked to confirm receipt.",
    )
