"""Sync hardening on the real engine: resync, reconciliation, rebuild, pokes, exactness."""

import datetime as dt
import time

import pytest

from federation.node.app import create_app as create_node_app
from federation.node.importer import import_catalogue
from federation.node.store import store_of
from search.aliases import catalogue_alias, write_index
from search.indexer.audit import audit
from search.indexer.daemon import SyncDaemon
from search.indexer.rebuild import RebuildError, rebuild
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line

pytestmark = pytest.mark.engine


def make_indexer(engine, prefix, *nodes):
    return Indexer(engine, [n.member for n in nodes], prefix, page_size=3, timeout=5)


def assert_exact(engine, prefix, *nodes):
    reports = audit(engine, prefix, [n.member for n in nodes])
    assert all(r.exact for r in reports), [r.summary() for r in reports]
    return reports


def test_purged_tombstones_make_the_indexer_resync_and_reconcile(
    start_node, search_engine, index_prefix
):
    node = start_node("purging", catalogue(*(cell_line(f"L{i}") for i in range(4))))
    indexer = make_indexer(search_engine, index_prefix, node)
    indexer.sync_all()
    index = write_index(search_engine, index_prefix)
    indexer.save_cursor(index, "purging", 2, 6)  # an indexer that fell behind ...
    node.store.withdraw("cell_line", "L1")
    # ... while the node forgot the deletion: a cursor of 2 can no longer be served exactly.
    assert node.store.purge_tombstones(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 1

    [report] = indexer.sync_all()
    assert report.ok and report.resynced and report.reconciled == 1
    assert_exact(search_engine, index_prefix, node)


def test_a_node_restored_from_an_older_backup_is_reconciled(
    start_node, search_engine, index_prefix, tmp_path
):
    node = start_node("restored", catalogue(cell_line("L1"), cell_line("L2"), cell_line("L3")))
    indexer = make_indexer(search_engine, index_prefix, node)
    indexer.sync_all()
    # The node's database is replaced by an older one: L1 as it was, L2 older, no L3.
    older = create_node_app(
        {"NODE_ID": "restored", "DATABASE_URL": f"sqlite:///{tmp_path / 'older.sqlite3'}"}
    )
    old = catalogue(cell_line("L1"), cell_line("L2", availability="not_available"))
    import_catalogue(store_of(older), old, "old.json")
    node.server.server.app = older
    node.store = store_of(older)

    [report] = indexer.sync_all()
    assert report.resynced and report.reconciled == 1, report.summary()
    assert_exact(search_engine, index_prefix, node)  # L2 as the backup has it, too

    node.store.write([("cell_line", cell_line("L2", availability="available"))])
    [report] = indexer.sync_all()  # a new change with a low sequence number still wins
    assert report.indexed == 1 and report.stale == 0
    assert_exact(search_engine, index_prefix, node)


def test_rebuild_swaps_in_a_new_index_and_the_live_sync_continues(
    start_node, search_engine, index_prefix
):
    node = start_node("rebuilt", catalogue(cell_line("L1"), cell_line("L2")))
    indexer = make_indexer(search_engine, index_prefix, node)
    indexer.sync_all()
    old = write_index(search_engine, index_prefix)

    result = rebuild(indexer, grace=0)
    assert write_index(search_engine, index_prefix) == result.index != old
    assert result.replaced == [old] and not search_engine.index_exists(old)
    assert result.documents == 4
    assert search_engine.count(catalogue_alias(index_prefix)) == 4

    node.store.write([("cell_line", cell_line("L3"))])
    [report] = indexer.sync_all()
    assert report.pulled == 1 and report.index == result.index  # continues, no full re-read
    assert_exact(search_engine, index_prefix, node)


def test_a_failed_rebuild_leaves_the_live_index_alone(start_node, search_engine, index_prefix):
    up = start_node("up", catalogue(cell_line("L1")))
    down = start_node("down", catalogue(cell_line("L1")))
    indexer = make_indexer(search_engine, index_prefix, up, down)
    indexer.sync_all()
    live = write_index(search_engine, index_prefix)
    down.server.stop()
    before = set(search_engine.client.indices.get(index=f"{index_prefix}catalogue-*"))

    with pytest.raises(RebuildError, match="node down could not be harvested"):
        rebuild(indexer, grace=0)
    assert write_index(search_engine, index_prefix) == live
    assert set(search_engine.client.indices.get(index=f"{index_prefix}catalogue-*")) == before


def test_a_poke_makes_a_change_searchable_without_waiting_for_the_poll(
    start_node, search_engine, index_prefix
):
    from cellfed.serve import serve_in_thread
    from federation.node.poke import Poker
    from search.indexer.app import create_app as create_indexer_app

    node = start_node("poking", catalogue(cell_line("L1")))
    indexer = make_indexer(search_engine, index_prefix, node)
    daemon = SyncDaemon(indexer, interval=3600)  # polling alone would take an hour
    daemon.start()
    service = serve_in_thread(create_indexer_app({}, daemon))
    node.store.listeners.append(Poker(service.url, "poking"))
    try:
        wait_for(lambda: search_engine.count(catalogue_alias(index_prefix)) == 3)
        node.store.write([("cell_line", cell_line("L2"))])
        wait_for(lambda: search_engine.mget(catalogue_alias(index_prefix), ["poking:cell_line:L2"]))
        health = service.server.app.test_client().get("/api/v1/health").json["nodes"]
        assert health[0]["node_id"] == "poking" and health[0]["lag"] == 0
        metrics = service.server.app.test_client().get("/metrics").data.decode()
        assert 'cellfed_node_up{node="poking"} 1' in metrics
        assert service.server.app.test_client().post("/api/v1/poke/stranger").status_code == 404
    finally:
        service.stop()
        daemon.stop()


def wait_for(condition, timeout: float = 20.0) -> None:
    """Poll until true; the bound only keeps a broken run from hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met within the bound")


def test_an_index_of_an_older_mapping_is_rebuilt_for_the_current_one(
    start_node, search_engine, index_prefix
):
    from search.aliases import MAPPING_VERSION, create_catalogue_index, ensure_indices, swap_alias
    from search.indexer.rebuild import rebuild_if_outdated

    node = start_node("upgraded", catalogue(cell_line("L1")))
    indexer = make_indexer(search_engine, index_prefix, node)
    ensure_indices(search_engine, index_prefix)
    old = create_catalogue_index(search_engine, index_prefix, "v1")  # as an older release left it
    swap_alias(search_engine, index_prefix, old)

    report = rebuild_if_outdated(indexer, grace=0)
    assert report is not None and f"-{MAPPING_VERSION}-" in report.index
    assert write_index(search_engine, index_prefix) == report.index
    assert rebuild_if_outdated(indexer, grace=0) is None  # current now: nothing to do
    assert_exact(search_engine, index_prefix, node)
