"""Terms that match in the cart: each item's verdict against the project being declared, and
the jurisdiction references its rules need, before submission.

The item's terms come from its search document (the indexer puts the effective terms there:
the line's own, else its collection's); the node checks again from its own record when the
part arrives, and it is the authority. :func:`project_terms` reads the request form's terms
fields, :func:`cart_context` is what the cart page shows, :func:`reference_problems` is the
submission's refusal when a triggered rule's reference is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from marshmallow import ValidationError

from schemas.access import ProjectSchema
from schemas.consent import DIMENSIONS
from schemas.errors import format_errors
from schemas.item_terms import ItemCheck, check_item, verdict_wire
from schemas.jurisdiction import Rule, missing, rules
from schemas.vocabularies import vocabulary

Lookup = Callable[[str], dict[str, Any] | None]

QUESTIONS: dict[str, str] = {
    "research_use": "Is it research?",
    "commercial_use": "Is it commercial (the results or material used for profit)?",
    "genetic_modification": "Will the cells be genetically modified?",
    "transplantation_humans": "Will cells or derivatives be transplanted into humans?",
    "transplantation_animals": "Will cells or derivatives be transplanted into animals?",
    "genome_sequencing": "Will genomes be sequenced and the data shared?",
    "distribution_abroad": "Will material be passed on to another country?",
    "not_for_profit": "Is your institution not for profit?",
}
"""The consent questions of the request form, one per declared yes/no."""

AGREEMENTS: dict[str, str] = {
    "agrees_to_collaborate": "We agree to collaborate with the line's investigators if asked",
    "agrees_to_publish": "We agree to publish our results",
    "agrees_to_return_results": "We agree to return derived data to the biobank",
}
LENIENT = ("title", "description", "ethics_ref")
"""Fields a "check" may leave empty; the consent declaration itself is checked in full."""
OUTCOME_LABELS = {
    "compatible": "Compatible",
    "incompatible": "Incompatible",
    "needs_review": "Needs review",
}


def item_access(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The effective terms a search document carries (see search/indexer/derived.py)."""
    if "commercial_use" not in doc and "duo_permission" not in doc:
        return None
    return {
        "duo_permission": doc.get("duo_permission"),
        "duo_modifiers": list(doc.get("duo_modifiers") or []),
        "duo_diseases": list(doc.get("duo_diseases") or []),
        "consent_scope": doc.get("consent_scope"),
        "export_rules": list(doc.get("export_rules") or []),
    }


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def project_terms(form: Mapping[str, str]) -> dict[str, Any]:
    """The terms fields of the request form as ProjectSchema fields. No consent question
    answered is no declaration; some answered is a declaration with the rest missing, which
    ProjectSchema names."""
    out: dict[str, Any] = {}
    answers = {name: _yes_no(form.get(f"consent_{name}", "")) for name in QUESTIONS}
    if any(v is not None for v in answers.values()):
        consent: dict[str, bool | None] = {k: v for k, v in answers.items() if v is not None}
        for name in AGREEMENTS:
            consent[name] = True if form.get(f"consent_{name}") == "yes" else None
        out["consent"] = consent
    for name in ("country", "institution"):
        if (form.get(name) or "").strip():
            out[name] = form[name].strip()
    refs = {
        rule.id: form.get(rule.field, "").strip()
        for rule in rules().values()
        if form.get(rule.field, "").strip()
    }
    if refs:
        out["jurisdiction_references"] = refs
    return out


def _doc(lookup: Lookup, uid: str) -> dict[str, Any] | None:
    try:
        return lookup(uid)
    except Exception:  # the cart itself reports an engine that is down (SearchUnavailable)
        return None


def checks(lookup: Lookup, uids: Iterable[str], project: Mapping[str, Any]) -> dict[str, ItemCheck]:
    """Each found item's check against a loaded ``project``."""
    out = {}
    for uid in uids:
        doc = _doc(lookup, uid)
        if doc is not None:
            out[uid] = check_item(item_access(doc), doc.get("country"), project)
    return out


def reference_problems(
    lookup: Lookup, uids: Iterable[str], project: Mapping[str, Any]
) -> list[str]:
    """One problem per triggered rule whose reference the project does not give."""
    needed = {r.rule.id: r for c in checks(lookup, uids, project).values() for r in c.requirements}
    return missing(needed.values())


def cart_rules(lookup: Lookup, uids: Iterable[str]) -> list[Rule]:
    """The rules any item in the cart is subject to, so the form can ask for references."""
    known = rules()
    ids = {rid for uid in uids if (d := _doc(lookup, uid)) for rid in d.get("export_rules") or []}
    return [known[rid] for rid in sorted(ids) if rid in known]


def _checked_project(form: Mapping[str, str]) -> tuple[dict[str, Any] | None, list[str]]:
    """The project of a posted request form, loaded leniently (fields not yet filled in do
    not hide the verdicts); problems with the terms fields themselves are returned."""
    data = {
        "intended_use": form.get("intended_use", ""),
        "disease": form.get("disease", "").strip() or None,
        "commercial": form.get("commercial") == "yes",
        "ethics_ref": form.get("ethics_ref", "").strip() or None,
        **project_terms(form),
    }
    given = {k: v for k, v in data.items() if v is not None}
    try:
        return ProjectSchema().load(given, partial=LENIENT), []
    except ValidationError as exc:
        return None, format_errors(exc.messages)


def cart_context(lookup: Lookup, uids: list[str], form: Mapping[str, str] | None) -> dict[str, Any]:
    """What the cart page needs for terms: the questions, the countries, the rules of the
    cart's items, and, for a posted request ``form``, each item's verdict."""
    project: dict[str, Any] | None = None
    problems: list[str] = []
    if form and form.get("intended_use"):
        project, problems = _checked_project(form)
    verdicts = {}
    if project is not None:
        verdicts = {uid: verdict_wire(c) for uid, c in checks(lookup, uids, project).items()}
    return {
        "consent_questions": QUESTIONS,
        "consent_agreements": AGREEMENTS,
        "consent_dimensions": DIMENSIONS,
        "countries": [(t.code, t.label) for t in vocabulary("countries").terms],
        "cart_rules": cart_rules(lookup, uids),
        "verdicts": verdicts,
        "outcome_labels": OUTCOME_LABELS,
        "terms_problems": problems,
        "terms_form": form or {},
    }
