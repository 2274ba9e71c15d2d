"""Search fields for donors and relations: the donor key, what a line names, isogenic sets.

``donor_key`` groups the lines of one donor across the alliance: ``biosamples:<accession>``
(BioSamples donor ids are global), else ``hpscreg:<id>``, else absent (a donor known only by a
biobank's own code cannot be matched across biobanks). How many lines a donor has is counted
at query time from these keys (search/donors.py), never stored: a write at one node would
otherwise have to rewrite the documents of every other node holding that donor's lines.
"""

from __future__ import annotations

from typing import Any

from schemas.provenance import related_lines


def donor_key(donor: dict[str, Any]) -> str | None:
    if donor.get("biosamples_id"):
        return f"biosamples:{donor['biosamples_id'].strip().upper()}"
    if donor.get("hpscreg_id"):
        return f"hpscreg:{donor['hpscreg_id'].strip()}"
    return None


def relation_fields(record: dict[str, Any]) -> dict[str, Any]:
    """``related_ids``: every line the record names (lower-case, as ``identifiers`` is
    matched), so a search for a line finds the lines that name it; ``relation_types``; and
    ``has_isogenic_control``: the line names its unedited control."""
    relations = related_lines(record)
    types = sorted({r["type"] for r in relations})
    return {
        "donor_key": donor_key(record.get("donor") or {}),
        "related_ids": sorted({r["line"].strip().lower() for r in relations}),
        "relation_types": types,
        "has_isogenic_control": "isogenic_control" in types,
    }
