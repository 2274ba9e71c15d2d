"""Query building is pure: check the engine request without an engine."""

import datetime as dt

import pytest
from werkzeug.datastructures import MultiDict

from search.queries import InvalidQuery, build_search, parse_params, read_facets

TODAY = dt.date(2026, 11, 26)


def params(**kw):
    return parse_params(MultiDict(kw))


def test_each_facet_counts_with_the_other_facets_selection_only():
    p = parse_params(MultiDict([("country", "DE"), ("country", "GB"), ("cell_type", "hiPSC")]))
    body = build_search(p, TODAY)
    assert body["post_filter"] == {
        "bool": {
            "filter": [{"terms": {"cell_type": ["hiPSC"]}}, {"terms": {"country": ["DE", "GB"]}}]
        }
    }
    assert body["aggs"]["country"]["filter"] == {
        "bool": {"filter": [{"terms": {"cell_type": ["hiPSC"]}}]}
    }
    assert body["aggs"]["cell_type"]["filter"] == {
        "bool": {"filter": [{"terms": {"country": ["DE", "GB"]}}]}
    }
    assert body["aggs"]["sex"]["filter"]["bool"]["filter"] == list(
        body["post_filter"]["bool"]["filter"]
    )


def test_accreditation_is_judged_at_query_time():
    body = build_search(params(accredited="true"), TODAY)
    assert body["post_filter"]["bool"]["filter"] == [
        {"range": {"iso20387_valid_until": {"gte": "2026-11-26"}}}
    ]


def test_free_text_prefers_exact_identifiers_and_tolerates_typos():
    should = build_search(params(q="WAe009-A"), TODAY)["query"]["bool"]["must"][0]["bool"]["should"]
    assert should[0] == {"term": {"identifiers": {"value": "wae009-a", "boost": 20}}}
    assert any(c.get("match", {}).get("all_text", {}).get("fuzziness") == "AUTO" for c in should)


def test_paging_and_sorting():
    body = build_search(params(page="3", size="10", sort="name"), TODAY)
    assert (body["from"], body["size"]) == (20, 10)
    assert body["sort"] == [{"name.sort": "asc"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"page": "0"}, "'page' must be between 1 and 500, got 0"),
        ({"page": "two"}, "'page' must be a whole number, got 'two'"),
        ({"size": "1000"}, "'size' must be between 1 and 100, got 1000"),
        ({"sort": "price"}, "'sort' must be one of relevance, name, recent, got 'price'"),
        ({"kind": "sample"}, "'kind' must be one of cell_line, collection, biobank"),
        ({"accredited": "yes"}, "'accredited' can only be 'true', got 'yes'"),
        ({"q": "x" * 501}, "'q' is longer than 500 characters"),
    ],
)
def test_invalid_parameters_are_refused_with_a_reason(args, message):
    with pytest.raises(InvalidQuery, match=message.replace("(", r"\(")):
        params(**args)


def test_selected_values_without_hits_still_show_so_they_can_be_unticked():
    p = params(country="FR")
    facets = read_facets({"country": {"values": {"buckets": [{"key": "DE", "doc_count": 4}]}}}, p)
    country = next(f for f in facets if f["name"] == "country")
    assert country["values"] == [
        {"value": "DE", "count": 4, "selected": False},
        {"value": "FR", "count": 0, "selected": True},
    ]
