"""Agreements with evidence and shipment at a node, on SQLite and PostgreSQL: a shipment waits
until every condition is met, takes the shipped vials off the stock for good, and the
researcher's receipt fulfils the part; every bad input is a clear error that stores nothing."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from federation.node.inbox import agreements
from federation.node.inbox.agreements import EvidenceRefused, add_evidence, checklist_of
from federation.node.inbox.holds import HoldAsked, approve_with_holds, holds_of
from federation.node.inbox.models import ConditionEvidence, InboxEvent, NodeOutbox, Shipment
from federation.node.inbox.service import Acting, Inbox, PartNotFound
from federation.node.inbox.shipment import (
    ShipmentForm,
    ShipmentRefused,
    record_shipment,
    shipment_of,
)
from federation.uploads import AttachmentRejected
from schemas.access import EventSchema
from schemas.lifecycle import Actor, TransitionRefused
from tests.unit.stock_helpers import BIOBANKS, BOB, NOW, lots, make_inbox, receive

P1 = "1" * 32
PDF = b"%PDF-1.4\n% an MTA\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
FORM = ShipmentForm(
    carrier="World Courier",
    tracking_number="WC-2026-0042",
    shipped_on=NOW.date(),
    conditions="dry_shipper",
    lots=[HoldAsked("L1", "A", 2)],
)


def stored(inbox: Inbox) -> tuple[int, ...]:
    with inbox.sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (InboxEvent, ConditionEvidence, Shipment, NodeOutbox)
        )


def approved(store, conditions=("mta",)) -> Inbox:
    inbox = make_inbox(store)
    receive(inbox, P1)
    approve_with_holds(
        inbox, P1, BIOBANKS, BOB, [HoldAsked("L1", "A", 3)], dt.date(2026, 12, 10),
        conditions=conditions, now=NOW,
    )  # fmt: skip
    return inbox


def signed_copy(inbox: Inbox) -> None:
    """The researcher's signed copy, as the portal relays it (kept at the portal)."""
    inbox.relay(
        P1,
        {
            "id": "7" * 32,
            "type": "evidence",
            "text": "Signed, attached.",
            "actor_name": "Alice",
            "actor_sub": "s1",
            "at": NOW.isoformat(),
            "evidence": {
                "condition": "mta",
                "kind": "signed_copy",
                "attachment": {
                    "id": "8" * 32,
                    "filename": "mta-signed.pdf",
                    "content_type": "application/pdf",
                    "size": 18,
                    "sha256": "0" * 64,
                },
            },
        },
    )


def complete_mta(inbox: Inbox) -> None:
    add_evidence(
        inbox, P1, BIOBANKS, BOB, "mta", "mta_document", upload=(io.BytesIO(PDF), "mta.pdf")
    )
    signed_copy(inbox)
    add_evidence(
        inbox,
        P1,
        BIOBANKS,
        BOB,
        "mta",
        "countersignature",
        upload=(io.BytesIO(PDF), "mta-final.pdf"),
    )


def test_an_mta_is_a_checklist_of_three_documents_in_order(store):
    inbox = approved(store)
    [item] = checklist_of(inbox, P1, BIOBANKS)
    assert [(e.kind, found) for e, found in item.evidence] == [
        ("mta_document", None),
        ("signed_copy", None),
        ("countersignature", None),
    ]
    with pytest.raises(EvidenceRefused, match="countersign only once the researcher's signed copy"):
        add_evidence(
            inbox, P1, BIOBANKS, BOB, "mta", "countersignature", upload=(io.BytesIO(PDF), "c.pdf")
        )
    complete_mta(inbox)
    [item] = checklist_of(inbox, P1, BIOBANKS)
    assert item.met
    part = inbox.part(P1, BIOBANKS)
    assert [e.text for e in part.events if e.type == "evidence"] == [
        f"{agreements.CONDITIONS['mta']}: the biobank's mta document (mta.pdf)",
        "Signed, attached.",
        f"{agreements.CONDITIONS['mta']}: the biobank's countersignature (mta-final.pdf)",
    ]
    kept = agreements.document(inbox, P1, BIOBANKS, item.evidence[0][1].id)
    assert kept.content == PDF


def test_the_biobanks_documents_go_to_the_portal_with_their_evidence_events(store):
    """Outbound only: the portal keeps its own copy and never calls the node for one."""
    inbox = approved(store)
    complete_mta(inbox)
    with inbox.sessions() as session:
        reports = [m.payload for m in inbox.outbox.pending(session) if m.kind == "event"]
    carried = [EventSchema().load(r) for r in reports if "document" in r]  # as the portal reads
    assert [(e["type"], e["actor"], e["document"]["filename"]) for e in carried] == [
        ("evidence", "biobank", "mta.pdf"),
        ("evidence", "biobank", "mta-final.pdf"),
    ]
    assert {base64.b64decode(e["document"]["content"]) for e in carried} == {PDF}


@pytest.mark.parametrize(
    ("condition", "kind", "upload", "note", "error", "message"),
    [
        (
            "mta", "mta_document", (PNG, "mta.png"), None, EvidenceRefused,
            "mta.png: the biobank's mta document must be a PDF document, not image/png",
        ),
        (
            "mta", "mta_document", (PNG, "mta.pdf"), None, AttachmentRejected,
            "mta.pdf: the content is PNG image",
        ),
        (
            "mta", "mta_document", None, None, EvidenceRefused,
            "mta: the biobank's mta document needs a file (a PDF)",
        ),
        (
            "mta", "signed_copy", (PDF, "s.pdf"), None, EvidenceRefused,
            "mta: the researcher's signed copy comes from the researcher",
        ),
        (
            "fee", "met", None, "Paid", EvidenceRefused,
            "condition 'fee' is not one of this approval's (its conditions: mta)",
        ),
        (
            "mta", "met", None, "Signed", EvidenceRefused,
            "mta: no evidence 'met'; its checklist: mta_document, signed_copy, countersignature",
        ),
    ],
)  # fmt: skip
def test_wrong_evidence_is_refused_and_nothing_is_stored(
    store, condition, kind, upload, note, error, message
):
    inbox = approved(store)
    before = stored(inbox)
    with pytest.raises(error) as caught:
        add_evidence(
            inbox, P1, BIOBANKS, BOB, condition, kind, note=note,
            upload=(io.BytesIO(upload[0]), upload[1]) if upload else None,
        )  # fmt: skip
    assert str(caught.value).startswith(message)
    assert stored(inbox) == before


def test_evidence_and_documents_are_for_the_parts_biobank_only(store):
    inbox = approved(store)
    complete_mta(inbox)
    [item] = checklist_of(inbox, P1, BIOBANKS)
    mallory = Acting(Actor.BIOBANK, "Mallory")
    with pytest.raises(PartNotFound):
        agreements.document(inbox, P1, {"bb-other"}, item.evidence[0][1].id)
    with pytest.raises(PartNotFound):
        checklist_of(inbox, P1, {"bb-other"})
    with pytest.raises(PartNotFound):
        add_evidence(
            inbox,
            P1,
            {"bb-other"},
            mallory,
            "mta",
            "mta_document",
            upload=(io.BytesIO(PDF), "m.pdf"),
        )
    with pytest.raises(PartNotFound):
        record_shipment(inbox, P1, {"bb-other"}, mallory, FORM, now=NOW)
    with pytest.raises(PartNotFound):
        shipment_of(inbox, P1, {"bb-other"})


def test_no_shipment_until_every_condition_is_met(store):
    inbox = approved(store, conditions=("mta", "fee"))
    before = stored(inbox)
    with pytest.raises(ShipmentRefused) as caught:
        record_shipment(inbox, P1, BIOBANKS, BOB, FORM, now=NOW)
    assert caught.value.problems == [
        "condition fee: missing the biobank's confirmation that it is met",
        "condition mta: missing the biobank's mta document, the researcher's signed copy, "
        "the biobank's countersignature",
    ]
    assert stored(inbox) == before and lots(store)["A"] == (5, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"shipped_on": dt.date(2026, 12, 3)}, "shipped_on: 2026-12-03 is in the future"),
        ({"carrier": " "}, "carrier: name the carrier (at most 100 characters)"),
        ({"tracking_number": "<script>"}, "tracking_number: letters, digits"),
        ({"conditions": "warm"}, "conditions: one of dry_ice, dry_shipper"),
        ({"lots": [HoldAsked("L1", "A", 4)]}, "lots[0]: lot 'A' of 'L1': 4 vial(s) shipped"),
        ({"lots": [HoldAsked("L1", "B", 1)]}, "lots[0]: lot 'B' of 'L1': nothing of it is held"),
        ({"lots": []}, "lots: name at least one lot and its vials"),
    ],
)  # fmt: skip
def test_a_bad_shipment_is_refused_and_nothing_is_stored(store, change, message):
    inbox = approved(store, conditions=())
    before = stored(inbox)
    with pytest.raises(ShipmentRefused) as caught:
        record_shipment(inbox, P1, BIOBANKS, BOB, dataclasses.replace(FORM, **change), now=NOW)
    assert str(caught.value).startswith(message)
    assert stored(inbox) == before and lots(store)["A"] == (5, 3)
    assert inbox.part(P1, BIOBANKS).state == "approved"


def test_an_expired_hold_cannot_be_shipped(store):
    inbox = approved(store, conditions=())
    later = dt.datetime(2026, 12, 11, 9, 0, tzinfo=dt.UTC)  # the job has not run yet
    with pytest.raises(ShipmentRefused, match="the hold expired on 2026-12-10"):
        record_shipment(
            inbox, P1, BIOBANKS, BOB, dataclasses.replace(FORM, shipped_on=later.date()), now=later
        )
    assert inbox.part(P1, BIOBANKS).state == "approved"


def test_shipment_lowers_the_stock_for_good_and_the_receipt_fulfils_the_part(store):
    inbox = approved(store)
    complete_mta(inbox)
    seq = store.latest_seq()
    wire = record_shipment(inbox, P1, BIOBANKS, BOB, FORM, now=NOW)
    assert wire["state"] == "shipped"
    assert wire["text"] == (
        "Sent on 2026-12-01 by World Courier, tracking number WC-2026-0042, dry shipper "
        "(liquid nitrogen vapour): 2 vial(s) of lot A of L1."
    )
    # 2 of the 3 held were sent: 3 vials left in the lot, none held.
    assert lots(store) == {"A": (3, 0), "B": (2, 0)} and store.latest_seq() == seq + 1
    assert [h.state for h in holds_of(inbox, P1, BIOBANKS)] == ["shipped"]
    shipment = shipment_of(inbox, P1, BIOBANKS)
    assert shipment is not None and shipment.lots == [{"line_id": "L1", "lot_id": "A", "vials": 2}]
    receipt = {
        "id": "6" * 32,
        "type": "confirm_receipt",
        "text": "Received on 2026-12-03; state on arrival: good.",
        "actor_name": "Alice",
        "actor_sub": "s1",
        "at": NOW.isoformat(),
    }
    event, new = inbox.relay(P1, receipt)
    assert new and event["state"] == "fulfilled"
    assert lots(store) == {"A": (3, 0), "B": (2, 0)}


def test_a_part_that_holds_vials_is_shipped_not_just_marked_fulfilled(store):
    inbox = approved(store, conditions=())
    before = stored(inbox)
    with pytest.raises(TransitionRefused, match="this part holds vials: record the shipment"):
        inbox.decide(P1, BIOBANKS, BOB, "fulfil")
    assert stored(inbox) == before and inbox.part(P1, BIOBANKS).state == "approved"
