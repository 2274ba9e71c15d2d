"""The MIABIS 3 facets on the real engine: a member node over HTTP, the indexer, the portal.

Sample type (MIABIS), species, dataset types and "has publications" filter and count; the
record page shows the parts and its JSON-LD carries them."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from portal.app import create_app
from search.aliases import drop_indices
from search.engine import SearchEngine
from tests.builders import BIOBANK, COLLECTION, cell_line

pytestmark = pytest.mark.engine

MOUSE = {"species": "NCBITaxon:10090", "sample_source": "animal"}
PAPER = {"doi": "10.1038/nature22403", "title": "Common genetic variation", "year": 2017}


def miabis_catalogue() -> dict[str, Any]:
    lines = [
        cell_line(
            "iPSC-1",
            species="NCBITaxon:9606",
            dataset_types=["GENOMIC", "PROTEOMIC"],
            publications=[PAPER],
            content_status="healthy",
        ),
        cell_line("iPSC-2", species="NCBITaxon:9606", dataset_types=["GENOMIC"]),
        cell_line("MCF-7", cell_type="CANCER", dataset_types=["GENOMIC"]),
        cell_line("gut-org", cell_type="OTHER", miabis_sample_type="ORGANOIDS", **MOUSE),
        cell_line("mESC-1", cell_type="OTHER", miabis_sample_type="STEM_CELLS", **MOUSE),
    ]
    return {
        "schema_version": "2",
        "biobanks": [{**BIOBANK, "bioprocessing_capabilities": ["cell_lines_processing"]}],
        "collections": [COLLECTION],
        "cell_lines": lines,
    }


def index_catalogue(engine_url: str, prefix: str, workdir: Path) -> None:
    from cellfed.serve import serve_in_thread
    from federation.node.app import create_app as create_node_app
    from federation.node.importer import import_catalogue
    from federation.node.store import store_of
    from federation.registry import Member
    from search.indexer.sync import Indexer

    app = create_node_app({"NODE_ID": "miabis", "DATABASE_URL": f"sqlite:///{workdir}/n.db"})
    report = import_catalogue(store_of(app), miabis_catalogue(), "miabis.json")
    assert report.ok, report.lines()
    server = serve_in_thread(app)
    try:
        indexer = Indexer(
            SearchEngine(engine_url), [Member("miabis", "MIABIS", server.url)], prefix, timeout=5
        )
        reports = indexer.sync_all()
        assert all(r.ok and not r.quarantined for r in reports), [r.summary() for r in reports]
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client(engine_url, tmp_path_factory):
    prefix = f"test-miabis-{uuid.uuid4().hex[:8]}-"
    index_catalogue(engine_url, prefix, tmp_path_factory.mktemp("miabis"))
    yield create_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix}).test_client()
    drop_indices(SearchEngine(engine_url), prefix)


def search(client, query: str) -> dict:
    resp = client.get(f"/api/v1/search?kind=cell_line&{query}")
    assert resp.status_code == 200, resp.json
    return resp.json


def ids(result: dict) -> set[str]:
    return {h["uid"].rsplit(":", 1)[-1] for h in result["hits"]}


def facet(result: dict, name: str) -> dict[str, int]:
    [entry] = [f for f in result["facets"] if f["name"] == name]
    return {v["value"]: v["count"] for v in entry["values"]}


def test_sample_type_counts_the_miabis_split_and_filters(client):
    result = search(client, "")
    assert facet(result, "sample_type") == {
        "STEM_CELLS": 3,
        "CANCER_CELL_LINES": 1,
        "ORGANOIDS": 1,
    }
    assert ids(search(client, "sample_type=STEM_CELLS")) == {"iPSC-1", "iPSC-2", "mESC-1"}
    assert ids(search(client, "sample_type=ORGANOIDS&sample_type=CANCER_CELL_LINES")) == {
        "gut-org",
        "MCF-7",
    }


def test_species_filters_and_counts(client):
    result = search(client, "species=NCBITaxon:10090")
    assert ids(result) == {"gut-org", "mESC-1"}
    assert facet(search(client, ""), "species") == {"NCBITaxon:9606": 2, "NCBITaxon:10090": 2}


def test_dataset_types_combine_with_any_or_all(client):
    assert ids(search(client, "dataset=GENOMIC")) == {"iPSC-1", "iPSC-2", "MCF-7"}
    both = "dataset=GENOMIC&dataset=PROTEOMIC&dataset_op=and"
    assert ids(search(client, both)) == {"iPSC-1"}


def test_has_publications_filters(client):
    assert ids(search(client, "publications=true")) == {"iPSC-1"}


def test_an_unknown_sample_type_is_a_clear_error(client):
    resp = client.get("/api/v1/search?sample_type=Stem+cells")
    assert resp.status_code == 400
    assert "'sample_type' has no value 'Stem cells'" in json.dumps(resp.json)


def test_the_record_page_shows_the_parts_and_its_json_ld_carries_them(client):
    resp = client.get("/records/miabis:cell_line:iPSC-1")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Stem cells (and iPS cells)" in page
    assert 'href="https://doi.org/10.1038/nature22403"' in page
    assert "healthy (control)" in page
    [block] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    ld = json.loads(block)
    assert ld["taxonomicRange"]["termCode"] == "NCBITaxon:9606"
    assert ld["isControl"] is True
