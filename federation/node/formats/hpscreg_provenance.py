"""hPSCreg records: donor identities, same-donor links, ethics approval and consent, culture
conditions and reprogramming details (what formats/hpscreg.py once left out as having "no
place in the model").

Each function reads through the record builder's ``take`` (which reports what it maps) and
returns the model's part, or None when the record says nothing about it. The certificate of
analysis is only a flag in these records (no file, no link), so it stays out, reported.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

MEDIA = {"mtesr_1": "mTeSR1", "e8": "Essential 8", "stempro": "StemPro"}
PROTEIN_SOURCES = {"knockout_serum_replacement": "KnockOut Serum Replacement", "fbs": "FBS"}
PASSAGING = {
    "enzymatically": "enzymatic",
    "enzyme_free": "enzyme-free",
    "mechanically": "mechanical",
}
DONOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")


class Taker(Protocol):
    raw: dict[str, Any]
    used: set[str]

    def take(self, key: str, target: str, many: bool = False) -> Any: ...


def _percent(value: Any) -> float | None:
    try:
        number = float(str(value).replace(",", "."))
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= 100 else None


def donor_ids(line: Taker, donor: dict[str, Any]) -> None:
    """BioSamples donor accession, hPSCreg donor id, and the depositor's donor code (the
    first of ``internal_donor_id`` that is not the record's own number)."""
    if biosamples := line.take("biosamples_donor_id", "donor.biosamples_id"):
        donor["biosamples_id"] = biosamples
    hpscreg = line.take("donor_id", "donor.hpscreg_id")
    if hpscreg and DONOR_ID.match(hpscreg):
        donor["hpscreg_id"] = hpscreg
    own = str(line.raw.get("id") or "")
    codes = line.take("internal_donor_id", "donor.local_id", many=True) or []
    local = [c.strip() for c in codes if c.strip() and c.strip() != own and DONOR_ID.match(c)]
    if local:
        donor["local_id"] = local[0]


def ethics(line: Taker) -> dict[str, Any] | None:
    """The approval (the line's, else the source cells' ``hips_`` one) and consent facts."""
    approval: dict[str, Any] = {}
    authority = line.take("approval_auth_name", "ethics_approval.authority") or line.take(
        "hips_approval_auth_name", "ethics_approval.authority"
    )
    number = line.take("approval_number", "ethics_approval.number") or line.take(
        "hips_approval_number", "ethics_approval.number"
    )
    # The source cells' (hips_) approval repeats the line's in these records: one is kept.
    line.used |= {"approval_flag", "hips_approval_flag", "hips_approval_auth_name"}
    line.used.add("hips_approval_number")
    if authority:
        approval["authority"] = authority[:300]
        if number:
            approval["number"] = number[:100]
    consent = [line.take(k, "ethics_approval.informed_consent") for k in _CONSENT_FLAGS]
    if any(c == "1" for c in consent):
        approval["informed_consent"] = True
    documents = [line.take(k, "ethics_approval.consent_documents_available") for k in _FORMS]
    line.used |= {f"{k}_enc" for k in _FORMS}  # the registry's stored copy of the same file
    if any(documents):
        approval["consent_documents_available"] = True
    return approval or None


_CONSENT_FLAGS = (
    "informed_consent_flag",
    "hips_informed_consent_flag",
    "hips_consent_obtained_from_donor_of_tissue_flag",
)
_FORMS = ("consent_form_file", "hips_consent_form_file")


def _medium(line: Taker) -> str | None:
    medium = line.take("culture_conditions_medium_culture_medium", "culture_conditions.medium")
    if medium != "other_medium":
        return MEDIA.get(medium, medium) if medium else None
    prefix = "culture_conditions_medium_culture_medium_other_"
    base = line.take(f"{prefix}base", "culture_conditions.medium") or "other medium"
    share = line.take(f"{prefix}concentration", "culture_conditions.medium")
    protein = line.take(f"{prefix}protein_source", "culture_conditions.medium")
    parts = [base]
    if protein:
        parts.append(f"{share + '% ' if share else ''}{PROTEIN_SOURCES.get(protein, protein)}")
    supplements = line.take(f"{prefix}supplements", "culture_conditions.medium", many=True)
    names = [s.split("###")[0].strip() for s in supplements or []]
    parts += [n for n in names if n]
    return " + ".join(parts)


def culture(line: Taker) -> dict[str, Any] | None:
    conditions: dict[str, Any] = {}
    if medium := _medium(line):
        conditions["medium"] = medium[:300]
    matrix = line.take("surface_coating", "culture_conditions.matrix")
    other = line.take("surface_coating_other", "culture_conditions.matrix")
    feeder = line.take("feeder_cells_name", "culture_conditions.matrix")
    line.used |= {"feeder_cells_flag", "feeder_cells_ont_id"}
    if feeder and other and feeder.strip().lower() == other.strip().lower():
        feeder = None  # the same feeder cells named twice
    if matrix or other or feeder:
        named = (matrix, other, f"feeder cells: {feeder.strip()}" if feeder else None)
        conditions["matrix"] = ", ".join(x for x in named if x)[:200]
    method = line.take("passage_method", "culture_conditions.passaging")
    agent = line.take("passage_method_enzymatic", "culture_conditions.passaging") or line.take(
        "passage_method_enzyme_free", "culture_conditions.passaging"
    )
    if method:
        label = PASSAGING.get(method, method)
        conditions["passaging"] = (f"{label} ({agent.upper()})" if agent else label)[:200]
    for key, target in (("o2_concentration", "o2_percent"), ("co2_concentration", "co2_percent")):
        percent = _percent(line.take(key, f"culture_conditions.{target}"))
        if percent is not None:
            conditions[target] = percent
    return conditions or None


def reprogramming(line: Taker, derivation: dict[str, Any]) -> None:
    """The vector's kind beyond the model's vector list, and whether it can be excised."""
    detail = line.take(
        "integrating_vector_transposon_type", "derivation.vector_detail"
    ) or line.take("non_integrating_vector_other", "derivation.vector_detail")
    if detail:
        derivation["vector_detail"] = detail.replace("_", " ")[:200]
    excisable = line.take("excisable_vector_flag", "derivation.excisable_vector")
    if excisable in ("0", "1"):
        derivation["excisable_vector"] = excisable == "1"


def same_donor_links(lines: list[dict[str, Any]], raws: list[dict[str, Any]], report: Any) -> None:
    """``same_donor_cell_line_id`` names another record by the registry's number: when that
    record is in this import and this line's donor has no id of its own, it takes the other
    line's donor ids (one donor, one key). Otherwise the link is reported as left out."""
    by_number = {
        str(raw.get("id")): line for raw, line in zip(raws, lines, strict=True) if raw.get("id")
    }
    for raw, line in zip(raws, lines, strict=True):
        other = str(raw.get("same_donor_cell_line_id") or "")
        if not other or raw.get("same_donor_cell_line_flag") != "1":
            continue
        target = by_number.get(other)
        if target is None:
            report.drop(
                "hPSCreg.same_donor_cell_line_id", "names a record not in this import", other
            )
            continue
        donor, theirs = line["donor"], target["donor"]
        if not (donor.get("biosamples_id") or donor.get("hpscreg_id")):
            donor.update({k: theirs[k] for k in ("biosamples_id", "hpscreg_id") if k in theirs})
        report.mapped("hPSCreg.same_donor_cell_line_id", "donor ids (same donor)")
