"""Search fields derived from a collection's published facts (schemas/facts.py).

The indexer only ever sees facts that went through the node's privacy policy. A fact whose
counts are all "fewer than k" may stand for none at all, so only facts with a published
count above zero name a value: a collection is found under "Donors by sex: female" when it
publishes a count of its female donors or samples.
"""

from __future__ import annotations

from typing import Any

from schemas.facts import COUNTS

FIELDS = {
    "sex": "facts_sexes",
    "age_band": "facts_age_bands",
    "material": "facts_materials",
    "diagnosis": "facts_diagnoses",
}
"""Fact dimension -> the search field holding the values the collection's facts name."""


def facts_fields(facts: list[dict[str, Any]]) -> dict[str, list[str]]:
    counted = [f for f in facts if any((f.get(c) or 0) > 0 for c in COUNTS)]
    return {field: sorted({f[dim] for f in counted if f.get(dim)}) for dim, field in FIELDS.items()}
