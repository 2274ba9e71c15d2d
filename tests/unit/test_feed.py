"""The node's change feed: order, paging, tombstones, idempotent writes."""

import pytest

from federation.node.importer import import_catalogue
from federation.node.store import InUse, store_of
from federation.protocol import content_hash
from tests.builders import catalogue, cell_line


def load(store, *lines):
    report = import_catalogue(store, catalogue(*lines), "test.json")
    assert report.ok, report.lines()
    return report


def test_every_write_gets_the_next_sequence_in_dependency_order(store):
    load(store, cell_line("L1"), cell_line("L2"))
    entries = store.changes(0, 100)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert [e["kind"] for e in entries] == ["biobank", "collection", "cell_line", "cell_line"]
    assert all(e["hash"] == content_hash(e["record"]) for e in entries)
    assert store.latest_seq() == 4


def test_changes_after_a_cursor_come_in_pages(store):
    load(store, *(cell_line(f"L{i}") for i in range(5)))
    seen, cursor = [], 0
    while page := store.changes(cursor, 3):
        seen += [e["seq"] for e in page]
        cursor = page[-1]["seq"]
    assert seen == list(range(1, 8))


def test_reimporting_the_same_file_adds_nothing_to_the_feed(store):
    load(store, cell_line("L1"))
    report = load(store, cell_line("L1"))
    assert report.written.unchanged == 3 and report.written.created == 0
    assert store.latest_seq() == 3


def test_an_update_moves_the_record_to_the_end_of_the_feed(store):
    load(store, cell_line("L1"), cell_line("L2"))
    load(store, cell_line("L1", availability="not_available"), cell_line("L2"))
    entries = store.changes(0, 100)
    assert [(e["id"], e["seq"]) for e in entries][-1] == ("L1", 5)
    assert len(entries) == 4  # one entry per record: its latest state


def test_changing_a_biobank_republishes_what_embeds_it(store):
    load(store, cell_line("L1"))
    changed = catalogue(cell_line("L1"))
    changed["biobanks"][0]["name"] = "Berlin iPSC Bank (renamed)"
    import_catalogue(store, changed, "test.json")
    after = store.changes(3, 100)
    assert [e["kind"] for e in after] == ["biobank", "collection", "cell_line"]


def test_withdrawal_leaves_a_tombstone_with_a_new_sequence(store):
    load(store, cell_line("L1"), cell_line("L2"))
    store.withdraw("cell_line", "L1")
    last = store.changes(4, 100)
    assert last == [dict(last[0], op="delete", record=None, id="L1", seq=5)]
    assert store.get("cell_line", "L1") is None
    assert store.counts()["cell_line"] == 1


def test_a_referenced_record_cannot_be_withdrawn(store):
    load(store, cell_line("L1"))
    with pytest.raises(InUse, match="cell_line L1"):
        store.withdraw("biobank", "bb-berlin")
    assert store.latest_seq() == 3


def test_feed_api_pages_with_cursor_and_has_more(node_app):
    store = store_of(node_app)
    load(store, cell_line("L1"), cell_line("L2"), cell_line("L3"))
    client = node_app.test_client()
    first = client.get("/api/v1/feed").json  # FEED_PAGE_SIZE is 2 here
    assert (first["after"], first["next_cursor"], first["has_more"]) == (0, 2, True)
    rest = client.get("/api/v1/feed?after=2&limit=10").json
    assert [e["seq"] for e in rest["entries"]] == [3, 4, 5]
    assert rest["has_more"] is False and rest["latest_seq"] == 5
    end = client.get("/api/v1/feed?after=5").json
    assert end["entries"] == [] and end["next_cursor"] == 5


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("after=-1", "'after' must be at least 0, got -1"),
        ("after=abc", "'after' must be an integer, got 'abc'"),
        ("limit=0", "'limit' must be at least 1 and at most 5000, got 0"),
        ("limit=999999", "'limit' must be at least 1 and at most 5000, got 999999"),
    ],
)
def test_feed_api_rejects_bad_parameters(node_app, query, detail):
    resp = node_app.test_client().get(f"/api/v1/feed?{query}")
    assert resp.status_code == 400
    assert resp.json["detail"] == detail


def test_node_descriptor_and_openapi(node_app):
    load(store_of(node_app), cell_line("L1"))
    client = node_app.test_client()
    node = client.get("/api/v1/node").json
    assert node["node_id"] == "test-node" and node["latest_seq"] == 3
    assert node["counts"] == {"network": 0, "biobank": 1, "collection": 1, "cell_line": 1}
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/api/v1/node", "/api/v1/feed", "/api/v1/records/{kind}/{id}"} <= set(paths)


def test_feed_tells_a_cursor_it_cannot_serve_to_resynchronise(node_app):
    import datetime as dt

    store = store_of(node_app)
    load(store, cell_line("L1"), cell_line("L2"))
    store.withdraw("cell_line", "L2")
    assert store.purge_tombstones(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 1
    client = node_app.test_client()
    stale = client.get("/api/v1/feed?after=2")
    assert stale.status_code == 410 and stale.json["error"] == "resync_required"
    assert "deletions up to change 5 were purged" in stale.json["detail"]
    assert client.get("/api/v1/feed?after=2&snapshot=true").status_code == 200
    assert client.get("/api/v1/feed?after=0").status_code == 200  # a snapshot is always served
    beyond = client.get("/api/v1/feed?after=99")
    assert beyond.status_code == 410 and "beyond this node's latest change" in beyond.json["detail"]
