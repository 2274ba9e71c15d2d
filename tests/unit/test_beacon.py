"""The Beacon v2 face of the portal without an engine: its engine requests (pure builders),
filters, granularity, records and every response type, validated against the published
Beacon v2 JSON schemas in the shared data folder (framework and default model), whose $refs
are resolved locally: nothing is fetched.

``validate`` and ``validate_request`` are imported by tests/integration/test_beacon.py too.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012
from werkzeug.datastructures import MultiDict

from federation.web.login import SESSION_ID, User, open_session
from portal.app import create_app
from portal.beacon import filters, records
from portal.beacon.filters import FilterError, filtering_terms, parse_filters
from portal.beacon.granularity import allowed_level, anonymous_level, returned_level
from portal.beacon.query import QueryError, from_args, from_body
from portal.service import SEARCH_KEY
from search.facets import Selection
from search.indexer.documents import to_document
from search.queries import (
    BEACON_SOURCE,
    BeaconTerm,
    build_beacon_count,
    build_beacon_filtering_values,
    build_beacon_records,
    read_beacon_count,
    read_beacon_filtering_values,
    read_beacon_records,
)
from tests.builders.alliance import berlin, london
from tests.builders.data_files import SHARED_DATA, shared

TODAY = dt.date(2026, 11, 26)
MODEL = "models/json/beacon-v2-default-model"
RESPONSES = "framework/json/responses"


# -- the published schemas, resolved locally ---------------------------------------------------
@functools.cache
def _resource(path: Path) -> Resource:
    return Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT202012)


def _retrieve(uri: str) -> Resource:
    """Any schema URI (a file of the shared folder, or where the spec publishes it, as the
    schemas' own absolute $refs say) read from the shared folder: framework/json/… or
    models/json/…"""
    path = urlsplit(uri).path
    root = SHARED_DATA / "beacon-v2-schemas"
    for marker in ("framework/json/", "models/json/"):
        if marker in path:
            local = root / marker / path.split(marker, 1)[1]
            if local.is_file():
                return _resource(local)
            # The model's schemas refer to ../common/info.json, which the model does not
            # have (a dangling $ref upstream): it is the framework's common info.json.
            if marker == "models/json/" and local.parent.name == "common":
                fallback = root / "framework/json/common" / local.name
                if fallback.is_file():
                    return _resource(fallback)
    raise NoSuchResource(ref=uri)


REGISTRY: Registry = Registry(retrieve=_retrieve)


def schema_dir() -> Path:
    """The schemas' folder (the test is skipped without the shared data)."""
    return shared("beacon-v2-schemas")


def errors(doc: Any, schema: str) -> list[str]:
    """What is wrong with ``doc`` under the schema file ``schema`` (relative to the folder)."""
    validator = Draft202012Validator(
        {"$ref": (schema_dir() / schema).as_uri()},
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


RESPONSE_SCHEMAS = {
    "info": f"{RESPONSES}/beaconInfoResponse.json",
    "service-info": f"{RESPONSES}/ga4gh-service-info-1-0-0-schema.json",
    "configuration": f"{RESPONSES}/beaconConfigurationResponse.json",
    "map": f"{RESPONSES}/beaconMapResponse.json",
    "entry_types": f"{RESPONSES}/beaconEntryTypesResponse.json",
    "filtering_terms": f"{RESPONSES}/beaconFilteringTermsResponse.json",
    "boolean": f"{RESPONSES}/beaconBooleanResponse.json",
    "count": f"{RESPONSES}/beaconCountResponse.json",
    "record": f"{RESPONSES}/beaconResultsetsResponse.json",
    "error": f"{RESPONSES}/beaconErrorResponse.json",
}
RECORD_SCHEMAS = {
    "biosample": f"{MODEL}/biosamples/defaultSchema.json",
    "individual": f"{MODEL}/individuals/defaultSchema.json",
}


def validate(doc: dict[str, Any], kind: str, entry: str | None = None) -> dict[str, Any]:
    """Check a response against its Beacon schema (``kind``: a key of RESPONSE_SCHEMAS; a
    query answer's kind is its returned granularity) and each record in it against the
    default model's schema of ``entry``; returns ``doc``."""
    problems = errors(doc, RESPONSE_SCHEMAS[kind])
    if kind in ("boolean", "count", "record"):
        assert doc["meta"]["returnedGranularity"] == kind
    if kind == "record":
        assert entry, "say which entry type the records are"
        for result_set in doc["response"]["resultSets"]:
            for record in result_set["results"]:
                problems += errors(record, RECORD_SCHEMAS[entry])
    if kind == "boolean":
        assert "numTotalResults" not in doc["responseSummary"]
    assert not problems, problems
    return doc


def validate_request(body: dict[str, Any]) -> dict[str, Any]:
    problems = errors(body, "framework/json/requests/beaconRequestBody.json")
    assert not problems, problems
    return body


# -- the validator itself: examples pass, broken documents fail --------------------------------
@pytest.mark.parametrize(
    ("example", "schema"),
    [
        ("biosample-MID-example.json", RECORD_SCHEMAS["biosample"]),
        ("biosample-MIN-example.json", RECORD_SCHEMAS["biosample"]),
        ("individual-MIN-example.json", RECORD_SCHEMAS["individual"]),
        ("dataset-Max-example.json", f"{MODEL}/datasets/defaultSchema.json"),
        ("cohorts-MAX-example.json", f"{MODEL}/cohorts/defaultSchema.json"),
    ],
)
def test_the_published_examples_pass_the_locally_resolved_schemas(example, schema):
    doc = json.loads(shared("beacon-v2-examples", example).read_text())
    assert errors(doc, schema) == []


def test_the_validator_is_strict_through_refs_across_framework_and_model():
    bad_sex = {"id": "P1", "sex": {"id": "female"}}  # not a CURIE: the framework's pattern
    assert any("does not match" in e for e in errors(bad_sex, RECORD_SCHEMAS["individual"]))
    no_origin = {"id": "S1", "biosampleStatus": {"id": "EFO:0009654"}}
    assert errors(no_origin, RECORD_SCHEMAS["biosample"]) == [
        ": 'sampleOriginType' is a required property"
    ]
    # The spec's own MID individual example uses shapes its schema does not allow.
    doc = json.loads(shared("beacon-v2-examples", "individual-MID-example.json").read_text())
    assert errors(doc, RECORD_SCHEMAS["individual"])
    # An error answer without its meta is no Beacon error.
    assert errors({"error": {"errorCode": 400}}, RESPONSE_SCHEMAS["error"])


# -- builders (search/queries.py) --------------------------------------------------------------
FEMALE = BeaconTerm("sex", Selection(("FEMALE",)))
NOT_RECALLED = BeaconTerm("availability", Selection(("recalled",)), negate=True)


def test_beacon_queries_and_every_filter_over_cell_lines_only():
    body = build_beacon_count("biosample", [FEMALE, NOT_RECALLED], TODAY)
    assert body == {
        "size": 0,
        "track_total_hits": True,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"kind": "cell_line"}},
                    {"terms": {"donor_sex": ["FEMALE"]}},
                    {"bool": {"must_not": [{"terms": {"availability": ["recalled"]}}]}},
                ]
            }
        },
    }
    assert read_beacon_count("biosample", {"hits": {"total": {"value": 7}}}) == 7


def test_individuals_are_counted_as_distinct_lines():
    body = build_beacon_count("individual", [], TODAY)
    assert body["aggs"] == {
        "individuals": {"cardinality": {"field": "line_key", "precision_threshold": 10_000}}
    }
    assert body["size"] == 0 and body["track_total_hits"] is False
    assert read_beacon_count("individual", {"aggregations": {"individuals": {"value": 3}}}) == 3
    assert read_beacon_count("individual", {}) == 0  # no index yet


def test_field_terms_ask_for_exact_values_and_an_empty_one_matches_nothing():
    exact = build_beacon_count("biosample", [BeaconTerm("disease_code", Selection(("X",)))], TODAY)
    assert exact["query"]["bool"]["filter"][1] == {"terms": {"disease_codes": ["X"]}}
    none = build_beacon_count("biosample", [BeaconTerm("uid", Selection(()))], TODAY)
    assert none["query"]["bool"]["filter"][1] == {"terms": {"uid": []}}
    # Facet terms are the facets' own clauses: a date-bound flag is judged on today's date.
    accredited = build_beacon_count("biosample", [BeaconTerm("accredited", Selection())], TODAY)
    assert accredited["query"]["bool"]["filter"][1] == {
        "range": {"iso20387_valid_until": {"gte": "2026-11-26"}}
    }


def test_biosample_pages_read_only_the_public_fields_in_a_stable_order():
    body = build_beacon_records("biosample", [FEMALE], TODAY, 20, 10)
    assert (body["from"], body["size"], body["sort"]) == (20, 10, [{"uid": "asc"}])
    assert body["_source"] == BEACON_SOURCE and body["track_total_hits"] is True
    assert not any("ethnicity" in f or "contact" in f or f == "record" for f in BEACON_SOURCE)
    resp = {"hits": {"total": {"value": 21}, "hits": [{"_source": {"uid": "a"}}]}}
    assert read_beacon_records("biosample", resp) == (21, [[{"uid": "a"}]])


def test_individual_pages_collapse_on_the_line_with_its_records():
    body = build_beacon_records("individual", [], TODAY, 0, 5)
    assert body["collapse"]["field"] == "line_key"
    inner = body["collapse"]["inner_hits"]
    assert inner["_source"] == BEACON_SOURCE and inner["sort"] == [{"uid": "asc"}]
    assert body["sort"] == [{"line_key": "asc"}] and body["aggs"]["individuals"]
    resp = {
        "aggregations": {"individuals": {"value": 1}},
        "hits": {
            "hits": [
                {
                    "_source": {"line_key": "k"},
                    "inner_hits": {
                        "records": {
                            "hits": {"hits": [{"_source": {"uid": "a"}}, {"_source": {"uid": "b"}}]}
                        }
                    },
                }
            ]
        },
    }
    assert read_beacon_records("individual", resp) == (1, [[{"uid": "a"}, {"uid": "b"}]])


def test_filtering_values_come_from_the_open_facets_fields():
    body = build_beacon_filtering_values()
    assert body["query"] == {"term": {"kind": "cell_line"}} and body["size"] == 0
    fields = {name: agg["terms"]["field"] for name, agg in body["aggs"].items()}
    assert fields == {
        "disease": "disease_nodes",
        "gene": "modified_genes",
        "tissue": "tissue_source",
        "country": "country",
        "biobank": "biobank_name",
        "network": "networks",
    }
    resp = {"aggregations": {"country": {"buckets": [{"key": "DE", "doc_count": 3}]}}}
    assert read_beacon_filtering_values(resp)["country"] == ["DE"]


# -- filters -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("item", "term"),
    [
        ("CL:0000034", BeaconTerm("cell_type", Selection(("stem",)))),
        ("CL:0002248", BeaconTerm("cell_type", Selection(("pluripotent",)))),
        (
            {"id": "CL:0002248", "includeDescendantTerms": False},
            BeaconTerm("cell_type_code", Selection(("hiPSC",))),
        ),
        ("CL:0002322", BeaconTerm("cell_type", Selection(("hESC",)))),
        ("ICD10:G20", BeaconTerm("disease", Selection(("ICD10:G20",)))),
        ("ICD10:VI", BeaconTerm("disease", Selection(("ICD10-VI",)))),
        (
            {"id": "ICD10:VI", "includeDescendantTerms": False},
            BeaconTerm("disease_code", Selection(("ICD10:VI",))),
        ),
        ("Orphanet:399", BeaconTerm("disease", Selection(("ORPHA:399",)))),
        ("ORPHA:399", BeaconTerm("disease", Selection(("ORPHA:399",)))),
        ("MONDO:0005180", BeaconTerm("disease", Selection(("MONDO:0005180",)))),
        ("NCIT:C16576", BeaconTerm("sex", Selection(("FEMALE",)))),
        ("NCIT:C20197", BeaconTerm("sex", Selection(("MALE",)))),
        ("DUO:0000042", BeaconTerm("duo", Selection(("DUO:0000042",)))),
        ("DUO:0000046", BeaconTerm("duo_modifier", Selection(("DUO:0000046",)))),
        (
            {"id": "age", "operator": ">=", "value": "40"},
            BeaconTerm("age", Selection(low=40, high=None)),
        ),
        (
            {"id": "age", "operator": "<", "value": "P40Y"},
            BeaconTerm("age", Selection(low=None, high=39)),
        ),
        (
            {"id": "age", "operator": "=", "value": 52},
            BeaconTerm("age", Selection(low=52, high=52)),
        ),
        (
            {"id": "availability", "operator": "!", "value": "recalled"},
            BeaconTerm("availability", Selection(("recalled",)), negate=True),
        ),
        (
            {"id": "cell_type", "operator": "=", "value": "hiPSC"},
            BeaconTerm("cell_type", Selection(("hiPSC",))),
        ),
        (
            {"id": "modified", "operator": "=", "value": "true"},
            BeaconTerm("modified", Selection(("true",))),
        ),
        (
            {"id": "vials", "operator": ">", "value": "9"},
            BeaconTerm("vials", Selection(low=10, high=None)),
        ),
    ],
)
def test_each_filter_is_read_as_the_facet_selection_it_means(item, term):
    assert parse_filters([item]) == ([term], [item if isinstance(item, str) else _said(item)])


def _said(item: dict[str, Any]) -> str:
    if "operator" in item:
        return f"{item['id']}{item['operator']}{item['value']}"
    return item["id"]


def test_get_filters_write_alphanumeric_ones_as_id_operator_value():
    terms, read = parse_filters(["NCIT:C16576", "age>=40", "country=DE"], from_get=True)
    assert terms == [
        BeaconTerm("sex", Selection(("FEMALE",))),
        BeaconTerm("age", Selection(low=40, high=None)),
        BeaconTerm("country", Selection(("DE",))),
    ]
    assert read == ["NCIT:C16576", "age>=40", "country=DE"]
    with pytest.raises(FilterError, match="unknown filter 'age>=40'"):
        parse_filters(["age>=40"])  # in a POST body, a string is an ontology id


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("HP:0002664", "unknown filter 'HP:0002664'"),
        ("CL:0000236", "unknown filter 'CL:0000236'"),  # a CL term no line type maps to
        ("CL:0000000", "unknown filter"),  # "cell": every line
        ("NCIT:C3262", "unknown filter"),
        ("DUO:0000001", "unknown filter"),
        ("ICD10:G20-G26", "unknown filter"),  # blocks are not nodes of our hierarchy
        ("ICD10:XXX", "unknown filter"),
        ("ageOfOnset", "unknown filter"),
        ({"id": "age", "operator": "~", "value": "4"}, "operator must be one of"),
        ({"id": "age", "operator": ">", "value": "forty"}, "whole number"),
        ({"id": "age", "operator": ">", "value": "151"}, "whole number"),
        ({"id": "availability", "operator": ">", "value": "x"}, "operators = and ! only"),
        ({"id": "availability", "operator": "=", "value": "sold"}, "has no value 'sold'"),
        ({"id": "country", "operator": "=", "value": "Germany"}, "not a valid 'country'"),
        ({"id": "biobank", "operator": "=", "value": "Berlin%"}, "wildcards"),
        ({"id": "sex", "operator": "=", "value": "FEMALE"}, "unknown filter 'sex'"),
        ({"id": "NCIT:C16576", "scope": "runs"}, "scope must be"),
        ({"id": "NCIT:C16576", "similarity": "fuzzy"}, "similarity must be"),
        ({"id": "NCIT:C16576", "includeDescendantTerms": "yes"}, "true or false"),
        ({"id": "NCIT:C16576", "negated": True}, "unknown key 'negated'"),
        ({"operator": "=", "value": "x"}, "needs an 'id'"),
        ({"id": "age", "operator": ">"}, "needs a 'value'"),
        ({"id": ["NCIT:C16576"]}, "must be a string"),
        (42, "an id or an object"),
        ("NCIT:C16576\x00", "control characters"),
    ],
)
def test_unknown_and_malformed_filters_are_refused_with_a_reason(item, message):
    with pytest.raises(FilterError, match=re.escape(message)):
        parse_filters([item])


def test_filters_must_be_a_short_list():
    with pytest.raises(FilterError, match="must be a list"):
        parse_filters("NCIT:C16576")
    with pytest.raises(FilterError, match="at most 50"):
        parse_filters(["NCIT:C16576"] * 51)


def test_cell_ontology_labels_are_the_ontology_s_own():
    names = {}
    for stanza in (
        shared("cell-ontology-slim", "general_cell_types_upper_slim.obo").read_text().split("\n\n")
    ):
        ident = re.search(r"^id: (CL:\d{7})$", stanza, re.M)
        name = re.search(r"^name: (.+)$", stanza, re.M)
        if ident and name:
            names[ident.group(1)] = name.group(1)
    checked = {cl: label for cl, label in filters.CL_LABELS.items() if cl in names}
    assert len(checked) >= 6
    assert all(names[cl] == label for cl, label in checked.items()), checked
    # Every CL term offered labels a node of the cell-type tree.
    assert set(filters.cell_type_terms()) <= set(filters.CL_LABELS)


def test_filtering_terms_carry_curies_for_cell_types_diseases_sex_and_duo():
    values = {"disease": ["ICD10-VI", "ICD10:G20", "ORPHA", "ORPHA:399"], "country": ["DE"]}
    terms = filtering_terms(values, {"ICD10:G20": "Parkinson disease", "ORPHA:399": "Huntington"})
    by_id = {t["id"]: t for t in terms}
    assert by_id["CL:0002248"]["label"] == "pluripotent stem cell"
    assert by_id["ICD10:G20"]["label"] == "Parkinson disease"
    assert by_id["ICD10:VI"]["label"].startswith("Diseases of the nervous system")
    assert by_id["Orphanet:399"]["label"] == "Huntington"
    assert "ORPHA" not in by_id  # a root, not a term
    assert by_id["NCIT:C16576"]["label"] == "female"
    assert by_id["DUO:0000042"]["label"] == "general research use"
    assert by_id["country"] == {
        "type": "alphanumeric",
        "id": "country",
        "label": "Country",
        "scopes": ["biosample", "individual"],
        "values": ["DE"],
    }
    assert "values" not in by_id["gene"]  # nothing held: no empty list (minItems 1)
    assert by_id["availability"]["values"][0] == "available"
    assert "hiPSC" in by_id["cell_type"]["values"]
    assert by_id["age"]["label"] == "Donor age (years, 0 to 150)"
    assert {t["type"] for t in terms} == {"ontology", "alphanumeric"}
    assert not {"sex", "disease", "duo", "collection"} & set(by_id)
    # Every ontology term is one this beacon can filter on.
    for term in terms:
        if term["type"] == "ontology":
            parse_filters([term["id"]])
        else:
            for value in term.get("values", ["1"]):
                parse_filters([{"id": term["id"], "operator": "=", "value": value}])


# -- requests ----------------------------------------------------------------------------------
def test_a_post_body_is_read_with_its_filters_granularity_and_page():
    body = validate_request(
        {
            "meta": {"apiVersion": "v2.0"},
            "query": {
                "filters": [{"id": "NCIT:C16576"}, {"id": "age", "operator": ">", "value": "40"}],
                "requestedGranularity": "record",
                "pagination": {"skip": 2, "limit": 5},
                "includeResultsetResponses": "ALL",
                "testMode": True,
            },
        }
    )
    query = from_body(body)
    assert query.granularity == "record" and (query.skip, query.limit) == (2, 5)
    assert query.page(100) == (10, 5) and query.page(3) == (6, 3)
    assert query.summary("count") == {
        "apiVersion": "v2.0",
        "requestedSchemas": [],
        "pagination": {"skip": 2, "limit": 5},
        "requestedGranularity": "record",
        "includeResultsetResponses": "ALL",
        "filters": ["NCIT:C16576", "age>40"],
        "testMode": True,
    }
    assert from_body(None).summary("count")["requestedGranularity"] == "count"
    assert from_body(
        {"meta": {"apiVersion": "v2.0.0"}, "query": {"pagination": {"limit": 0}}}
    ).page(100) == (0, 100)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be an object"),
        ({"filters": []}, "unknown key 'filters'"),
        ({"meta": {"apiVersion": "v1.0"}}, "speaks Beacon v2"),
        ({"query": {"filter": ["NCIT:C16576"]}}, "unknown key 'filter' in 'query'"),
        ({"query": {"requestParameters": {"start": [1]}}}, "no request parameters"),
        ({"query": {"requestedGranularity": "all"}}, "must be one of boolean, count, record"),
        ({"query": {"pagination": {"skip": -1}}}, "whole number"),
        ({"query": {"pagination": {"nextPage": "abc"}}}, "unknown key 'nextPage'"),
        ({"query": {"includeResultsetResponses": "SOME"}}, "must be one of ALL"),
        ({"query": {"testMode": "maybe"}}, "true or false"),
        ({"query": {"filters": [{"id": "HP:0002664"}]}}, "unknown filter"),
        ({"meta": {"requestedSchemas": "x"}}, "list of objects"),
    ],
)
def test_malformed_post_bodies_are_refused(body, message):
    with pytest.raises(QueryError, match=re.escape(message)):
        from_body(body)


def test_get_parameters_are_read_strictly():
    query = from_args(
        MultiDict([("filters", "NCIT:C16576,age>=40"), ("filters", "country=DE"), ("limit", "3")])
    )
    assert query.filters == ["NCIT:C16576", "age>=40", "country=DE"] and query.limit == 3
    with pytest.raises(QueryError, match="unknown parameter 'filter'"):
        from_args(MultiDict([("filter", "NCIT:C16576")]))
    with pytest.raises(QueryError, match="more than once"):
        from_args(MultiDict([("limit", "3"), ("limit", "4")]))


# -- granularity -------------------------------------------------------------------------------
def user(*roles: str) -> User:
    return User(
        "https://idp.example/realms/a", "alice", "Alice", None, frozenset(roles), frozenset()
    )


CONFIG = {
    "BEACON_GRANULARITY_ANONYMOUS": "count",
    "BEACON_GRANULARITY_MEMBERS": "record",
    "BEACON_MEMBER_ROLES": ["researcher", "biobank-admin", "alliance-admin"],
}


def test_anonymous_callers_never_get_records_whatever_the_setting():
    assert allowed_level(CONFIG, None) == "count"
    assert allowed_level({**CONFIG, "BEACON_GRANULARITY_ANONYMOUS": "record"}, None) == "count"
    assert allowed_level({**CONFIG, "BEACON_GRANULARITY_ANONYMOUS": "boolean"}, None) == "boolean"
    assert anonymous_level({**CONFIG, "BEACON_GRANULARITY_ANONYMOUS": "nonsense"}) == "count"


def test_alliance_members_get_records_and_other_signed_in_users_do_not():
    assert allowed_level(CONFIG, user("researcher")) == "record"
    assert allowed_level(CONFIG, user("alliance-service")) == "count"  # a machine role
    assert allowed_level({**CONFIG, "BEACON_MEMBER_ROLES": []}, user()) == "record"
    # Members never get less than anyone.
    lowered = {**CONFIG, "BEACON_GRANULARITY_MEMBERS": "boolean"}
    assert allowed_level(lowered, user("researcher")) == "count"


def test_the_answer_is_the_lower_of_requested_and_allowed():
    assert returned_level("record", "count", "count") == "count"
    assert returned_level("boolean", "record", "count") == "boolean"
    assert returned_level(None, "record", "count") == "count"  # the beacon's default
    assert returned_level("record", "record", "count") == "record"


# -- records -----------------------------------------------------------------------------------
def documents() -> list[dict[str, Any]]:
    """Index documents of the discovery alliance, made by the indexer's own code; one donor
    with an ethnicity and a disease she is said not to be affected by."""
    docs = []
    for node, catalogue in (("berlin", berlin()), ("london", london())):
        catalogue = copy.deepcopy(catalogue)
        biobank = catalogue["biobanks"][0]
        collections = {c["id"]: c for c in catalogue["collections"]}
        for line in catalogue["cell_lines"]:
            if line["id"] == "UKKi011-A":
                line["donor"].update(ethnicity="Northern European", affected=False)
            docs.append(
                to_document(
                    node,
                    "cell_line",
                    line,
                    seq=1,
                    content_hash="h",
                    schema_version="2",
                    modified="2025-01-01T00:00:00+00:00",
                    biobank=biobank,
                    collection=collections.get(line.get("collection")),
                )
            )
    return docs


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as the engine returns it under ``_source: BEACON_SOURCE``."""
    out: dict[str, Any] = {}
    for path in BEACON_SOURCE:
        head, *rest = path.split(".")
        if head not in doc:
            continue
        if not rest:
            out[head] = doc[head]
            continue
        value: Any = doc[head]
        for part in rest:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            out.setdefault(head, {}).setdefault(rest[0], {})[rest[1]] = value
    return out


def by_uid(uid: str) -> dict[str, Any]:
    return public(next(d for d in documents() if d["uid"] == uid))


def test_a_biosample_from_a_cell_line_record_fits_the_model():
    sample = records.biosample(by_uid("berlin:cell_line:BIONi010-A"), lambda uid: f"/r/{uid}")
    assert errors(sample, RECORD_SCHEMAS["biosample"]) == []
    assert sample["id"] == "berlin:cell_line:BIONi010-A"
    assert sample["individualId"] == "donor:hpscreg:bioni010-a"
    assert sample["biosampleStatus"]["id"] == "EFO:0009655"  # a Parkinson patient's line
    assert sample["sampleOriginDetail"] == {"id": "CL:0002248", "label": "pluripotent stem cell"}
    info = sample["info"]
    assert info["dataUse"]["permission"] == {
        "id": "DUO:0000006",
        "label": "health or medical or biomedical research",
    }
    assert info["biobank"] == {
        "id": "berlin:biobank:bb-berlin",
        "name": "Berlin iPSC Bank",
        "country": "DE",
    }
    assert info["recordUrl"] == "/r/berlin:cell_line:BIONi010-A" and info["vialsAvailable"] == 15
    unaffected = records.biosample(by_uid("berlin:cell_line:UKKi011-A"), str)
    assert unaffected["biosampleStatus"]["id"] == "EFO:0009654"
    assert "Northern European" not in json.dumps(unaffected)


def test_an_individual_is_a_line_s_donor_across_the_biobanks_that_hold_it():
    h9 = [by_uid("berlin:cell_line:WAe009-A"), by_uid("london:cell_line:H9-LON")]
    donor = records.individual(h9)
    assert errors(donor, RECORD_SCHEMAS["individual"]) == []
    assert donor["id"] == "donor:hpscreg:wae009-a"
    assert donor["sex"] == {"id": "NCIT:C16576", "label": "female"}
    assert donor["info"]["biosampleIds"] == ["berlin:cell_line:WAe009-A", "london:cell_line:H9-LON"]
    assert donor["info"]["ageRange"] == "EMBRYO" and "ageRangeDuration" not in donor["info"]
    patient = records.individual([by_uid("berlin:cell_line:BIONi010-A")])
    assert patient["diseases"] == [
        {"diseaseCode": {"id": "ICD10:G20", "label": "Parkinson disease"}}
    ]
    assert patient["info"]["ageRangeDuration"] == {
        "start": {"iso8601duration": "P60Y"},
        "end": {"iso8601duration": "P64Y"},
    }
    huntington = records.individual([by_uid("berlin:cell_line:UKKi011-A")])
    assert huntington["diseases"][0]["diseaseCode"]["id"] == "Orphanet:399"
    assert errors(huntington, RECORD_SCHEMAS["individual"]) == []
    # Two biobanks that disagree on the donor's sex: unknown, not a guess.
    other = dict(h9[1], donor_sex="MALE")
    assert records.individual([h9[0], other])["sex"]["id"] == "NCIT:C17998"


def test_individual_ids_name_line_keys_only():
    assert records.line_key_of("donor:hpscreg:wae009-a") == "hpscreg:wae009-a"
    assert (
        records.line_key_of("donor:uid:london:cell_line:MSC-LON-1")
        == "uid:london:cell_line:MSC-LON-1"
    )
    for ident in ("hpscreg:wae009-a", "donor:", "donor:email:x", "donor:uid:" + "x" * 400):
        assert records.line_key_of(ident) is None


# -- the routes, on an engine that answers from the documents above ----------------------------
class FakeEngine:
    """Answers each Beacon request shape with the public part of ``documents()`` (it does not
    filter: the integration tests check what filters select) and keeps the bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.docs = [public(d) for d in documents()]

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        if "post_filter" in body:  # the portal's labels
            return {
                "aggregations": {"diseases": {"buckets": [{"key": "ICD10:G20|Parkinson disease"}]}}
            }
        if "disease" in body.get("aggs", {}):
            return {
                "aggregations": {
                    "disease": {"buckets": [{"key": "ICD10-VI"}, {"key": "ICD10:G20"}]},
                    "country": {"buckets": [{"key": "DE"}, {"key": "GB"}]},
                }
            }
        keys = sorted({d["line_key"] for d in self.docs})
        out: dict[str, Any] = {
            "hits": {"total": {"value": len(self.docs)}, "hits": []},
            "aggregations": {"individuals": {"value": len(keys)}},
        }
        start, size = body.get("from", 0), body.get("size", 0)
        if "collapse" in body:
            for key in keys[start : start + size]:
                inner = [{"_source": d} for d in self.docs if d["line_key"] == key]
                out["hits"]["hits"].append(
                    {
                        "_source": {"line_key": key},
                        "inner_hits": {"records": {"hits": {"hits": inner}}},
                    }
                )
        else:
            out["hits"]["hits"] = [{"_source": d} for d in self.docs[start : start + size]]
        return out


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = create_app(
        {
            "SEARCH_URL": "http://127.0.0.1:9",
            "SEARCH_TIMEOUT": 1,
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "RATE_LIMIT_ENABLED": False,
        }
    )
    fake = FakeEngine()
    monkeypatch.setattr(app.extensions[SEARCH_KEY].engine, "search", fake.search)
    app.extensions["test.fake_engine"] = fake
    return app


def sign_in(client, *roles: str) -> None:
    with client.session_transaction() as session:
        session[SESSION_ID] = open_session(client.application, user(*roles))


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/api/beacon/", "info"),
        ("/api/beacon/info", "info"),
        ("/api/beacon/service-info", "service-info"),
        ("/api/beacon/configuration", "configuration"),
        ("/api/beacon/map", "map"),
        ("/api/beacon/entry_types", "entry_types"),
        ("/api/beacon/filtering_terms", "filtering_terms"),
        ("/api/beacon/biosamples/filtering_terms", "filtering_terms"),
        ("/api/beacon/individuals/filtering_terms?skip=1&limit=2", "filtering_terms"),
    ],
)
def test_framework_responses_fit_the_framework_schemas(app, path, kind):
    resp = app.test_client().get(path)
    assert resp.status_code == 200
    validate(resp.json, kind)


def test_the_configuration_declares_the_granularity_anyone_gets_by_default(app):
    config = app.test_client().get("/api/beacon/configuration").json["response"]
    assert config["securityAttributes"] == {
        "defaultGranularity": "count",
        "securityLevels": ["PUBLIC", "REGISTERED"],
    }
    assert set(config["entryTypes"]) == {"biosample", "individual"}
    map_ = app.test_client().get("/api/beacon/map").json["response"]["endpointSets"]
    assert map_["individual"]["singleEntryUrl"] == "http://localhost/api/beacon/individuals/{id}"


def test_an_anonymous_query_is_a_count_and_a_record_request_is_lowered_to_it(app):
    client = app.test_client()
    counted = validate(client.get("/api/beacon/biosamples?filters=NCIT:C16576").json, "count")
    assert counted["responseSummary"] == {"exists": True, "numTotalResults": 6}
    assert counted["meta"]["receivedRequestSummary"]["filters"] == ["NCIT:C16576"]
    asked = client.post(
        "/api/beacon/individuals",
        json={"meta": {"apiVersion": "v2.0.0"}, "query": {"requestedGranularity": "record"}},
    )
    answer = validate(asked.json, "count")
    assert answer["responseSummary"]["numTotalResults"] == 5
    assert "sign in" in answer["info"]["messages"][0]
    assert "results" not in json.dumps(answer)
    boolean = client.get("/api/beacon/individuals?requestedGranularity=boolean")
    assert validate(boolean.json, "boolean")["responseSummary"] == {"exists": True}
    # The engine was asked for counts only, never for records.
    fake = app.extensions["test.fake_engine"]
    assert all(body["size"] == 0 for body in fake.bodies)


def test_a_member_gets_records_that_fit_the_model(app):
    client = app.test_client()
    sign_in(client, "researcher")
    body = validate_request(
        {
            "meta": {"apiVersion": "v2.0.0"},
            "query": {"requestedGranularity": "record", "filters": [{"id": "NCIT:C16576"}]},
        }
    )
    samples = validate(client.post("/api/beacon/biosamples", json=body).json, "record", "biosample")
    [result_set] = samples["response"]["resultSets"]
    assert result_set["resultsCount"] == 6 and len(result_set["results"]) == 6
    donors = validate(
        client.post("/api/beacon/individuals", json=body).json, "record", "individual"
    )
    assert donors["responseSummary"]["numTotalResults"] == 5
    assert "Northern European" not in json.dumps(samples) + json.dumps(donors)
    one = client.get("/api/beacon/individuals/donor:hpscreg:wae009-a?requestedGranularity=record")
    validate(one.json, "record", "individual")
    # A machine account signed in is not an alliance member.
    other = app.test_client()
    sign_in(other, "alliance-service")
    assert other.post("/api/beacon/biosamples", json=body).json["meta"]["returnedGranularity"] == (
        "count"
    )


def test_an_unfiltered_record_query_over_the_limit_is_refused_and_pages_are_capped(app):
    app.config.update(BEACON_UNFILTERED_RECORD_MAX=3, BEACON_MAX_LIMIT=2)
    client = app.test_client()
    sign_in(client, "researcher")
    broad = client.get("/api/beacon/biosamples?requestedGranularity=record")
    assert broad.status_code == 400
    error = validate(broad.json, "error")["error"]
    assert error["errorCode"] == 400 and "add filters" in error["errorMessage"]
    paged = client.get(
        "/api/beacon/biosamples?requestedGranularity=record&filters=CL:0000034&limit=50"
    )
    [result_set] = validate(paged.json, "record", "biosample")["response"]["resultSets"]
    assert len(result_set["results"]) == 2 and result_set["info"]["pagination"]["limit"] == 2
    deep = client.get(
        "/api/beacon/biosamples?requestedGranularity=record&filters=CL:0000034&skip=5000"
    )
    assert deep.status_code == 400 and "first 10000" in deep.json["error"]["errorMessage"]
    # Counts need no filter.
    assert client.get("/api/beacon/biosamples").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "message"),
    [
        ("get", "/api/beacon/biosamples?filters=HP:0002664", None, 400, "unknown filter"),
        ("get", "/api/beacon/individuals?filter=NCIT:C16576", None, 400, "unknown parameter"),
        ("get", "/api/beacon/biosamples?requestedGranularity=all", None, 400, "must be one of"),
        ("post", "/api/beacon/biosamples", b"{not json", 400, "not JSON"),
        ("post", "/api/beacon/biosamples", {"query": {"filter": []}}, 400, "unknown key"),
        ("post", "/api/beacon/biosamples?limit=3", {}, 400, "in the body, not in the URL"),
        ("get", "/api/beacon/filtering_terms?q=x", None, 400, "unknown parameter"),
    ],
)
def test_bad_input_is_a_beacon_error_with_its_reason(app, method, path, payload, status, message):
    client = app.test_client()
    if isinstance(payload, bytes):
        resp = client.post(path, data=payload, content_type="application/json")
    elif payload is not None:
        resp = client.post(path, json=payload)
    else:
        resp = getattr(client, method)(path)
    assert resp.status_code == status
    error = validate(resp.json, "error")["error"]
    assert error["errorCode"] == status and message in error["errorMessage"]


def test_routing_errors_are_the_portal_s_json_api_errors(app):
    # No route, so no Beacon blueprint: the portal's error path answers (JSON under /api/).
    client = app.test_client()
    assert client.delete("/api/beacon/biosamples").json["error"] == "Method Not Allowed"
    assert client.get("/api/beacon/cohorts").json["error"] == "Not Found"


def test_the_rate_limit_is_a_beacon_error_with_retry_after(tmp_path):
    app = create_app(
        {
            "SEARCH_URL": "http://127.0.0.1:9",
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "RATE_LIMIT_API": "2/minute",
        }
    )
    client = app.test_client()
    for _ in range(2):
        assert client.get("/api/beacon/info").status_code == 200
    refused = client.get("/api/beacon/info")
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert validate(refused.json, "error")["error"]["errorCode"] == 429
    assert client.get("/api/beacon/map").status_code == 200  # each route on its own


def test_an_engine_that_is_down_is_a_beacon_error_503(tmp_path):
    app = create_app(
        {
            "SEARCH_URL": "http://127.0.0.1:9",
            "SEARCH_TIMEOUT": 1,
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        }
    )
    resp = app.test_client().get("/api/beacon/individuals")
    assert resp.status_code == 503
    assert validate(resp.json, "error")["error"]["errorCode"] == 503


def test_single_entries_that_are_not_ours_match_nothing(app):
    client = app.test_client()
    client.get("/api/beacon/individuals/not-a-donor")
    fake = app.extensions["test.fake_engine"]
    assert fake.bodies[-1]["query"]["bool"]["filter"][1] == {"terms": {"line_key": []}}
    client.get("/api/beacon/biosamples/berlin:cell_line:WAe009-A")
    assert fake.bodies[-1]["query"]["bool"]["filter"][1] == {
        "terms": {"uid": ["berlin:cell_line:WAe009-A"]}
    }


def test_every_beacon_route_is_in_the_openapi_document(app):
    from portal.openapi import spec

    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/beacon")
    }
    assert routes and routes <= set(spec()["paths"])
