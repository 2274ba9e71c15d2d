"""Donors at query time: which donors have several lines, and how many donors a search's
lines come from. Pure: request bodies and the reading of answers.

A donor with several lines is found with one aggregation over the whole catalogue (donor
keys with two or more distinct lines), run by the search service before the search and
passed in as ``SearchParams.donor_keys``; the facet then filters on those keys. Counting at
query time is always current (a line added at one node changes the count of lines another
node holds) and keeps documents free of values that depend on other documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DONORS = 10_000
"""Donor keys with several lines one search can filter on (a terms filter's comfortable size)."""

PRECISION = 10_000


def build_several_line_donors(limit: int = MAX_DONORS) -> dict[str, Any]:
    """Donor keys held by two or more documents, with how many distinct lines each has."""
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": [{"term": {"kind": "cell_line"}}]}},
        "aggs": {
            "donors": {
                "terms": {"field": "donor_key", "size": limit, "min_doc_count": 2},
                "aggs": {"lines": {"cardinality": {"field": "line_key"}}},
            }
        },
    }


def read_several_line_donors(resp: Mapping[str, Any]) -> tuple[str, ...]:
    """The donor keys with at least two distinct lines (the same line at two biobanks is one)."""
    buckets = resp.get("aggregations", {}).get("donors", {}).get("buckets", [])
    return tuple(sorted(b["key"] for b in buckets if b.get("lines", {}).get("value", 0) >= 2))


def several_lines_filter(keys: tuple[str, ...] | None) -> dict[str, Any]:
    """Lines whose donor has several lines; nothing when no donor has (or keys are unknown)."""
    if not keys:
        return {"bool": {"must_not": {"match_all": {}}}}
    return {"terms": {"donor_key": list(keys)}}


def donor_aggs() -> dict[str, Any]:
    """Sub-aggregations of a search's matching lines: distinct donors, and distinct lines
    that have no donor key (each may be a donor of its own)."""
    return {
        "donors": {"cardinality": {"field": "donor_key", "precision_threshold": PRECISION}},
        "no_donor": {
            "filter": {"bool": {"must_not": {"exists": {"field": "donor_key"}}}},
            "aggs": {"lines": {"cardinality": {"field": "line_key"}}},
        },
    }


def read_donors(aggregations: Mapping[str, Any]) -> dict[str, int]:
    """``donors``: distinct donor keys; ``unknown``: lines with no donor key."""
    matching = aggregations.get("matching", {})
    return {
        "donors": matching.get("donors", {}).get("value", 0),
        "unknown": matching.get("no_donor", {}).get("lines", {}).get("value", 0),
    }


def donors_phrase(lines: int, donors: dict[str, int]) -> str:
    """ "12 lines from 9 donors", honest about lines whose donor is not identified."""
    known, unknown = donors.get("donors", 0), donors.get("unknown", 0)
    noun = "line" if lines == 1 else "lines"
    if not unknown:
        return f"{lines} {noun} from {known} donor{'' if known == 1 else 's'}"
    if not known:
        return f"{lines} {noun}; no donor ids published"
    # The lines without a donor id may come from the known donors or from others.
    return (
        f"{lines} {noun} from at least {known} donor{'' if known == 1 else 's'} "
        f"({unknown} {'line names' if unknown == 1 else 'lines name'} no donor)"
    )
