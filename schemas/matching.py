"""Terms that match: does a requesting project fit a line's consent and DUO terms?

:func:`match` is pure: it reads the line's terms (:class:`schemas.consent.ConsentTermsSchema`)
and the project's declaration (:class:`schemas.consent.ProjectDeclarationSchema`), loading
both through their schemas so an unknown code is a :class:`marshmallow.ValidationError`, and
returns a :class:`Verdict`: ``compatible``, ``incompatible`` or ``needs_review``, with one
finding in words per condition that is not plainly met.

It follows the Data Use Ontology: NRES permits any use; GRU any research purpose; HMB
health, medical or biomedical research but not population origins or ancestry; DS research
on the named diseases and their subtypes; POA population origins or ancestry research only.
Modifiers add conditions (NCU, NPU, NPUNCU, IRB, PUB, COL, RTN, GS, NPOA) or send the item to
a reviewer when only a person can judge them (MOR, TS, US, PS, IS, RS, GSO, NMDS). A code or
a combination whose meaning is not certain goes to review, never to compatible.

Diseases are related through the ICD-10 structure (chapter > block > category > sub-code,
e.g. ``ICD10:VI`` > ``ICD10:G20``, ``ICD10:G30`` > ``ICD10:G30.0``) and through an optional
``parents`` mapping (child code -> parent codes) a caller may pass, e.g. from MONDO or
Orphanet. Codes that neither relates are neither inside nor outside: review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from schemas.consent import (
    ALLOWED,
    DIMENSIONS,
    NOT_ALLOWED,
    ConsentTermsSchema,
    ProjectDeclarationSchema,
)
from schemas.vocabularies import vocabulary

NRES = "DUO:0000004"
GRU = "DUO:0000042"
HMB = "DUO:0000006"
DS = "DUO:0000007"
POA = "DUO:0000011"
RS = "DUO:0000012"
NMDS = "DUO:0000015"
GSO = "DUO:0000016"
NPUNCU = "DUO:0000018"
PUB = "DUO:0000019"
COL = "DUO:0000020"
IRB = "DUO:0000021"
GS = "DUO:0000022"
MOR = "DUO:0000024"
TS = "DUO:0000025"
US = "DUO:0000026"
PS = "DUO:0000027"
IS = "DUO:0000028"
RTN = "DUO:0000029"
CC = "DUO:0000043"
NPOA = "DUO:0000044"
NPU = "DUO:0000045"
NCU = "DUO:0000046"

RESEARCH_USES = frozenset({GRU, HMB, DS, POA})
"""Intended uses that are research; clinical care (CC) is not."""

REVIEW_ONLY = {
    MOR: "results may not be published before a date the provider sets",
    TS: "use is approved for a limited number of months",
    US: "use is limited to approved users",
    PS: "use is limited to an approved project",
    IS: "use is limited to an approved institution",
    RS: "use is limited to studies of a certain research type",
    GSO: "use is limited to genetic studies",
    NMDS: "methods development research is not allowed",
}
"""Modifiers only a reviewer can check against the project, with what each means."""


class Outcome(StrEnum):
    COMPATIBLE = "compatible"
    NEEDS_REVIEW = "needs_review"
    INCOMPATIBLE = "incompatible"


@dataclass(frozen=True)
class Finding:
    """One condition not plainly met: which, what follows, and why in words."""

    condition: str
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    findings: tuple[Finding, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(f.reason for f in self.findings)

    @property
    def compatible(self) -> bool:
        return self.outcome is Outcome.COMPATIBLE


def _duo(code: str) -> str:
    """``'non-commercial use only (NCU)'``."""
    term = vocabulary("duo").get(code)
    if term is None:
        return code
    return f"{term.label} ({term.extra.get('shorthand', code)})"


def _disease(code: str) -> str:
    label = vocabulary("diseases").label(code)
    return code if label == code else f"{label} ({code})"


# --- the disease hierarchy -------------------------------------------------------------

ICD10_CHAPTERS = {
    # WHO ICD-10 (2019): each chapter's first and last category.
    "I": ("A00", "B99"),
    "II": ("C00", "D48"),
    "III": ("D50", "D89"),
    "IV": ("E00", "E90"),
    "V": ("F00", "F99"),
    "VI": ("G00", "G99"),
    "VII": ("H00", "H59"),
    "VIII": ("H60", "H95"),
    "IX": ("I00", "I99"),
    "X": ("J00", "J99"),
    "XI": ("K00", "K93"),
    "XII": ("L00", "L99"),
    "XIII": ("M00", "M99"),
    "XIV": ("N00", "N99"),
    "XV": ("O00", "O99"),
    "XVI": ("P00", "P96"),
    "XVII": ("Q00", "Q99"),
    "XVIII": ("R00", "R99"),
    "XIX": ("S00", "T98"),
    "XX": ("V01", "Y98"),
    "XXI": ("Z00", "Z99"),
    "XXII": ("U00", "U85"),
}
_CATEGORY = re.compile(r"^([A-Z]\d{2})(\.\d{1,2})?$")
_BLOCK = re.compile(r"^([A-Z]\d{2})-([A-Z]\d{2})$")


def _icd10_span(code: str) -> tuple[str, str] | None:
    """The categories an ICD-10 code covers, first and last; None if not ICD-10."""
    if not code.startswith("ICD10:"):
        return None
    body = code[len("ICD10:") :]
    if body in ICD10_CHAPTERS:
        return ICD10_CHAPTERS[body]
    if m := _BLOCK.match(body):
        return m.group(1), m.group(2)
    if m := _CATEGORY.match(body):
        return m.group(1), m.group(1)
    return None


def _icd10_within(code: str, ancestor: str) -> bool | None:
    """Whether ICD-10 ``code`` is ``ancestor`` or lies under it; None unless both ICD-10."""
    inner, outer = _icd10_span(code), _icd10_span(ancestor)
    if inner is None or outer is None:
        return None
    a_body, c_body = ancestor[len("ICD10:") :], code[len("ICD10:") :]
    if "." in a_body:  # a sub-code holds itself and its finer sub-codes only
        return c_body == a_body or c_body.startswith(a_body)
    return outer[0] <= inner[0] and inner[1] <= outer[1]


def _ancestors(code: str, parents: Mapping[str, Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [code]
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def disease_within(
    code: str, ancestor: str, parents: Mapping[str, Iterable[str]] | None = None
) -> bool | None:
    """True if ``code`` is ``ancestor`` or one of its subtypes, False if it is known not to
    be, None if the hierarchy cannot tell (e.g. an ORPHA code against an ICD-10 one)."""
    if code == ancestor:
        return True
    lineage = {code} | _ancestors(code, parents or {})
    if ancestor in lineage:
        return True
    icd = [_icd10_within(c, ancestor) for c in lineage]
    if any(icd):
        return True
    if icd and all(r is False for r in icd):
        return False
    return None


# --- the checks ------------------------------------------------------------------------


def _permission(terms: dict[str, Any], project: dict[str, Any], parents: Any) -> list[Finding]:
    permission, use = terms["duo_permission"], project["intended_use"]
    modifiers = set(terms["duo_modifiers"])
    cond = "DUO permission"
    bad, review = Outcome.INCOMPATIBLE, Outcome.NEEDS_REVIEW
    declared = f"the project declares {_duo(use)}"

    if use == CC:
        if permission == NRES or CC in modifiers:
            return []
        return [
            Finding(
                "clinical care use",
                review,
                "the line's DUO terms do not allow clinical care use (CC); "
                f"the project declares {_duo(use)}",
            )
        ]
    if permission is None:
        return [
            Finding(
                cond,
                review,
                f"the line states no DUO permission; {declared}",
            )
        ]
    if permission in (NRES, GRU):
        return []
    if permission == HMB:
        if use in (HMB, DS):
            return []
        if use == POA:
            why = "the line allows health/medical/biomedical research (HMB), which excludes "
            return [Finding(cond, bad, f"{why}population origins or ancestry; {declared}")]
        return [
            Finding(
                cond,
                bad,
                "the line allows only health/medical/biomedical research (HMB); "
                f"{declared}, which is broader",
            )
        ]
    if permission == POA:
        if use == POA:
            return []
        return [
            Finding(
                cond,
                bad,
                f"the line allows only population origins or ancestry research (POA); {declared}",
            )
        ]
    if permission == DS:
        return _disease_specific(terms, project, parents)
    return [Finding(cond, review, f"the line's DUO permission {permission} is not understood")]


def _disease_specific(
    terms: dict[str, Any], project: dict[str, Any], parents: Any
) -> list[Finding]:
    cond = "disease-specific research (DS)"
    limited = ", ".join(_disease(d) for d in terms["duo_diseases"])
    use, disease = project["intended_use"], project["disease"]
    if use == POA:
        return [
            Finding(
                cond,
                Outcome.INCOMPATIBLE,
                f"the line is limited to research on {limited}; the project declares {_duo(use)}",
            )
        ]
    if not disease:
        return [
            Finding(
                cond,
                Outcome.INCOMPATIBLE,
                f"the line is limited to research on {limited}; "
                f"the project declares {_duo(use)} and names no disease",
            )
        ]
    found = [disease_within(disease, d, parents) for d in terms["duo_diseases"]]
    if any(found):
        if use == DS:
            return []
        return [
            Finding(
                cond,
                Outcome.NEEDS_REVIEW,
                f"the line is limited to research on {limited}; the project names "
                f"{_disease(disease)} but declares {_duo(use)}, which is broader",
            )
        ]
    if all(f is False for f in found):
        return [
            Finding(
                cond,
                Outcome.INCOMPATIBLE,
                f"the line is limited to research on {limited}; "
                f"the project studies {_disease(disease)}, which is not among them",
            )
        ]
    return [
        Finding(
            cond,
            Outcome.NEEDS_REVIEW,
            f"the line is limited to research on {limited}; the disease hierarchy does not "
            f"tell whether the project's {_disease(disease)} is one of them",
        )
    ]


def _says(code: str) -> str:
    return f"the line's DUO terms say {_duo(code)}"


def _agreement(has: bool, code: str, agrees: bool | None, what: str) -> list[Finding]:
    if not has or agrees is True:
        return []
    if agrees is None:
        reason = f"{_says(code)}; the project does not say whether it agrees to {what}"
        return [Finding(_duo(code), Outcome.NEEDS_REVIEW, reason)]
    reason = f"{_says(code)}; the project does not agree to {what}"
    return [Finding(_duo(code), Outcome.INCOMPATIBLE, reason)]


def _use_limits(mods: set[str], project: dict[str, Any]) -> list[Finding]:
    """NCU, NPU, NPUNCU, IRB and NPOA: conditions the declaration settles."""
    out: list[Finding] = []
    bad = Outcome.INCOMPATIBLE
    if mods & {NCU, NPUNCU} and project["commercial_use"]:
        code = NCU if NCU in mods else NPUNCU
        out.append(Finding(_duo(code), bad, f"{_says(code)}; the project is commercial"))
    if mods & {NPU, NPUNCU} and not project["not_for_profit"]:
        code = NPU if NPU in mods else NPUNCU
        reason = (
            f"{_says(code)}; the project's institution {project['institution']!r} is for profit"
        )
        out.append(Finding(_duo(code), bad, reason))
    if IRB in mods and not project["irb_approval"]:
        reason = f"{_says(IRB)}; the project holds no ethics approval"
        out.append(Finding(_duo(IRB), bad, reason))
    if NPOA in mods and project["intended_use"] == POA:
        reason = f"{_says(NPOA)}; the project declares {_duo(POA)}"
        out.append(Finding(_duo(NPOA), bad, reason))
    return out


def _agreements(mods: set[str], project: dict[str, Any]) -> list[Finding]:
    """PUB, COL and RTN: what the project must agree to."""
    return [
        *_agreement(PUB in mods, PUB, project["agrees_to_publish"], "publish its results"),
        *_agreement(
            COL in mods,
            COL,
            project["agrees_to_collaborate"],
            "collaborate with the line's investigators",
        ),
        *_agreement(
            RTN in mods,
            RTN,
            project["agrees_to_return_results"],
            "return derived data to the resource",
        ),
    ]


def _geography(terms: dict[str, Any], project: dict[str, Any]) -> list[Finding]:
    """GS: compatible only where the line names the requester's country."""
    if GS not in terms["duo_modifiers"]:
        return []
    allowed, country = terms["gs_countries"], project["country"]
    if not allowed:
        reason = f"{_says(GS)} but name no region; the requester is in {country}"
        return [Finding(_duo(GS), Outcome.NEEDS_REVIEW, reason)]
    if country not in allowed:
        reason = f"{_says(GS)}, limited to {', '.join(allowed)}; the requester is in {country}"
        return [Finding(_duo(GS), Outcome.INCOMPATIBLE, reason)]
    return []


def _review_only(mods: list[str], project: dict[str, Any]) -> list[Finding]:
    """MOR, TS, US, PS, IS, RS, GSO, NMDS: a reviewer checks them against the project."""
    return [
        Finding(
            _duo(code),
            Outcome.NEEDS_REVIEW,
            f"{_says(code)}: {REVIEW_ONLY[code]}; a reviewer must check the project of "
            f"{project['institution']!r}",
        )
        for code in mods
        if code in REVIEW_ONLY
    ]


def _modifiers(terms: dict[str, Any], project: dict[str, Any]) -> list[Finding]:
    mods = list(dict.fromkeys(terms["duo_modifiers"]))
    return [
        *_use_limits(set(mods), project),
        *_agreements(set(mods), project),
        *_geography(terms, project),
        *_review_only(mods, project),
    ]


def _scope(terms: dict[str, Any], project: dict[str, Any]) -> list[Finding]:
    scope = terms["scope"]
    wants = {name: bool(project[name]) for name in DIMENSIONS}
    provider = terms["country"]
    abroad_by_country = bool(provider) and provider != project["country"]
    wants["distribution_abroad"] = wants["distribution_abroad"] or abroad_by_country
    stated_by_duo = {"research_use"} if terms["duo_permission"] else set()
    out: list[Finding] = []
    for name, words in DIMENSIONS.items():
        if not wants[name] or scope[name] == ALLOWED:
            continue
        if scope[name] != NOT_ALLOWED and name in stated_by_duo:
            continue  # a DUO permission says which research is allowed; checked above
        if name == "distribution_abroad" and abroad_by_country:
            project_side = f"the requester is in {project['country']}, the line in {provider}"
        elif name == "commercial_use":
            project_side = "the project is commercial"
        else:
            project_side = f"the project involves {words}"
        if scope[name] == NOT_ALLOWED:
            out.append(
                Finding(
                    words,
                    Outcome.INCOMPATIBLE,
                    f"the line's consent excludes {words}; {project_side}",
                )
            )
        else:
            out.append(
                Finding(
                    words,
                    Outcome.NEEDS_REVIEW,
                    f"the line's consent does not state whether {words} is allowed; {project_side}",
                )
            )
    return out


def match(
    terms: Mapping[str, Any],
    project: Mapping[str, Any],
    parents: Mapping[str, Iterable[str]] | None = None,
) -> Verdict:
    """Decide whether ``project`` may use an item with ``terms``.

    Both are loaded through their schemas first (raising ``ValidationError`` for unknown
    codes or missing declarations). ``parents`` maps a disease code to its parent codes,
    extending the ICD-10 structure. Incompatible if any condition fails, needs review if
    any cannot be decided, compatible otherwise.
    """
    t: dict[str, Any] = ConsentTermsSchema().load(dict(terms))
    p: dict[str, Any] = ProjectDeclarationSchema().load(dict(project))
    findings = [
        *_permission(t, p, parents),
        *_modifiers(t, p),
        *_scope(t, p),
    ]
    if any(f.outcome is Outcome.INCOMPATIBLE for f in findings):
        outcome = Outcome.INCOMPATIBLE
    elif findings:
        outcome = Outcome.NEEDS_REVIEW
    else:
        outcome = Outcome.COMPATIBLE
    return Verdict(outcome, tuple(findings))
