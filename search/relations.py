"""Relations in searches: an identified line's relations found after it, and the facet bound
to the donor keys the service looked up. Pure: request parts and the reading of answers.

A query naming a line finds that line first (queries.py), then, through this module:

* lines that name it in their relations (its subclones, derivatives, isogenic partners),
  matched on ``related_ids`` against every identifier of the found line;
* lines it names (its parental line, its isogenic control, ...), by identifier;
* lines of the same donor, by ``donor_key``.

The service reads the found lines' donor keys and relations from the identifying request
(:data:`RELATIVE_SOURCE`, :func:`read_relatives`) and passes them as
``SearchParams.relatives``: ``donor:<key>``, ``names:<id>`` and ``is:<id>`` strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from search.facets import DonorLinesFacet, Facet

if TYPE_CHECKING:
    from search.queries import SearchParams

RELATIVE_SOURCE = ["donor_key", "related_ids"]
"""What the identifying request also returns (``identifiers`` it returns already)."""

RELATION_BOOST = 10  # as much as a derivative named after the line
DONOR_BOOST = 5  # as much as a line named like the same donor's


def read_relatives(resp: Mapping[str, Any]) -> tuple[str, ...]:
    """From the identifying request's hits: their donor keys, the lines they name, and their
    own identifiers (to find the lines that name them)."""
    out: dict[str, None] = {}
    for hit in resp.get("hits", {}).get("hits", []):
        src = hit.get("_source", {})
        if src.get("donor_key"):
            out.setdefault(f"donor:{src['donor_key']}", None)
        for line in src.get("related_ids", []):
            out.setdefault(f"names:{line.lower()}", None)
        for ident in src.get("identifiers", []):
            out.setdefault(f"is:{ident.lower()}", None)
    return tuple(out)


def _of(relatives: tuple[str, ...], kind: str) -> list[str]:
    return sorted({r.split(":", 1)[1] for r in relatives if r.startswith(f"{kind}:")})


def relation_clauses(values: list[str], relatives: tuple[str, ...]) -> list[dict[str, Any]]:
    """Should-clauses for the lines the query identifies (``values``: its identifiers,
    folded) and their relations. The lines the identifying request found score as the line
    itself (a line named by a synonym, ``kolf_2``, has no identifier in ``values``); a
    relation scores :data:`RELATION_BOOST` once however it relates, a donor's other line
    :data:`DONOR_BOOST`: far below the line, so the line comes first."""
    own = _of(relatives, "is")
    related: list[dict[str, Any]] = [{"terms": {"related_ids": sorted(set(values) | set(own))}}]
    if named := _of(relatives, "names"):
        related.append({"terms": {"identifiers": named}})
    clauses: list[dict[str, Any]] = [
        {"constant_score": {"filter": {"bool": {"should": related}}, "boost": RELATION_BOOST}}
    ]
    if own:
        clauses.append(
            {"constant_score": {"filter": {"terms": {"identifiers": own}}, "boost": 100}}
        )
    if donors := _of(relatives, "donor"):
        clauses.append(
            {"constant_score": {"filter": {"terms": {"donor_key": donors}}, "boost": DONOR_BOOST}}
        )
    return clauses


def bind(facet: Facet, params: SearchParams) -> Facet:
    """The facet as this search runs it: the donor facet with the service's donor keys."""
    if isinstance(facet, DonorLinesFacet):
        return dataclasses.replace(facet, keys=params.donor_keys)
    return facet


# -- record pages --------------------------------------------------------------------------
LINK_SOURCE = ["uid", "node_id", "local_id", "name", "line_key", "biobank_name", "identifiers"]


def _cell_lines(where: list[dict[str, Any]], limit: int, source: list[str]) -> dict[str, Any]:
    return {
        "size": limit,
        "track_total_hits": False,
        "query": {"bool": {"filter": [{"term": {"kind": "cell_line"}}, *where]}},
        "sort": [{"name.sort": "asc"}, {"uid": "asc"}],
        "_source": source,
    }


def build_same_donor(donor_key: str, line_key: str, limit: int = 50) -> dict[str, Any]:
    """The other lines of a donor (one record per line: the same line elsewhere is not
    another line of the donor)."""
    body = _cell_lines([{"term": {"donor_key": donor_key}}], limit, LINK_SOURCE)
    body["query"]["bool"]["must_not"] = [{"term": {"line_key": line_key}}]
    body["collapse"] = {"field": "line_key"}
    return body


def build_lines_named(ids: list[str], limit: int = 100) -> dict[str, Any]:
    """The records a line's relations name (by any identifier, local ids included)."""
    return _cell_lines(
        [{"terms": {"identifiers": sorted({i.lower() for i in ids})}}], limit, LINK_SOURCE
    )


def build_lines_naming(ids: list[str], uid: str, limit: int = 100) -> dict[str, Any]:
    """The records whose relations name any of these identifiers (the line's own)."""
    body = _cell_lines(
        [{"terms": {"related_ids": sorted({i.lower() for i in ids})}}],
        limit,
        [*LINK_SOURCE, "record.relations", "record.derivation.parent_line"],
    )
    body["query"]["bool"]["must_not"] = [{"term": {"uid": uid}}]
    return body
