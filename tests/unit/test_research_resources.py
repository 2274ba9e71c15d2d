"""Research resources read from the index: the request builders and readers are pure, so
they are checked here without an engine (the real engine: integration/test_resources.py)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from werkzeug.datastructures import MultiDict

from search.indexer.documents import to_document
from search.queries import InvalidQuery, build_search, parse_params
from search.resource_queries import (
    SEP,
    build_resource,
    build_resource_list,
    parse_variant,
    read_resource,
    read_resource_list,
    resource_variants,
)
from tests.builders import BIOBANK, COLLECTION, cell_line

HIPSCI = {
    "id": "hipsci",
    "name": "Human iPSC Initiative",
    "acronym": "HipSci",
    "url": "https://www.hipsci.org",
}
EBISC = {"id": "ebisc", "name": "European Bank for induced pluripotent Stem Cells"}


def test_each_stated_reference_is_one_keyword_that_reads_back():
    keys = resource_variants([HIPSCI, EBISC, dict(EBISC)])
    assert len(keys) == 2  # the same statement twice is one
    assert [parse_variant(k) for k in keys] == [
        {**EBISC, "acronym": None, "url": None},
        HIPSCI,
    ]


def test_search_documents_carry_the_stated_references():
    line = cell_line("iPSC-1", research_resources=[HIPSCI])
    doc = to_document(
        "berlin",
        "cell_line",
        line,
        seq=1,
        content_hash="h",
        schema_version="2",
        modified="2026-12-01T00:00:00Z",
        biobank=BIOBANK,
        collection=COLLECTION,
    )
    assert doc["research_resources"] == ["hipsci"]
    assert doc["research_resource_variants"] == [SEP.join(HIPSCI.values())]


def test_one_resource_is_asked_for_by_id_and_its_variants_by_an_escaped_prefix():
    body = build_resource("a.b-c")
    assert {"term": {"research_resources": "a.b-c"}} in body["query"]["bool"]["filter"]
    include = body["aggs"]["variants"]["terms"]["include"]
    # The id's punctuation is literal: "a.b-c" must not also match "axb-c".
    assert re.fullmatch(include.replace("\\", ""), f"a.b-c{SEP}x") and "\\." in include
    assert body["post_filter"] == {"term": {"kind": "cell_line"}}  # the counts stay whole


def test_the_list_counts_resources_and_their_statements_over_lines_and_collections():
    body = build_resource_list()
    assert body["size"] == 0
    assert body["query"]["bool"]["filter"] == [{"terms": {"kind": ["cell_line", "collection"]}}]
    assert set(body["aggs"]) == {"resources", "variants"}


def _variant(ref, first, nodes, records=1):
    key = SEP.join(str(ref.get(k) or "") for k in ("id", "name", "acronym", "url"))
    return {
        "key": key,
        "doc_count": records,
        "first": {"value_as_string": first},
        "nodes": {"buckets": [{"key": n, "doc_count": 1} for n in nodes]},
    }


def _holders(nodes):
    return {
        "buckets": [
            {
                "key": node,
                "doc_count": n,
                "biobanks": {
                    "buckets": [
                        {
                            "key": f"bb-{node}",
                            "doc_count": n,
                            "name": {"buckets": [{"key": node.title()}]},
                        }
                    ]
                },
            }
            for node, n in nodes.items()
        ]
    }


def test_nodes_that_disagree_on_a_name_are_shown_with_the_first_seen_name():
    renamed = {**HIPSCI, "name": "HipSci project", "url": "https://hipsci.org"}
    answer = {
        "aggregations": {
            "resources": {
                "buckets": [
                    {
                        "key": "hipsci",
                        "doc_count": 3,
                        "kinds": {"buckets": [{"key": "cell_line", "doc_count": 3}]},
                        "nodes": _holders({"berlin": 2, "london": 1}),
                    }
                ]
            },
            "variants": {
                "buckets": [
                    _variant(renamed, "2026-02-01T00:00:00.000Z", ["london"]),
                    _variant(HIPSCI, "2026-01-01T00:00:00.000Z", ["berlin"], 2),
                ]
            },
        }
    }
    [res] = read_resource_list(answer)
    assert (res["name"], res["url"]) == (HIPSCI["name"], HIPSCI["url"])  # first seen
    assert (res["lines"], res["collections"], res["records"]) == (3, 0, 3)
    assert [b["uid"] for b in res["biobanks"]] == [
        "berlin:biobank:bb-berlin",
        "london:biobank:bb-london",
    ]
    assert len(res["notes"]) == 2  # the name and the url
    assert "HipSci project (london)" in res["notes"][0] and "first seen" in res["notes"][0]
    assert [v["nodes"] for v in res["variants"]] == [["berlin"], ["london"]]


def test_an_id_nothing_names_reads_as_none():
    assert read_resource({"aggregations": {"kinds": {"buckets": []}}}, "nope") is None
    assert read_resource({}, "nope") is None


def test_the_facet_filters_by_resource_id_and_refuses_what_no_record_can_state():
    bodies = build_search(parse_params(MultiDict([("resource", "ebisc")])), dt.date(2026, 12, 1))
    assert {"terms": {"research_resources": ["ebisc"]}} in bodies.hits["query"]["bool"]["filter"]
    with pytest.raises(InvalidQuery, match="'resource'"):
        parse_params(MultiDict([("resource", "<script>")]))
