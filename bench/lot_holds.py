"""Lot holds under contention: many approvals racing for one lot, on SQLite or PostgreSQL.

    .venv/bin/python -m bench.lot_holds                              # SQLite in a temp folder
    .venv/bin/python -m bench.lot_holds --db postgresql://...        # an empty database

Each of ``--parts`` requested parts asks for ``--vials-each`` vials of one lot of
``--stock`` vials; ``--threads`` admins approve them at once, each in its own session. It
prints approvals per second and checks the invariant: the vials held never exceed the stock,
and exactly ``stock // vials_each`` approvals won. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from federation.node.importer import import_catalogue
from federation.node.inbox.holds import HoldAsked, approve_with_holds
from federation.node.inbox.models import NodeOutbox
from federation.node.inbox.service import Acting, Inbox
from federation.node.inbox.stock import StockRefused, held
from federation.node.store import CatalogueStore
from federation.outbox import Outbox
from schemas.access import PartSchema
from schemas.lifecycle import Actor

BIOBANK = {"id": "bb", "name": "Bench biobank", "country": "DE"}
COLLECTION = {"id": "coll", "biobank": "bb", "name": "Bench lines"}


def catalogue(stock: int) -> dict:
    line = {
        "id": "L1",
        "biobank": "bb",
        "collection": "coll",
        "name": "L1",
        "cell_type": "hiPSC",
        "donor": {"sex": "FEMALE", "age_range": "50-54", "diseases": []},
        "availability": "available",
        "lots": [{"lot_id": "A", "vials_available": stock}],
    }
    return {
        "schema_version": "1",
        "biobanks": [BIOBANK],
        "collections": [COLLECTION],
        "cell_lines": [line],
    }


def part(i: int) -> dict:
    part_id = f"{i:032x}"
    return {
        "id": part_id,
        "request_id": part_id[::-1],
        "node_id": "bench",
        "biobank_id": "bb",
        "biobank_name": "Bench biobank",
        "submitted_at": "2026-11-01T10:00:00+00:00",
        "researcher": {"iss": "https://idp.example", "sub": f"r{i}", "name": "R", "email": None},
        "project": {
            "title": "Bench project",
            "description": "Many approvals racing for the vials of one lot.",
            "intended_use": "DUO:0000006",
            "ethics_ref": "EC-1",
        },
        "items": [{"kind": "cell_line", "id": "L1", "name": "L1"}],
    }


def run(url: str, parts: int, threads: int, stock: int, each: int) -> None:
    store = CatalogueStore(url)
    store.create_schema()
    assert import_catalogue(store, catalogue(stock), "bench").ok
    inbox = Inbox(store, "bench", "Bench", Outbox(NodeOutbox, store.sessions, {"event": print}))
    for i in range(1, parts + 1):
        inbox.receive(PartSchema().load(part(i)))
    until = dt.date.today() + dt.timedelta(days=10)
    admin = Acting(Actor.BIOBANK, "Bench admin")
    won, lock = [0, 0], threading.Lock()

    def approve(i: int) -> None:
        try:
            approve_with_holds(
                inbox, f"{i:032x}", {"bb"}, admin, [HoldAsked("L1", "A", each)], until
            )
            outcome = 0
        except StockRefused:
            outcome = 1
        with lock:
            won[outcome] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(approve, range(1, parts + 1)))
    seconds = time.perf_counter() - started
    with store.sessions() as session:
        total = held(session, "L1", "A")
    kind = url.split(":", 1)[0]
    print(
        f"{kind}: {parts} approvals by {threads} threads in {seconds:.2f} s "
        f"({parts / seconds:.0f}/s); {won[0]} held, {won[1]} refused; "
        f"{total} of {stock} vials held"
    )
    assert total <= stock and won[0] == min(parts, stock // each) and total == won[0] * each
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="an empty database (default: SQLite in a temp folder)")
    parser.add_argument("--parts", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--stock", type=int, default=100)
    parser.add_argument("--vials-each", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{folder}/bench.sqlite3"
        run(url, args.parts, args.threads, args.stock, args.vials_each)


if __name__ == "__main__":
    main()
