"""Faults with real processes. After recovery the index must equal the union of the nodes'
catalogues exactly: same ids, same content hashes, nothing lost, nothing duplicated."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from werkzeug.wrappers import Response

from cellfed.serve import serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.importer import import_catalogue
from federation.node.store import store_of
from federation.registry import Member
from search.aliases import catalogue_alias, write_index
from search.indexer.audit import audit
from search.indexer.daemon import SyncDaemon
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line
from tests.faults.processes import DelayProxy, NodeProcess
from tests.integration.test_sync import wait_for

pytestmark = [pytest.mark.engine, pytest.mark.faults]


def seeded_db(tmp_path, node_id: str, lines: int):
    """A node database holding ``lines`` cell lines (plus a biobank and a collection)."""
    app = create_node_app(
        {"NODE_ID": node_id, "DATABASE_URL": f"sqlite:///{tmp_path / node_id}.sqlite3"}
    )
    store = store_of(app)
    report = import_catalogue(
        store, catalogue(*(cell_line(f"L{i:05d}") for i in range(lines))), f"{node_id}.json"
    )
    assert report.ok
    return tmp_path / f"{node_id}.sqlite3", store


def assert_exact(engine, prefix, members):
    reports = audit(engine, prefix, members)
    assert all(r.exact for r in reports), [r.summary() for r in reports]
    return reports


def test_a_node_killed_mid_feed_costs_only_its_own_freshness(
    tmp_path, search_engine, index_prefix, start_node
):
    db, _ = seeded_db(tmp_path, "fragile", 3000)
    fragile = NodeProcess("fragile", db, tmp_path)
    fragile.start()
    steady = start_node("steady", catalogue(cell_line("S1")))
    members = [Member("fragile", "Fragile", fragile.url), steady.member]
    indexer = Indexer(search_engine, members, index_prefix, page_size=50, timeout=5)
    indexer.prepare()
    index = write_index(search_engine, index_prefix)
    try:
        reports = []
        sync = threading.Thread(target=lambda: reports.append(indexer.sync_node(members[0])))
        sync.start()
        wait_for(lambda: indexer.cursor(index, "fragile")[0] > 0)  # mid-feed
        fragile.kill()
        sync.join(60)
        assert not reports[0].ok and 0 < reports[0].cursor_after < 3002
        assert indexer.sync_node(members[1]).ok  # the other node syncs meanwhile

        fragile.start()  # same database, back up
        [resumed] = [indexer.sync_node(members[0])]
        assert resumed.ok and resumed.cursor_before == reports[0].cursor_after
        assert_exact(search_engine, index_prefix, members)
    finally:
        fragile.process.stop()


def test_a_node_slower_than_the_timeout_does_not_hold_up_the_others(
    tmp_path, search_engine, index_prefix, start_node
):
    slow_node = start_node("slow", catalogue(cell_line("L1")))
    proxy = DelayProxy(int(slow_node.member.url.rsplit(":", 1)[1]), delay=3)
    slow = Member("slow", "Slow", proxy.url)
    fast = start_node("fast", catalogue(cell_line("F1")))
    indexer = Indexer(search_engine, [slow, fast.member], index_prefix, timeout=1)
    daemon = SyncDaemon(indexer, interval=0.5, max_backoff=1)
    daemon.start()
    try:
        # The fast node is indexed, while every pull of the slow one times out.
        wait_for(lambda: search_engine.mget(catalogue_alias(index_prefix), ["fast:cell_line:F1"]))
        wait_for(
            lambda: "did not answer within 1s" in (indexer.health("slow").get("last_error") or "")
        )
        proxy.delay = 0  # the slow node recovers
        wait_for(
            lambda: (
                indexer.health("slow").get("last_error") is None
                and indexer.health("slow").get("cursor") == 3
            )
        )
        assert_exact(search_engine, index_prefix, [slow, fast.member])
    finally:
        daemon.stop()
        proxy.close()


def test_a_node_answering_garbage_is_reported_and_skipped(search_engine, index_prefix, start_node):
    def garbage(environ, start_response):
        return Response('{"node_id": "garbled", "entries": [', mimetype="application/json")(
            environ, start_response
        )

    server = serve_in_thread(garbage)
    good = start_node("good", catalogue(cell_line("G1")))
    garbled = Member("garbled", "Garbled", server.url)
    try:
        reports = Indexer(search_engine, [garbled, good.member], index_prefix).sync_all()
    finally:
        server.stop()
    assert not reports[0].ok and "malformed JSON" in reports[0].error
    assert reports[1].ok and reports[1].indexed == 3


def test_the_indexer_killed_between_bulk_and_cursor_write_loses_nothing(
    tmp_path, search_engine, index_prefix, start_node, monkeypatch
):
    node = start_node("crashy", catalogue(*(cell_line(f"L{i}") for i in range(20))))
    indexer = Indexer(search_engine, [node.member], index_prefix, page_size=5)
    indexer.prepare()
    writes = {"n": 0}
    real_save = indexer.save_cursor

    def crash_after_second_bulk(*args, **kwargs):
        writes["n"] += 1
        if writes["n"] == 2:
            raise SystemExit("indexer killed after the bulk, before the cursor write")
        real_save(*args, **kwargs)

    monkeypatch.setattr(indexer, "save_cursor", crash_after_second_bulk)
    with pytest.raises(SystemExit):
        indexer.sync_node(node.member)

    fresh = Indexer(search_engine, [node.member], index_prefix, page_size=5)  # restarted
    [report] = fresh.sync_all()
    assert report.cursor_before == 5 and report.stale == 5  # page 2 replayed harmlessly
    assert_exact(search_engine, index_prefix, [node.member])


def test_indexer_processes_killed_at_random_converge(tmp_path, engine_url, index_prefix):
    db, store = seeded_db(tmp_path, "bulky", 2000)
    node = NodeProcess("bulky", db, tmp_path)
    node.start()
    members_file = tmp_path / "members.toml"
    members_file.write_text(f'[[member]]\nid = "bulky"\nurl = "{node.url}"\n')
    env = {
        "CELLFED_SEARCH_URL": engine_url,
        "CELLFED_INDEX_PREFIX": index_prefix,
        "CELLFED_SYNC_PAGE_SIZE": "100",
    }
    command = [sys.executable, "-m", "cellfed", "index", "sync", "--members", str(members_file)]
    try:
        for delay in (1.0, 1.5, 2.0):  # kill -9 wherever it happens to be
            proc = subprocess.Popen(
                command, env={**_env(), **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                proc.wait(delay)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        store.withdraw("cell_line", "L00007")
        store.write([("cell_line", cell_line("L00008", availability="not_available"))])
        done = subprocess.run(command, env={**_env(), **env}, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        node.process.stop()
    from search.engine import SearchEngine

    engine = SearchEngine(engine_url)
    node.start()
    try:
        assert_exact(engine, index_prefix, [Member("bulky", "Bulky", node.url)])
    finally:
        node.process.stop()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("CELLFED_")}


def test_the_engine_restarted_mid_bulk_loses_no_acknowledged_write(tmp_path, start_node):
    """A dedicated engine is killed with SIGKILL during a sync and started again."""
    import os
    from pathlib import Path

    from cellfed.config import PROJECT_ROOT
    from cellfed.launch.process import free_engine_port
    from cellfed.launch.search_engine import LocalSearchEngine
    from search.engine import SearchEngine

    home = Path(os.environ.get("CELLFED_ENGINE_HOME", PROJECT_ROOT / ".engines"))
    local = LocalSearchEngine(
        home, http_port=free_engine_port(), heap="512m", name="opensearch-restart"
    )
    local.start(fresh=True)
    engine = SearchEngine(local.url, timeout=5)
    node = start_node("busy", catalogue(*(cell_line(f"L{i:05d}") for i in range(3000))))
    indexer = Indexer(engine, [node.member], "restart-", page_size=100)
    indexer.prepare()
    index = write_index(engine, "restart-")
    # The kill must land mid-sync, however fast the machine: after the first page is
    # acknowledged, the sync waits until the engine is dead (the order only; all parts real).
    first_page, killed = threading.Event(), threading.Event()
    apply_page = indexer.apply_page

    def apply_then_wait(*args, **kwargs):
        result = apply_page(*args, **kwargs)
        first_page.set()
        killed.wait(60)
        return result

    indexer.apply_page = apply_then_wait  # type: ignore[method-assign]
    try:
        reports = []
        sync = threading.Thread(target=lambda: reports.append(indexer.sync_node(node.member)))
        sync.start()
        assert first_page.wait(120)
        assert indexer.cursor(index, "busy")[0] > 0
        os.kill(local.process.pid(), 9)  # mid-bulk, no shutdown hook
        local.process.proc.wait(10)
        killed.set()
        sync.join(120)
        indexer.apply_page = apply_page  # type: ignore[method-assign]
        assert not reports[0].ok and "search engine error" in reports[0].error

        local.start()  # same data: acknowledged writes and the saved cursor are still there
        resumed = indexer.sync_node(node.member)
        assert resumed.ok and resumed.cursor_before > 0, resumed.summary()
        assert_exact(engine, "restart-", [node.member])
    finally:
        local.stop()
