"""The search facets, declared once: URL parameter, indexed field, label, and how to filter."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Facet:
    name: str  # URL parameter
    label: str
    field: str
    type: Literal["terms", "flag"] = "terms"
    size: int = 30

    def clause(self, values: list[str], today: dt.date) -> dict[str, Any]:
        """The filter for the selected values (OR within one facet)."""
        if self.type == "flag":
            return flag_clause(self.name, today)
        return {"terms": {self.field: values}}


def flag_clause(name: str, today: dt.date) -> dict[str, Any]:
    if name == "accredited":
        # Valid at today's date, decided at query time: a certificate can expire between syncs.
        return {"range": {"iso20387_valid_until": {"gte": today.isoformat()}}}
    if name == "modified":
        return {"term": {"genetically_modified": True}}
    raise KeyError(name)


FACETS: tuple[Facet, ...] = (
    Facet("cell_type", "Cell type", "cell_type"),
    Facet("country", "Country", "country"),
    Facet("biobank", "Biobank", "biobank_name"),
    Facet("disease", "Donor disease", "disease_labels"),
    Facet("sex", "Donor sex", "donor_sex"),
    Facet("age", "Donor age", "donor_age_range"),
    Facet("availability", "Availability", "availability"),
    Facet("accredited", "ISO 20387 accredited (valid today)", "iso20387_valid_until", "flag"),
    Facet("modified", "Genetically modified", "genetically_modified", "flag"),
)
FACETS_BY_NAME = {f.name: f for f in FACETS}
