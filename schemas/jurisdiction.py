"""Jurisdiction rules as data: export rules a biobank can mark its material with.

Each rule is a file ``schemas/jurisdiction_rules/<id>.json`` (so another country's rules need
no code; inside the package, so an installed CellFed has them): its id, title, legal source,
the countries it belongs to (ISO 3166), what triggers it and what it then requires of a
request, and the words researchers and admins see. The
trigger ``requester_outside`` fires when the material is marked with the rule and the
requester's country is not one of the rule's countries (or is not stated: a request that
does not say where it comes from cannot be assumed to stay inside).

:func:`load_rules` validates every file (a bad one is refused naming the file and the
field); :func:`requirements` is the pure evaluation: given an item's rule ids, the
project's country and its references, which references are required and which are present.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from schemas.errors import format_errors
from schemas.validators import COUNTRY

RULES_DIR = Path(__file__).resolve().parent / "jurisdiction_rules"
RULE_ID = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")
TRIGGERS = ("requester_outside",)


class RuleFileInvalid(ValueError):
    """A rule file that cannot be used; the message names the file and the field."""


class _Strict(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


def _text(max_len: int = 2000) -> fields.Str:
    return fields.Str(required=True, validate=validate.Length(min=3, max=max_len))


class SourceSchema(_Strict):
    citation = _text()
    url = fields.Url(required=True)


class RequirementSchema(_Strict):
    """What a triggered rule asks of the request: one reference, with its words."""

    field = fields.Str(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,63}$"))
    label = _text(200)
    format_hint = _text(500)
    min_length = fields.Int(load_default=1, validate=validate.Range(min=1, max=200))
    max_length = fields.Int(load_default=200, validate=validate.Range(min=1, max=200))


class RuleSchema(_Strict):
    id = fields.Str(
        required=True,
        validate=validate.Regexp(RULE_ID, error="must look like 'cn-hgr-2019'"),
    )
    title = _text(300)
    source = fields.Nested(SourceSchema, required=True)
    countries = fields.List(
        fields.Str(validate=COUNTRY), required=True, validate=validate.Length(min=1)
    )
    trigger = fields.Str(required=True, validate=validate.OneOf(TRIGGERS))
    requires = fields.Nested(RequirementSchema, required=True)
    researcher_text = _text()
    admin_text = _text()

    @validates_schema
    def _lengths_agree(self, data: dict[str, Any], **_: Any) -> None:
        req = data.get("requires") or {}
        if req.get("min_length", 1) > req.get("max_length", 200):
            raise ValidationError("min_length is above max_length", "requires")


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    citation: str
    url: str
    countries: tuple[str, ...]
    trigger: str
    field: str
    label: str
    format_hint: str
    min_length: int
    max_length: int
    researcher_text: str
    admin_text: str


def load_rule(path: Path) -> Rule:
    """One rule file, validated; RuleFileInvalid names the file and the field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RuleFileInvalid(f"{path.name}: not a readable JSON file: {exc}") from exc
    try:
        data = RuleSchema().load(raw)
    except ValidationError as exc:
        raise RuleFileInvalid(f"{path.name}: {'; '.join(format_errors(exc.messages))}") from exc
    if data["id"] != path.stem:
        raise RuleFileInvalid(f"{path.name}: id: {data['id']!r} must match the file's name")
    req, src = data["requires"], data["source"]
    return Rule(
        data["id"],
        data["title"],
        src["citation"],
        src["url"],
        tuple(data["countries"]),
        data["trigger"],
        req["field"],
        req["label"],
        req["format_hint"],
        req["min_length"],
        req["max_length"],
        data["researcher_text"],
        data["admin_text"],
    )


def load_rules(folder: Path = RULES_DIR) -> dict[str, Rule]:
    """Every ``*.json`` rule in ``folder`` by id; the first bad file refuses the whole set."""
    if not folder.is_dir():  # no folder would silently make every marked record invalid
        raise RuleFileInvalid(f"{folder.name}: there is no folder of jurisdiction rules")
    return {rule.id: rule for rule in map(load_rule, sorted(folder.glob("*.json")))}


@cache
def rules() -> dict[str, Rule]:
    """The project's rules (``schemas/jurisdiction_rules/``), read once."""
    return load_rules()


class KnownRule(validate.Validator):
    """A marshmallow validator: the value is the id of a loaded rule."""

    def __call__(self, value: str) -> str:
        known = rules()
        if value not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ValidationError(f"{value!r} is not a known jurisdiction rule; known: {listed}")
        return value


@dataclass(frozen=True)
class Requirement:
    """A triggered rule for one item: the reference it needs and whether it was given."""

    rule: Rule
    reason: str
    reference: str | None

    @property
    def present(self) -> bool:
        return self.reference is not None


def _triggered(rule: Rule, country: str | None) -> str | None:
    """Why ``rule`` applies to a requester in ``country``, or None if it does not."""
    where = ", ".join(rule.countries)
    if country is None:
        return f"the requester's country is not stated, so it may be outside {where}"
    if country not in rule.countries:
        return f"the requester is in {country}, outside {where}"
    return None


def requirements(
    rule_ids: Iterable[str],
    country: str | None,
    references: Mapping[str, str] | None = None,
    known: Mapping[str, Rule] | None = None,
) -> list[Requirement]:
    """The references the item's rules require of a requester in ``country``, with those
    given in ``references`` (rule id -> reference; blank or out of length counts as not
    given). Pure; an id not in ``known`` (default: the loaded rules) raises KeyError."""
    table = rules() if known is None else known
    given = references or {}
    out = []
    for rule_id in dict.fromkeys(rule_ids):
        rule = table[rule_id]
        reason = _triggered(rule, country)
        if reason is None:
            continue
        ref = (given.get(rule_id) or "").strip()
        ok = rule.min_length <= len(ref) <= rule.max_length
        out.append(Requirement(rule, reason, ref if ok else None))
    return out


def missing(found: Iterable[Requirement]) -> list[str]:
    """One problem line per required reference that was not given, naming the rule."""
    return [
        f"jurisdiction_references.{r.rule.id}: {r.rule.label} is required ({r.reason}); "
        f"give {r.rule.format_hint}"
        for r in found
        if not r.present
    ]
