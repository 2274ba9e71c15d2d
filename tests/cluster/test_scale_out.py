"""Scale-out: a 3-node OpenSearch cluster (one JVM per node), one replica per shard, and
one engine node killed in the middle of a sync."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from cellfed.config import PROJECT_ROOT
from cellfed.launch.cluster import LocalCluster
from cellfed.launch.process import port_is_free
from portal.service import CatalogueSearch
from search.aliases import drop_indices
from search.engine import SearchEngine
from search.indexer.audit import audit
from search.indexer.daemon import SyncDaemon
from search.indexer.sync import Indexer
from search.queries import SearchParams
from tests.builders import catalogue, cell_line
from tests.integration.test_sync import wait_for

pytestmark = [pytest.mark.engine, pytest.mark.cluster]


def _free_block(start: int, size: int, stop: int) -> int:
    for base in range(start, stop, size):
        if all(port_is_free(p) for p in range(base, base + size)):
            return base
    raise RuntimeError(f"no {size} free ports in {start}-{stop}")


@pytest.fixture(scope="module")
def cluster():
    home = Path(os.environ.get("CELLFED_ENGINE_HOME", PROJECT_ROOT / ".engines"))
    local = LocalCluster(
        home,
        base_http_port=_free_block(9201, 3, 9240),
        base_transport_port=_free_block(9401, 3, 9500),
    )
    local.start()
    yield local
    local.stop()


def test_losing_an_engine_node_mid_sync_loses_no_acknowledged_write(cluster, start_node):
    engine = SearchEngine(",".join(cluster.urls), timeout=10)
    prefix = "scale-"
    nodes = [
        start_node(f"member{i}", catalogue(*(cell_line(f"L{i}-{n:04d}") for n in range(1500))))
        for i in range(2)
    ]
    members = [n.member for n in nodes]
    indexer = Indexer(engine, members, prefix, page_size=100, timeout=10, replicas=1)
    daemon = SyncDaemon(indexer, interval=0.5, max_backoff=2)
    portal = CatalogueSearch(engine, prefix)
    answered, failed = [], []
    stop = threading.Event()

    def keep_searching():
        while not stop.is_set():
            try:
                answered.append(portal.search(SearchParams(q="iPSC"))["total"])
            except Exception as exc:  # noqa: BLE001 - counted, asserted below
                failed.append(exc)

    searcher = threading.Thread(target=keep_searching)
    daemon.start()
    searcher.start()
    try:
        wait_for(lambda: answered and answered[-1] > 500, timeout=120)  # mid-sync
        cluster.kill_node(2)
        wait_for(lambda: cluster.healthy(nodes=2, url=cluster.urls[0]) or _yellow(cluster), 120)
        wait_for(lambda: all(r.exact for r in audit(engine, prefix, members)), timeout=180)
        for n in nodes:  # the indexer carries on with new changes, too
            n.store.write([("cell_line", cell_line(f"late-{n.member.id}"))])
        wait_for(lambda: all(r.exact for r in audit(engine, prefix, members)), timeout=60)
    finally:
        stop.set()
        searcher.join(30)
        daemon.stop()
    assert answered[-1] == 3002  # every line, found through the surviving nodes
    assert len(failed) <= len(answered) // 10, failed[:3]  # search kept answering
    settings = engine.client.indices.get_settings(index=f"{prefix}catalogue")
    assert {s["settings"]["index"]["number_of_replicas"] for s in settings.values()} == {"1"}
    drop_indices(engine, prefix)


def _yellow(cluster: LocalCluster) -> bool:
    """Two nodes left: replicas of the lost node's shards are promoted; yellow or green."""
    import requests

    try:
        health = requests.get(f"{cluster.urls[0]}/_cluster/health", timeout=5).json()
    except requests.RequestException:
        return False
    return health.get("number_of_nodes") == 2 and health.get("status") in ("yellow", "green")
