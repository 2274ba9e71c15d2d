"""The same contract on every supported engine: OpenSearch 3 and Elasticsearch 7.10."""

import datetime as dt
import uuid

import pytest
from werkzeug.datastructures import MultiDict

from schemas import schema_for
from search.aliases import (
    MAPPING_VERSION,
    additive_changes,
    catalogue_alias,
    create_catalogue_index,
    drop_indices,
    ensure_indices,
    mapping,
    swap_alias,
    update_mapping_in_place,
    write_index,
)
from search.indexer.audit import audit
from search.indexer.documents import to_document
from search.indexer.sync import Indexer
from search.queries import build_search, parse_params, read_facets
from tests.builders import BIOBANK, catalogue, cell_line

pytestmark = pytest.mark.engine


@pytest.fixture
def prefix(any_engine):
    name = f"contract-{uuid.uuid4().hex[:8]}-"
    yield name
    drop_indices(any_engine, name)


def test_external_versions_let_newer_writes_win_and_replays_change_nothing(any_engine, prefix):
    alias = ensure_indices(any_engine, prefix)
    doc = {"uid": "n:cell_line:a", "kind": "cell_line", "node_id": "n", "name": "A", "seq": 2}
    put = {"_index": alias, "_id": "n:cell_line:a", "version_type": "external"}
    assert any_engine.bulk([{**put, "version": 2, "_source": doc}]).ok == 1
    replay = any_engine.bulk(
        [
            {**put, "version": 1, "_source": {**doc, "name": "old"}},
            {**put, "version": 2, "_source": doc},
        ]
    )
    assert (replay.ok, replay.stale, replay.errors) == (0, 2, [])
    assert any_engine.get(alias, "n:cell_line:a")["name"] == "A"
    gone = any_engine.bulk(
        [
            {**put, "_op_type": "delete", "version": 3},
            {**put, "_op_type": "delete", "version": 4, "_id": "never"},
        ]
    )
    assert gone.ok == 2 and any_engine.get(alias, "n:cell_line:a") is None


def test_alias_swap_and_additive_mapping_changes(any_engine, prefix):
    ensure_indices(any_engine, prefix)
    first = write_index(any_engine, prefix)
    second = create_catalogue_index(any_engine, prefix)
    assert swap_alias(any_engine, prefix, second) == [first]
    assert write_index(any_engine, prefix) == second
    assert update_mapping_in_place(any_engine, prefix, MAPPING_VERSION) == []  # nothing to add


def test_facet_counts_under_selection(any_engine, prefix):
    alias = ensure_indices(any_engine, prefix)
    docs = [("a", "DE", "hiPSC"), ("b", "DE", "hESC"), ("c", "GB", "hiPSC"), ("d", "CN", "MSC")]
    actions = []
    for local_id, country, cell_type in docs:
        record = schema_for("cell_line").dump(
            schema_for("cell_line").load(cell_line(local_id, cell_type=cell_type))
        )
        doc = to_document(
            "n",
            "cell_line",
            record,
            seq=1,
            content_hash="0" * 64,
            schema_version="2",
            modified="2026-11-26T00:00:00+00:00",
            biobank={**BIOBANK, "country": country},
        )
        actions.append({"_index": alias, "_id": doc["uid"], "_source": doc})
    any_engine.bulk(actions)
    any_engine.refresh(alias)
    params = parse_params(MultiDict([("country", "DE"), ("cell_type", "hiPSC")]))
    bodies = build_search(params, dt.date(2026, 11, 26))
    counts, hits = any_engine.msearch(alias, [bodies.counts, bodies.hits])
    assert [h["_id"] for h in hits["hits"]["hits"]] == ["n:cell_line:a"]
    facets = {
        f["name"]: {v["value"]: v["count"] for v in f["values"]}
        for f in read_facets(counts["aggregations"], params)
    }
    assert facets["country"] == {"DE": 1, "GB": 1}  # hiPSC lines per country
    # German lines per cell type, with the hierarchy above them
    assert facets["cell_type"] == {"stem": 2, "pluripotent": 2, "hiPSC": 1, "hESC": 1}


def test_the_indexer_federates_exactly(any_engine, prefix, start_node):
    node = start_node("contract", catalogue(cell_line("L1"), cell_line("L2"), cell_line("L3")))
    indexer = Indexer(any_engine, [node.member], prefix, page_size=2)
    assert [r.ok for r in indexer.sync_all()] == [True]
    node.store.withdraw("cell_line", "L2")
    indexer.sync_all()
    assert all(r.exact for r in audit(any_engine, prefix, [node.member]))
    assert any_engine.count(catalogue_alias(prefix)) == 4


def test_only_additive_mapping_changes_are_taken_in_place():
    current = mapping("v1")["mappings"]
    wanted = {"properties": {**current["properties"], "vials": {"type": "integer"}}}
    assert additive_changes(current, wanted) == {"vials": {"type": "integer"}}
    changed = {"properties": {**current["properties"], "country": {"type": "text"}}}
    with pytest.raises(ValueError, match="field 'country' changes"):
        additive_changes(current, changed)
