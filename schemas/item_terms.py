"""Terms that match, per requested item: its effective terms, the project's declaration, and
the verdict with the jurisdiction requirements. Pure; the portal (from the search document)
and the node (from its own catalogue record) both call :func:`check_item`.

**Effective terms.** A line's terms are its own ``access`` when it has them, else its
collection's, whole (never field by field: a line that states terms states all of them). A
collection's are its own. The provider's country is the biobank's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.consent import DIMENSIONS
from schemas.jurisdiction import Requirement, requirements
from schemas.matching import DS, Finding, Outcome, Verdict, match
from schemas.validators import DISEASE_CODE

_DISEASE_CODE = DISEASE_CODE.regex
NO_DECLARATION = (
    "the project declares no consent scope (research, commercial use, genetic modification, "
    "transplantation, sequencing, distribution abroad), so a reviewer must compare it with the "
    "line's terms"
)


def effective_access(
    record: Mapping[str, Any], collection: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The record's own access terms, else its collection's; None if neither states any."""
    own = record.get("access")
    if own:
        return dict(own)
    if collection and collection.get("access"):
        return dict(collection["access"])
    return None


def consent_terms(access: Mapping[str, Any] | None, country: str | None) -> dict[str, Any]:
    """The item's terms as :func:`schemas.matching.match` reads them."""
    access = access or {}
    out: dict[str, Any] = {
        "duo_permission": access.get("duo_permission"),
        "duo_modifiers": list(access.get("duo_modifiers", [])),
        "duo_diseases": list(access.get("duo_diseases", [])),
        "country": country,
    }
    if access.get("consent_scope"):
        out["scope"] = dict(access["consent_scope"])
    return out


def declaration(project: Mapping[str, Any]) -> dict[str, Any] | None:
    """The request's project (``ProjectSchema``, loaded) as a matching declaration, or None
    when it declares no consent scope."""
    consent = project.get("consent")
    if not consent:
        return None
    disease = project.get("disease") or None
    return {
        **{name: consent[name] for name in DIMENSIONS},
        # A project flagged commercial is commercial, whatever its consent part says.
        "commercial_use": bool(consent["commercial_use"] or project.get("commercial")),
        "intended_use": project["intended_use"],
        # A disease given in words matches no code: left out, a DS line goes to review below.
        "disease": disease if disease and _DISEASE_CODE.match(disease) else None,
        "country": project["country"],
        "institution": project["institution"],
        "not_for_profit": consent["not_for_profit"],
        # Every request carries an ethics approval reference (ProjectSchema.ethics_ref).
        "irb_approval": bool(project.get("ethics_ref")),
        "agrees_to_collaborate": consent.get("agrees_to_collaborate"),
        "agrees_to_publish": consent.get("agrees_to_publish"),
        "agrees_to_return_results": consent.get("agrees_to_return_results"),
    }


def _disease_in_words(verdict: Verdict, project: Mapping[str, Any]) -> Verdict:
    """A DS line against a disease named in words: a reviewer reads it, not 'incompatible'."""
    words = project.get("disease")
    if not words or _DISEASE_CODE.match(words) or verdict.outcome is not Outcome.INCOMPATIBLE:
        return verdict
    findings = tuple(
        Finding(
            f.condition,
            Outcome.NEEDS_REVIEW,
            f"{f.reason.replace(' and names no disease', '')}; it names the disease as "
            f"{words!r}, not as a code, so a reviewer must judge it",
        )
        if f.condition.endswith("(DS)") and "names no disease" in f.reason
        else f
        for f in verdict.findings
    )
    bad = any(f.outcome is Outcome.INCOMPATIBLE for f in findings)
    return Verdict(Outcome.INCOMPATIBLE if bad else Outcome.NEEDS_REVIEW, findings)


def verdict(
    access: Mapping[str, Any] | None, country: str | None, project: Mapping[str, Any]
) -> Verdict:
    """The matching verdict of one item for a loaded ``ProjectSchema`` project."""
    declared = declaration(project)
    if declared is None:
        finding = Finding("consent", Outcome.NEEDS_REVIEW, NO_DECLARATION)
        return Verdict(Outcome.NEEDS_REVIEW, (finding,))
    if declared["intended_use"] == DS and declared["disease"] is None:
        words = f"the project names its disease as {project.get('disease')!r}, not as a code"
        reason = f"{words}, so a reviewer must compare it with the line's terms"
        return Verdict(Outcome.NEEDS_REVIEW, (Finding("disease", Outcome.NEEDS_REVIEW, reason),))
    terms = consent_terms(access, country)
    found = match(terms, declared)
    if terms["duo_permission"] == DS:
        found = _disease_in_words(found, project)
    return found


@dataclass(frozen=True)
class ItemCheck:
    """One item against one project: the verdict and the jurisdiction requirements."""

    verdict: Verdict
    requirements: tuple[Requirement, ...]

    @property
    def missing_references(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requirements if not r.present)


def check_item(
    access: Mapping[str, Any] | None, country: str | None, project: Mapping[str, Any]
) -> ItemCheck:
    """Verdict and requirements of an item with effective terms ``access`` held in
    ``country`` (the biobank's), for the loaded ``ProjectSchema`` ``project``."""
    rules = (access or {}).get("export_rules", [])
    refs = project.get("jurisdiction_references") or {}
    return ItemCheck(
        verdict(access, country, project),
        tuple(requirements(rules, project.get("country"), refs)),
    )


def verdict_wire(check: ItemCheck) -> dict[str, Any]:
    """An item's check as plain data, for templates and JSON."""
    return {
        "outcome": check.verdict.outcome.value,
        "reasons": list(check.verdict.reasons),
        "requirements": [
            {
                "rule": r.rule.id,
                "title": r.rule.title,
                "label": r.rule.label,
                "reason": r.reason,
                "reference": r.reference,
            }
            for r in check.requirements
        ],
    }
