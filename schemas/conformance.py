"""Does a line, or one of its lots, meet a standard? Pure: a record in, a verdict out.

Three honest kinds, per applicable standard (one whose cell types cover the line's):

* ``evidence_backed``: every required attribute has passing latest evidence;
* ``declared``: not shown by the evidence, but the biobank declares conformance with a
  certificate reference (``standards_declared``); the gaps in the evidence are still listed;
* ``partial``: neither; what is missing or failing is said in words.

Evidence for an attribute is the latest QC result of its kind (by date; undated results are
older; among equals the last listed; ``not_done`` is no result) among those that cover the
attribute's markers. It passes when its outcome is a pass (pass, negative, normal) and its
value meets the rule, if the standard states one.

The line's karyotype summary and a verified STR profile count as undated results of the line
(KARYOTYPE, IDENTITY_STR), as they do for the search's QC flags; a dated result outranks them.

**Line and lots.** For the line, all its QC results count, whatever lot they are for. For a
lot, an attribute is judged on the results for that lot when it has any, else on the line's
results that name no lot (characterisation done once for the bank, such as a karyotype);
results for other lots never count. A declaration naming a lot covers that lot only; one
naming none covers the line and every lot. A line *meets* a standard (the search facet)
when the line or at least one of its lots is evidence-backed or declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.standards import Attribute, Standard, applicable

PASSED = frozenset({"pass", "negative", "normal"})
KINDS = ("evidence_backed", "declared", "partial")
MET_KINDS = frozenset({"evidence_backed", "declared"})
PERCENT = ("%", "percent")
"""Units that start so are percentages ("% positive", "% of cells")."""


@dataclass(frozen=True)
class Check:
    """One attribute judged: ``met``, ``missing`` (no evidence) or ``failing``; ``words`` says
    what the evidence shows."""

    attribute: Attribute
    status: str
    words: str
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class Conformance:
    standard: Standard
    kind: str
    checks: tuple[Check, ...]
    lot: str | None = None
    declarations: tuple[dict[str, Any], ...] = field(default=())

    @property
    def gaps(self) -> list[str]:
        """What keeps the evidence from backing the standard: required attributes not met."""
        return [
            f"{c.attribute.label}: {c.words}"
            for c in self.checks
            if c.attribute.required and c.status != "met"
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "standard": self.standard.id,
            "title": self.standard.short_title,
            "lot": self.lot,
            "kind": self.kind,
            "gaps": self.gaps,
            "certificates": [_certificate(d) for d in self.declarations],
            "checklist": [
                {
                    "attribute": c.attribute.id,
                    "label": c.attribute.label,
                    "category": c.attribute.category,
                    "required": c.attribute.required,
                    "status": c.status,
                    "words": c.words,
                }
                for c in self.checks
            ],
        }


def _certificate(declaration: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) for k, v in declaration.items() if k != "standard" and v is not None}


def _covers(result: dict[str, Any], markers: tuple[str, ...]) -> bool:
    named = {m.strip().casefold() for m in result.get("markers") or []}
    return all(any(alt.casefold() in named for alt in m.split("|")) for m in markers)


def latest(results: list[dict[str, Any]], attribute: Attribute) -> dict[str, Any] | None:
    """The latest result that counts as evidence for ``attribute`` (see the module's rule)."""
    found = [
        r
        for r in results
        if r.get("attribute") == attribute.qc_attribute
        and r.get("result") != "not_done"
        and _covers(r, attribute.markers)
    ]
    if not found:
        return None
    return max(enumerate(found), key=lambda ir: (str(ir[1].get("date") or ""), ir[0]))[1]


def _same_unit(a: str | None, b: str | None) -> bool:
    folded = [(u or "").strip().casefold() for u in (a, b)]
    return folded[0] == folded[1] or all(u.startswith(PERCENT) for u in folded)


def _value_problem(attribute: Attribute, result: dict[str, Any]) -> str | None:
    rule = attribute.rule
    if rule is None:
        return None
    value, unit = result.get("value"), result.get("unit")
    if value is None:
        return f"no value reported, needs {rule.words()}"
    if rule.unit and not _same_unit(rule.unit, unit):
        return f"reported in {unit or 'no unit'}, the rule is in {rule.unit}"
    if (rule.min is not None and value < rule.min) or (rule.max is not None and value > rule.max):
        return f"{value:g}{' ' + unit if unit else ''}, needs {rule.words()}"
    return None


def check(attribute: Attribute, results: list[dict[str, Any]]) -> Check:
    """Judge one attribute on a set of QC results."""
    result = latest(results, attribute)
    if result is None:
        markers = f" covering {', '.join(attribute.markers)}" if attribute.markers else ""
        return Check(attribute, "missing", f"no {attribute.qc_attribute} result{markers}")
    when = f" ({result['date']})" if result.get("date") else ""
    if result["result"] not in PASSED:
        words = f"latest {attribute.qc_attribute} result{when} is {result['result']}"
        return Check(attribute, "failing", words, result)
    problem = _value_problem(attribute, result)
    if problem:
        return Check(attribute, "failing", f"latest result{when} {problem}", result)
    value = result.get("value")
    measured = f": {value:g} {result.get('unit') or ''}".rstrip() if value is not None else ""
    return Check(attribute, "met", f"{attribute.qc_attribute} passed{when}{measured}", result)


def evidence(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The line's QC results, after its karyotype summary and verified STR profile as results
    (first, undated: any dated result, and any result listed, is later)."""
    summaries = []
    karyotype = record.get("karyotype")
    if karyotype:
        outcome = "normal" if karyotype.get("normal") else "abnormal"
        method = karyotype.get("method") or "karyotype"
        summaries.append({"attribute": "KARYOTYPE", "method": method, "result": outcome})
    if (record.get("str_profile") or {}).get("verified"):
        summaries.append({"attribute": "IDENTITY_STR", "method": "STR profile", "result": "pass"})
    return summaries + list(record.get("qc") or [])


def _kind(checks: tuple[Check, ...], declarations: tuple[dict[str, Any], ...]) -> str:
    if all(c.status == "met" for c in checks if c.attribute.required):
        return "evidence_backed"
    return "declared" if declarations else "partial"


def _declarations(record: dict[str, Any], standard: Standard, lot: str | None) -> tuple:
    return tuple(
        d
        for d in record.get("standards_declared") or []
        if d.get("standard") == standard.id and d.get("lot") in (None, lot)
    )


def _lot_results(qc: list[dict[str, Any]], attribute: Attribute, lot: str) -> list[dict]:
    own = [r for r in qc if r.get("lot") == lot]
    if latest(own, attribute) is not None:
        return own
    return [r for r in qc if not r.get("lot")]


def evaluate(record: dict[str, Any], standard: Standard, lot: str | None = None) -> Conformance:
    """One standard, for the line (``lot`` None) or for one of its lots."""
    qc = evidence(record)
    if lot is None:
        checks = tuple(check(a, qc) for a in standard.attributes)
    else:
        checks = tuple(check(a, _lot_results(qc, a, lot)) for a in standard.attributes)
    declarations = _declarations(record, standard, lot)
    return Conformance(standard, _kind(checks, declarations), checks, lot, declarations)


def line_conformance(record: dict[str, Any]) -> list[Conformance]:
    """Each applicable standard, judged for the line."""
    return [evaluate(record, s) for s in applicable(record["cell_type"])]


def lot_conformance(record: dict[str, Any]) -> list[Conformance]:
    """Each applicable standard, judged for each of the line's lots."""
    return [
        evaluate(record, s, lot["lot_id"])
        for s in applicable(record["cell_type"])
        for lot in record.get("lots") or []
    ]


def _passes(attribute: Attribute, results: list[dict[str, Any]]) -> bool:
    result = latest(results, attribute)
    return (
        result is not None
        and result["result"] in PASSED
        and _value_problem(attribute, result) is None
    )


Groups = dict[str, list[dict[str, Any]]]


def _grouped(results: list[dict[str, Any]]) -> Groups:
    """Results by QC kind, so each attribute looks only at its own."""
    groups: Groups = {}
    for r in results:
        groups.setdefault(r.get("attribute", ""), []).append(r)
    return groups


def _backed(standard: Standard, own: Groups, fallback: Groups | None = None) -> bool:
    """Every required attribute passes on ``own`` results (else, per attribute, on
    ``fallback`` when ``own`` has no evidence for it: a lot's rule)."""
    for a in standard.attributes:
        if not a.required:
            continue
        results = own.get(a.qc_attribute, [])
        if fallback is not None and latest(results, a) is None:
            results = fallback.get(a.qc_attribute, [])
        if not _passes(a, results):
            return False
    return True


def standards_met(record: dict[str, Any]) -> list[str]:
    """Ids of the standards the line or one of its lots meets (evidence-backed or declared).

    The same verdicts as :func:`line_conformance` and :func:`lot_conformance`, without their
    words: this runs for every line the indexer writes.
    """
    candidates = applicable(record["cell_type"])
    if not candidates:
        return []  # most cell types have no standard: nothing to look at
    qc = evidence(record)
    declared = {d["standard"] for d in record.get("standards_declared") or []}
    untagged = [r for r in qc if not r.get("lot")]
    # Without lot-tagged results every lot is judged on the line's results: no second look.
    lots = [lot["lot_id"] for lot in record.get("lots") or []] if len(untagged) < len(qc) else []
    line, fallback = _grouped(qc), _grouped(untagged)
    per_lot = [_grouped([r for r in qc if r.get("lot") == lot]) for lot in lots]
    met = [
        s.id
        for s in candidates
        if s.id in declared or _backed(s, line) or any(_backed(s, own, fallback) for own in per_lot)
    ]
    return sorted(met)


def checklist(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What record pages and the record API show: per applicable standard, the line's
    verdict with its checklist, and each lot's verdict."""
    lots = lot_conformance(record)
    return [
        {**c.to_dict(), "lots": [x.to_dict() for x in lots if x.standard.id == c.standard.id]}
        for c in line_conformance(record)
    ]
