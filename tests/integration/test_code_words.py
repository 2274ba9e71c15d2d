"""Codes typed as words on the real engine: the demo catalogues (config/demo/), the real
hPSCreg records of EBiSC (shared/data/ebisc-hpscreg) and a node whose lines make a bare code
ambiguous, synced from member nodes over HTTP (search/code_words.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from bench.relevance import DEMO, DEMO_NODES, lines_of
from cellfed.serve import serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.formats.sources import read_paths
from federation.node.importer import import_catalogue, import_files
from federation.node.store import store_of
from federation.registry import Member
from search.engine import SearchEngine
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line
from tests.builders.data_files import EBISC_PLACE, SHARED_DATA, shared
from tests.builders.portal_app import search_client

pytestmark = pytest.mark.engine

HPSCREG = SHARED_DATA / "ebisc-hpscreg" / "hotstart-5"
# "C12" names a disease code one line carries, and a clone another line's text mentions;
# "E11" is a line's synonym and another line's disease code.
AMBIGUOUS = catalogue(
    cell_line(
        "AMB-CANCER",
        donor={
            "sex": "MALE",
            "age_range": "60-64",
            "diseases": [{"code": "ICD10:C12", "label": "Malignant neoplasm of pyriform sinus"}],
        },
    ),
    cell_line("AMB-CLONE", description="clone C12 of a TP53 knock-out"),
    cell_line("AMB-SYN", synonyms=["E11"]),
    cell_line(
        "AMB-DIABETES",
        donor={
            "sex": "FEMALE",
            "age_range": "50-54",
            "diseases": [{"code": "ICD10:E11", "label": "Type 2 diabetes mellitus"}],
        },
    ),
)


def _catalogues(workdir: Path) -> list[tuple[str, object]]:
    """(node id, its store) for every node the index holds, each loaded."""
    nodes = []
    for node_id in (*DEMO_NODES, "codes", "ebisc"):
        if node_id == "ebisc" and not HPSCREG.exists():
            continue  # the real-data test skips itself
        app = create_node_app(
            {"NODE_ID": node_id, "DATABASE_URL": f"sqlite:///{workdir / node_id}.db"}
        )
        store = store_of(app)
        if node_id == "codes":
            assert import_catalogue(store, AMBIGUOUS, "codes.json").ok
        elif node_id == "ebisc":
            files, problems = read_paths(sorted(HPSCREG.glob("*.json")))
            assert not problems
            assert import_catalogue(store, EBISC_PLACE, "place.json").ok
            assert import_files(store, files).ok
        else:
            data = json.loads((DEMO / f"{node_id}.json").read_text(encoding="utf-8"))
            assert import_catalogue(store, data, f"{node_id}.json").ok
        nodes.append((node_id, app))
    return nodes


@pytest.fixture(scope="module")
def client(engine_url, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("codes")
    prefix = f"test-codes-{uuid.uuid4().hex[:8]}-"
    servers, members = [], []
    try:
        for node_id, app in _catalogues(workdir):
            servers.append(serve_in_thread(app))
            members.append(Member(node_id, node_id, servers[-1].url))
        reports = Indexer(SearchEngine(engine_url), members, prefix, timeout=10).sync_all()
        assert all(r.ok and not r.quarantined for r in reports), [r.summary() for r in reports]
    finally:
        for server in servers:
            server.stop()
    yield from search_client(engine_url, prefix, workdir)


def search(client, **args) -> dict:
    resp = client.get("/api/v1/search", query_string={"size": 100, **args})
    assert resp.status_code == 200, resp.json
    return resp.json


def _same_as_the_filter(client, q: str, code: str, **args) -> dict:
    """The search for ``q`` finds what the filter on ``code`` finds, read as that filter."""
    typed, filtered = search(client, q=q, **args), search(client, disease=code, **args)
    assert filtered["total"] > 0
    assert lines_of(typed) == lines_of(filtered) and typed["total"] == filtered["total"]
    [chip] = typed["understood"]
    assert (chip["facet"], chip["words"]) == ("disease", q)
    return typed


@pytest.mark.parametrize("q", ["ICD10:G20", "icd10:g20", "ICD-10 G20", "ICD-10:G20", "G20", "g20"])
def test_an_icd10_code_typed_as_a_word_finds_what_the_filter_finds(client, q):
    result = _same_as_the_filter(client, q, "ICD10:G20")
    assert result["understood"][0]["selection"] == "Parkinson disease"
    assert result["fallback"] is None and result["help"] is None


@pytest.mark.parametrize("q", ["ORPHA:98896", "orpha:98896", "orpha 98896", "Orphanet_98896"])
def test_an_orphanet_code_typed_as_a_word_finds_what_the_filter_finds(client, q):
    _same_as_the_filter(client, q, "ORPHA:98896")


def test_a_category_includes_its_narrower_codes_as_the_filter_does(client):
    result = _same_as_the_filter(client, "ICD10:G12", "ICD10:G12")
    codes = {d for h in result["hits"] for d in h.get("disease_codes", [])}
    narrower = {c for c in codes if c.startswith("ICD10:G12.")}
    assert len(narrower) >= 2  # G12.0 and G12.2 lines, under their category


def test_codes_mix_with_words_filters_and_identifiers(client):
    mixed = search(client, q="iPSC ICD10:G20 female")
    assert {c["facet"] for c in mixed["understood"]} == {"cell_type", "disease", "sex"}
    alone = search(client, disease="ICD10:G20", cell_type="hiPSC", sex="FEMALE")
    assert lines_of(mixed) == lines_of(alone) and mixed["total"] > 0
    # Collections hold disease codes too.
    _same_as_the_filter(client, "ICD10:G20", "ICD10:G20", kind="collection")
    # An identifier beside a code: its line, if it has the code (H9 has none).
    h9 = search(client, q="CVCL_9773 ICD10:G20")
    assert h9["total"] == 0 and [c["facet"] for c in h9["understood"]] == ["disease"]
    assert lines_of(search(client, q="CVCL_9773 female"))[0] == "WAe009-A"


def test_a_cell_ontology_id_is_the_cell_type_it_names(client):
    typed, filtered = search(client, q="CL:0002248"), search(client, cell_type="pluripotent")
    assert lines_of(typed) == lines_of(filtered) and typed["total"] > 0
    assert [(c["facet"], c["words"]) for c in typed["understood"]] == [("cell_type", "CL:0002248")]


def test_codes_nobody_knows_stay_words_and_nothing_matches(client):
    for q in ("ICD10:G21", "MONDO:0005180", "OMIM:168600"):
        result = search(client, q=q)
        assert result["understood"] == [] and result["total"] == 0, q
        assert result["help"]["unknown_codes"] == [q]
        page = client.get("/", query_string={"q": q})
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and "Nothing matches this search" in text
        assert f"knows the code “{q}”, so it was searched as a word" in text
    # A code the catalogue knows, with nothing else matching: no such note.
    none = search(client, q="ICD10:G20", cell_type="hESC")
    assert none["total"] == 0 and none["help"]["unknown_codes"] == []


def test_a_bare_code_that_names_something_else_stays_a_word(client):
    # "C12" is a clone in one line's text: searched as a word; with its scheme, the code.
    assert lines_of(search(client, q="C12")) == ["AMB-CLONE"]
    assert search(client, q="C12")["understood"] == []
    assert lines_of(search(client, q="ICD10:C12")) == ["AMB-CANCER"]
    # "E11" is a line's synonym: that line; with its scheme, the code.
    assert lines_of(search(client, q="E11"))[0] == "AMB-SYN"
    assert search(client, q="E11")["understood"] == []
    assert lines_of(search(client, q="ICD10:E11")) == ["AMB-DIABETES"]


def test_the_real_hpscreg_records_by_their_own_spellings(client):
    shared("ebisc-hpscreg", "hotstart-5")
    doid = _same_as_the_filter(client, "DOID:14330", "DOID:14330")
    assert {h["node_id"] for h in doid["hits"]} == {"ebisc"}
    # hPSCreg links Orphanet terms by their ORDO IRI's name.
    _same_as_the_filter(client, "Orphanet_1956", "ORPHA:1956")


def test_the_page_shows_the_chip_and_searches_the_code_as_a_word_without_javascript(client):
    page = client.get("/", query_string={"q": "ICD10:G20"}).get_data(as_text=True)
    assert "Donor disease (ICD-10, Orphanet): Parkinson disease" in page
    assert "(from “ICD10:G20”)" in page and "searching the word instead" in page
    literal = urlencode({"q": '"ICD10:G20"'})
    assert literal in page  # a plain link: the code quoted is a word
    as_word = search(client, **dict(parse_qsl(literal)))
    assert as_word["understood"] == [] and as_word["total"] == 0
    # The export reads the words the same way.
    exports = [
        sorted(
            r["record"]["id"]
            for r in client.get("/api/v1/export.json", query_string=a).json["records"]
        )
        for a in ({"q": "ICD10:G20"}, {"disease": "ICD10:G20"})  # (each read before the next)
    ]
    assert exports[0] and exports[0] == exports[1]
