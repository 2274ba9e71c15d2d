"""End to end on the real parts: OpenSearch, member nodes over HTTP, the indexer, the portal API."""

import json

import pytest
from sqlalchemy import update

from cellfed.config import PROJECT_ROOT
from federation.node.models import Record
from federation.registry import Member
from portal.app import create_app as create_portal_app
from search.aliases import catalogue_alias, write_index
from search.engine import SearchEngine
from search.indexer.sync import Indexer
from search.queries import SOURCE_FIELDS
from tests.builders import catalogue, cell_line

pytestmark = pytest.mark.engine


def portal_client(engine_url: str, prefix: str):
    return create_portal_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix}).test_client()


def indexer_for(search_engine: SearchEngine, prefix: str, *members: Member) -> Indexer:
    return Indexer(search_engine, list(members), prefix, page_size=50, timeout=5)


def test_demo_catalogues_are_found_across_nodes(
    start_node, search_engine, index_prefix, engine_url
):
    nodes = []
    for node_id in ("cn-nsccr", "de-stemcellbank", "uk-hipsci"):
        data = json.loads((PROJECT_ROOT / "config" / "demo" / f"{node_id}.json").read_text())
        nodes.append(start_node(node_id, data))
    reports = indexer_for(search_engine, index_prefix, *(n.member for n in nodes)).sync_all()
    assert all(r.ok and not r.quarantined for r in reports), [r.summary() for r in reports]

    portal = portal_client(engine_url, index_prefix)
    result = portal.get("/api/v1/search?q=iPSC&size=100").json
    assert {h["node_id"] for h in result["hits"]} == {"cn-nsccr", "de-stemcellbank", "uk-hipsci"}
    assert all(h["data_as_of"] for h in result["hits"])

    by_synonym = portal.get("/api/v1/search?q=H9").json["hits"]
    assert by_synonym and by_synonym[0]["hpscreg_name"] == "WAe009-A"

    page = portal.get("/?q=iPSC")
    assert page.status_code == 200 and b'class="card"' in page.data


def test_a_deletion_at_a_node_disappears_after_the_next_sync(
    start_node, search_engine, index_prefix, engine_url
):
    node = start_node("berlin", catalogue(cell_line("BIONi010-A"), cell_line("BIONi010-B")))
    indexer = indexer_for(search_engine, index_prefix, node.member)
    indexer.sync_all()
    portal = portal_client(engine_url, index_prefix)
    assert portal.get("/api/v1/search?q=BIONi010-B").json["hits"][0]["local_id"] == "BIONi010-B"

    node.store.withdraw("cell_line", "BIONi010-B")
    [report] = indexer.sync_all()
    assert report.deleted == 1 and report.cursor_after == 5
    names = [h["local_id"] for h in portal.get("/api/v1/search?size=50").json["hits"]]
    assert names == ["BIONi010-A"]
    assert portal.get("/api/v1/records/berlin:cell_line:BIONi010-B").status_code == 404


def test_a_bad_record_in_a_feed_is_quarantined_and_the_rest_indexed(
    start_node, search_engine, index_prefix
):
    node = start_node("leiden", catalogue(cell_line("L1"), cell_line("L2"), cell_line("L3")))
    # A node running faulty software: one row broken behind the importer's back, one row
    # claiming a schema version this indexer does not know.
    broken = {**cell_line("L2"), "cell_type": "unicorn"}
    with node.store.sessions.begin() as session:
        session.execute(
            update(Record)
            .where(Record.local_id == "L2")  # what the feed sends: the stored text (0008)
            .values(payload=broken, canonical=json.dumps(broken, sort_keys=True))
        )
        session.execute(update(Record).where(Record.local_id == "L3").values(schema_version="99"))
    [report] = indexer_for(search_engine, index_prefix, node.member).sync_all()

    assert report.ok and report.indexed == 3  # biobank, collection, L1
    reasons = {q.id: q.reason for q in report.quarantined}
    assert "content hash does not match" in reasons["L2"]
    assert "schema version '99'" in reasons["L3"]
    ids = search_engine.mget(
        catalogue_alias(index_prefix), ["leiden:cell_line:L1", "leiden:cell_line:L2"]
    )
    assert list(ids) == ["leiden:cell_line:L1"]
    state = search_engine.get(f"{index_prefix}sync-state", "leiden")
    assert {q["id"] for q in state["quarantined"]} == {"L2", "L3"}


def test_a_node_that_is_down_is_reported_and_the_others_sync(
    start_node, search_engine, index_prefix
):
    up = start_node("up", catalogue(cell_line("L1")))
    down = start_node("down", catalogue(cell_line("L1")))
    down.server.stop()
    reports = indexer_for(search_engine, index_prefix, down.member, up.member).sync_all()
    assert [r.ok for r in reports] == [False, True]
    assert "unreachable" in reports[0].error and reports[0].cursor_after == 0
    assert reports[1].indexed == 3


def test_replaying_the_feed_changes_nothing(start_node, search_engine, index_prefix):
    node = start_node("replay", catalogue(cell_line("L1"), cell_line("L2")))
    indexer = indexer_for(search_engine, index_prefix, node.member)
    indexer.sync_all()
    alias = catalogue_alias(index_prefix)
    before = search_engine.mget(alias, ["replay:cell_line:L1"])

    index = write_index(search_engine, index_prefix)
    indexer.save_cursor(index, "replay", 0, 4)  # as if the cursor writes had been lost
    [report] = indexer.sync_all()
    assert report.ok and report.stale == 4
    search_engine.refresh(alias)
    assert search_engine.count(alias) == 4
    assert search_engine.mget(alias, ["replay:cell_line:L1"]) == before


def test_the_biobanks_holding_a_line_follow_the_index_and_are_not_asked_for_twice(
    start_node, search_engine, index_prefix, engine_url
):
    berlin = start_node("berlin", catalogue(cell_line("BIONi010-A", hpscreg_name="BIONi010-A")))
    london = start_node("london", catalogue(cell_line("L-10A", hpscreg_name="BIONi010-A")))
    indexer = indexer_for(search_engine, index_prefix, berlin.member, london.member)
    indexer.sync_all()
    # Sync states read at every search, so the cache sees each new cursor at once.
    app = create_portal_app(
        {"SEARCH_URL": engine_url, "INDEX_PREFIX": index_prefix, "SEARCH_STATE_TTL": 0}
    )
    portal = app.test_client()
    sent: list[dict] = []
    engine = app.extensions["cellfed.search"].engine
    search = engine.search
    engine.search = lambda index, body: sent.append(body) or search(index, body)

    def holders() -> set[str]:
        [hit] = portal.get("/api/v1/search?q=BIONi010-A").json["hits"]
        return {s["uid"] for s in hit["sources"]}

    assert holders() == {"berlin:cell_line:BIONi010-A", "london:cell_line:L-10A"}
    asked = [b for b in sent if b.get("_source") == SOURCE_FIELDS]  # build_sources' requests
    assert holders() == {"berlin:cell_line:BIONi010-A", "london:cell_line:L-10A"}
    assert len(asked) == 1 and [b for b in sent if b.get("_source") == SOURCE_FIELDS] == asked

    london.store.withdraw("cell_line", "L-10A")
    indexer.sync_all()
    assert holders() == {"berlin:cell_line:BIONi010-A"}
