"""Collection facts: donors and samples counted by sex, age band, material and diagnosis.

Modelled on the BBMRI-ERIC Directory's CollectionFacts table. A dimension left out means
"all" (the Directory's ``*``), so a fact with no dimension at all is the collection's total.

The node stores exact counts; what leaves the node has been through its privacy policy
(federation/node/privacy.py), which replaces a count below the threshold k by the flag
``<count>_below: k`` ("fewer than k"). The schema accepts both shapes, so the indexer
validates published records with the same schema the node imports with; it never accepts
a count and its flag together.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.parts import Strict
from schemas.validators import DISEASE_CODE
from schemas.vocabularies import InVocabulary

DIMENSIONS = ("sex", "age_band", "material", "diagnosis")
"""What a fact is counted by; a fact is identified by its values of these."""

COUNTS = ("number_of_donors", "number_of_samples")
"""The counts a fact carries; each may instead be published as ``<count>_below``."""

MAX_FACTS = 5000
"""Facts one collection may hold: the Directory's largest collections have a few hundred."""


def below(count: str) -> str:
    """The name of the "fewer than k" flag that stands for ``count`` once published."""
    return f"{count}_below"


class FactSchema(Strict):
    sex = fields.Str(validate=InVocabulary("sexes"))
    age_band = fields.Str(validate=InVocabulary("age_bands"))
    material = fields.Str(validate=InVocabulary("material_types"))
    diagnosis = fields.Str(validate=DISEASE_CODE)
    number_of_donors = fields.Int(validate=validate.Range(min=0, max=10**9))
    number_of_samples = fields.Int(validate=validate.Range(min=0, max=10**10))
    number_of_donors_below = fields.Int(validate=validate.Range(min=1, max=10**6))
    number_of_samples_below = fields.Int(validate=validate.Range(min=1, max=10**6))
    last_update = fields.Date()

    @validates_schema
    def _a_count_once(self, data: dict[str, Any], **_: Any) -> None:
        for count in COUNTS:
            if count in data and below(count) in data:
                raise ValidationError(
                    f"is given together with {below(count)}: a fact has one or the other",
                    count,
                )
        if not any(c in data or below(c) in data for c in COUNTS):
            raise ValidationError(
                "a fact needs number_of_donors or number_of_samples", "number_of_donors"
            )


def fact_key(fact: dict[str, Any]) -> tuple[str | None, ...]:
    """What identifies a fact within its collection: its values of the dimensions."""
    return tuple(fact.get(d) for d in DIMENSIONS)


def _distinct(facts: list[dict[str, Any]]) -> None:
    if len(facts) > MAX_FACTS:
        raise ValidationError(f"holds {len(facts)} facts; at most {MAX_FACTS}")
    seen: dict[tuple[str | None, ...], int] = {}
    for i, fact in enumerate(facts):
        key = fact_key(fact)
        if key in seen:
            named = ", ".join(f"{d} {v or 'all'}" for d, v in zip(DIMENSIONS, key, strict=True))
            raise ValidationError(f"fact [{i}] repeats fact [{seen[key]}] ({named})")
        seen[key] = i


def facts_field() -> fields.List:
    """The ``facts`` field of a collection: distinct facts, left out when there are none."""
    return fields.List(fields.Nested(FactSchema), validate=_distinct)
