"""Push mode's access half with real processes and the real identity provider: a node with no
listening port at all (only `cellfed node worker`) gets its request part and a researcher's
message from `cellfed portal serve`, which is down when the node starts polling and is killed
and started again in between; the node backs off, catches up, and nothing is lost or doubled."""

from __future__ import annotations

import os
import sys
import uuid

import pytest
import requests

from cellfed.config import PROJECT_ROOT
from cellfed.demo import demo_secret
from cellfed.launch.process import ServerProcess, free_port
from cellfed.serve import serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.importer import import_file
from federation.node.inbox.models import InboxEvent, InboxPart
from federation.node.store import CatalogueStore, store_of
from federation.registry import Member
from federation.web.login import User
from portal.access.context import access_of
from portal.access.models import PortalOutbox, RequestPart
from portal.app import create_app as create_portal_app
from search.indexer.sync import Indexer
from tests.faults.test_push_faults import listening_sockets
from tests.integration.test_sync import wait_for

pytestmark = [pytest.mark.engine, pytest.mark.faults, pytest.mark.keycloak]
NODE = "de-stemcellbank"  # a client of the demo realm, with its service account
LINE = f"{NODE}:cell_line:BIONi010-C"
PROJECT = {
    "title": "Organoids by mailbox",
    "description": "Derive cortical organoids to study neuronal migration defects.",
    "intended_use": "DUO:0000006",
    "ethics_ref": "EC-2026-042",
}


def seeded_node(tmp_path, search_engine, prefix) -> str:
    """The node's database with its demo catalogue, indexed once while it still had a port
    (only so that the portal can find the line; from then on nobody calls the node)."""
    db = f"sqlite:///{tmp_path / NODE}.sqlite3"
    app = create_node_app({"NODE_ID": NODE, "DATABASE_URL": db})
    assert import_file(store_of(app), PROJECT_ROOT / "config/demo" / f"{NODE}.json").ok
    served = serve_in_thread(app)
    try:
        indexer = Indexer(search_engine, [Member(NODE, NODE, served.url)], prefix, 500, 10)
        indexer.prepare()
        assert all(r.ok for r in indexer.sync_all())
    finally:
        served.stop()
        store_of(app).dispose()
    return db


def start_portal(process, port, env) -> None:
    process.start([sys.executable, "-m", "cellfed", "portal", "serve", "--port", str(port)], env)
    process.wait_until(
        lambda: requests.get(f"http://127.0.0.1:{port}/api/v1/access/openapi.json", timeout=2).ok,
        timeout=60,
    )


def node_rows(store: CatalogueStore, model, **where) -> int:
    with store.sessions() as session:
        return session.query(model).filter_by(**where).count()


def open_messages(access) -> int:
    with access.sessions() as session:
        return session.query(PortalOutbox).filter(PortalOutbox.delivered_at.is_(None)).count()


def test_a_node_without_a_port_gets_its_part_and_message_through_portal_restarts(
    tmp_path, idp, search_engine, index_prefix
):
    node_db = seeded_node(tmp_path, search_engine, index_prefix)
    members = tmp_path / "members.toml"
    members.write_text(f'[[member]]\nid = "{NODE}"\nurl = "http://127.0.0.1:9"\nmode = "push"\n')
    port = free_port()
    config = {
        "PORTAL_URL": f"http://127.0.0.1:{port}",
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "MEMBERS_FILE": str(members),
        "SEARCH_URL": search_engine.url,
        "INDEX_PREFIX": index_prefix,
        "OIDC_ISSUER": idp.issuer,
        "OIDC_CLIENT_SECRET": demo_secret("portal"),
        "SECRET_KEY": uuid.uuid4().hex,
        "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
    }
    # The researcher's request, through the portal's own service on the portal's database.
    access = access_of(create_portal_app(config))
    alice = User(idp.issuer, "alice-sub", "Alice", "alice@example.org", frozenset(), frozenset())
    request_id = access.service.submit(alice, PROJECT, [LINE], [])
    env = {f"CELLFED_{k}": str(v) for k, v in config.items()}

    portal = ServerProcess("portal", tmp_path)
    worker = ServerProcess("mailbox", tmp_path)
    node = CatalogueStore(node_db)
    try:
        worker.start(
            [sys.executable, "-m", "cellfed", "node", "worker", "--id", NODE, "--db", node_db],
            env={
                "CELLFED_NODE_MODE": "push",
                "CELLFED_PORTAL_URL": config["PORTAL_URL"],
                "CELLFED_MEMBERS_FILE": str(members),
                "CELLFED_OIDC_ISSUER": idp.issuer,
                "CELLFED_OIDC_CLIENT_SECRET": demo_secret(NODE),
                "CELLFED_MAILBOX_WAIT": "2",
                "CELLFED_PUSH_MAX_BACKOFF": "2",
            },
        )
        # The portal is down: the node's polls fail, and it says so and backs off.
        wait_for(lambda: worker.log_path.read_text().count("mailbox poll failed") >= 2, 60)
        start_portal(portal, port, env)
        wait_for(lambda: node_rows(node, InboxPart) == 1 and open_messages(access) == 0, 90)
        with access.sessions() as session:
            [part] = session.query(RequestPart).filter_by(request_id=request_id).all()
            assert part.state == "under_review"  # the node's "receive" came with the ack
            part_id = part.id

        os.kill(portal.pid() or 0, 9)  # SIGKILL: a poll in flight is cut
        portal.proc.wait(10)
        access.service.act(alice, request_id, part_id, "message", "Is passage 20 fine?")
        start_portal(portal, port, env)
        wait_for(lambda: node_rows(node, InboxEvent, part_id=part_id) == 2, 90)
        wait_for(lambda: open_messages(access) == 0, 30)

        assert node_rows(node, InboxPart, id=part_id) == 1  # nothing doubled
        with node.sessions() as session:
            events = session.query(InboxEvent).filter_by(part_id=part_id).order_by(InboxEvent.seq)
            assert [e.type for e in events] == ["receive", "message"]
        assert listening_sockets(worker.pid() or 0) == 0  # nobody could have called it
    finally:
        node.dispose()
        worker.stop()
        portal.stop()
