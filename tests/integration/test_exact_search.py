"""Searches that find exactly, on the real engine with the demo catalogues (config/demo/)."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

import pytest

from bench.relevance import evaluate, index_demo, lines_of, read_judgements
from tests.builders.portal_app import search_client

pytestmark = pytest.mark.engine

H9_RELATIONS = {"WAe009-A-NPC", "WAe009-A-MSC", "WAe009-A-RPE"}  # derived from H9
FEMALE_PARKINSON_IPSC = {"NSCCR-iPSC-0102", "ESi002-A", "ESi006-A"}


@pytest.fixture(scope="module")
def client(engine_url, tmp_path_factory):
    prefix = f"test-exact-{uuid.uuid4().hex[:8]}-"
    workdir = tmp_path_factory.mktemp("demo")
    index_demo(engine_url, prefix, workdir)
    yield from search_client(engine_url, prefix, workdir)


def search(client, **args) -> dict:
    resp = client.get("/api/v1/search", query_string={"size": 50, **args})
    assert resp.status_code == 200, resp.json
    return resp.json


@pytest.mark.parametrize("query", ["WAe009-A", "wae009-a", "H9", "WAe009-A-L01"])
def test_an_identifier_returns_its_line_first_then_only_its_relations(client, query):
    result = search(client, q=query)
    lines = lines_of(result)
    assert lines[0] == "WAe009-A"
    assert set(lines[1:]) == H9_RELATIONS
    # H9 is one line banked at two nodes: one hit listing both.
    [h9] = [h for h in result["hits"] if h["local_id"] == "WAe009-A"]
    assert {s["node_id"] for s in h9["sources"]} == {"cn-nsccr", "uk-hipsci"}


def test_a_cellosaurus_accession_does_not_list_the_lines_one_edit_away(client):
    lines = lines_of(search(client, q="CVCL_9773"))
    assert lines[0] == "WAe009-A" and set(lines[1:]) == H9_RELATIONS
    assert not {"WAe007-A", "WAe001-A"} & set(lines)  # H7 (CVCL_9772), H1 (CVCL_9771)


def test_relations_are_derivatives_and_lines_of_the_same_donor(client):
    kolf = lines_of(search(client, q="HPSI0114i-kolf_2"))
    assert kolf[0] == "HPSI0114i-kolf_2" and set(kolf) == {
        "HPSI0114i-kolf_2",
        "HPSI0114i-kolf_3",  # same HipSci donor
        "kolf_2-CM",  # differentiated from it
    }
    assert lines_of(search(client, q="UKKi009-A")) == ["UKKi009-A", "UKKi009-B"]
    bioni = lines_of(search(client, q="SAMEA3105765"))  # BioSamples id of BIONi010-A
    assert bioni[0] == "BIONi010-A" and set(bioni) == {
        "BIONi010-A",
        "BIONi010-B",
        "BIONi010-C",
        "BIONi010-C-25",
    }


def test_words_all_match_and_words_naming_values_are_filters_shown_as_chips(client):
    result = search(client, q="iPSC female parkinson")
    assert set(lines_of(result)) == FEMALE_PARKINSON_IPSC
    assert all(h["donor_sex"] == "FEMALE" for h in result["hits"])
    chips = {c["facet"]: c for c in result["understood"]}
    assert set(chips) == {"cell_type", "sex"}
    assert (chips["sex"]["selection"], chips["sex"]["words"]) == ("Female", "female")
    assert result["fallback"] is None

    # Searching the word instead: the chip's link quotes the word, and no filter is read.
    literal = dict(parse_qsl(chips["sex"]["query"]))
    assert literal["q"] == 'iPSC "female" parkinson'
    as_word = search(client, **literal)
    assert {c["facet"] for c in as_word["understood"]} == {"cell_type"}

    page = client.get("/", query_string={"q": "iPSC female parkinson"}).get_data(as_text=True)
    assert "Donor sex: Female" in page and "searching the word instead" in page
    assert "q=iPSC+%22female%22+parkinson" in page  # a plain link: works without JavaScript
    # The export holds the same results, the words read the same way.
    export = client.get("/api/v1/export.json", query_string={"q": "iPSC female parkinson"})
    assert {r["record"]["id"] for r in export.json["records"]} == FEMALE_PARKINSON_IPSC


def test_when_nothing_matches_all_words_a_labelled_fallback_shows_any_word(client):
    result = search(client, q="gaucher keratinocytes")
    assert result["fallback"]["label"].startswith("No result matches all the words")
    lines = set(lines_of(result))
    assert {"GZP-iPSC-0210", "ESi004-A", "ESi001-A"} <= lines  # Gaucher; keratinocytes
    page = client.get("/", query_string={"q": "gaucher keratinocytes"}).get_data(as_text=True)
    assert "No result matches all the words" in page
    # All words matching: no fallback, and typos still tolerated in words.
    assert search(client, q="gaucher disease")["fallback"] is None
    assert set(lines_of(search(client, q="erythromelagia female"))) == {
        "RCi002-A",
        "RCi002-B",
        "RCi003-A",
        "RCi003-B",
    }


def test_the_judgement_list_keeps_its_figures(client):
    figures = evaluate(client, read_judgements())
    assert len(read_judgements()) >= 50
    # The README quotes the figures (bench/relevance.py); a change that lowers them shows here.
    assert figures["p1"] >= 0.95 and figures["p5"] >= 0.95 and figures["ndcg10"] >= 0.95
