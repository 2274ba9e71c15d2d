"""Query building is pure: check the engine request without an engine."""

import datetime as dt
import re
from dataclasses import replace

import pytest
from werkzeug.datastructures import MultiDict

from search.queries import (
    KNOWN_PARAMS,
    SEARCH_KINDS,
    InvalidQuery,
    build_biobank_line_count,
    build_collection_line_count,
    build_collections_of,
    build_export,
    build_identify,
    build_labels,
    build_search,
    parse_params,
    read_facets,
    read_identify,
    read_relax,
    read_suggestion,
    read_totals,
)

TODAY = dt.date(2026, 11, 26)


def params(*pairs, **kw):
    return parse_params(MultiDict(list(pairs) + list(kw.items())))


def selected_filters(bodies):
    """The facet filters the hits request applies (after the record-kind filter)."""
    kind, *rest = bodies.hits["query"]["bool"]["filter"]
    assert kind["term"]["kind"]
    return rest


def test_each_facet_counts_with_the_other_facets_selection_only():
    p = params(("country", "DE"), ("country", "GB"), ("cell_type", "hiPSC"))
    bodies = build_search(p, TODAY)
    body = bodies.counts
    by_cell_type = {"terms": {"cell_type_nodes": ["hiPSC"]}}
    by_country = {"terms": {"country": ["DE", "GB"]}}
    assert selected_filters(bodies) == [by_cell_type, by_country]
    assert body["aggs"]["matching"]["filter"] == {"bool": {"filter": [by_cell_type, by_country]}}
    assert body["aggs"]["country"]["filter"] == {"bool": {"filter": [by_cell_type]}}
    assert body["aggs"]["cell_type"]["filter"] == {"bool": {"filter": [by_country]}}
    assert body["aggs"]["sex"]["filter"]["bool"]["filter"] == [by_cell_type, by_country]


def test_and_facets_count_under_their_own_selection_but_relax_without_it():
    p = params(("qc", "mycoplasma_negative"), ("qc", "karyotype_normal"), ("country", "DE"))
    assert p.selections["qc"].op == "and"  # the QC facet defaults to "all of"
    body = build_search(p, TODAY).counts
    both = {
        "bool": {
            "filter": [
                {"term": {"qc_passed": "karyotype_normal"}},
                {"term": {"qc_passed": "mycoplasma_negative"}},
            ]
        }
    }
    qc = body["aggs"]["qc"]
    # The outer filter is "everything but this facet": its doc_count is the relax count.
    assert qc["filter"] == {"bool": {"filter": [{"terms": {"country": ["DE"]}}]}}
    assert qc["aggs"]["own"]["filter"] == both
    assert "values" in qc["aggs"]["own"]["aggs"]

    any_of = build_search(params(("qc", "sterile"), ("qc", "str_verified"), ("qc_op", "or")), TODAY)
    assert selected_filters(any_of) == [{"terms": {"qc_passed": ["sterile", "str_verified"]}}]


def test_single_valued_facets_take_no_operator():
    with pytest.raises(InvalidQuery, match="unknown parameter 'country_op'"):
        params(country="DE", country_op="and")


def test_a_hierarchy_node_matches_its_descendants_and_opens_its_branch():
    bodies = build_search(params(disease="ICD10:G20.1"), TODAY)
    body = bodies.counts
    assert selected_filters(bodies) == [{"terms": {"disease_nodes": ["ICD10:G20.1"]}}]
    include = body["aggs"]["disease"]["aggs"]["values"]["terms"]["include"].split("|")
    assert include == [
        "[^/]+",
        r"ICD10\-VI/[^/]+",
        r"ICD10\-VI\/ICD10\:G20/[^/]+",
        r"ICD10\-VI\/ICD10\:G20\/ICD10\:G20\.1/[^/]+",
    ]
    # The cell-type tree is small: every level is counted, no include needed.
    assert "include" not in body["aggs"]["cell_type"]["aggs"]["values"]["terms"]


def test_hierarchy_counts_read_as_a_tree_in_count_order():
    p = params(disease="ICD10-VI")
    agg = {
        "values": {
            "buckets": [
                {"key": "ICD10-VI", "doc_count": 5},
                {"key": "ORPHA", "doc_count": 7},
                {"key": "ICD10-VI/ICD10:G20", "doc_count": 4},
                {"key": "ICD10-VI/ICD10:G30", "doc_count": 1},
            ]
        }
    }
    [disease] = [
        f
        for f in read_facets({"disease": agg}, p, {"ICD10:G20": "Parkinson"})
        if f["name"] == "disease"
    ]
    shown = [(v["value"], v["depth"], v["count"], v["selected"]) for v in disease["values"]]
    assert shown == [
        ("ORPHA", 0, 7, False),
        ("ICD10-VI", 0, 5, True),
        ("ICD10:G20", 1, 4, False),
        ("ICD10:G30", 1, 1, False),
    ]
    labels = {v["value"]: v["label"] for v in disease["values"]}
    assert labels["ICD10:G20"] == "Parkinson"
    assert labels["ICD10-VI"].startswith("Diseases of the nervous system")


def test_ranges_overlap_the_donor_age_band_and_bound_vials():
    bodies = build_search(params(age_min="50", age_max="52", vials_min="10"), TODAY)
    body = bodies.counts
    age, vials = selected_filters(bodies)
    assert age == {
        "bool": {
            "filter": [
                {"range": {"donor_age_high": {"gte": 50}}},
                {"range": {"donor_age_low": {"lte": 52}}},
            ]
        }
    }
    assert vials == {"bool": {"filter": [{"range": {"vials_available": {"gte": 10}}}]}}
    bands = body["aggs"]["age"]["aggs"]["values"]["filters"]["filters"]
    assert list(bands) == ["0-17", "18-39", "40-59", "60-"]


def test_accreditation_is_judged_at_query_time():
    bodies = build_search(params(accredited="true"), TODAY)
    assert selected_filters(bodies) == [{"range": {"iso20387_valid_until": {"gte": "2026-11-26"}}}]


def test_cell_lines_collapse_to_one_hit_per_line_and_count_lines():
    counts, hits = build_search(params(country="DE"), TODAY)
    assert hits["collapse"] == {"field": "line_key"}
    matching = counts["aggs"]["matching"]
    assert matching["filter"] == {"bool": {"filter": [{"terms": {"country": ["DE"]}}]}}
    assert matching["aggs"]["lines"]["cardinality"]["field"] == "line_key"
    collections = build_search(params(kind="collection"), TODAY)
    assert (
        "collapse" not in collections.hits and "aggs" not in collections.counts["aggs"]["matching"]
    )
    assert read_totals({"matching": {"doc_count": 7, "lines": {"value": 5}}}) == (7, 5)
    assert read_totals({"matching": {"doc_count": 7}}) == (7, 7)


def test_counts_are_a_cacheable_request_apart_from_the_hits():
    counts, hits = build_search(params(q="H9", country="DE"), TODAY)
    # The engine's request cache takes size-0 requests only.
    assert counts["size"] == 0 and "highlight" not in counts and "aggs" not in hits
    # Highlights mark the words as typed (marking typo variants costs as much as the search).
    assert hits["highlight"]["highlight_query"] == {"match": {"all_text": {"query": "H9"}}}
    assert "highlight" not in build_search(params(country="DE"), TODAY).hits
    assert counts["query"]["bool"]["must"] == hits["query"]["bool"]["must"]


def text_of(p):
    return build_search(p, TODAY).hits["query"]["bool"]["must"][0]


def test_an_identifier_finds_its_line_exactly_then_its_relations_and_nothing_else():
    # Was: the identifier as loose text with typo tolerance ("a" matched almost everything).
    query = text_of(params(q="WAe009-A"))
    [found] = query["bool"]["must"]
    exact, derived, donor, *relations = found["bool"]["should"]
    # Then the lines that name it in their relations (search/relations.py).
    [related] = relations
    assert related["constant_score"]["filter"]["bool"]["should"] == [
        {"terms": {"related_ids": ["wae009-a"]}}
    ]
    assert exact["constant_score"]["boost"] == 100
    assert exact["constant_score"]["filter"]["bool"]["should"] == [
        {"terms": {"identifiers": ["wae009-a"]}},
        {"terms": {"line_ids": ["hpscreg:wae009-a"]}},
    ]
    assert {"prefix": {"identifiers": "wae009-a-"}} in derived["constant_score"]["filter"]["bool"][
        "should"
    ]
    assert donor["constant_score"]["filter"] == {"wildcard": {"identifiers": "wae009-*"}}
    assert "fuzziness" not in str(query)
    # Resolved identifiers of the same line (the service's "also") are searched like typed ones.
    also = text_of(replace(params(q="CVCL_9773"), also=("CVCL_9773", "WAe009-A")))
    terms = also["bool"]["must"][0]["bool"]["should"][0]["constant_score"]["filter"]["bool"]
    assert terms["should"][0] == {"terms": {"identifiers": ["cvcl_9773", "wae009-a"]}}


def test_every_word_must_match_with_typos_tolerated_for_words_only():
    query = text_of(params(q="parkinsn G2019S"))
    words, allele = query["bool"]["must"]
    fuzzy = words["bool"]["should"][2]["match"]["all_text"]
    assert fuzzy["fuzziness"] == "AUTO" and fuzzy["operator"] == "and"
    assert "fuzziness" not in allele["bool"]["should"][2]["match"]["all_text"]
    # The labelled fallback: any word.
    any_word = text_of(replace(params(q="parkinsn G2019S"), any_word=True))
    assert any_word["bool"]["minimum_should_match"] == 1 and "must" not in any_word["bool"]
    # A quoted word is a phrase, taken literally.
    assert text_of(params(q='"female" line'))["bool"]["must"][0] == {
        "match_phrase": {"all_text": {"query": "female"}}
    }


def test_identifiers_and_code_like_words_are_resolved_by_one_filter_request():
    body = build_identify("WAe009-A K1P53 neural")
    should = body["query"]["bool"]["filter"][1]["bool"]["should"]
    assert should[0] == {"terms": {"identifiers": ["k1p53", "wae009-a"]}}
    assert should[2] == {"terms": {"line_ids": ["hpscreg:wae009-a"]}}
    assert build_identify("female parkinson") is None
    hits = {
        "hits": {
            "hits": [
                {
                    "_source": {
                        "identifiers": ["BIONi010-A", "BIONi010-A-L01"],
                        "synonyms": ["K1P53"],
                        "hpscreg_name": "BIONi010-A",
                        "biosamples_id": "SAMEA3105765",
                    }
                }
            ]
        }
    }
    assert read_identify("k1p53 neural", hits) == ("K1P53", "BIONi010-A", "SAMEA3105765")
    assert read_identify("neural", {"hits": {"hits": []}}) == ()


def test_paging_and_sorting():
    body = build_search(params(page="3", size="10", sort="name"), TODAY).hits
    assert (body["from"], body["size"]) == (20, 10)
    assert body["sort"] == [{"name.sort": "asc"}]
    assert build_search(params(sort="vials"), TODAY).hits["sort"][0] == {
        "vials_available": {"order": "desc", "missing": "_last", "unmapped_type": "integer"}
    }


def test_export_pages_follow_a_stable_order():
    p = params(q="iPSC", country="DE")
    first = build_export(p, TODAY, 500)
    assert first["sort"][-1] == {"uid": "asc"} and "search_after" not in first
    assert {"terms": {"country": ["DE"]}} in first["query"]["bool"]["filter"]
    assert build_export(p, TODAY, 500, after=[1.0, "x", "y"])["search_after"] == [1.0, "x", "y"]


def test_labels_are_the_networks_as_hits_and_the_disease_labels_of_every_record():
    body = build_labels()
    # A post_filter, not a query: the disease counts must run over every record.
    assert "query" not in body and body["post_filter"] == {"term": {"kind": "network"}}
    assert (body["size"], body["_source"]) == (1000, ["local_id", "name"])
    assert body["aggs"]["diseases"] == {"terms": {"field": "disease_code_labels", "size": 10_000}}
    # Research resources are labelled by the names their records state.
    assert body["aggs"]["resources"]["terms"]["field"] == "research_resource_variants"


def test_a_biobank_page_lists_the_collections_of_that_biobank_at_that_node_by_name():
    body = build_collections_of("berlin", "BB-1")
    assert body["query"] == {
        "bool": {
            "filter": [
                {"term": {"kind": "collection"}},
                {"term": {"node_id": "berlin"}},
                {"term": {"biobank_id": "BB-1"}},
            ]
        }
    }
    assert body["sort"] == [{"name.sort": "asc"}] and body["size"] == 100
    assert body["_source"] == ["uid", "name", "description", "materials", "size"]


def test_line_counts_count_cell_line_records_without_fetching_any():
    of_collection = build_collection_line_count("berlin:collection:C-1")
    of_biobank = build_biobank_line_count("berlin", "BB-1")
    for body in (of_collection, of_biobank):
        assert (body["size"], body["track_total_hits"]) == (0, True)
        assert body["query"]["bool"]["filter"][0] == {"term": {"kind": "cell_line"}}
    assert of_collection["query"]["bool"]["filter"][1:] == [
        {"term": {"collection_uid": "berlin:collection:C-1"}}
    ]
    # A biobank's local id is unique only within its node.
    assert of_biobank["query"]["bool"]["filter"][1:] == [
        {"bool": {"filter": [{"term": {"node_id": "berlin"}}, {"term": {"biobank_id": "BB-1"}}]}}
    ]


def test_a_search_asks_for_one_record_kind_and_cell_lines_by_default():
    assert params().kind == "cell_line"
    assert [params(kind=k).kind for k in SEARCH_KINDS] == ["cell_line", "collection", "biobank"]
    assert "network" not in SEARCH_KINDS  # networks are labels, not search results


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"page": "0"}, "'page' must be between 1 and 500, got 0"),
        ({"page": "two"}, "'page' must be a whole number, got 'two'"),
        ({"size": "1000"}, "'size' must be between 1 and 100, got 1000"),
        ({"sort": "price"}, "'sort' must be one of relevance, name, recent, vials, got 'price'"),
        ({"kind": "sample"}, "'kind' must be one of cell_line, collection, biobank"),
        ({"accredited": "yes"}, "'accredited' can only be 'true', got 'yes'"),
        ({"q": "x" * 501}, "a 'q' value is longer than 500 characters"),
        ({"q": " ".join(["w"] * 33)}, "'q' has more than 32 words"),
        ({"q": "h9\x00"}, "'q' contains control characters"),
        ({"q": "h\ufffd9"}, "'q' is not valid UTF-8"),
        ({"colour": "red"}, "unknown parameter 'colour'"),
        ({"cell_type": "unicorn"}, "'unicorn' is not a 'cell_type' value"),
        ({"availability": "maybe"}, "'availability' has no value 'maybe'; known values: "),
        ({"qc": "clean"}, "'qc' has no value 'clean'"),
        ({"qc": "sterile", "qc_op": "xor"}, "'qc_op' must be 'or' or 'and', got 'xor'"),
        ({"disease": "parkinson"}, "'parkinson' is not a 'disease' value"),
        ({"country": "Germany"}, "'Germany' is not a valid 'country' value"),
        ({"duo": "DUO:0000046"}, "'duo' has no value 'DUO:0000046'"),
        ({"age_min": "-1"}, "'age_min' must be between 0 and 150, got -1"),
        ({"age_min": "60", "age_max": "40"}, "'age_min' (60) must not be above 'age_max' (40)"),
        ({"vials_min": "lots"}, "'vials_min' must be a whole number, got 'lots'"),
        ({"biobank": "b" * 201}, "a 'biobank' value is longer than 200 characters"),
    ],
)
def test_invalid_parameters_are_refused_with_a_reason(args, message):
    with pytest.raises(InvalidQuery, match=re.escape(message)):
        params(**args)


def test_repeated_single_parameters_are_refused():
    with pytest.raises(InvalidQuery, match="'page' is given more than once"):
        params(("page", "1"), ("page", "2"))


def test_parameters_round_trip_through_their_url():
    p = params(
        ("q", "parkinson"),
        ("disease", "ICD10-VI"),
        ("qc", "sterile"),
        ("qc", "str_verified"),
        ("qc_op", "or"),
        ("age_min", "18"),
        ("sort", "name"),
        ("size", "50"),
    )
    again = parse_params(MultiDict(p.args()))
    assert again == p
    assert ("qc_op", "or") in p.args()
    assert all(k != "qc" for k, _ in p.args(drop="qc"))


def test_selected_values_are_counted_even_outside_the_top_values():
    p = params(country="FR")
    agg = build_search(p, TODAY).counts["aggs"]["country"]["aggs"]
    assert agg["selected"]["terms"]["include"] == ("FR",)
    facets = read_facets(
        {
            "country": {
                "values": {"buckets": [{"key": "DE", "doc_count": 4}]},
                "selected": {"buckets": [{"key": "FR", "doc_count": 2}]},
            }
        },
        p,
    )
    country = next(f for f in facets if f["name"] == "country")
    assert [(v["value"], v["count"], v["selected"]) for v in country["values"]] == [
        ("DE", 4, False),
        ("FR", 2, True),
    ]


def test_selected_values_without_hits_still_show_so_they_can_be_unticked():
    p = params(country="FR")
    facets = read_facets({"country": {"values": {"buckets": [{"key": "DE", "doc_count": 4}]}}}, p)
    country = next(f for f in facets if f["name"] == "country")
    assert [(v["value"], v["count"], v["selected"]) for v in country["values"]] == [
        ("DE", 4, False),
        ("FR", 0, True),
    ]


def test_zero_results_help_reads_what_each_dropped_filter_would_give():
    p = params(q="H9", country="DE", qc="sterile")
    relax = read_relax({"country": {"doc_count": 3}, "qc": {"doc_count": 1}}, p)
    assert [(r["facet"], r["count"]) for r in relax] == [("country", 3), ("qc", 1)]
    assert ("country", "DE") not in relax[0]["args"] and ("qc", "sterile") in relax[0]["args"]


def test_did_you_mean_replaces_only_the_words_the_index_does_not_know():
    suggest = {
        "words": [
            {"text": "parkinsn", "offset": 0, "length": 8, "options": [{"text": "parkinson"}]},
            {"text": "ipsc", "offset": 9, "length": 4, "options": []},
        ]
    }
    assert read_suggestion("parkinsn iPSC", suggest) == "parkinson iPSC"
    assert read_suggestion("iPSC", {"words": [{"offset": 0, "length": 4, "options": []}]}) is None


def test_every_search_parameter_is_documented_in_the_openapi_document():
    from portal.openapi import spec

    documented = spec()["components"]["parameters"]
    assert set(documented) == set(KNOWN_PARAMS)
    search = spec()["paths"]["/api/v1/search"]["get"]["parameters"]
    assert {p["$ref"].rsplit("/", 1)[-1] for p in search} == set(KNOWN_PARAMS)
