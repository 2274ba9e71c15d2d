"""Quality standards for cell lines, kept as data: one ``<id>.json`` file per standard here.

A file gives the standard's id, title, issuing body, version and date, its sources (DOI or
URL), the cell types it covers (codes of the ``cell_types`` vocabulary) and its quality
attributes, required or optional. Each attribute names the evidence that counts: a QC
result kind (``QC_ATTRIBUTES``), the method, the markers the result must cover (``"A|B"``:
either) and an acceptance rule on the value (``{"min": 95, "unit": "%"}``), or ``null``
with a note when no public source states one (then the lab's pass verdict counts).

Files are validated when loaded; a bad one is refused with its file, attribute and field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.parts import Strict, text
from schemas.validators import LOCAL_ID, QC_ATTRIBUTES
from schemas.vocabularies import InVocabulary

HERE = Path(__file__).resolve().parent
CATEGORIES = (
    "identity",
    "microbiological_safety",
    "viability",
    "markers",
    "differentiation_potential",
    "genetic_stability",
)
CATEGORY_LABELS = {
    "identity": "Identity",
    "microbiological_safety": "Microbiological safety",
    "viability": "Viability",
    "markers": "Markers",
    "differentiation_potential": "Differentiation potential",
    "genetic_stability": "Genetic stability",
}
STANDARD_ID = validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,62}$", error="must be lower-case a-z, 0-9, -")
ATTRIBUTE_ID = validate.Regexp(r"^[a-z0-9][a-z0-9_]{0,62}$", error="must be lower-case a-z, 0-9, _")


class StandardFileError(ValueError):
    """A standards file that cannot be used; the message names the file, attribute and field."""


class RuleSchema(Strict):
    min = fields.Float()
    max = fields.Float()
    unit = text(max_len=30)

    @validates_schema
    def _bounded(self, data: dict[str, Any], **_: Any) -> None:
        if "min" not in data and "max" not in data:
            raise ValidationError("a rule needs 'min' or 'max' (or give null and a note)", "min")


class EvidenceSchema(Strict):
    qc_attribute = fields.Str(required=True, validate=validate.OneOf(QC_ATTRIBUTES))
    method = text(required=True, max_len=300)
    markers = fields.List(text(max_len=100), load_default=list)
    rule = fields.Nested(RuleSchema, required=True, allow_none=True)
    note = text(max_len=500)

    @validates_schema
    def _null_rule_explained(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("rule") is None and not data.get("note"):
            raise ValidationError("the rule is null: say why in a note", "note")


class AttributeSchema(Strict):
    id = fields.Str(required=True, validate=ATTRIBUTE_ID)
    label = text(required=True, max_len=200)
    category = fields.Str(required=True, validate=validate.OneOf(CATEGORIES))
    required = fields.Bool(required=True)
    evidence = fields.Nested(EvidenceSchema, required=True)


class SourceSchema(Strict):
    citation = text(required=True, max_len=500)
    doi = fields.Str(validate=validate.Regexp(r"^10\.\d{4,9}/\S+$", error="is not a DOI"))
    url = fields.Url()


class StandardSchema(Strict):
    id = fields.Str(required=True, validate=STANDARD_ID)
    title = text(required=True, max_len=300)
    short_title = text(required=True, max_len=80)
    issuing_body = text(required=True, max_len=300)
    version = text(required=True, max_len=50)
    date = fields.Str(required=True, validate=validate.Regexp(r"^\d{4}(-\d{2}(-\d{2})?)?$"))
    cell_types = fields.List(
        fields.Str(validate=InVocabulary("cell_types")), required=True, validate=validate.Length(1)
    )
    scope = text(required=True, max_len=1000)
    sources = fields.List(fields.Nested(SourceSchema), required=True, validate=validate.Length(1))
    note = text(max_len=1000)
    attributes = fields.List(
        fields.Nested(AttributeSchema), required=True, validate=validate.Length(1)
    )

    @validates_schema
    def _unique_attributes(self, data: dict[str, Any], **_: Any) -> None:
        ids = [a["id"] for a in data.get("attributes", [])]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValidationError(f"attribute ids appear twice: {', '.join(twice)}", "attributes")


@dataclass(frozen=True)
class Rule:
    min: float | None
    max: float | None
    unit: str | None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    def words(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        bounds = [f"≥ {self.min:g}{unit}" if self.min is not None else ""]
        bounds.append(f"≤ {self.max:g}{unit}" if self.max is not None else "")
        return " and ".join(b for b in bounds if b)


@dataclass(frozen=True)
class Attribute:
    id: str
    label: str
    category: str
    required: bool
    qc_attribute: str
    method: str
    markers: tuple[str, ...]
    rule: Rule | None
    note: str | None


@dataclass(frozen=True)
class Standard:
    id: str
    title: str
    short_title: str
    issuing_body: str
    version: str
    date: str
    cell_types: tuple[str, ...]
    scope: str
    sources: tuple[dict[str, str], ...]
    note: str | None
    attributes: tuple[Attribute, ...]

    def covers(self, cell_type: str) -> bool:
        return cell_type in self.cell_types

    def to_dict(self) -> dict[str, Any]:
        """The standard as the API gives it: the file's own shape."""
        return _as_file(self)


def _as_file(standard: Standard) -> dict[str, Any]:
    attributes = [
        {
            "id": a.id,
            "label": a.label,
            "category": a.category,
            "required": a.required,
            "evidence": {
                "qc_attribute": a.qc_attribute,
                "method": a.method,
                "markers": list(a.markers),
                "rule": None if a.rule is None else a.rule.to_dict(),
                **({"note": a.note} if a.note else {}),
            },
        }
        for a in standard.attributes
    ]
    head = {k: v for k, v in vars(standard).items() if k != "attributes" and v is not None}
    head.update(cell_types=list(standard.cell_types), sources=list(standard.sources))
    return {**head, "attributes": attributes}


def _where(errors: Any, path: str = "") -> list[str]:
    """Marshmallow's nested error dict as ``attributes[2] (viability).evidence.rule: ...``."""
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [f"{path or 'file'}: {'; '.join(errors)}"]
    if isinstance(errors, dict):
        found: list[str] = []
        for key, inner in errors.items():
            step = f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
            found += _where(inner, path + step)
        return found
    return [f"{path}: {errors}"]


def _name_attributes(problems: list[str], doc: dict[str, Any]) -> list[str]:
    """Replace ``attributes[2]`` with the attribute's id, which is what an editor looks for."""
    given = doc.get("attributes")
    attributes: list[Any] = given if isinstance(given, list) else []

    def named(match: re.Match[str]) -> str:
        i = int(match.group(1))
        item = attributes[i] if i < len(attributes) else None
        aid = item.get("id") if isinstance(item, dict) else None
        return f"attribute {aid!r}" if aid else f"attribute #{i + 1}"

    head = re.compile(r"^attributes\[(\d+)\]\.?")
    return [head.sub(lambda m: named(m) + ", field ", p) for p in problems]


def parse_standard(doc: Any, filename: str) -> Standard:
    """A standard from a file's parsed JSON; refused with file, attribute and field."""
    if not isinstance(doc, dict):
        raise StandardFileError(f"{filename}: expected a JSON object")
    try:
        data = StandardSchema().load(doc)
    except ValidationError as err:
        problems = _name_attributes(_where(err.messages), doc)
        raise StandardFileError(f"{filename}: " + "; ".join(problems)) from None
    if Path(filename).stem != data["id"]:
        raise StandardFileError(f"{filename}: field id: {data['id']!r} must match the file name")
    attributes = tuple(
        Attribute(
            id=a["id"],
            label=a["label"],
            category=a["category"],
            required=a["required"],
            qc_attribute=a["evidence"]["qc_attribute"],
            method=a["evidence"]["method"],
            markers=tuple(a["evidence"]["markers"]),
            rule=Rule(**{k: None for k in ("min", "max", "unit")} | a["evidence"]["rule"])
            if a["evidence"]["rule"] is not None
            else None,
            note=a["evidence"].get("note"),
        )
        for a in data["attributes"]
    )
    fixed = {k: data.get(k) for k in ("id", "title", "short_title", "issuing_body", "version")}
    return Standard(
        **fixed,
        date=data["date"],
        cell_types=tuple(data["cell_types"]),
        scope=data["scope"],
        sources=tuple(data["sources"]),
        note=data.get("note"),
        attributes=attributes,
    )


def load_standard(path: Path) -> Standard:
    """One standards file, validated."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StandardFileError(f"{path.name}: cannot be read as JSON: {err}") from None
    return parse_standard(doc, path.name)


def load_folder(folder: Path) -> dict[str, Standard]:
    """Every ``*.json`` standards file in ``folder``, by id; the first bad file is refused."""
    return {s.id: s for s in (load_standard(p) for p in sorted(folder.glob("*.json")))}


@cache
def standards() -> dict[str, Standard]:
    """The standards shipped beside this module, read and validated once."""
    return load_folder(HERE)


def standard_labels() -> dict[str, str]:
    """Standard id → short title, for facets and chips."""
    return {s.id: s.short_title for s in standards().values()}


@cache  # asked for every line the indexer writes; the standards are read once
def applicable(cell_type: str) -> tuple[Standard, ...]:
    """The standards whose cell types cover ``cell_type``."""
    return tuple(s for s in standards().values() if s.covers(cell_type))


# -- a biobank's declaration, as records carry it ------------------------------------------
class KnownStandard(validate.Validator):
    """Accept the id of a loaded standard; the files are read on the first check."""

    def __call__(self, value: Any) -> Any:
        if value not in standards():
            known = ", ".join(sorted(standards()))
            raise ValidationError(f"{value!r} is not a known standard; known: {known}")
        return value


class StandardDeclarationSchema(Strict):
    """The biobank declares that the line (or one lot) meets a standard, with its certificate."""

    standard = fields.Str(required=True, validate=KnownStandard())
    certificate_number = text(required=True, max_len=100)
    lot = fields.Str(validate=LOCAL_ID)
    date = fields.Date(required=True)


def declaration_problems(record: dict[str, Any]) -> dict[str, Any]:
    """Declarations and QC results that do not fit their line, as marshmallow error messages:
    a standard that does not cover the line's cell type, a lot the line does not have."""
    lots = {lot["lot_id"] for lot in record.get("lots") or []}
    problems: dict[str, Any] = {}
    for i, d in enumerate(record.get("standards_declared") or []):
        found = standards().get(d["standard"])
        if found and not found.covers(record.get("cell_type", "")):
            covered = ", ".join(found.cell_types)
            message = f"{d['standard']} covers {covered}, not {record.get('cell_type')}"
            problems.setdefault("standards_declared", {})[i] = {"standard": [message]}
        if d.get("lot") and d["lot"] not in lots:
            entry = problems.setdefault("standards_declared", {}).setdefault(i, {})
            entry["lot"] = [f"the line has no lot {d['lot']!r}"]
    for i, r in enumerate(record.get("qc") or []):
        if r.get("lot") and r["lot"] not in lots:
            problems.setdefault("qc", {})[i] = {"lot": [f"the line has no lot {r['lot']!r}"]}
    return problems
