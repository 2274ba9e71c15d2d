"""The Beacon v2 face of the portal on the real engine: two member nodes over HTTP, the
indexer, the portal; every answer validated against the published Beacon v2 schemas (see
tests/unit/test_beacon.py for how they are resolved locally)."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from federation.node.app import create_app as create_node_app
from federation.node.importer import import_catalogue
from federation.node.store import store_of
from federation.registry import Member
from federation.web.login import SESSION_ID, User, open_session
from portal.app import create_app
from search.aliases import drop_indices
from search.engine import SearchEngine
from search.indexer.sync import Indexer
from tests.builders.alliance import berlin, london
from tests.unit.test_beacon import validate, validate_request

pytestmark = pytest.mark.engine

ETHNICITY = "Northern European"  # a donor's: must never leave the portal through the Beacon
ALL_LINES = 6  # biosamples: one per biobank's record
ALL_DONORS = 5  # individuals: H9 is held by both biobanks


def catalogues() -> list[tuple[str, dict[str, Any]]]:
    """The discovery alliance, with one donor's ethnicity and affected status recorded."""
    first = copy.deepcopy(berlin())
    for line in first["cell_lines"]:
        if line["id"] == "UKKi011-A":
            line["donor"].update(ethnicity=ETHNICITY, affected=True)
    return [("berlin", first), ("london", london())]


def index(engine_url: str, prefix: str, workdir: Path) -> None:
    """Serve the catalogues from real member nodes and sync them into the index (as
    tests.builders.alliance.index_alliance does, with these catalogues)."""
    from cellfed.serve import serve_in_thread

    servers, members = [], []
    try:
        for node_id, data in catalogues():
            app = create_node_app(
                {"NODE_ID": node_id, "DATABASE_URL": f"sqlite:///{workdir / node_id}.db"}
            )
            report = import_catalogue(store_of(app), data, f"{node_id}.json")
            assert report.ok, report.lines()
            servers.append(serve_in_thread(app))
            members.append(Member(node_id, node_id.title(), servers[-1].url))
        indexer = Indexer(SearchEngine(engine_url), members, prefix, page_size=50, timeout=5)
        reports = indexer.sync_all()
        assert all(r.ok and not r.quarantined for r in reports), [r.summary() for r in reports]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def prefix(engine_url, tmp_path_factory):
    name = f"test-beacon-{uuid.uuid4().hex[:8]}-"
    index(engine_url, name, tmp_path_factory.mktemp("beacon-alliance"))
    yield name
    drop_indices(SearchEngine(engine_url), name)


def portal(engine_url: str, prefix: str, workdir: Path, **config: Any):
    return create_app(
        {
            "SEARCH_URL": engine_url,
            "INDEX_PREFIX": prefix,
            "PORTAL_DATABASE_URL": f"sqlite:///{workdir / 'portal.sqlite3'}",
            **config,
        }
    )


@pytest.fixture(scope="module")
def app(engine_url, prefix, tmp_path_factory):
    return portal(engine_url, prefix, tmp_path_factory.mktemp("beacon-portal"))


@pytest.fixture
def anonymous(app):
    return app.test_client()


def signed_in(app, *roles: str):
    client = app.test_client()
    user = User(
        "https://idp.example/realms/a", "alice", "Alice", None, frozenset(roles), frozenset()
    )
    with client.session_transaction() as session:
        session[SESSION_ID] = open_session(app, user)
    return client


@pytest.fixture
def member(app):
    return signed_in(app, "researcher")


def ask(client, entry: str, *filters: Any, granularity: str | None = None, **query: Any):
    """POST a Beacon query; the body is checked against the request schema first."""
    body: dict[str, Any] = {"meta": {"apiVersion": "v2.0.0"}, "query": dict(query)}
    if filters:
        body["query"]["filters"] = [f if isinstance(f, dict) else {"id": f} for f in filters]
    if granularity:
        body["query"]["requestedGranularity"] = granularity
    resp = client.post(f"/api/beacon/{entry}", json=validate_request(body))
    assert resp.status_code == 200, resp.json
    return resp.json


def count(client, entry: str, *filters: Any) -> int:
    answer = validate(ask(client, entry, *filters), "count")
    return answer["responseSummary"]["numTotalResults"]


def results(answer: dict[str, Any]) -> list[dict[str, Any]]:
    sets = answer["response"]["resultSets"]
    return [r for s in sets for r in s["results"]]


# -- the framework -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/api/beacon/", "info"),
        ("/api/beacon/service-info", "service-info"),
        ("/api/beacon/configuration", "configuration"),
        ("/api/beacon/map", "map"),
        ("/api/beacon/entry_types", "entry_types"),
    ],
)
def test_framework_responses_are_valid(anonymous, path, kind):
    resp = anonymous.get(path)
    assert resp.status_code == 200
    validate(resp.json, kind)


def test_filtering_terms_list_the_facets_with_curies_from_the_index(anonymous):
    answer = validate(anonymous.get("/api/beacon/filtering_terms").json, "filtering_terms")
    terms = {t["id"]: t for t in answer["response"]["filteringTerms"]}
    assert terms["ICD10:G20"]["label"] == "Parkinson disease"
    assert terms["Orphanet:399"]["label"] == "Huntington disease"
    assert terms["ICD10:M16.1"]["label"] == "Other primary coxarthrosis"
    assert {"ICD10:VI", "ICD10:XIII", "ICD10:M16"} <= set(terms)  # the codes' ancestors
    assert terms["CL:0002322"]["type"] == "ontology" and terms["NCIT:C20197"]["label"] == "male"
    assert terms["country"]["values"] == ["DE", "GB"]
    assert terms["gene"]["values"] == ["HTT"]
    assert terms["biobank"]["values"] == ["Berlin iPSC Bank", "London Stem Cell Bank"]
    assert terms["network"]["values"] == ["eu-ipsc", "uk-stem"]
    # Every term listed is one a query may use.
    for term in terms.values():
        if term["type"] == "ontology":
            ask(anonymous, "biosamples", term["id"])
        else:
            value = term.get("values", ["1"])[0]
            ask(anonymous, "biosamples", {"id": term["id"], "operator": "=", "value": value})


# -- what the filters select -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filters", "biosamples", "individuals"),
    [
        ((), ALL_LINES, ALL_DONORS),
        (("NCIT:C16576",), 4, 3),  # female; H9 is one donor at two banks
        (("NCIT:C20197",), 2, 2),
        (("ICD10:G20",), 1, 1),
        (("ICD10:VI",), 1, 1),  # the chapter holds G20
        (("ICD10:XIII",), 1, 1),
        (("ICD10:M16",), 1, 1),  # the category holds M16.1
        ({"id": "ICD10:M16", "includeDescendantTerms": False}, 0, 0),
        ({"id": "ICD10:M16.1", "includeDescendantTerms": False}, 1, 1),
        (("Orphanet:399",), 1, 1),
        (("ORPHA:399",), 1, 1),
        (("CL:0000034",), 6, 5),  # stem cells: the MSC line too
        (("CL:0002248",), 5, 4),  # pluripotent: hESC and hiPSC
        ({"id": "CL:0002248", "includeDescendantTerms": False}, 3, 3),  # hiPSC only
        (("CL:0002322",), 2, 1),
        (("CL:0000723",), 1, 1),
        (("DUO:0000042",), 3, 3),  # GRU: kolf2's own, and two lines on their collection's terms
        (("DUO:0000046",), 2, 2),  # a modifier of the collection's terms
        (("DUO:0000004",), 1, 1),
        ({"id": "age", "operator": ">=", "value": "60"}, 2, 2),
        ({"id": "age", "operator": "<", "value": "P40Y"}, 1, 1),  # embryos have no age
        ({"id": "availability", "operator": "=", "value": "not_available"}, 1, 1),
        ({"id": "availability", "operator": "!", "value": "not_available"}, 5, 4),
        ({"id": "country", "operator": "=", "value": "GB"}, 3, 3),
        ({"id": "modified", "operator": "=", "value": "true"}, 1, 1),
        ({"id": "vials", "operator": ">=", "value": "20"}, 2, 2),
        ({"id": "cell_type", "operator": "=", "value": "hiPSC"}, 3, 3),
        (("NCIT:C16576", "CL:0002248"), 3, 2),  # filters are AND-ed
    ],
)
def test_filters_select_biosamples_and_their_donors(anonymous, filters, biosamples, individuals):
    filters = filters if isinstance(filters, tuple) else (filters,)
    assert count(anonymous, "biosamples", *filters) == biosamples
    assert count(anonymous, "individuals", *filters) == individuals


def test_get_queries_read_the_same_filters(anonymous):
    resp = anonymous.get("/api/beacon/individuals?filters=NCIT:C16576,CL:0002248")
    assert validate(resp.json, "count")["responseSummary"]["numTotalResults"] == 2
    resp = anonymous.get("/api/beacon/biosamples?filters=age>=60&filters=country=GB")
    assert validate(resp.json, "count")["responseSummary"]["numTotalResults"] == 1


def test_counts_say_no_more_than_the_public_search_api(anonymous):
    for facet, curie in (("sex=FEMALE", "NCIT:C16576"), ("disease=ICD10-VI", "ICD10:VI")):
        search = anonymous.get(f"/api/v1/search?{facet}").json
        assert count(anonymous, "biosamples", curie) == search["total"]
        assert count(anonymous, "individuals", curie) == search["lines"]


# -- granularity -------------------------------------------------------------------------------
def test_anonymous_callers_get_counts_or_booleans_never_records(anonymous):
    answer = ask(anonymous, "biosamples", "NCIT:C16576", granularity="record")
    validate(answer, "count")
    assert "results" not in json.dumps(answer) and ETHNICITY not in json.dumps(answer)
    assert "sign in" in answer["info"]["messages"][0]
    boolean = validate(ask(anonymous, "individuals", "ICD10:G20", granularity="boolean"), "boolean")
    assert boolean["responseSummary"] == {"exists": True}
    nothing = validate(ask(anonymous, "individuals", "ICD10:C50"), "count")
    assert nothing["responseSummary"] == {"exists": False, "numTotalResults": 0}


def test_a_member_gets_records_that_fit_the_model(member):
    samples = validate(
        ask(member, "biosamples", "CL:0002322", granularity="record"), "record", "biosample"
    )
    assert {r["id"] for r in results(samples)} == {
        "berlin:cell_line:WAe009-A",
        "london:cell_line:H9-LON",
    }
    assert {r["individualId"] for r in results(samples)} == {"donor:hpscreg:wae009-a"}
    donors = validate(
        ask(member, "individuals", "CL:0002322", granularity="record"), "record", "individual"
    )
    [h9] = results(donors)
    assert h9["id"] == "donor:hpscreg:wae009-a"
    assert h9["sex"] == {"id": "NCIT:C16576", "label": "female"}
    assert h9["info"]["biosampleIds"] == ["berlin:cell_line:WAe009-A", "london:cell_line:H9-LON"]
    [huntington] = results(
        validate(
            ask(member, "individuals", "Orphanet:399", granularity="record"), "record", "individual"
        )
    )
    assert huntington["diseases"] == [
        {"diseaseCode": {"id": "Orphanet:399", "label": "Huntington disease"}}
    ]
    assert huntington["info"]["ageRange"] == "30-34"


def test_records_hold_nothing_personal_beyond_the_public_search(member):
    found = [
        *results(
            ask(member, "biosamples", "CL:0000034", granularity="record", pagination={"limit": 0})
        ),
        *results(
            ask(member, "individuals", "CL:0000034", granularity="record", pagination={"limit": 0})
        ),
    ]
    assert len(found) == ALL_LINES + ALL_DONORS
    everything = json.dumps(found)
    assert ETHNICITY not in everything and "ethnicity" not in everything
    for field in ("contact", "email", "lots", "str_profile", "46,X", "TH01", "certificat"):
        assert field not in everything
    assert not any("record" in r or "record" in r["info"] for r in found)
    [sample] = results(ask(member, "biosamples", "Orphanet:399", granularity="record"))
    assert sample["biosampleStatus"]["id"] == "EFO:0009655"  # affected
    assert sample["info"]["recordUrl"].endswith("/records/berlin:cell_line:UKKi011-A")


def test_single_entries_by_id(anonymous, member):
    uid = "berlin:cell_line:BIONi010-A"
    counted = validate(anonymous.get(f"/api/beacon/biosamples/{uid}").json, "count")
    assert counted["responseSummary"] == {"exists": True, "numTotalResults": 1}
    one = member.get(f"/api/beacon/biosamples/{uid}?requestedGranularity=record").json
    [sample] = results(validate(one, "record", "biosample"))
    assert sample["id"] == uid and sample["info"]["dataUse"]["permission"]["id"] == "DUO:0000006"
    donor = member.get("/api/beacon/individuals/donor:hpscreg:wae009-a?requestedGranularity=record")
    assert results(validate(donor.json, "record", "individual"))[0]["sex"]["label"] == "female"
    theirs = member.post(
        "/api/beacon/individuals/donor:hpscreg:wae009-a/biosamples",
        json={"meta": {"apiVersion": "v2.0.0"}, "query": {"requestedGranularity": "record"}},
    )
    assert {r["id"] for r in results(validate(theirs.json, "record", "biosample"))} == {
        "berlin:cell_line:WAe009-A",
        "london:cell_line:H9-LON",
    }
    for path in ("/api/beacon/biosamples/berlin:cell_line:nope", "/api/beacon/individuals/H9"):
        missing = validate(
            member.get(f"{path}?requestedGranularity=record").json, "record", "biosample"
        )
        assert missing["responseSummary"] == {"exists": False, "numTotalResults": 0}
        assert missing["response"]["resultSets"] == []  # includeResultsetResponses HIT


def test_record_pages_walk_every_result_once_in_a_stable_order(member):
    seen = []
    for skip in (0, 1):
        page = ask(
            member,
            "biosamples",
            "CL:0000034",
            granularity="record",
            pagination={"skip": skip, "limit": 4},
        )
        validate(page, "record", "biosample")
        assert page["responseSummary"]["numTotalResults"] == ALL_LINES
        seen += [r["id"] for r in results(page)]
    assert seen == sorted(seen) and len(set(seen)) == ALL_LINES
    donors = ask(
        member,
        "individuals",
        "CL:0000034",
        granularity="record",
        pagination={"skip": 1, "limit": 3},
    )
    validate(donors, "record", "individual")
    assert len(results(donors)) == ALL_DONORS - 3


def test_an_unfiltered_record_query_over_the_limit_is_refused(engine_url, prefix, tmp_path):
    app = portal(engine_url, prefix, tmp_path, BEACON_UNFILTERED_RECORD_MAX=ALL_DONORS)
    client = signed_in(app, "researcher")
    refused = client.post(
        "/api/beacon/biosamples",
        json={"meta": {"apiVersion": "v2.0.0"}, "query": {"requestedGranularity": "record"}},
    )
    assert refused.status_code == 400
    error = validate(refused.json, "error")["error"]
    assert f"would match {ALL_LINES} biosamples" in error["errorMessage"]
    # As many donors as allowed, or with a filter, or as a count: answered.
    assert len(results(ask(client, "individuals", granularity="record"))) == ALL_DONORS
    assert len(results(ask(client, "biosamples", "CL:0000034", granularity="record"))) == 6
    assert ask(client, "biosamples")["responseSummary"]["numTotalResults"] == ALL_LINES


def test_a_signed_in_user_who_is_no_alliance_member_gets_counts(app):
    client = signed_in(app, "alliance-service")
    answer = ask(client, "biosamples", "CL:0002322", granularity="record")
    assert validate(answer, "count")["meta"]["returnedGranularity"] == "count"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"meta": {"apiVersion": "v2.0.0"}, "query": {"filters": [{"id": "HP:0002664"}]}},
            "unknown filter",
        ),
        ({"meta": {"apiVersion": "v1.1"}}, "speaks Beacon v2"),
        (
            {"meta": {}, "query": {"filters": [{"id": "age", "operator": ">", "value": "old"}]}},
            "whole number",
        ),
        (
            {
                "meta": {},
                "query": {"pagination": {"skip": 100, "limit": 100}},
                "requestedGranularity": "record",
            },
            "unknown key",
        ),
    ],
)
def test_bad_queries_are_beacon_errors_on_the_real_app(member, payload, message):
    resp = member.post("/api/beacon/individuals", json=payload)
    assert resp.status_code == 400
    assert message in validate(resp.json, "error")["error"]["errorMessage"]


def test_paging_past_the_engine_s_window_is_refused(member):
    resp = member.post(
        "/api/beacon/biosamples",
        json={
            "meta": {"apiVersion": "v2.0.0"},
            "query": {
                "requestedGranularity": "record",
                "filters": [{"id": "CL:0000034"}],
                "pagination": {"skip": 100, "limit": 100},
            },
        },
    )
    assert resp.status_code == 400
    assert "first 10000" in validate(resp.json, "error")["error"]["errorMessage"]
