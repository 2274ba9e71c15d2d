"""search/query_strings.py: the links' query strings are exactly what urlencode writes."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from search.queries import build_search, parse_params
from search.query_strings import query_string

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(deadline=None)
@given(st.lists(st.tuples(TEXT, st.one_of(TEXT, st.integers()))))
def test_the_same_text_as_urlencode(pairs: list[tuple[str, str | int]]) -> None:
    assert query_string(pairs) == urlencode(pairs)


def test_links_of_a_search_read_back_as_its_parameters() -> None:
    args = MultiDict([("q", "a b&c=d/é"), ("country", "DE"), ("country", "GB"), ("age_min", "3")])
    params = parse_params(args)
    for drop in [None, *params.selections]:
        pairs = params.args(drop=drop)
        assert parse_qsl(query_string(pairs)) == pairs
        assert query_string(pairs) == urlencode(pairs)


def test_the_shared_aggregation_parts_are_those_built_from_scratch() -> None:
    """An unselected facet's own part is built once a day and shared; a search's bodies are
    the same as the previous search's with the same parameters, and asking again after a
    body was serialised gives the same bodies."""
    today = dt.date(2026, 12, 1)
    params = parse_params(MultiDict([("q", "parkinson"), ("country", "DE")]))
    first = build_search(params, today)
    again = build_search(params, today)
    assert first == again
    other = parse_params(MultiDict([("availability", "available")]))
    counts = build_search(other, today).counts["aggs"]
    assert counts["country"]["filter"] == {
        "bool": {"filter": [{"terms": {"availability": ["available"]}}]}
    }
    assert "selected" not in counts["country"]["aggs"]
    assert first.counts["aggs"]["availability"]["filter"] == {
        "bool": {"filter": [{"terms": {"country": ["DE"]}}]}
    }
