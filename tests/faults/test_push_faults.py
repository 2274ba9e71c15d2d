"""Push mode with real processes and the real identity provider: a node with no listening port
at all (only `cellfed node worker`) pushes to `cellfed index serve`, which is killed and started
again mid-push, beside a pull-mode node; in the end the index equals both nodes exactly."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import requests

from cellfed.demo import demo_secret
from cellfed.launch.process import ServerProcess, free_port
from federation.node.store import CatalogueStore
from search.aliases import write_index
from search.health import node_health
from search.indexer.audit import audit
from tests.builders import catalogue, cell_line
from tests.faults.test_faults import seeded_db
from tests.integration.test_push import store_audit
from tests.integration.test_sync import wait_for

pytestmark = [pytest.mark.engine, pytest.mark.faults, pytest.mark.keycloak]
PUSHER = "uk-hipsci"  # a client of the demo realm, with its service account


def listening_sockets(pid: int) -> int:
    """How many TCP sockets in LISTEN state the process holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            listening += fields[3] == "0A" and fields[9] in inodes
    return listening


def start_indexer(process, members_file, port, engine_url, prefix, issuer) -> None:
    process.start(
        [sys.executable, "-m", "cellfed", "index", "serve", "--members", str(members_file)]
        + ["--port", str(port)],
        env={
            "CELLFED_SEARCH_URL": engine_url,
            "CELLFED_INDEX_PREFIX": prefix,
            "CELLFED_OIDC_ISSUER": issuer,
            "CELLFED_SYNC_INTERVAL": "0.5",
        },
    )
    process.wait_until(
        lambda: requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).ok, timeout=60
    )


def test_a_node_without_a_port_pushes_through_an_indexer_restart_beside_a_pull_node(
    tmp_path, idp, search_engine, index_prefix, start_node
):
    db, store = seeded_db(tmp_path, PUSHER, 1500)
    store.dispose()
    puller = start_node("puller", catalogue(cell_line("P1"), cell_line("P2")))
    members_file = tmp_path / "members.toml"
    members_file.write_text(
        f'[[member]]\nid = "{PUSHER}"\nurl = "http://127.0.0.1:9"\nmode = "push"\n\n'
        f'[[member]]\nid = "puller"\nurl = "{puller.member.url}"\n'
    )
    port = free_port()
    indexer = ServerProcess("indexer", tmp_path)
    worker = ServerProcess("pusher", tmp_path)
    start_indexer(indexer, members_file, port, search_engine.url, index_prefix, idp.issuer)
    try:
        worker.start(
            [sys.executable, "-m", "cellfed", "node", "worker", "--id", PUSHER]
            + ["--db", f"sqlite:///{db}"],
            env={
                "CELLFED_NODE_MODE": "push",
                "CELLFED_PUSH_INDEXER_URL": f"http://127.0.0.1:{port}",
                "CELLFED_OIDC_ISSUER": idp.issuer,
                "CELLFED_OIDC_CLIENT_SECRET": demo_secret(PUSHER),
                "CELLFED_PUSH_PAGE_SIZE": "50",
                "CELLFED_PUSH_INTERVAL": "0.5",
                "CELLFED_PUSH_MAX_BACKOFF": "2",
            },
        )
        index = lambda: write_index(search_engine, index_prefix)  # noqa: E731
        cursor = lambda: (node_health(search_engine, index_prefix).get(PUSHER) or {}).get(  # noqa: E731
            "cursor", 0
        )
        wait_for(lambda: index() is not None and cursor() > 0, timeout=60)  # mid-push
        os.kill(indexer.pid() or 0, 9)  # SIGKILL: the push in flight is cut
        indexer.proc.wait(10)
        start_indexer(indexer, members_file, port, search_engine.url, index_prefix, idp.issuer)

        pusher_store = CatalogueStore(f"sqlite:///{db}")
        try:
            latest = pusher_store.latest_seq()
            wait_for(lambda: cursor() == latest, timeout=120)
            report = store_audit(search_engine, index_prefix, PUSHER, pusher_store)
            assert report.exact and report.at_node == 1502, report.summary()
        finally:
            pusher_store.dispose()
        wait_for(lambda: all(r.exact for r in audit(search_engine, index_prefix, [puller.member])))
        health = node_health(search_engine, index_prefix)
        assert (health[PUSHER]["mode"], health["puller"]["mode"]) == ("push", "pull")
        assert health[PUSHER]["lag"] == 0 and health[PUSHER]["last_push"]
        assert listening_sockets(worker.pid() or 0) == 0  # nobody could have called it
    finally:
        worker.stop()
        indexer.stop()
