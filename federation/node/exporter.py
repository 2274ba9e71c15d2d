"""The node's catalogue out again: JSON, spreadsheet (XLSX or CSV set) or Directory CSV set.

JSON and spreadsheets hold the published records (what the feed shows as live), in the
import layout, so an export imports back to identical records. The Directory set also
carries withdrawn records, marked ``withdrawn`` as the Directory does, and leaves out cell
lines, which the Directory model has no place for.

Withdrawals stick (federation/node/store.py): an export taken before a record was withdrawn
still holds it as published, so importing that export again is refused for that record
("withdrawn at this node; restore it first to change it"); a Directory export names it
withdrawn, and imports back unchanged.

Spreadsheet exports never carry a live formula: XLSX text cells are written as text, and
CSV fields are all quoted with formula starts defused by a reversible rule that the CSV
import undoes (federation/node/formats/tabular.py, "Formulas in exports").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from federation.node.formats import directory, tabular
from federation.node.formats.report import CATALOGUE_SECTIONS
from federation.node.privacy import FactsPolicy, PublishedCatalogue
from federation.node.store import RecordReader
from schemas import SCHEMA_VERSION

FORMATS = {
    "json": ("catalogue.json", "application/json"),
    "xlsx": (
        "catalogue.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    "csv": ("catalogue-csv.zip", "application/zip"),
    "directory": ("catalogue-directory.zip", "application/zip"),
}


@dataclass
class Export:
    filename: str
    mimetype: str
    content: bytes
    counts: dict[str, int]


def catalogue_document(store: RecordReader, withdrawn: bool = False) -> dict[str, Any]:
    """The node's records as a catalogue document; withdrawn ones too when asked."""
    document: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for section, kind in CATALOGUE_SECTIONS.items():
        records = store.records(kind)
        if withdrawn:
            records = sorted(records + store.records(kind, withdrawn=True), key=lambda r: r["id"])
        document[section] = records
    return document


def withdrawn_ids(store: RecordReader) -> set[tuple[str, str]]:
    return {
        (kind, r["id"])
        for kind in CATALOGUE_SECTIONS.values()
        for r in store.records(kind, withdrawn=True)
    }


def export(store: RecordReader, fmt: str, policy: FactsPolicy | None = None) -> Export:
    """Every format reads the records as they may leave the node: a collection's facts
    through the node's privacy policy (the default one, k = 10, unless given)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    store = PublishedCatalogue(store, policy or FactsPolicy())
    filename, mimetype = FORMATS[fmt]
    if fmt == "directory":
        document = catalogue_document(store, withdrawn=True)
        content = directory.export_zip(document, withdrawn_ids(store))
    else:
        document = catalogue_document(store)
        if fmt == "json":
            content = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()
        elif fmt == "xlsx":
            content = tabular.to_xlsx(document)
        else:
            content = tabular.to_csv_zip(document)
    counts = {kind: len(document[section]) for section, kind in CATALOGUE_SECTIONS.items()}
    return Export(filename, mimetype, content, counts)
