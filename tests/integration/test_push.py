"""Push mode on the real engine: pushed pages go the pulled pages' way (cursor, external
versions, quarantine, resync, reconciliation); duplicates, late pages and gaps are harmless."""

from __future__ import annotations

import datetime as dt

import pytest

from federation.node.feed import feed_page
from federation.node.privacy import FactsPolicy
from federation.node.store import CatalogueStore
from federation.registry import Member
from search.aliases import write_index
from search.health import node_health
from search.indexer.audit import AuditReport, index_snapshot
from search.indexer.documents import uid
from search.indexer.ingest import Ingest, PushRefused
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line

pytestmark = pytest.mark.engine
NODE = "pushing"


def store_audit(engine, prefix: str, node_id: str, store: CatalogueStore) -> AuditReport:
    """The audit of search/indexer/audit.py, reading the node's store itself (a push-mode
    node need not listen on any port)."""
    live: dict[str, str] = {}
    after = 0
    while True:
        page = feed_page(store, node_id, after, 1000, FactsPolicy())
        for entry in page["entries"]:
            key = uid(node_id, entry["kind"], entry["id"])
            if entry["op"] == "upsert":
                live[key] = entry["hash"]
            else:
                live.pop(key, None)
        if not page["has_more"] or page["next_cursor"] == after:
            break  # the end (latest_seq may count a purged change)
        after = page["next_cursor"]
    indexed = index_snapshot(engine, prefix, node_id)
    return AuditReport(
        node_id,
        at_node=len(live),
        in_index=len(indexed),
        missing=sorted(set(live) - set(indexed)),
        extra=sorted(set(indexed) - set(live)),
        different=sorted(k for k in set(live) & set(indexed) if live[k] != indexed[k]),
    )


def assert_exact(engine, prefix, node_id, store):
    report = store_audit(engine, prefix, node_id, store)
    assert report.exact and report.at_node, report.summary()
    return report


@pytest.fixture
def pushed(store, search_engine, index_prefix):
    """A node's store with five lines, and an indexer that takes its pushes."""
    from federation.node.importer import import_catalogue

    lines = catalogue(*(cell_line(f"L{i}") for i in range(5)))
    assert import_catalogue(store, lines, "c.json").ok
    indexer = Indexer(
        search_engine, [Member(NODE, "Pushing", "http://127.0.0.1:9", "push")], index_prefix
    )
    indexer.prepare()
    return store, Ingest(indexer)


def page(store, after, limit=3):
    return feed_page(store, NODE, after, limit, FactsPolicy())


def push_all(ingest, store, snapshot: bool, after: int = 0) -> list[dict]:
    """Every page from ``after``, as the node's pusher sends them, up to the end of the feed."""
    answers = []
    while True:
        body = page(store, after)
        answers.append(ingest.push(NODE, body, snapshot))
        if not body["has_more"] or body["next_cursor"] == after:
            return answers
        after = body["next_cursor"]


def test_pages_pushed_in_order_make_the_index_exact_and_health_shows_the_push(
    pushed, search_engine, index_prefix
):
    store, ingest = pushed
    assert ingest.where(NODE)["cursor"] == 0
    answers = [ingest.push(NODE, page(store, after), snapshot=True) for after in (0, 3, 6)]
    assert [(a["status"], a["cursor"]) for a in answers] == [
        ("applied", 3),
        ("applied", 6),
        ("applied", 7),
    ]
    assert_exact(search_engine, index_prefix, NODE, store)
    health = node_health(search_engine, index_prefix)[NODE]
    assert health["mode"] == "push" and health["last_push"] and health["lag"] == 0


def test_duplicate_late_and_out_of_order_pages_are_harmless(pushed, search_engine, index_prefix):
    store, ingest = pushed
    latest = store.latest_seq()
    with pytest.raises(PushRefused) as gap:  # the second page before the first
        ingest.push(NODE, page(store, 3), snapshot=False)
    assert gap.value.status == 409 and gap.value.as_dict()["expected_after"] == 0
    assert ingest.where(NODE)["cursor"] == 0  # nothing of it was stored
    ingest.push(NODE, page(store, 0), snapshot=True)
    again = ingest.push(NODE, page(store, 0), snapshot=False)  # the same page twice
    assert (again["status"], again["cursor"]) == ("already_indexed", 3)
    ingest.push(NODE, page(store, 3), snapshot=False)
    ingest.push(NODE, page(store, 6), snapshot=False)
    late = ingest.push(NODE, page(store, 1), snapshot=False)  # an old page, arriving late
    assert (late["status"], late["cursor"]) == ("already_indexed", latest)
    assert_exact(search_engine, index_prefix, NODE, store)


def test_a_bad_record_is_quarantined_and_the_rest_of_its_page_indexed(
    pushed, search_engine, index_prefix
):
    store, ingest = pushed
    body = page(store, 0, limit=100)
    body["entries"][-1]["record"]["name"] = "changed after hashing"
    answer = ingest.push(NODE, body, snapshot=True)
    assert answer["quarantined"] == 1 and answer["indexed"] == len(body["entries"]) - 1
    [held] = node_health(search_engine, index_prefix)[NODE]["quarantined"]
    assert held["reason"] == "content hash does not match the record"


def test_a_restored_store_is_pushed_again_and_reconciled(pushed, search_engine, index_prefix):
    store, ingest = pushed
    ingest.push(NODE, page(store, 0, limit=100), snapshot=True)
    store.withdraw("cell_line", "L4")
    ingest.push(NODE, page(store, store.latest_seq() - 1, limit=100), snapshot=False)
    # The store now has a new epoch and the deletion is gone from its feed (purged).
    store.renew_epoch()
    store.restore("cell_line", "L4")
    store.withdraw("cell_line", "L3")
    store.purge_tombstones(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    with pytest.raises(PushRefused) as refused:
        ingest.push(NODE, page(store, store.latest_seq() - 1), snapshot=False)
    assert refused.value.as_dict()["error"] == "resync_required"
    answers = push_all(ingest, store, snapshot=True)
    # Its last page is empty: the feed counts the purged change of L3.
    assert answers[-1]["indexed"] == 0
    assert sum(a["reconciled"] for a in answers) == 1  # L3, which the snapshot no longer lists
    assert_exact(search_engine, index_prefix, NODE, store)


def test_an_indexer_restarted_during_a_snapshot_asks_for_it_again(
    pushed, search_engine, index_prefix
):
    store, ingest = pushed
    ingest.push(NODE, page(store, 0, limit=100), snapshot=True)  # indexed: a later one reconciles
    ingest.push(NODE, page(store, 0), snapshot=True)  # a new snapshot begins ...
    restarted = Ingest(ingest.indexer)  # ... and the process that followed it is gone
    with pytest.raises(PushRefused) as refused:
        restarted.push(NODE, page(store, 3), snapshot=True)
    assert refused.value.as_dict() == {
        "error": "resync_required",
        "detail": "the indexer restarted during a snapshot: push everything again from 0",
        "expected_after": 0,
    }
    for after in (0, 3, 6):
        restarted.push(NODE, page(store, after), snapshot=True)
    assert_exact(search_engine, index_prefix, NODE, store)
    assert write_index(search_engine, index_prefix)


def test_a_pull_mode_member_cannot_push(search_engine, index_prefix, store):
    indexer = Indexer(search_engine, [Member("a", "A", "http://127.0.0.1:9")], index_prefix)
    with pytest.raises(PushRefused, match="registered in pull mode") as refused:
        Ingest(indexer).push("a", page(store, 0), snapshot=True)
    assert refused.value.status == 409
    with pytest.raises(PushRefused, match="not a member") as unknown:
        Ingest(indexer).push("zz", page(store, 0), snapshot=True)
    assert unknown.value.status == 404


def test_after_a_rebuild_a_push_mode_node_is_in_the_new_index_with_its_cursor(
    pushed, search_engine, index_prefix
):
    from search.indexer.rebuild import rebuild

    store, ingest = pushed
    push_all(ingest, store, snapshot=True)
    old, cursor = write_index(search_engine, index_prefix), ingest.where(NODE)["cursor"]
    rebuilt = rebuild(ingest.indexer, grace=0)  # carries it over (search/indexer/push_carry.py)
    assert rebuilt.replaced == [old] and ingest.where(NODE)["cursor"] == cursor
    assert_exact(search_engine, index_prefix, NODE, store)  # before it pushes again
