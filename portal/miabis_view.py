"""What a record page shows of a record's MIABIS 3 parts, labelled: pure, no I/O."""

from __future__ import annotations

from typing import Any

from schemas.miabis import CAPABILITY_LISTS
from schemas.vocabularies import vocabulary

CONTENT_LABELS = {
    "disease": "carries a disease",
    "healthy": "healthy (control)",
    "unknown": "unknown",
    "not_applicable": "not applicable",
}


def _labels(vocab: str, codes: list[str]) -> list[str]:
    return [vocabulary(vocab).label(code) for code in codes]


def _publication(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "url": f"https://doi.org/{p['doi']}"}


def miabis_view(doc: dict[str, Any]) -> dict[str, Any]:
    """Labels for the MIABIS facts of a record page (empty lists and None: nothing to show)."""
    record = doc.get("record", {})
    if doc.get("kind") == "biobank":
        return {
            "capabilities": [
                (name.split("_")[0].capitalize(), _labels("biobank_capabilities", record[name]))
                for name in CAPABILITY_LISTS
                if record.get(name)
            ]
        }
    tissue = record.get("source_tissue")
    return {
        "sample_types": _labels("miabis_sample_types", doc.get("miabis_sample_types", [])),
        "sources": _labels("sample_sources", doc.get("sample_sources", [])),
        "species": _labels("species", doc.get("species", [])),
        "source_tissue": tissue,
        "content": CONTENT_LABELS.get(record.get("content_status") or ""),
        "content_diagnoses": record.get("content_diagnoses", []),
        "dataset_types": _labels("dataset_types", record.get("dataset_types", [])),
        "publications": [_publication(p) for p in record.get("publications", [])],
        "research_resources": record.get("research_resources", []),
    }
