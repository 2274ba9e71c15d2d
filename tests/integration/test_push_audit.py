"""`cellfed index verify` for a push-mode node on the real engine (search/indexer/push_audit.py):
caught up with what the node last reported, or not, and why; ids and hashes are not compared."""

from __future__ import annotations

import datetime as dt

import pytest

from federation.node.importer import import_catalogue
from federation.registry import Member
from search.indexer.ingest import Ingest
from search.indexer.push_audit import push_audit
from search.indexer.rebuild import rebuild
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line
from tests.integration.test_push import NODE, page
from tests.integration.test_push_rebuild import DirectPusher

pytestmark = pytest.mark.engine


@pytest.fixture
def ingest(store, search_engine, index_prefix):
    lines = catalogue(*(cell_line(f"L{i}") for i in range(5)))
    assert import_catalogue(store, lines, "c.json").ok
    indexer = Indexer(
        search_engine, [Member(NODE, "Pushing", "http://127.0.0.1:9", "push")], index_prefix
    )
    indexer.prepare()
    return Ingest(indexer)


def test_a_node_that_never_pushed_is_not_verified(ingest, search_engine, index_prefix):
    report = push_audit(search_engine, index_prefix, NODE)
    assert not report.exact and (report.cursor, report.in_index) == (None, 0)
    assert "has not pushed into the live index" in report.summary()


def test_a_node_whose_pushes_the_index_has_taken_is_caught_up(
    ingest, store, search_engine, index_prefix
):
    DirectPusher(store, ingest).push_pass()
    report = push_audit(search_engine, index_prefix, NODE)
    assert report.exact and (report.cursor, report.latest_seq) == (7, 7)
    assert report.in_index == 7  # five lines, their biobank and collection
    assert report.summary() == (
        f"{NODE} (push): 7 indexed, cursor 7 of 7: caught up with its last push; ids and "
        "hashes not compared (the indexer cannot read a push-mode node)"
    )


def test_a_node_partway_through_a_pass_or_a_snapshot_is_not_caught_up(
    ingest, store, search_engine, index_prefix
):
    ingest.push(NODE, page(store, 0), snapshot=False)  # three of seven changes, no snapshot
    behind = push_audit(search_engine, index_prefix, NODE)
    assert not behind.exact and "4 changes behind its last push" in behind.summary()
    DirectPusher(store, ingest).push_pass()
    ingest.push(NODE, page(store, 0), snapshot=True)  # a snapshot begins again
    resending = push_audit(search_engine, index_prefix, NODE)
    assert not resending.exact and "a snapshot is still being pushed" in resending.summary()


def test_a_node_whose_latest_sequence_counts_a_purged_change_is_caught_up_at_its_end(
    ingest, store, search_engine, index_prefix
):
    pusher = DirectPusher(store, ingest)
    pusher.push_pass()
    # L4 (change 7) withdrawn as change 8, then its tombstone purged: 8 stays the latest.
    store.withdraw("cell_line", "L4")
    store.purge_tombstones(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert pusher.push_pass().snapshot  # ends with an empty page: the node's end is 6
    report = push_audit(search_engine, index_prefix, NODE)
    assert (report.cursor, report.latest_seq, report.in_index) == (6, 8, 6)
    assert report.exact and "caught up with its last push" in report.summary()
    rebuild(ingest.indexer, grace=0)  # carried with its cursor, and that it was the end
    assert push_audit(search_engine, index_prefix, NODE).exact
