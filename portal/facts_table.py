"""The facts table of a collection's record page: its published facts in words.

The portal sees only what the node published (federation/node/privacy.py), so a count
below the node's threshold arrives as the flag ``<count>_below: k`` and is shown "< k"; a
count the node hid shows as a dash. A dimension a fact leaves out counts everyone: "All".
"""

from __future__ import annotations

from typing import Any

from schemas.facts import COUNTS, below
from schemas.vocabularies import vocabulary

DIMENSIONS = (
    ("sex", "sexes"),
    ("age_band", "age_bands"),
    ("material", "material_types"),
    ("diagnosis", "diseases"),
)
HIDDEN = "—"


def count_text(fact: dict[str, Any], count: str) -> str:
    """A published count as the page shows it: the number, "< k", or a dash."""
    if fact.get(count) is not None:
        return f"{fact[count]:,}"
    if fact.get(below(count)) is not None:
        return f"< {fact[below(count)]}"
    return HIDDEN


def fact_rows(record: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for fact in record.get("facts", []):
        row = {
            dim: vocabulary(vocab).label(fact[dim]) if fact.get(dim) else "All"
            for dim, vocab in DIMENSIONS
        }
        if fact.get("diagnosis") and row["diagnosis"] != fact["diagnosis"]:
            row["diagnosis"] = f"{row['diagnosis']} ({fact['diagnosis']})"
        for count in COUNTS:
            row[count] = count_text(fact, count)
        rows.append(row)
    return rows
