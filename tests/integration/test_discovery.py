"""Discovery on the real engine: two member nodes over HTTP, the indexer, the portal."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import pytest

from portal.app import create_app
from search.aliases import drop_indices
from search.engine import SearchEngine
from tests.builders.alliance import index_alliance

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def prefix(engine_url, tmp_path_factory):
    name = f"test-disc-{uuid.uuid4().hex[:8]}-"
    index_alliance(engine_url, name, tmp_path_factory.mktemp("alliance"))
    yield name
    drop_indices(SearchEngine(engine_url), name)


@pytest.fixture(scope="module")
def app(engine_url, prefix):
    return create_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix, "EXPORT_MAX_ROWS": 4})


@pytest.fixture
def client(app):
    return app.test_client()


def search(client, query: str) -> dict:
    resp = client.get(f"/api/v1/search?{query}")
    assert resp.status_code == 200, resp.json
    return resp.json


def uids(result: dict) -> set[str]:
    return {h["uid"] for h in result["hits"]}


def facet(result: dict, name: str) -> dict[str, int]:
    [entry] = [f for f in result["facets"] if f["name"] == name]
    return {v["value"]: v["count"] for v in entry["values"]}


# -- one result per line ---------------------------------------------------------------
def test_a_line_held_by_two_biobanks_is_one_result_listing_both(client):
    result = search(client, "q=H9")
    assert (result["total"], result["lines"]) == (2, 1)
    [hit] = result["hits"]
    assert hit["hpscreg_name"] == "WAe009-A"
    sources = {s["uid"]: s for s in hit["sources"]}
    assert set(sources) == {"berlin:cell_line:WAe009-A", "london:cell_line:H9-LON"}
    assert sources["london:cell_line:H9-LON"]["vials_available"] == 20
    assert all(s["data_as_of"] for s in sources.values())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("WAe009-A", "hpscreg:wae009-a"),  # hPSCreg name
        ("wa09", "hpscreg:wae009-a"),  # a synonym, any case
        ("CVCL_9773", "hpscreg:wae009-a"),  # Cellosaurus accession of the London record
        ("kolf2", "cellosaurus:cvcl_ae29"),
        ("HTT", "hpscreg:ukki011-a"),  # a modified gene
        ("huntington", "hpscreg:ukki011-a"),  # a disease
    ],
)
def test_identifiers_synonyms_genes_and_diseases_find_their_line(client, query, expected):
    assert search(client, f"q={query}")["hits"][0]["line_key"] == expected


def test_matches_are_highlighted(client):
    [hit] = search(client, "q=parkinson")["hits"]
    assert "<mark>Parkinson</mark>" in hit["highlight"]["description"][0]
    assert search(client, "q=parkinson")["did_you_mean"] is None


def test_typos_are_tolerated_and_the_spelling_suggested(client):
    result = search(client, "q=parkinsn")
    [hit] = result["hits"]
    assert hit["uid"] == "berlin:cell_line:BIONi010-A"
    assert result["did_you_mean"]["text"] == "parkinson"
    assert search(client, result["did_you_mean"]["query"])["hits"][0]["highlight"]


# -- facets ----------------------------------------------------------------------------
def test_facet_counts_stay_correct_when_other_facets_are_selected(client):
    everything = search(client, "")
    assert facet(everything, "country") == {"DE": 3, "GB": 3}
    in_gb = search(client, "country=GB")
    assert {h["country"] for h in in_gb["hits"]} == {"GB"}
    # The country facet still offers Germany with its full count...
    assert facet(in_gb, "country") == {"DE": 3, "GB": 3}
    # ...while the other facets count British records only.
    assert facet(in_gb, "availability") == {"available": 2, "not_available": 1}
    assert facet(search(client, "country=GB&availability=available"), "country") == {
        "DE": 2,
        "GB": 2,
    }


def test_qc_facet_combines_with_all_by_default_and_any_on_request(client):
    both = search(client, "qc=mycoplasma_negative&qc=karyotype_normal")
    assert uids(both) == {"berlin:cell_line:BIONi010-A"}
    either = search(client, "qc=sterile&qc=str_verified&qc_op=or")
    assert uids(either) == {"berlin:cell_line:BIONi010-A", "london:cell_line:HPSI0114i-kolf_2"}
    # Under "all of", a value's count says what ticking it too would leave.
    assert facet(both, "qc")["sterile"] == 1


def test_a_disease_chapter_finds_every_code_below_it_and_opens_its_branch(client):
    chapter = search(client, "disease=ICD10-XIII")
    assert uids(chapter) == {"london:cell_line:MSC-LON-1"}
    values = {
        v["value"]: v for f in chapter["facets"] if f["name"] == "disease" for v in f["values"]
    }
    assert values["ICD10:M16"]["parent"] == "ICD10-XIII" and values["ICD10:M16"]["count"] == 1
    assert values["ORPHA"]["count"] == 1  # other branches still count, closed
    assert "ORPHA:399" not in values
    rare = search(client, "disease=ORPHA")
    assert uids(rare) == {"berlin:cell_line:UKKi011-A"}
    labels = {
        v["value"]: v["label"]
        for f in rare["facets"]
        if f["name"] == "disease"
        for v in f["values"]
    }
    assert labels["ORPHA:399"] == "Huntington disease"  # as the node labelled it


def test_cell_type_groups_find_their_members(client):
    pluripotent = search(client, "cell_type=pluripotent")
    assert pluripotent["lines"] == 4  # BIONi010-A, H9 (two records), UKKi011-A, kolf_2
    assert search(client, "cell_type=somatic_stem")["hits"][0]["cell_type"] == "MSC"


def test_ranges_on_donor_age_and_vials(client):
    over_50 = search(client, "age_min=50")
    assert uids(over_50) == {
        "berlin:cell_line:BIONi010-A",
        "london:cell_line:HPSI0114i-kolf_2",
        "london:cell_line:MSC-LON-1",
    }
    assert uids(search(client, "age_min=18&age_max=40")) == {"berlin:cell_line:UKKi011-A"}
    assert search(client, "vials_min=50")["hits"][0]["local_id"] == "HPSI0114i-kolf_2"
    bands = facet(search(client, ""), "age")
    assert bands == {"0-17": 0, "18-39": 1, "40-59": 1, "60-": 2}


def test_accreditation_terms_storage_network_and_modification_facets(client):
    assert {h["country"] for h in search(client, "accredited=true")["hits"]} == {"DE"}
    assert uids(search(client, "commercial=true")) == {
        "berlin:cell_line:BIONi010-A",
        "london:cell_line:H9-LON",
    }
    # The Berlin H9 has no terms of its own: it is offered on its collection's (GRU).
    gru = search(client, "duo=DUO:0000042")
    assert {s["uid"] for h in gru["hits"] for s in h["sources"]} >= {"berlin:cell_line:WAe009-A"}
    assert uids(search(client, "storage=temperatureLNvapour")) == {"berlin:cell_line:BIONi010-A"}
    assert search(client, "network=uk-stem")["lines"] == 3
    networks = [f for f in search(client, "")["facets"] if f["name"] == "network"][0]
    assert {v["value"]: v["label"] for v in networks["values"]}["uk-stem"] == (
        "UK Stem Cell Network"
    )
    modified = search(client, "modified=true&gene=HTT")
    assert uids(modified) == {"berlin:cell_line:UKKi011-A"}


def test_sorting_and_pagination_walk_every_line_once(client):
    seen = []
    for page in (1, 2, 3):
        result = search(client, f"sort=name&size=2&page={page}")
        assert result["pages"] == 3
        seen += [h["line_key"] for h in result["hits"]]
    assert len(seen) == len(set(seen)) == 5
    by_vials = search(client, "sort=vials")["hits"]
    assert by_vials[0]["local_id"] == "HPSI0114i-kolf_2"


def test_a_collection_page_links_to_its_lines_by_name(client):
    result = search(client, "collection=berlin:collection:ipsc-disease")
    assert result["lines"] == 3 and {h["node_id"] for h in result["hits"]} == {"berlin"}
    assert result["selected"][0]["selection"] == "Disease iPSC lines"


def test_collections_and_biobanks_are_searchable_kinds(client):
    banks = search(client, "kind=biobank&accredited=true")
    assert [h["name"] for h in banks["hits"]] == ["Berlin iPSC Bank"]
    collections = search(client, "kind=collection&disease=ICD10-VI")
    assert [h["name"] for h in collections["hits"]] == ["Disease iPSC lines"]


# -- zero results ----------------------------------------------------------------------
def test_zero_results_suggest_a_spelling_and_the_filter_to_relax(client):
    result = search(client, "q=xarkinson&country=GB")
    assert result["total"] == 0
    help_ = result["help"]
    assert help_["did_you_mean"] == "parkinson"
    assert "q=parkinson" in help_["did_you_mean_query"]
    assert help_["without_words"] == 3  # the British records
    [relax] = help_["relax"]
    assert (relax["facet"], relax["count"]) == ("country", 0)

    filtered = search(client, "q=H9&qc=mycoplasma_negative&country=DE")
    assert filtered["total"] == 0
    relax = {r["facet"]: r for r in filtered["help"]["relax"]}
    assert relax["qc"]["count"] == 1 and relax["country"]["count"] == 1
    # Following the suggestion finds what it promised.
    assert search(client, relax["country"]["query"])["total"] == 1


# -- export ----------------------------------------------------------------------------
def test_csv_export_holds_the_current_results(client):
    resp = client.get("/api/v1/export.csv?country=GB&kind=cell_line")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert {r["uid"] for r in rows} == {
        "london:cell_line:H9-LON",
        "london:cell_line:HPSI0114i-kolf_2",
        "london:cell_line:MSC-LON-1",
    }
    assert resp.headers["X-Total-Count"] == "3"


def test_json_export_is_bounded_and_says_so(client):
    resp = client.get("/api/v1/export.json?sort=name")
    data = json.loads(resp.get_data(as_text=True))
    assert data["total"] == 6 and data["limit"] == 4 and data["truncated"] is True
    assert len(data["records"]) == 4
    names = [r["record"]["name"] for r in data["records"]]
    assert names == sorted(names, key=str.lower)
    assert data["records"][0]["url"].startswith("http://localhost/records/")


# -- bad input -------------------------------------------------------------------------
BAD = [
    "page=-1",
    "page=99999",
    "size=0",
    "sort=price",
    "kind=sample",
    "cell_type=unicorn",
    "disease=%3Cscript%3E",
    "disease=ICD10:G20%29%7C.*",
    "country=germany",
    "qc=clean",
    "qc_op=xor&qc=sterile",
    "country_op=and",
    "age_min=abc",
    "age_min=70&age_max=10",
    "vials_min=-5",
    "accredited=yes",
    "q=" + "word+" * 40,
    "q=%00",
    "q=%1B%5B31m",
    "biobank=" + "x" * 300,
    "unknown=1",
    "page=1&page=2",
]


@pytest.mark.parametrize("query", BAD)
def test_bad_input_is_a_400_with_a_reason_never_a_500(client, query):
    api = client.get(f"/api/v1/search?{query}")
    assert api.status_code == 400
    assert api.json["error"] == "Bad Request" and len(api.json["detail"]) > 10
    page = client.get(f"/?{query}")
    assert page.status_code == 400
    assert b'role="alert"' in page.data and b"We could not run this search" in page.data
    assert client.get(f"/api/v1/export.csv?{query}").status_code == 400


@pytest.mark.parametrize("value", ["'", '"', "\\", "*", "?", "(", "[", "~", "/", "a" * 200])
def test_odd_values_in_free_facets_are_plain_values(client, value):
    for name in ("biobank", "network", "gene", "tissue", "q"):
        assert client.get("/api/v1/search", query_string={name: value}).status_code == 200


def test_an_engine_that_is_down_is_a_503_not_a_500(prefix):
    down = create_app(
        {"SEARCH_URL": "http://127.0.0.1:9", "INDEX_PREFIX": prefix, "SEARCH_TIMEOUT": 2}
    )
    client = down.test_client()
    assert client.get("/api/v1/search?q=H9").status_code == 503
    assert client.get("/?q=H9").status_code == 503
    assert client.get("/records/berlin:cell_line:WAe009-A").status_code == 503


# -- record pages ----------------------------------------------------------------------
def jsonld(html: str) -> dict:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert match, "no JSON-LD on the page"
    return json.loads(match.group(1))


def test_cell_line_page_shows_qc_lots_terms_accreditation_sources_and_jsonld(client):
    page = client.get("/records/berlin:cell_line:BIONi010-A").get_data(as_text=True)
    for text in (
        "Quality control",
        "Mycoplasma",
        "negative",
        "15 vials in 2 lots",
        "health or medical or biomedical research (HMB)",
        "Commercial use",
        "holds an ISO 20387 accreditation valid today",
        "data as of",
    ):
        assert text in page, text
    ld = jsonld(page)
    assert ld["@type"] == "BioSample" and ld["name"] == "BIONi010-A"
    assert ld["identifier"][0]["value"] == "BIONi010-A"
    assert {"name": "disease", "value": "Parkinson disease"}.items() <= next(
        p for p in ld["additionalProperty"] if p["name"] == "disease"
    ).items()

    h9 = client.get("/records/london:cell_line:H9-LON").get_data(as_text=True)
    assert "2 biobanks hold this line" in h9 and "Berlin iPSC Bank" in h9
    assert "no ISO 20387 accreditation valid today" in h9 and "expired on 2020-06-30" in h9


def test_collection_and_biobank_pages(client):
    collection = client.get("/records/berlin:collection:ipsc-disease").get_data(as_text=True)
    assert "3 cell lines in this collection" in collection
    assert "non-commercial use only (NCU)" in collection and "general research use" in collection
    assert jsonld(collection)["@type"] == "Dataset"

    bank = client.get("/records/london:biobank:bb-london").get_data(as_text=True)
    assert "3 cell lines at this biobank" in bank and "Reference lines" in bank
    ld = jsonld(bank)
    assert ld["@type"] == "DataCatalog" and ld["dataset"][0]["name"] == "Reference lines"


def test_record_api_and_unknown_records(client):
    resp = client.get("/api/v1/records/berlin:cell_line:WAe009-A")
    assert resp.status_code == 200
    assert {s["uid"] for s in resp.json["related"]["sources"]} == {
        "berlin:cell_line:WAe009-A",
        "london:cell_line:H9-LON",
    }
    for uid in ("berlin:cell_line:nope", "not-a-uid", "x:" + "y" * 600):
        assert client.get(f"/api/v1/records/{uid}").status_code == 404
        assert client.get(f"/records/{uid}").status_code == 404


def test_the_openapi_documents_cover_every_api_route(app):
    from portal.access.api import spec as access_spec
    from portal.openapi import spec

    documented = set(spec()["paths"]) | set(access_spec()["paths"])
    routes = {
        re.sub(r"<(?:path:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
    }
    assert routes - documented == set()


def test_words_read_as_filters_are_not_sent_to_the_suggester(app, client):
    engine = app.extensions["cellfed.search"].engine
    sent: list[dict] = []
    search_ = engine.search
    engine.search = lambda index, body: sent.append(body) or search_(index, body)
    try:
        result = search(client, "q=female+iPSC")
        typo = search(client, "q=parkinsn")
    finally:
        engine.search = search_
    assert sorted(u["facet"] for u in result["understood"]) == ["cell_type", "sex"]
    assert result["hits"] and result["did_you_mean"] is None
    # Only the typo's search asked the suggester ("did you mean" needs it there).
    assert [b["suggest"]["text"] for b in sent if "suggest" in b] == ["parkinsn"]
    assert typo["did_you_mean"]["text"] == "parkinson"
