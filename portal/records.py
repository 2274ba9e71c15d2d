"""What a record page shows, computed from the indexed record: pure, no I/O.

Accreditation is judged against the date the page is shown, like the search facet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from portal.facts_table import fact_rows
from portal.miabis_view import miabis_view
from schemas.conformance import checklist
from search.indexer.derived import PASSED
from search.indexer.documents import ISO_20387
from search.vocab import QC_FLAGS, STORAGE_LABELS, duo_label

QC_ATTRIBUTE_LABELS = {
    "VIABILITY": "Viability",
    "CELL_COUNT": "Cell count",
    "STERILITY": "Sterility",
    "MYCOPLASMA": "Mycoplasma",
    "ENDOTOXIN": "Endotoxin",
    "VIRUS_HIV1": "HIV-1",
    "VIRUS_HIV2": "HIV-2",
    "VIRUS_HBV": "Hepatitis B",
    "VIRUS_HCV": "Hepatitis C",
    "VIRUS_OTHER": "Other viruses",
    "IDENTITY_STR": "Identity (STR)",
    "KARYOTYPE": "Karyotype",
    "POS_MARKERS": "Positive markers",
    "NEG_MARKERS": "Negative markers",
    "PLURIPOTENCY_MARKERS": "Pluripotency markers",
    "TRILINEAGE": "Trilineage differentiation",
    "RESIDUAL_PSC": "Residual pluripotent cells",
    "RESIDUAL_VECTOR": "Residual vector",
    "PURITY": "Purity",
    "POTENCY": "Potency",
    "FUNCTION": "Function",
}
FAILED = frozenset({"fail", "positive", "abnormal"})


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def certifications(biobank: dict[str, Any] | None, today: dt.date) -> list[dict[str, Any]]:
    """Each certification with whether it holds today (status valid, not yet expired)."""
    out = []
    for cert in (biobank or {}).get("certifications", []):
        until = _date(cert.get("valid_until"))
        holds = cert.get("status") == "valid" and (until is None or until >= today)
        if cert.get("status") != "valid":
            state = cert.get("status", "unknown")
        elif until is not None and until < today:
            state = f"expired on {until.isoformat()}"
        else:
            state = "valid today"
        out.append(
            {
                **cert,
                "iso20387": ISO_20387 in cert.get("standard", "").upper(),
                "valid_today": holds,
                "state": state,
            }
        )
    return out


def qc_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in record.get("qc", []):
        value = r.get("value")
        rows.append(
            {
                **r,
                "attribute_label": QC_ATTRIBUTE_LABELS.get(r["attribute"], r["attribute"]),
                "measured": f"{value:g} {r.get('unit', '')}".strip() if value is not None else "",
                "outcome": "passed"
                if r["result"] in PASSED
                else "failed"
                if r["result"] in FAILED
                else "not done",
            }
        )
    return sorted(rows, key=lambda r: (r["attribute_label"], str(r.get("date") or "")))


def access_terms(doc: dict[str, Any], related: dict[str, Any]) -> dict[str, Any] | None:
    """The line's own terms, else its collection's (as search uses them)."""
    record = doc.get("record", {})
    access, source = record.get("access"), doc["kind"]
    if not access and doc["kind"] == "cell_line" and related.get("collection"):
        access, source = related["collection"].get("access"), "collection"
    if not access:
        return None
    return {
        **access,
        "source": source,
        # Optional: hPSCreg's terms say only whether commercial use is allowed.
        "permission_label": duo_label(access["duo_permission"])
        if access.get("duo_permission")
        else None,
        "modifier_labels": [(m, duo_label(m)) for m in access.get("duo_modifiers", [])],
    }


def standards(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A cell line's checklist per applicable standard, for the line and each lot."""
    return checklist(doc["record"]) if doc.get("kind") == "cell_line" else []


def present(doc: dict[str, Any], related: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """Everything a record page shows beyond the raw record."""
    record = doc.get("record", {})
    biobank = record if doc["kind"] == "biobank" else related.get("biobank")
    until = _date(doc.get("iso20387_valid_until"))
    lots = record.get("lots", [])
    storage = record.get("storage") or {}
    return {
        "certifications": certifications(biobank, today),
        "accredited_today": until is not None and until >= today,
        "qc": qc_rows(record),
        "standards": standards(doc),
        "qc_flags": [(label, name in doc.get("qc_passed", [])) for name, label in QC_FLAGS.items()],
        "access": access_terms(doc, related),
        "lots": lots,
        "vials": sum(lot.get("vials_available") or 0 for lot in lots) if lots else None,
        "storage": STORAGE_LABELS.get(storage.get("temperature", ""), storage.get("temperature")),
        "storage_temperatures": [
            STORAGE_LABELS.get(t, t) for t in record.get("storage_temperatures", [])
        ],
        "facts": fact_rows(record),  # portal/facts_table.py
        "miabis": miabis_view(doc),
    }
