"""Which file is which Directory table, and which column is which attribute, by label.

A Directory export of another model version, or one re-saved by a spreadsheet program, keeps
the words but not the spelling: ``Also Known In.csv``, a column ``Head of Biobank`` or
``Juridical Person``. Files and columns are matched here in this order, each match counted
in the mapping report with how it was made:

1. the attribute name exactly (``juridical_person``);
2. the name by label (formats/labels.py: case, spaces, underscores and hyphens ignored);
3. a label the export's own model file (``molgenis.csv``) gives the attribute;
4. a label an earlier model version used (:data:`OLDER_LABELS`, for exports without one).

Columns that match nothing keep their header and are reported as left out, like any
column the node has no place for.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field

from federation.node.formats.directory.emx2 import QUALITY_TABLES, REQUIRED, TABLES
from federation.node.formats.directory.write import (
    BIOBANK_COLUMNS,
    COLLECTION_COLUMNS,
    DISEASE_COLUMNS,
    NETWORK_COLUMNS,
    PERSON_COLUMNS,
    QUALITY_COLUMNS,
)
from federation.node.formats.labels import file_key, label_key
from federation.node.formats.report import MappingReport, Problem
from federation.node.formats.sources import Files

MODEL_FILE = "molgenis"
"""The key of the file in which an EMX2 export carries its model."""

KNOWN_COLUMNS = {
    "Networks": NETWORK_COLUMNS,
    "Biobanks": BIOBANK_COLUMNS,
    "Collections": COLLECTION_COLUMNS,
    "Persons": PERSON_COLUMNS,
    **{
        table[:-4]: QUALITY_COLUMNS.format(owner=owner, level=level).split(",")
        for table, owner, level in QUALITY_TABLES
    },
    "DiseaseTypes": DISEASE_COLUMNS,
}
"""The attributes of each table the node reads, when the export carries no model file."""

OLDER_LABELS = {
    "Biobanks": {
        "Head of Biobank": "head",
        "Also Known In": "also_known",
        "Networks": "network",
        "Capabilities Provided": "capabilities",
        "Juristic Person": "juridical_person",
        "Website": "url",
    },
    "Collections": {
        "Head of Collection": "head",
        "Also Known In": "also_known",
        "Available for Commercial Use": "commercial_use",
        "Fee-based Access to": "access_fee",
        "Access via Join Projects to": "access_joint_project",
        "Access via Joint Projects to": "access_joint_project",
        "PD/SOP": "sop",
        "Diagnosis": "diagnosis_available",
        "Material Types": "materials",
        "Storage Temperature": "storage_temperatures",
        "Collection Type": "type",
        "Website": "url",
    },
    "Networks": {"Also Known In": "also_known", "Website": "url"},
    "Persons": {"E-mail": "email", "Email Address": "email"},
    "QualityInfoBiobanks": {"Assessment Level": "assess_level_bio"},
    "QualityInfoCollections": {"Assessment Level": "assess_level_col"},
}
"""Labels earlier Directory model versions gave attributes (per table), as data."""

NOT_READ = {
    "alsoknownin": "cross-references to other catalogues are not kept",
    "nationalnodes": "the node model has no national node",
    "molgenismembers": "the Directory's own users are not imported",
    "molgenissettings": "the Directory's own settings are not imported",
}
"""Tables of an export that are recognised and deliberately not read, with the reason."""

TABULAR_SHEETS = frozenset({"networks", "biobanks", "collections"})
"""File stems the node's own spreadsheet format uses: as is, they are not a Directory table."""


@dataclass
class Model:
    """The attributes and labels an export's model file gives each table."""

    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> key -> name
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> key -> name

    def names(self, table: str) -> list[str]:
        found = self.columns.get(table)
        return list(found.values()) if found else list(KNOWN_COLUMNS.get(table, []))


def read_model(files: Files) -> tuple[Model, list[Problem]]:
    """The model of the export's ``molgenis.csv``, if it carries one."""
    model = Model()
    for name, data in files.items():
        if file_key(name) != MODEL_FILE:
            continue
        try:
            rows = list(csv.DictReader(data.decode("utf-8-sig").splitlines()))
        except (UnicodeDecodeError, csv.Error) as exc:
            return model, [Problem(name, "", f"the model file is not readable as CSV: {exc}")]
        for row in rows:
            table, column = (row.get("tableName") or "").strip(), (row.get("columnName") or "")
            if not table or not column.strip():
                continue
            model.columns.setdefault(table, {})[label_key(column)] = column.strip()
            if (row.get("label") or "").strip():
                model.labels.setdefault(table, {})[label_key(row["label"])] = column.strip()
    return model, []


def table_of(name: str) -> str | None:
    """The Directory table (``Biobanks.csv``) a file is, by its label, or None."""
    key = file_key(name)
    return next((t for t in TABLES if label_key(t[:-4]) == key), None)


def looks_like(files: Files) -> bool:
    """A Directory export: its required tables named exactly, or by label when the stem is
    not one of the node's own spreadsheet sheets (or a model file says it is EMX2)."""
    with_model = any(file_key(n) == MODEL_FILE for n in files)
    for name in files:
        table = table_of(name)
        if table not in REQUIRED:
            continue
        stem = name.rsplit("/", 1)[-1][: -len(".csv")] if name.endswith(".csv") else ""
        if with_model or stem not in TABULAR_SHEETS:
            return True
    return False


def match_header(
    table: str, header: Sequence[str], model: Model
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The header with every column renamed to its attribute, and per column
    ``(header, attribute or "", how it matched)``."""
    stem = table[:-4]
    names = model.names(stem)
    ways = (
        ("by label", {label_key(n): n for n in names}),
        ("by the model file's label", model.labels.get(stem, {})),
        ("by an earlier model version's label", _older(stem)),
    )
    out, how = [], []
    for column in header:
        found, way = (column, "exactly") if column in names else ("", "not matched")
        if not found:
            key = label_key(column or "")
            found, way = next(((m[key], w) for w, m in ways if key in m), ("", "not matched"))
        out.append(found or column)
        how.append((column, found, way))
    return out, how


def _older(table: str) -> dict[str, str]:
    return {label_key(label): name for label, name in OLDER_LABELS.get(table, {}).items()}


def duplicates(name: str, how: list[tuple[str, str, str]]) -> list[Problem]:
    """Two columns of one file that are the same attribute: which to read is not known."""
    seen: dict[str, str] = {}
    problems = []
    for column, attribute, _ in how:
        if attribute and attribute in seen:
            message = f"columns {seen[attribute]!r} and {column!r} are both {attribute!r}"
            problems.append(Problem(name, "row 1", message, attribute))
        seen.setdefault(attribute, column)
    return problems


def report(
    mapping: MappingReport, matches: dict[str, list[tuple[str, str, str]]], files: Files
) -> None:
    """Say, per file, which columns were matched how and which matched nothing, and which
    files were recognised and not read."""
    for name, how in sorted(matches.items()):
        ways: dict[str, list[str]] = {}
        for column, attribute, way in how:
            if way == "exactly":
                continue
            text = f"{column!r} -> {attribute}" if attribute else repr(column)
            ways.setdefault(way, []).append(text)
        for way, columns in ways.items():
            mapping.note(f"{name}: columns {way}: {', '.join(columns)}")
    for name in sorted(files):
        reason = NOT_READ.get(file_key(name))
        if reason:
            mapping.note(f"{name}: not read: {reason}")
        elif file_key(name) == MODEL_FILE:
            mapping.note(f"{name}: the export's model: its labels match the columns")
