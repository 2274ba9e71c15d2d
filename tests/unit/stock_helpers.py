"""What the stock, agreement and shipment tests share: a node's inbox on a real database
(SQLite or PostgreSQL, the ``store`` fixture's) with one requested part."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from federation.node.importer import import_catalogue
from federation.node.inbox import agreements
from federation.node.inbox.models import NodeOutbox
from federation.node.inbox.service import Acting, Inbox
from federation.node.store import CatalogueStore
from federation.outbox import Outbox
from schemas.access import PartSchema
from schemas.lifecycle import Actor
from tests.builders import catalogue, cell_line
from tests.builders.sent_part import PROJECT, sent_part

BIOBANKS = frozenset({"bb-berlin"})
BOB = Acting(Actor.BIOBANK, "Bob", "bob-sub")
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def part(part_id: str, *items: dict[str, Any]) -> dict[str, Any]:
    default = [{"kind": "cell_line", "id": "L1", "name": "L1", "quantity": 2}]
    return sent_part(part_id, part_id[::-1], PROJECT, list(items) or default)


def make_inbox(store: CatalogueStore, vials: int = 5) -> Inbox:
    """An inbox over ``store`` whose catalogue has line L1 with lots A (``vials``) and B (2)."""
    # A date in a lot: a rewrite of the record must load the stored payload before dumping it.
    lots = [
        {"lot_id": "A", "vials_available": vials, "frozen_date": "2025-03-01"},
        {"lot_id": "B", "vials_available": 2},
    ]
    assert import_catalogue(store, catalogue(cell_line("L1", lots=lots)), "test").ok
    # Events stay queued (they are read from the outbox table); none is sent.
    outbox = Outbox(NodeOutbox, store.sessions, {"event": lambda message: None})
    inbox = Inbox(store, "test-node", "Test node", outbox)
    agreements.install(inbox)
    return inbox


def receive(inbox: Inbox, part_id: str, *items: dict[str, Any]) -> str:
    inbox.receive(PartSchema().load(copy.deepcopy(part(part_id, *items))))
    return part_id


def lots(store: CatalogueStore) -> dict[str, tuple[int, int]]:
    """Line L1's lots as published: (vials_available, vials_held) each."""
    record = store.get("cell_line", "L1")
    assert record is not None
    return {
        lot["lot_id"]: (lot["vials_available"], lot.get("vials_held", 0)) for lot in record["lots"]
    }
