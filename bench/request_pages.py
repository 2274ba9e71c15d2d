"""A big request's pages and a state change, at the portal and at a node (issue 11).

    .venv/bin/python -m bench.request_pages                   # SQLite in a temp folder
    .venv/bin/python -m bench.request_pages --postgres        # also on a throwaway PostgreSQL
    .venv/bin/python -m bench.request_pages --profile portal  # cProfile of one page render

One request of ``--biobanks`` × ``--items`` cell lines (20 × 50 = 1,000), built through the
services as a real submission is: the portal's ``AccessService.submit`` stores one part per
biobank, each part's history is mirrored as its node would report it (received, questions
asked and answered, messages, approvals with conditions, shipments, rejections; some of the
researcher's actions still pending), and the part for biobank 1 is delivered to a real node
app's inbox, where its admin asks, writes, and approves with vials held on ten lines, beside
19 other requests' parts of 50 items each. Then, with Flask's test client signed in as the
request's owner and as that biobank's admin, it times ``--runs`` renders of:

- the researcher's request page at the portal (``GET /requests/<id>``: all 20 parts, 1,000
  items, their histories);
- the admin's pages at the node: the part's page (``GET /inbox/<part>``: 50 items with their
  consent verdicts, stock and holds, the history, the checklist) and the inbox list
  (``GET /inbox``: 20 parts of 50 items) — the two pages an admin opens for such a request;
- a state change through each side's HTTP endpoint: the researcher's message on one part
  (``POST /requests/<id>/parts/<part>/message``: checked, recorded pending, queued for the
  node) and the admin's message (``POST /inbox/<part>/message``: recorded, queued for the
  portal). Nothing is delivered (no network): the figure is the endpoint's own work.

Targets (issue 11): pages p95 < 2 s, a state change p95 < 200 ms. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from bench.common import machine
from federation.database import new_id
from federation.node.app import create_app as create_node_app
from federation.node.importer import import_catalogue
from federation.node.inbox.holds import HoldAsked, approve_with_holds
from federation.node.inbox.service import Acting, inbox_of
from federation.node.store import store_of
from federation.registry import Member
from federation.web.csrf import SESSION_KEY
from federation.web.login import SESSION_ID, User, open_session
from portal.access.context import access_of
from portal.access.models import PartEvent, PortalOutbox
from portal.app import create_app as create_portal_app
from schemas.access import EventSchema, PartSchema
from schemas.lifecycle import Actor

ISS = "https://idp.example.org"
OWNER = User(ISS, "owner", "Rita Researcher", "rita@example.org", frozenset(), frozenset())
TOKEN = "bench-csrf-token"
PROJECT = {
    "title": "Isogenic panel across the alliance",
    "description": "Compare 1,000 iPSC lines from twenty biobanks in one differentiation screen.",
    "intended_use": "DUO:0000006",
    "ethics_ref": "EC-2026-1000",
}
ADMIN = Acting(Actor.BIOBANK, "Bea Biobank", "bea")


def node_id(k: int) -> str:
    return f"n{k:02d}"


def biobank_id(k: int) -> str:
    return f"bb{k:02d}"


def line_id(k: int, i: int) -> str:
    return f"L{k:02d}-{i:02d}"


def lots(i: int) -> list[dict[str, Any]]:
    """Two lots per line, the second small: some holds leave little free."""
    return [
        {"lot_id": "A", "vials_available": 20 + i % 7},
        {"lot_id": "B", "vials_available": 2 + i % 3},
    ]


def documents(biobanks: int, items: int) -> dict[str, dict[str, Any]]:
    """The search documents the portal's lookup finds, by uid: ``items`` lines per biobank,
    one biobank per node."""
    found = {}
    for k in range(1, biobanks + 1):
        for i in range(1, items + 1):
            local = line_id(k, i)
            found[f"{node_id(k)}:cell_line:{local}"] = {
                "kind": "cell_line",
                "name": f"Line {local}",
                "local_id": local,
                "node_id": node_id(k),
                "biobank_id": biobank_id(k),
                "biobank_name": f"Biobank {k:02d}",
                "record": {"lots": lots(i)},
            }
    return found


def node_catalogue(k: int, items: int) -> dict[str, Any]:
    """What node ``k`` publishes: its biobank, one collection, ``items`` lines with lots."""
    biobank = biobank_id(k)
    lines = [
        {
            "id": line_id(k, i),
            "biobank": biobank,
            "collection": f"{biobank}-lines",
            "name": f"Line {line_id(k, i)}",
            "cell_type": "hiPSC",
            "donor": {"sex": "FEMALE" if i % 2 else "MALE", "age_range": "50-54", "diseases": []},
            "availability": "available",
            "lots": lots(i),
        }
        for i in range(1, items + 1)
    ]
    return {
        "schema_version": "1",
        "biobanks": [{"id": biobank, "name": f"Biobank {k:02d}", "country": "DE"}],
        "collections": [{"id": f"{biobank}-lines", "biobank": biobank, "name": "Lines"}],
        "cell_lines": lines,
    }


# A part's history as its node reports it, by the part's position: (event, state, text,
# conditions); "researcher:<event>" is the owner's own action, taken at the portal first.
HISTORIES: list[list[tuple[str, str, str | None, list[str]]]] = [
    [("receive", "under_review", None, [])],
    [
        ("receive", "under_review", None, []),
        ("request_info", "information_requested", "Which passages do you need?", []),
        ("researcher:provide_info", "under_review", "Passages 10 to 20, please.", []),
        ("message", "under_review", "Thank you, we are checking stock.", []),
    ],
    [
        ("receive", "under_review", None, []),
        ("message", "under_review", "Ten of these lines are in lot B only.", []),
        ("approve", "approved", "Approved for the screen.", ["mta", "fee"]),
    ],
    [
        ("receive", "under_review", None, []),
        ("approve", "approved", None, ["acknowledgement"]),
        ("ship", "shipped", "Courier, tracking number T-1000, 12 vials on dry ice", []),
    ],
    [
        ("receive", "under_review", None, []),
        ("reject", "rejected", "These lines are reserved for a consortium until 2027.", []),
    ],
]


def history(k: int) -> list[tuple[str, str, str | None, list[str]]]:
    return HISTORIES[k % len(HISTORIES)]


def signed_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as session:
        session[SESSION_ID] = open_session(app, user)  # a login kept server-side
        session[SESSION_KEY] = TOKEN
    return client


@dataclass
class Built:
    portal: Flask
    node: Flask
    request_id: str
    part_ids: list[str]  # the request's parts at the portal, biobank 1's first
    node_part: str  # biobank 1's part, at the node
    last_line: str  # the request's last line: its name shows at the end of the portal's page
    waiting: list[str]  # other requests' open parts at the node, each approved once


def build_portal(url: str, folder: str, biobanks: int, items: int) -> tuple[Flask, str]:
    docs = documents(biobanks, items)
    members = [
        Member(node_id(k), f"Node {k:02d}", f"https://{node_id(k)}.example.org")
        for k in range(1, biobanks + 1)
    ]
    portal = create_portal_app(
        {"PORTAL_DATABASE_URL": url, "ATTACHMENTS_DIR": os.path.join(folder, "attachments")}
    )
    access = access_of(portal)
    access.members = lambda: members
    access.service.members = lambda: members
    access.service.lookup = docs.get
    request_id = access.service.submit(OWNER, PROJECT, list(docs), [])
    return portal, request_id


def mirror_history(portal: Flask, request_id: str) -> list[str]:
    """Each part's history as its node would report it; returns the part ids by biobank."""
    service = access_of(portal).service
    parts = sorted(service.request_of(OWNER, request_id).parts, key=lambda p: p.biobank_id)
    at = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    for k, part in enumerate(parts, start=1):
        for seq, (event, state, text, conditions) in enumerate(history(k), start=1):
            actor = Actor.NODE.value if event == "receive" else Actor.BIOBANK.value
            event_id = new_id()
            if event.startswith("researcher:"):
                event = event.split(":", 1)[1]
                service.act(OWNER, request_id, part.id, event, text or "")
                actor, event_id = Actor.RESEARCHER.value, pending_id(service, part.id, event)
            raw = {
                "id": event_id,
                "part_id": part.id,
                "seq": seq,
                "type": event,
                "actor": actor,
                "actor_name": OWNER.name if actor == "researcher" else "Bea Biobank",
                "at": (at + dt.timedelta(hours=seq)).isoformat(),
                "state": state,
                "text": text,
                "conditions": conditions,
            }
            service.apply_events(part.node_id, part.id, [EventSchema().load(raw)])
        if (
            k % 4 == 0 and history(k)[-1][1] != "rejected"
        ):  # a message still waiting for its node's confirmation
            service.act(OWNER, request_id, part.id, "message", "Any news on the shipment date?")
    return [p.id for p in parts]


def pending_id(service: Any, part_id: str, event: str) -> str:
    """The id the portal gave the researcher's action, which its node confirms."""
    with service.sessions() as session:
        row = (
            session.query(PartEvent)
            .filter_by(part_id=part_id, type=event, status="pending")
            .order_by(PartEvent.recorded_at.desc())
            .first()
        )
        return row.id


def delivered_part(portal: Flask, part_id: str) -> dict[str, Any]:
    """The part as the portal queued it for its node."""
    with access_of(portal).sessions() as session:
        message = session.query(PortalOutbox).filter_by(kind="deliver_part", key=part_id).one()
        return dict(message.payload)


def build_node(
    url: str, wire: dict[str, Any], items: int, others: int
) -> tuple[Flask, str, list[str]]:
    """Node 1 with its catalogue, the request's part and ``others`` other requests' parts;
    returns the app, the request's part and the other parts (all open, to approve)."""
    node = create_node_app({"DATABASE_URL": url, "NODE_ID": node_id(1), "NODE_NAME": "Node 01"})
    assert import_catalogue(store_of(node), node_catalogue(1, items), "bench").ok
    inbox = inbox_of(node)
    inbox.receive(PartSchema().load(wire))
    waiting = []
    for n in range(others):
        other = {
            **wire,
            "id": new_id(),
            "request_id": new_id(),
            "researcher": {**wire["researcher"], "sub": f"other-{n}", "name": f"R {n}"},
        }
        inbox.receive(PartSchema().load(other))
        waiting.append(other["id"])
        if n % 3 == 0:
            inbox.decide(other["id"], {biobank_id(1)}, ADMIN, "request_info", "Which lots?")
    part_id = wire["id"]
    biobanks = {biobank_id(1)}
    inbox.decide(part_id, biobanks, ADMIN, "request_info", text="Which passages do you need?")
    inbox.decide(part_id, biobanks, ADMIN, "message", text="Ten lines are in lot B only.")
    asked = [HoldAsked(line_id(1, i), "A", 2) for i in range(1, 11)]
    until = dt.date.today() + dt.timedelta(days=30)
    approve_with_holds(
        inbox, part_id, biobanks, ADMIN, asked, until, text="Approved.", conditions=["mta", "fee"]
    )
    return node, part_id, waiting


def build(portal_url: str, node_url: str, folder: str, biobanks: int, items: int) -> Built:
    portal, request_id = build_portal(portal_url, folder, biobanks, items)
    part_ids = mirror_history(portal, request_id)
    wire = delivered_part(portal, part_ids[0])
    node, node_part, waiting = build_node(node_url, wire, items, 19)
    last = line_id(biobanks, items)
    return Built(portal, node, request_id, part_ids, node_part, last, waiting)


def admin_of(biobank: str) -> User:
    return User.from_session(
        {
            "iss": ISS,
            "sub": "bea",
            "name": "Bea Biobank",
            "roles": ["biobank-admin"],
            "biobanks": [f"{node_id(1)}:{biobank}"],
        }
    )


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return statistics.median(ms), cuts[94], cuts[98]


def timed(call: Callable[[], Any], runs: int) -> list[float]:
    call()  # warm: templates compiled, caches filled
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def checked_get(client: FlaskClient, path: str, expect: str) -> Callable[[], None]:
    def get() -> None:
        resp = client.get(path)
        assert resp.status_code == 200 and expect in resp.get_data(as_text=True), resp.status

    return get


def checked_post(client: FlaskClient, path: str) -> Callable[[], None]:
    def post() -> None:
        resp = client.post(path, data={"csrf_token": TOKEN, "text": "Any news?"})
        assert resp.status_code == 302, (resp.status_code, resp.get_data(as_text=True)[:300])

    return post


def scenarios(built: Built) -> dict[str, tuple[str, Callable[[], None]]]:
    """Each measured call: (kind, call). Pages first: the posts make histories longer."""
    owner = signed_in(built.portal, OWNER)
    admin = signed_in(built.node, admin_of(biobank_id(1)))
    with admin.session_transaction() as session:
        session[SESSION_KEY] = TOKEN
    rid, first = built.request_id, built.part_ids[1]
    parts, items = len(built.part_ids), int(built.last_line.rsplit("-", 1)[1])
    size = f"{parts} parts, {parts * items:,} items)"
    return {
        f"researcher: request page ({size}": (
            "page",
            checked_get(owner, f"/requests/{rid}", f"Line {built.last_line}"),
        ),
        f"admin: part page ({items} items, holds)": (
            "page",
            checked_get(admin, f"/inbox/{built.node_part}", "Vials held"),
        ),
        f"admin: inbox list (20 parts of {items} items)": (
            "page",
            checked_get(admin, "/inbox", built.node_part),
        ),
        "researcher: message (POST, portal)": (
            "change",
            checked_post(owner, f"/requests/{rid}/parts/{first}/message"),
        ),
        "admin: message (POST, node)": (
            "change",
            checked_post(admin, f"/inbox/{built.node_part}/message"),
        ),
        f"admin: approve (POST, node; {items} items' terms checked)": (
            "change",
            approving(admin, list(built.waiting)),
        ),
    }


def approving(client: FlaskClient, parts: list[str]) -> Callable[[], None]:
    """Approve the next open part: each run a different one (a part is approved once)."""

    def post() -> None:
        part_id = parts.pop()
        data = {"csrf_token": TOKEN, "conditions": "mta"}
        resp = client.post(f"/inbox/{part_id}/approve", data=data)
        assert resp.status_code == 302, (resp.status_code, resp.get_data(as_text=True)[:300])

    return post


def report(kind: str, built: Built, runs: int) -> None:
    print(f"\n{kind}: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"| {'call':<54} | runs | p50 ms | p95 ms | p99 ms | target |")
    print(f"|{'-' * 56}|------|--------|--------|--------|--------|")
    for name, (what, call) in scenarios(built).items():
        n = min(runs, len(built.waiting) - 1) if "approve" in name else runs
        p50, p95, p99 = percentiles(timed(call, n))
        limit = 2000 if what == "page" else 200
        verdict = "met" if p95 < limit else "NOT met"
        print(f"| {name:<54} | {n:>4} | {p50:6.1f} | {p95:6.1f} | {p99:6.1f} | {verdict} |")
    print(f"(load average after: {os.getloadavg()[0]:.1f})")


def profile(built: Built, which: str) -> None:
    name = {"portal": 0, "part": 1, "inbox": 2}[which]
    call = list(scenarios(built).values())[name][1]
    call()
    profiler = cProfile.Profile()
    profiler.runcall(call)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


@contextmanager
def postgres_databases() -> Iterator[tuple[str, str]]:
    """Two empty databases (portal, node) on a throwaway local cluster."""
    from sqlalchemy import create_engine, text

    from cellfed.launch.postgres import LocalPostgres

    local = LocalPostgres(database="bench_portal")
    local.start()
    try:
        engine = create_engine(local.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE bench_node"))
        engine.dispose()
        yield local.url, re.sub(r"/bench_portal$", "/bench_node", local.url)
    finally:
        local.stop()


def run(kind: str, portal_url: str, node_url: str, folder: str, args: Any) -> None:
    started = time.perf_counter()
    built = build(portal_url, node_url, folder, args.biobanks, args.items)
    print(f"{kind}: built in {time.perf_counter() - started:.1f} s")
    if args.profile:
        profile(built, args.profile)
    else:
        report(kind, built, args.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--biobanks", type=int, default=20)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--profile", choices=["portal", "part", "inbox"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        portal_url = f"sqlite:///{folder}/portal.sqlite3"
        run("SQLite", portal_url, f"sqlite:///{folder}/node.sqlite3", folder, args)
        if args.postgres:
            with postgres_databases() as (portal_pg, node_pg):
                run("PostgreSQL", portal_pg, node_pg, folder, args)


if __name__ == "__main__":
    main()
