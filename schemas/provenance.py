"""A cell line's relations to other lines, and its provenance: ethics approval and consent,
culture conditions, and per lot a certificate of analysis.

Relation types say what the *named* line is to this line (this line is the subject):

* ``parental_line``: the line this one was subcloned or edited from (the same thing as
  ``derivation.parent_line``, which keeps working and counts as a ``parental_line`` relation);
* ``subclone``: a clone taken from this line;
* ``isogenic_control``: the unedited line this (edited) line is to be compared with;
* ``isogenic_edit``: an edited clone of this (control) line;
* ``derivative``: a differentiated product of this line (cardiomyocytes, neurons, ...);
* ``derived_from``: the line this differentiated product comes from.

``line`` is a local id of a line at the same node, or a registry identifier (hPSCreg name,
Cellosaurus accession, BioSamples id): relations across biobanks work by registry identifier.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.parts import Strict, text
from schemas.validators import LOCAL_ID

RELATION_TYPES = (
    "parental_line",
    "subclone",
    "isogenic_control",
    "isogenic_edit",
    "derivative",
    "derived_from",
)
RELATION_LABELS = {
    "parental_line": "Parental line",
    "subclone": "Subclone",
    "isogenic_control": "Isogenic control",
    "isogenic_edit": "Isogenic edited clone",
    "derivative": "Differentiated derivative",
    "derived_from": "Derived from",
}
INVERSE = {
    "parental_line": "subclone",
    "subclone": "parental_line",
    "isogenic_control": "isogenic_edit",
    "isogenic_edit": "isogenic_control",
    "derivative": "derived_from",
    "derived_from": "derivative",
}
"""What this line is to the named line: a line naming its parental line is that line's
subclone."""
HPSCREG_DONOR_ID = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$",
    error="is not an hPSCreg donor id (1-50 letters, digits or . _ -, as the registry shows it)",
)


class RelationSchema(Strict):
    type = fields.Str(required=True, validate=validate.OneOf(RELATION_TYPES))
    line = fields.Str(required=True, validate=LOCAL_ID)
    note = text(max_len=500)


class EthicsApprovalSchema(Strict):
    """The approval the line was derived under, and whether consent documents exist."""

    authority = text(max_len=300)
    number = text(max_len=100)
    date = fields.Date()
    informed_consent = fields.Bool()
    consent_documents_available = fields.Bool()

    @validates_schema
    def _says_something(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("number") and not data.get("authority"):
            raise ValidationError("an approval number needs the authority that gave it", "number")
        if not data:
            raise ValidationError("is empty: give the authority, a number or the consent facts")


class CultureConditionsSchema(Strict):
    medium = text(max_len=300)  # "mTeSR1", or "Knockout DMEM + 20% KSR, bFGF"
    matrix = text(max_len=200)  # surface coating: Matrigel, vitronectin, feeder cells
    passaging = text(max_len=200)  # "enzyme-free (EDTA)", "mechanical"
    o2_percent = fields.Float(validate=validate.Range(min=0, max=100))
    co2_percent = fields.Float(validate=validate.Range(min=0, max=100))


def relations_problems(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Relations that cannot hold: to the line itself, twice the same, or a parental line
    other than ``derivation.parent_line``. (path, message) pairs."""
    own = {record.get(k) for k in ("id", "hpscreg_name", "cellosaurus_ac", "biosamples_id")}
    own.discard(None)
    parent = (record.get("derivation") or {}).get("parent_line")
    seen: set[tuple[str, str]] = set()
    problems = []
    for i, rel in enumerate(record.get("relations") or []):
        where, key = f"relations[{i}].line", (rel["type"], rel["line"])
        if rel["line"] in own:
            problems.append((where, f"{rel['line']!r} is this line itself"))
        elif key in seen:
            problems.append((where, f"{rel['type']} {rel['line']!r} is listed twice"))
        elif rel["type"] == "parental_line" and parent and rel["line"] != parent:
            problems.append(
                (where, f"the parental line is {parent!r} (derivation.parent_line), not this")
            )
        seen.add(key)
    return problems


def related_lines(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The line's relations, with ``derivation.parent_line`` as a ``parental_line``."""
    relations = list(record.get("relations") or [])
    parent = (record.get("derivation") or {}).get("parent_line")
    if parent and not any(r["type"] == "parental_line" for r in relations):
        relations.insert(0, {"type": "parental_line", "line": parent})
    return relations
