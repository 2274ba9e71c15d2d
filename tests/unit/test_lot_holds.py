"""Lot holds at a node, on SQLite and PostgreSQL: an approval holds vials of named lots, the
published record shows the lower stock at once, holds expire by the clock and go back on
withdrawal, two concurrent approvals never hold more than a lot has, and a refused hold
stores nothing."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from sqlalchemy import func, select

from cellfed import worker
from federation.node.importer import import_catalogue
from federation.node.inbox.holds import (
    HoldAsked,
    approve_with_holds,
    expire_holds,
    holds_of,
    release_holds,
)
from federation.node.inbox.models import InboxEvent, LotHold, LotStock, NodeOutbox
from federation.node.inbox.service import Inbox, PartNotFound, inbox_of
from federation.node.inbox.stock import StockRefused
from search.indexer.derived import stock_fields
from tests.builders import catalogue, cell_line
from tests.unit.stock_helpers import BIOBANKS, BOB, NOW, lots, make_inbox, receive

P1, P2 = "1" * 32, "2" * 32
UNTIL = dt.date(2026, 12, 10)


def stored(inbox: Inbox) -> tuple[int, int, int, int]:
    """Events, holds, outbox messages and vials held: what a refusal must leave as it was."""
    with inbox.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(InboxEvent)) or 0,
            session.scalar(select(func.count()).select_from(LotHold)) or 0,
            session.scalar(select(func.count()).select_from(NodeOutbox)) or 0,
            session.scalar(select(func.coalesce(func.sum(LotStock.held), 0))) or 0,
        )


def test_an_approval_holds_vials_and_the_published_stock_goes_down_at_once(store):
    inbox = make_inbox(store)
    receive(inbox, P1)
    before = store.latest_seq()
    wire = approve_with_holds(
        inbox, P1, BIOBANKS, BOB, [HoldAsked("L1", "A", 3)], UNTIL, text="Fine.", now=NOW
    )
    assert wire["state"] == "approved"
    assert wire["text"] == "Fine.\nHeld for you until 2026-12-10: 3 vial(s) of lot A of L1."
    assert lots(store) == {"A": (5, 3), "B": (2, 0)}  # physical stock kept, 3 held
    assert store.latest_seq() == before + 1  # a change in the feed: the index refreshes
    [change] = store.changes(before, 10)
    assert change["id"] == "L1"
    assert stock_fields(change["record"]["lots"]) == {"lots_count": 2, "vials_available": 4}
    [hold] = holds_of(inbox, P1, BIOBANKS)
    assert (hold.vials, hold.state) == (3, "active")


def test_a_quantity_beyond_stock_is_refused_and_nothing_is_stored(store):
    inbox = make_inbox(store)
    receive(inbox, P1)
    before, seq = stored(inbox), store.latest_seq()
    with pytest.raises(StockRefused) as caught:
        approve_with_holds(
            inbox, P1, BIOBANKS, BOB, [HoldAsked("L1", "B", 1), HoldAsked("L1", "A", 6)], UNTIL,
            now=NOW,
        )  # fmt: skip
    assert str(caught.value) == (
        "lot 'A' of 'L1': 6 vial(s) asked, only 5 free (5 in stock, the rest held for other "
        "requests)"
    )
    assert stored(inbox) == before and store.latest_seq() == seq
    assert inbox.part(P1, BIOBANKS).state == "under_review"


@pytest.mark.parametrize(
    ("hold", "until", "message"),
    [
        (HoldAsked("L1", "A", 1), dt.date(2026, 11, 30), "hold until 2026-11-30: the date is in"),
        (HoldAsked("L1", "Z", 1), UNTIL, "cell line 'L1' has no lot 'Z' (its lots: A, B)"),
        (HoldAsked("L9", "A", 1), UNTIL, "cell line 'L9' is not asked for in this part"),
        (HoldAsked("L1", "A", 0), UNTIL, "lot 'A' of 'L1': hold at least 1 vial, not 0"),
        (HoldAsked("L1", "A", 1), None, "hold until: a hold needs the date it ends"),
    ],
)
def test_bad_holds_are_refused_with_what_and_where(store, hold, until, message):
    inbox = make_inbox(store)
    receive(inbox, P1)
    before = stored(inbox)
    with pytest.raises(StockRefused, match=re.escape(message)):
        approve_with_holds(inbox, P1, BIOBANKS, BOB, [hold], until, now=NOW)
    assert stored(inbox) == before
    assert lots(store) == {"A": (5, 0), "B": (2, 0)}


def test_someone_elses_part_cannot_be_approved_or_read(store):
    inbox = make_inbox(store)
    receive(inbox, P1)
    before = stored(inbox)
    with pytest.raises(PartNotFound):
        approve_with_holds(inbox, P1, {"bb-other"}, BOB, [HoldAsked("L1", "A", 1)], UNTIL, now=NOW)
    with pytest.raises(PartNotFound):
        holds_of(inbox, P1, {"bb-other"})
    assert stored(inbox) == before


def test_two_concurrent_approvals_never_hold_more_than_the_lot_has(store):
    """Each asks for 3 of lot A's 5 vials, in its own thread and session, released together:
    exactly one holds them, the other is refused, and 3 are held."""
    inbox = make_inbox(store)
    receive(inbox, P1)
    receive(inbox, P2)
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def approve(part_id: str) -> None:
        start.wait()
        try:
            approve_with_holds(
                inbox, part_id, BIOBANKS, BOB, [HoldAsked("L1", "A", 3)], UNTIL, now=NOW
            )
            outcomes[part_id] = "held"
        except StockRefused as exc:
            outcomes[part_id] = str(exc)

    threads = [threading.Thread(target=approve, args=(p,)) for p in (P1, P2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == [
        "held",
        "lot 'A' of 'L1': 3 vial(s) asked, only 2 free (5 in stock, the rest held for other "
        "requests)",
    ]
    assert lots(store) == {"A": (5, 3), "B": (2, 0)}
    refused = next(p for p, outcome in outcomes.items() if outcome != "held")
    assert inbox.part(refused, BIOBANKS).state == "under_review"
    assert holds_of(inbox, refused, BIOBANKS) == []


def test_holds_expire_by_the_clock_and_the_history_says_so(store):
    inbox = make_inbox(store)
    receive(inbox, P1)
    approve_with_holds(inbox, P1, BIOBANKS, BOB, [HoldAsked("L1", "A", 2)], UNTIL, now=NOW)
    assert expire_holds(inbox, now=dt.datetime(2026, 12, 10, 12, 0, tzinfo=dt.UTC)) == 0
    assert lots(store)["A"] == (5, 2)
    assert expire_holds(inbox, now=dt.datetime(2026, 12, 11, tzinfo=dt.UTC)) == 1
    assert lots(store)["A"] == (5, 0)
    [hold] = holds_of(inbox, P1, BIOBANKS)
    assert hold.state == "expired"
    part = inbox.part(P1, BIOBANKS)
    assert part.state == "approved" and part.events[-1].type == "release"
    assert (
        part.events[-1].text
        == "The hold expired: 2 vial(s) of lot A of L1 can go to other requests."
    )
    assert expire_holds(inbox, now=dt.datetime(2026, 12, 12, tzinfo=dt.UTC)) == 0


def test_a_withdrawal_gives_the_held_vials_back(store):
    inbox = make_inbox(store)
    receive(inbox, P1)
    approve_with_holds(inbox, P1, BIOBANKS, BOB, [HoldAsked("L1", "A", 4)], UNTIL, now=NOW)
    action = {
        "id": "9" * 32,
        "type": "withdraw",
        "text": "",
        "actor_name": "Alice",
        "actor_sub": "s1",
        "at": NOW.isoformat(),
    }
    wire, new = inbox.relay(P1, action)
    assert new and wire["state"] == "withdrawn"
    assert lots(store)["A"] == (5, 0)
    assert [h.state for h in holds_of(inbox, P1, BIOBANKS)] == ["released"]


def test_a_reimport_keeps_the_held_vials_published(store):
    inbox = make_inbox(store)
    receive(inbox, P1)
    approve_with_holds(inbox, P1, BIOBANKS, BOB, [HoldAsked("L1", "A", 2)], UNTIL, now=NOW)
    # The biobank's next export counts 7 vials in lot A; the 2 held stay held.
    again = [{"lot_id": "A", "vials_available": 7}, {"lot_id": "B", "vials_available": 2}]
    assert import_catalogue(store, catalogue(cell_line("L1", lots=again)), "test").ok
    assert lots(store) == {"A": (7, 2), "B": (2, 0)}


def test_an_admin_releases_the_held_vials_with_a_note(store):
    inbox = make_inbox(store)
    receive(inbox, P1)
    approve_with_holds(inbox, P1, BIOBANKS, BOB, [HoldAsked("L1", "A", 2)], UNTIL, now=NOW)
    with pytest.raises(PartNotFound):
        release_holds(inbox, P1, {"bb-other"}, BOB, "not mine")
    assert lots(store)["A"] == (5, 2)
    wire = release_holds(inbox, P1, BIOBANKS, BOB, "Project postponed.")
    assert wire["text"] == "Released: 2 vial(s) of lot A of L1. Project postponed."
    assert wire["state"] == "approved" and lots(store)["A"] == (5, 0)
    before = stored(inbox)
    with pytest.raises(StockRefused, match="this part holds no vials to release"):
        release_holds(inbox, P1, BIOBANKS, BOB, "again")
    assert stored(inbox) == before


def test_the_node_workers_lot_holds_job_ends_holds_past_their_date(node_app):
    inbox = inbox_of(node_app)
    stock = [{"lot_id": "A", "vials_available": 5}]
    assert import_catalogue(inbox.store, catalogue(cell_line("L1", lots=stock)), "t").ok
    receive(inbox, P1)
    month_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    approve_with_holds(
        inbox, P1, BIOBANKS, BOB, [HoldAsked("L1", "A", 2)], month_ago.date(), now=month_ago
    )
    assert lots(inbox.store)["A"] == (5, 2)
    [job] = [j for j in worker.JOBS["node"].jobs if j.name == "lot-holds"]
    assert job.interval == "HOLD_EXPIRY_INTERVAL"
    assert worker._lot_holds(node_app) == 1  # one pass, on the real clock
    assert lots(inbox.store)["A"] == (5, 0)
