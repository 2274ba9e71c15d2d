"""Collection facts on the real engine: two member nodes with their own privacy policies
over HTTP, the indexer, the portal. Facets filter collections by what they publish counts
of, the record page shows "< k", and no index document holds a count below its node's k."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from cellfed.serve import serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.importer import import_catalogue, import_files
from federation.node.store import store_of
from federation.registry import Member
from portal.app import create_app
from schemas.facts import COUNTS, below
from search.aliases import catalogue_alias, drop_indices
from search.engine import SearchEngine
from search.indexer.sync import Indexer
from tests.builders.data_files import shared

pytestmark = pytest.mark.engine

DEMO = Path(__file__).resolve().parents[2] / "config" / "demo" / "de-stemcellbank.json"
NEURO = "berlin:collection:de-neurodegeneration"
NL_COLL2 = "nl:collection:bbmri-eric:ID:NL_biobank2:collection:coll2"
POLICIES = {
    "berlin": {"FACTS_MIN_COUNT": 10, "FACTS_BELOW": "show_lt", "FACTS_ROUNDING": 0},
    "nl": {"FACTS_MIN_COUNT": 10, "FACTS_BELOW": "hide", "FACTS_ROUNDING": 5},
}


def _node(node_id: str, workdir: Path):
    app = create_node_app(
        {"NODE_ID": node_id, "DATABASE_URL": f"sqlite:///{workdir / node_id}.db"}
        | POLICIES[node_id]
    )
    store = store_of(app)
    if node_id == "berlin":
        report = import_catalogue(store, json.loads(DEMO.read_text()), DEMO.name)
    else:
        from federation.node.formats.sources import read_paths

        files, problems = read_paths([shared("bbmri-eric-directory-demo")])
        assert not problems
        report = import_files(store, files, pseudonym_key="test-key", source="directory")
    assert report.ok, report.lines()[:5]
    return app


@pytest.fixture(scope="module")
def prefix(engine_url, tmp_path_factory):
    name = f"test-facts-{uuid.uuid4().hex[:8]}-"
    workdir = tmp_path_factory.mktemp("facts-nodes")
    servers, members = [], []
    try:
        for node_id in POLICIES:
            servers.append(serve_in_thread(_node(node_id, workdir)))
            members.append(Member(node_id, node_id.title(), servers[-1].url))
        indexer = Indexer(SearchEngine(engine_url), members, name, page_size=50, timeout=5)
        reports = indexer.sync_all()
        assert all(r.ok and not r.quarantined for r in reports), [r.summary() for r in reports]
    finally:
        for server in servers:
            server.stop()
    yield name
    drop_indices(SearchEngine(engine_url), name)


@pytest.fixture(scope="module")
def client(engine_url, prefix):
    return create_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix}).test_client()


def collections(client, query: str) -> set[str]:
    resp = client.get(f"/api/v1/search?kind=collection&size=50&{query}")
    assert resp.status_code == 200, resp.json
    return {h["uid"] for h in resp.json["hits"]}


def test_facets_filter_collections_by_what_they_publish_counts_of(client):
    everything = collections(client, "")
    assert NEURO in everything and NL_COLL2 in everything
    assert collections(client, "facts_diagnosis=ICD10:G20") == {NEURO}
    # Berlin's ORPHA:98757 fact has 2 donors and 4 samples: "< 10" names no diagnosis.
    assert collections(client, "facts_diagnosis=ORPHA:98757") == set()
    neutered = collections(client, "facts_sex=NEUTERED_MALE")
    assert neutered and all(uid.startswith("nl:") for uid in neutered)
    both = collections(client, "facts_material=URINE&facts_material=PATHOGEN&facts_material_op=and")
    assert both == {NL_COLL2}
    resp = client.get("/api/v1/search?kind=collection&facts_sex=FEMALE")
    [facet] = [f for f in resp.json["facets"] if f["name"] == "facts_sex"]
    assert {v["value"]: v["selected"] for v in facet["values"]}["FEMALE"] is True


def test_a_bad_facts_value_is_a_400_naming_the_parameter(client):
    resp = client.get("/api/v1/search?kind=collection&facts_sex=WOMAN")
    assert resp.status_code == 400 and "facts_sex" in resp.json["detail"]


def test_the_collection_page_shows_fewer_than_k_never_the_count(client):
    page = client.get(f"/records/{NEURO}").get_data(as_text=True)
    assert 'id="counts-heading">Donors and samples</h2>' in page
    rows = re.findall(r"<tr>(<td>.*?)</tr>", page)
    huntington = [r for r in rows if "ORPHA:399" in r]
    assert len(huntington) == 2
    # 6 and 3 donors, 38 and 17 samples: the donors read "&lt; 10" (escaped "< 10").
    assert all("<td>&lt; 10</td>" in r for r in huntington)
    assert any("<td>38</td>" in r for r in huntington) and any(
        "<td>17</td>" in r for r in huntington
    )
    assert "<td>6</td>" not in page and "<td>3</td>" not in page


def test_no_index_document_holds_a_count_below_its_nodes_k(engine_url, prefix):
    engine = SearchEngine(engine_url)
    found = engine.search(
        catalogue_alias(prefix), {"size": 100, "query": {"term": {"kind": "collection"}}}
    )
    facts = {
        h["_source"]["uid"]: h["_source"]["record"].get("facts", []) for h in found["hits"]["hits"]
    }
    assert sum(len(f) for f in facts.values()) > 100  # the Directory demo's and Berlin's
    for uid, published in facts.items():
        policy = POLICIES[uid.split(":", 1)[0]]
        numbers = [f[c] for f in published for c in COUNTS if c in f]
        assert all(n >= policy["FACTS_MIN_COUNT"] for n in numbers), uid
        flags = [f for f in published for c in COUNTS if below(c) in f]
        if policy["FACTS_BELOW"] == "hide":
            assert flags == [] and all(n % policy["FACTS_ROUNDING"] == 0 for n in numbers)
    assert any(below("number_of_donors") in f for f in facts[NEURO])
