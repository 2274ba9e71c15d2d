"""A rebuild on the real engine leaves no gap for a push-mode node: its documents and cursor
are carried into the new index (search/indexer/push_carry.py), and what it pushed meanwhile
reaches the new index on its next pass, the node's own pusher deciding what to send."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from federation.node.importer import import_catalogue
from federation.node.push import Pusher
from federation.node.store import CatalogueStore
from federation.registry import Member
from search.aliases import (
    MAPPING_VERSION,
    catalogue_alias,
    create_catalogue_index,
    drop_indices,
    finish_bulk_load,
    swap_alias,
    write_index,
)
from search.health import node_health
from search.indexer import rebuild as rebuild_module
from search.indexer.documents import uid
from search.indexer.ingest import Ingest, PushRefused
from search.indexer.push_audit import push_audit
from search.indexer.push_carry import Carried, carry_push_nodes, settle_push_nodes
from search.indexer.rebuild import RebuildError, rebuild
from search.indexer.sync import Indexer, SyncError
from tests.builders import catalogue, cell_line
from tests.integration.test_push import NODE, assert_exact, page, push_all

pytestmark = pytest.mark.engine
LINES = {f"L{i}" for i in range(5)}


@pytest.fixture
def node(store, search_engine, index_prefix):
    """A push-mode node's store with five lines, and an indexer that takes its pushes (as
    tests/integration/test_push.py has them)."""
    assert import_catalogue(
        store, catalogue(*(cell_line(line) for line in sorted(LINES))), "c.json"
    ).ok
    member = Member(NODE, "Pushing", "http://127.0.0.1:9", "push")
    indexer = Indexer(search_engine, [member], index_prefix)
    indexer.prepare()
    return store, Ingest(indexer)


class DirectPusher(Pusher):
    """The node's real pusher (its passes, its answers to gaps and resyncs), handing its
    requests to the indexer's Ingest in this process: the HTTP endpoints need the identity
    provider's tokens, and tests/access/test_push_trust.py covers them."""

    def __init__(self, store: CatalogueStore, ingest: Ingest) -> None:
        super().__init__(store, NODE, "http://127.0.0.1:9", lambda fresh: {}, page_size=3)
        self.ingest = ingest

    def _call(self, method: str, params: dict | None = None, body: bytes | None = None):
        if method == "GET":
            return 200, self.ingest.where(NODE)
        try:
            return 200, self.ingest.push(NODE, json.loads(body or b"{}"), bool(params))
        except PushRefused as exc:
            return exc.status, exc.as_dict()


def lines_in(engine, index: str) -> dict[str, str]:
    """local id -> name of the node's cell lines that a search of ``index`` finds."""
    engine.refresh(index)
    body: dict[str, Any] = {
        "query": {
            "bool": {"filter": [{"term": {"node_id": NODE}}, {"term": {"kind": "cell_line"}}]}
        },
        "size": 100,
    }
    hits = engine.search(index, body)["hits"]["hits"]
    return {h["_source"]["local_id"]: h["_source"]["name"] for h in hits}


def test_a_push_mode_nodes_lines_are_searchable_at_every_moment_of_a_rebuild(
    node, search_engine, index_prefix
):
    store, ingest = node
    pusher = DirectPusher(store, ingest)
    assert pusher.push_pass().snapshot
    alias = catalogue_alias(index_prefix)
    cursor = ingest.where(NODE)["cursor"]
    seen: dict[str, dict[str, str]] = {}

    def meanwhile(new: str) -> None:
        # Copied, not yet swapped: searches still read the live index, which has them all.
        seen["live"], seen["new"] = lines_in(search_engine, alias), lines_in(search_engine, new)
        # The node changes a line and withdraws one, and pushes both into the live index.
        changed = cell_line("L0", name="L0 renamed")
        assert import_catalogue(store, catalogue(changed), "c.json").ok
        store.withdraw("cell_line", "L4")
        assert pusher.push_pass().entries == 2
        seen["live after the push"] = lines_in(search_engine, alias)

    report = rebuild(ingest.indexer, grace=0, before_swap=meanwhile)
    assert set(seen["live"]) == set(seen["new"]) == LINES
    assert seen["live after the push"] == {"L0": "L0 renamed", "L1": "L1", "L2": "L2", "L3": "L3"}
    [carried] = report.carried
    assert (carried.node_id, carried.cursor, carried.documents) == (NODE, cursor, 7)
    assert carried.caught_up == 1  # the renamed line, copied again just before the swap
    # Swapped, and the node has not pushed since: every line is found, the change too; the
    # withdrawal waits for the node's next pass (the index keeps no tombstones).
    assert lines_in(search_engine, alias) == {**seen["live after the push"], "L4": "L4"}
    assert ingest.where(NODE)["cursor"] == cursor
    assert not push_audit(search_engine, index_prefix, NODE).exact  # the withdrawal is due
    # Its next pass sends again what came after the carried cursor, the withdrawal too.
    again = pusher.push_pass()
    assert (again.snapshot, again.entries) == (False, 2)
    assert push_audit(search_engine, index_prefix, NODE).exact
    assert lines_in(search_engine, alias) == seen["live after the push"]
    assert_exact(search_engine, index_prefix, NODE, store)
    assert node_health(search_engine, index_prefix)[NODE]["lag"] == 0


def test_a_pass_that_spans_the_swap_is_told_where_to_resend_from(node, search_engine, index_prefix):
    store, ingest = node
    pusher = DirectPusher(store, ingest)
    pusher.push_pass()
    carried_at = ingest.where(NODE)["cursor"]
    pushed_to: dict[str, int] = {}

    def meanwhile(_new: str) -> None:
        assert import_catalogue(store, catalogue(cell_line("L1", name="L1 renamed")), "c.json").ok
        pushed_to["live"] = pusher.push_pass().cursor  # the live index's cursor moves on

    rebuild(ingest.indexer, grace=0, before_swap=meanwhile)
    # The node's pass goes on from where the old index stood; the new one stands before it.
    assert import_catalogue(store, catalogue(cell_line("L2", name="L2 renamed")), "c.json").ok
    with pytest.raises(PushRefused) as gap:
        ingest.push(NODE, page(store, pushed_to["live"]), snapshot=False)
    assert gap.value.as_dict()["expected_after"] == carried_at < pushed_to["live"]
    assert pusher.push_pass().entries == 2  # both changes, from the carried cursor
    names = lines_in(search_engine, catalogue_alias(index_prefix))
    assert (names["L1"], names["L2"]) == ("L1 renamed", "L2 renamed")
    assert_exact(search_engine, index_prefix, NODE, store)


def test_a_snapshot_open_at_the_rebuild_is_sent_again_and_reconciled_in_the_new_index(
    node, search_engine, index_prefix
):
    store, ingest = node
    DirectPusher(store, ingest).push_pass()
    ingest.push(NODE, page(store, 0), snapshot=True)  # a new snapshot begins, and stays open
    report = rebuild(ingest.indexer, grace=0)
    assert report.carried[0].cursor == 0  # its next pass is a full snapshot
    alias = catalogue_alias(index_prefix)
    assert set(lines_in(search_engine, alias)) == LINES
    # The node withdraws a line and purges the tombstone: only reconciliation can remove it.
    store.withdraw("cell_line", "L4")
    store.purge_tombstones(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert DirectPusher(store, ingest).push_pass().snapshot
    assert set(lines_in(search_engine, alias)) == LINES - {"L4"}
    assert_exact(search_engine, index_prefix, NODE, store)


def test_a_snapshot_that_closes_during_the_rebuild_keeps_the_nodes_version_base(
    node, search_engine, index_prefix
):
    store, ingest = node
    pusher = DirectPusher(store, ingest)
    pusher.push_pass()
    store.renew_epoch()  # restored once: its versions now sit on a lifted base
    assert pusher.push_pass().snapshot
    lifted = ingest.indexer.cursor(write_index(search_engine, index_prefix), NODE)[1]
    assert lifted > 0
    ingest.push(NODE, page(store, 0), snapshot=True)  # a new snapshot, open at the rebuild

    def meanwhile(_new: str) -> None:
        assert import_catalogue(store, catalogue(cell_line("L0", name="L0 renamed")), "c.json").ok
        pusher.push_pass()  # the rest of it, and the change: the snapshot closes

    report = rebuild(ingest.indexer, grace=0, before_swap=meanwhile)
    assert (report.carried[0].cursor, report.carried[0].base) == (0, lifted)
    assert pusher.push_pass().snapshot  # with the lifted base, so the change wins
    assert lines_in(search_engine, catalogue_alias(index_prefix))["L0"] == "L0 renamed"
    assert_exact(search_engine, index_prefix, NODE, store)


def test_a_store_restored_between_the_copy_and_the_swap_is_sent_again_whole(
    node, search_engine, index_prefix
):
    store, ingest = node
    pusher = DirectPusher(store, ingest)
    pusher.push_pass()

    def meanwhile(_new: str) -> None:
        # Restored from a backup: a new epoch, numbers from the backup's on; L4 is gone, and
        # no tombstone says so. The node pushes it whole into the live index.
        store.renew_epoch()
        store.withdraw("cell_line", "L4")
        store.purge_tombstones(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
        assert pusher.push_pass().snapshot

    report = rebuild(ingest.indexer, grace=0, before_swap=meanwhile)
    carried = report.carried[0]
    assert (carried.cursor, carried.epoch) == (0, store.epoch())
    alias = catalogue_alias(index_prefix)
    assert set(lines_in(search_engine, alias)) == LINES  # as carried, before the restore
    assert pusher.push_pass().snapshot  # the full snapshot, reconciled in the new index
    assert set(lines_in(search_engine, alias)) == LINES - {"L4"}
    assert_exact(search_engine, index_prefix, NODE, store)


def test_a_document_that_keeps_no_record_stops_the_rebuild_and_the_live_index_stays(
    node, search_engine, index_prefix
):
    store, ingest = node
    DirectPusher(store, ingest).push_pass()
    live = write_index(search_engine, index_prefix)
    doc_id = uid(NODE, "cell_line", "L2")
    search_engine.client.index(
        index=live, id=doc_id, body={"uid": doc_id, "node_id": NODE, "kind": "cell_line"}
    )
    with pytest.raises(RebuildError, match=f"{doc_id} of {NODE} keeps no record"):
        rebuild(ingest.indexer, grace=0)
    assert write_index(search_engine, index_prefix) == live
    pattern = f"{catalogue_alias(index_prefix)}-*"
    assert list(search_engine.client.indices.get(index=pattern)) == [live]  # the new one went


def test_quarantine_and_health_survive_the_rebuild_and_documents_are_derived_again(
    node, search_engine, index_prefix
):
    store, ingest = node
    body = page(store, 0, limit=100)
    body["entries"][-1]["record"]["name"] = "changed after hashing"
    bad = body["entries"][-1]["id"]
    assert ingest.push(NODE, body, snapshot=True)["quarantined"] == 1
    # A document as an older indexer made it: without a field this code derives.
    live = write_index(search_engine, index_prefix)
    doc_id = uid(NODE, "cell_line", "L0")
    old = search_engine.client.get(index=live, id=doc_id)
    source = {k: v for k, v in old["_source"].items() if k != "identifiers"}
    search_engine.client.index(
        index=live, id=doc_id, body=source, version=old["_version"], version_type="external_gte"
    )
    health_before = node_health(search_engine, index_prefix)[NODE]
    report = rebuild(ingest.indexer, grace=0)
    new = report.index
    assert search_engine.get(new, doc_id)["identifiers"] == old["_source"]["identifiers"]
    assert search_engine.client.get(index=new, id=doc_id)["_version"] == old["_version"]
    assert search_engine.get(new, uid(NODE, "cell_line", bad)) is None
    health = node_health(search_engine, index_prefix)[NODE]
    assert health["quarantined"] == health_before["quarantined"]
    assert [q["reason"] for q in health["quarantined"]] == [
        "content hash does not match the record"
    ]
    assert (health["cursor"], health["lag"]) == (health_before["cursor"], 0)


def test_a_push_mode_node_that_never_pushed_starts_from_0_after_a_rebuild(
    store, search_engine, index_prefix
):
    assert import_catalogue(store, catalogue(cell_line("L0")), "c.json").ok
    member = Member(NODE, "Pushing", "http://127.0.0.1:9", "push")
    indexer = Indexer(search_engine, [member], index_prefix)
    indexer.prepare()
    ingest = Ingest(indexer)
    report = rebuild(indexer, grace=0)
    assert [(c.documents, c.cursor) for c in report.carried] == [(0, 0)]
    assert ingest.where(NODE) == {"node_id": NODE, "cursor": 0, "epoch": None}
    assert DirectPusher(store, ingest).push_pass().snapshot
    assert set(lines_in(search_engine, catalogue_alias(index_prefix))) == {"L0"}


@pytest.fixture
def contract_prefix(any_engine):
    name = f"carry-{uuid.uuid4().hex[:8]}-"
    yield name
    drop_indices(any_engine, name)


def test_the_carry_works_the_same_on_every_supported_engine(store, any_engine, contract_prefix):
    """OpenSearch and Elasticsearch 7: versions kept, cursor carried, the withdrawal that
    came after it re-sent by the node's next pass."""
    assert import_catalogue(store, catalogue(cell_line("L0"), cell_line("L1")), "c.json").ok
    member = Member(NODE, "Pushing", "http://127.0.0.1:9", "push")
    indexer = Indexer(any_engine, [member], contract_prefix)
    indexer.prepare()
    ingest = Ingest(indexer)
    pusher = DirectPusher(store, ingest)
    pusher.push_pass()
    live = write_index(any_engine, contract_prefix)
    versions = {h["_id"]: h["_version"] for h in carried_hits(any_engine, live)}

    def meanwhile(_new: str) -> None:
        store.withdraw("cell_line", "L1")
        pusher.push_pass()

    report = rebuild(indexer, grace=0, before_swap=meanwhile)
    assert {h["_id"]: h["_version"] for h in carried_hits(any_engine, report.index)} == versions
    alias = catalogue_alias(contract_prefix)
    assert set(lines_in(any_engine, alias)) == {"L0", "L1"}  # as carried
    assert pusher.push_pass().entries == 1
    assert set(lines_in(any_engine, alias)) == {"L0"}


def carried_hits(engine, index: str) -> list[dict[str, Any]]:
    engine.refresh(index)
    body = {"query": {"term": {"node_id": NODE}}, "size": 100, "version": True}
    return engine.search(index, body)["hits"]["hits"]


def carry_up_to_the_swap(ingest: Ingest) -> tuple[str, list[Carried]]:
    """A rebuild's push-mode steps, one by one (no pull-mode node here): the new index
    carried into and checked again, not yet swapped in."""
    indexer = ingest.indexer
    new = create_catalogue_index(indexer.engine, indexer.prefix, MAPPING_VERSION, bulk_load=True)
    carried = carry_push_nodes(indexer, write_index(indexer.engine, indexer.prefix), new)
    finish_bulk_load(indexer.engine, new, indexer.replicas)
    settle_push_nodes(indexer, new, carried)
    return new, carried


def resume_snapshot(ingest: Ingest, store: CatalogueStore, after: int) -> str | None:
    """The rest of a snapshot as the node's pusher sends it: on a refusal, again from where
    the indexer says. The refusal's error, if there was one."""
    try:
        push_all(ingest, store, snapshot=True, after=after)
        return None
    except PushRefused as exc:
        push_all(ingest, store, snapshot=True, after=exc.expected or 0)
        return exc.error


def test_a_snapshot_opened_after_the_last_check_and_before_the_swap_deletes_nothing_carried(
    node, search_engine, index_prefix
):
    store, ingest = node
    DirectPusher(store, ingest).push_pass()
    new, [carried] = carry_up_to_the_swap(ingest)
    assert carried.cursor == 7  # no snapshot was open when it was checked
    # Its first page reaches the live index; the rest of it will reach the new one.
    first = page(store, 0)
    ingest.push(NODE, first, snapshot=True)
    swap_alias(search_engine, index_prefix, new)
    # What the old index's page listed is no base to reconcile the new one with: from 0.
    refused = resume_snapshot(ingest, store, first["next_cursor"])
    assert set(lines_in(search_engine, new)) == LINES
    assert refused == "resync_required"
    assert_exact(search_engine, index_prefix, NODE, store)


def test_copying_again_what_the_new_index_holds_counts_nothing(node, search_engine, index_prefix):
    store, ingest = node
    pusher = DirectPusher(store, ingest)
    pusher.push_pass()
    indexer = ingest.indexer
    live = write_index(search_engine, index_prefix)
    new = create_catalogue_index(search_engine, index_prefix, MAPPING_VERSION, bulk_load=True)
    carried = carry_push_nodes(indexer, live, new)
    assert import_catalogue(store, catalogue(cell_line("L0", name="L0 renamed")), "c.json").ok
    pusher.push_pass()
    settle_push_nodes(indexer, new, carried)
    assert carried[0].caught_up == 1  # the renamed line
    settle_push_nodes(indexer, new, carried)
    assert carried[0].caught_up == 0  # the engine took nothing: it holds that version
    [again] = carry_push_nodes(indexer, live, new)
    assert again.documents == 0  # all seven are there, as new as the live index's


def test_a_carry_whose_live_index_was_swapped_away_is_refused(node, search_engine, index_prefix):
    store, ingest = node
    DirectPusher(store, ingest).push_pass()
    indexer = ingest.indexer
    new = create_catalogue_index(search_engine, index_prefix, MAPPING_VERSION, bulk_load=True)
    carried = carry_push_nodes(indexer, write_index(search_engine, index_prefix), new)
    other = create_catalogue_index(search_engine, index_prefix, MAPPING_VERSION)
    swap_alias(search_engine, index_prefix, other)  # another rebuild swapped meanwhile
    with pytest.raises(SyncError, match=f"the live index moved from .* to {other} while {NODE}"):
        settle_push_nodes(indexer, new, carried)


def test_a_biobank_document_that_keeps_no_record_stops_the_rebuild_naming_it(
    node, search_engine, index_prefix
):
    store, ingest = node
    DirectPusher(store, ingest).push_pass()
    live = write_index(search_engine, index_prefix)
    line = search_engine.get(live, uid(NODE, "cell_line", "L0"))
    doc_id = uid(NODE, "biobank", line["record"]["biobank"])
    search_engine.client.index(
        index=live, id=doc_id, body={"uid": doc_id, "node_id": NODE, "kind": "biobank"}
    )
    with pytest.raises(RebuildError, match=f"{doc_id} of {NODE} keeps no record"):
        rebuild(ingest.indexer, grace=0)
    assert write_index(search_engine, index_prefix) == live


def test_what_a_pull_mode_node_changed_during_the_carry_is_in_the_new_index_at_the_swap(
    store, start_node, search_engine, index_prefix, monkeypatch
):
    assert import_catalogue(store, catalogue(cell_line("L0")), "c.json").ok
    pulled = start_node("pulled", catalogue(cell_line("P1")))
    members = [pulled.member, Member(NODE, "Pushing", "http://127.0.0.1:9", "push")]
    indexer = Indexer(search_engine, members, index_prefix, page_size=3, timeout=5)
    indexer.prepare()
    indexer.sync_all()
    DirectPusher(store, Ingest(indexer)).push_pass()

    def carry_while_the_pulled_node_changes(*args: Any) -> list[Carried]:
        pulled.store.write([("cell_line", cell_line("P2"))])  # while the carry runs
        return carry_push_nodes(*args)

    monkeypatch.setattr(rebuild_module, "carry_push_nodes", carry_while_the_pulled_node_changes)
    report = rebuild(indexer, grace=0)
    found = {
        h["_source"]["local_id"]
        for h in search_engine.search(
            report.index, {"query": {"term": {"node_id": "pulled"}}, "size": 10}
        )["hits"]["hits"]
    }
    assert {"P1", "P2"} <= found  # before any live sync of the new index
