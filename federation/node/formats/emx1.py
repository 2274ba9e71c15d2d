"""MOLGENIS EMX1 catalogues: ``entities``, ``attributes`` and one data sheet per entity.

EMX1 is the spreadsheet format of MOLGENIS 1-8, in which the BBMRI-ERIC Directory was kept
until 2023 (package ``eu_bbmri_eric``: ``eu_bbmri_eric_biobanks``, ``_collections``,
``_persons``, ``_networks``, ``_bio_qual_info``, ``_col_qual_info``) and national catalogues
such as BBMRI-NL's still are (``bbmri_nl_biobanks``, ``bbmri_nl_sample_collections``,
``bbmri_nl_persons``, ``bbmri_nl_juristic_persons``). As CSV, each sheet is a file named by
the sheet (``attributes.csv``, ``eu_bbmri_eric_biobanks.csv``); as XLSX, a workbook sheet.

What fits the model is turned into the Directory's EMX2 tables and read by directory/read.py,
so both give the same records, checks and privacy rules (contacts pseudonymised):

* an entity is a Directory table by its name without the package, or its label
  (:data:`ENTITY_TABLES`); an attribute is a Directory column by its name or label
  (directory/labels.py, with :data:`ATTRIBUTES` for the names EMX1 catalogues use);
* a reference to an entity that is no Directory table (BBMRI-NL's juristic persons) is
  replaced by the referenced row's name, where the Directory column is text;
* a single-valued Directory column given several values keeps the first (reported);
* entities and attributes with no place in the model are reported as notes, never refused.

What cannot be made valid is refused with file (and sheet), row and field.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from typing import Any

from federation.node.formats.detection import xlsx_sheets
from federation.node.formats.directory import convert as directory_convert
from federation.node.formats.directory.labels import KNOWN_COLUMNS, Model, match_header
from federation.node.formats.labels import file_key, label_key
from federation.node.formats.limits import Budget
from federation.node.formats.report import Conversion, Problem
from federation.node.formats.sources import Files
from federation.node.formats.tabular import Table
from federation.node.formats.tabular import _tables as read_sheets  # CSV and XLSX, in limits

METADATA = ("entities", "attributes", "packages", "tags", "i18nstrings", "languages")
"""EMX1 sheets that describe the model rather than hold data."""

ENTITY_TABLES = {
    "biobanks": "Biobanks",
    "collections": "Collections",
    "samplecollections": "Collections",
    "persons": "Persons",
    "contacts": "Persons",
    "networks": "Networks",
    "bioqualinfo": "QualityInfoBiobanks",
    "colqualinfo": "QualityInfoCollections",
    "qualityinfobiobanks": "QualityInfoBiobanks",
    "qualityinfocollections": "QualityInfoCollections",
    "diseasetypes": "DiseaseTypes",
}
"""An entity's name without its package (as a label key) -> the Directory table it is."""

ATTRIBUTES = {
    "Biobanks": {"website": "url", "juristicperson": "juridical_person", "networks": "network"},
    "Collections": {
        "website": "url",
        "contactperson": "contact",
        "principalinvestigators": "head",
        "institutes": "juridical_person",
        "biobanks": "biobank",
        "disease": "diagnosis_available",
        "diseases": "diagnosis_available",
        "networks": "network",
        "biobanksampleaccessuri": "access_uri",
        "biobanksampleaccessdescription": "access_description",
    },
    "Networks": {"website": "url", "juristicperson": "juridical_person"},
}
"""EMX1 attribute names (label keys) -> Directory columns, where the label match misses."""

SINGLE = {"id", "biobank", "contact", "head", "parent_collection", "country"}
"""Directory columns that hold one value."""

NAMES = ("name", "label", "title")
"""Attributes of a referenced row that say what it is, in order of preference."""


@dataclass
class Entity:
    name: str  # full name, with its package: eu_bbmri_eric_biobanks
    label: str = ""
    short: str = ""  # without the package (biobanks), when the entities sheet says it
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    sheet: Table | None = None


def looks_like(files: Files) -> bool:
    keys = {file_key(n) for n in files}
    if {"entities", "attributes"} <= keys or ("attributes" in keys and len(keys) > 1):
        return True
    return any(
        n.lower().endswith(".xlsx") and "attributes" in (xlsx_sheets(d) or [])
        for n, d in files.items()
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _records(table: Table) -> list[tuple[int, dict[str, str]]]:
    header = [_text(h) for h in table.header]
    return [
        (number, {h: _text(row[i]) if i < len(row) else "" for i, h in enumerate(header) if h})
        for number, row in table.rows
    ]


def _model(tables: list[Table]) -> tuple[dict[str, Entity], list[Problem]]:
    """The entities the ``entities`` and ``attributes`` sheets declare, by full name."""
    sheets = {label_key(t.name): t for t in tables}
    attributes = sheets.get("attributes")
    if attributes is None:
        return {}, [Problem("attributes", "", "missing: an EMX1 catalogue needs it")]
    entities: dict[str, Entity] = {}
    declared = sheets.get("entities")
    for _, row in _records(declared) if declared else []:
        name, package = row.get("name", ""), row.get("package", "")
        if name:
            full = f"{package}_{name}" if package and not name.startswith(package + "_") else name
            entities[full] = Entity(full, row.get("label", ""), name)
    problems = []
    for number, row in _records(attributes):
        entity, name = row.get("entity", ""), row.get("name", "")
        if not entity or not name:
            missing = "entity" if not entity else "name"
            problems.append(Problem(attributes.source, f"row {number}", "empty", missing))
            continue
        full = next((e for e in entities if e == entity or e.endswith("_" + entity)), entity)
        entities.setdefault(full, Entity(full)).attributes[name] = row
    for table in tables:
        if label_key(table.name) in METADATA:
            continue
        found = next((e for e in entities.values() if e.name == table.name), None)
        if found is not None:
            found.sheet = table
    return entities, problems


def _table_of(entity: Entity, package: str) -> str | None:
    """The Directory table an entity is: its name without the package (as the entities
    sheet gives it, or after the prefix all entities share), or its label."""
    short = entity.short or entity.name.removeprefix(package)
    candidates = [label_key(short), label_key(entity.name), label_key(entity.label)]
    return next((ENTITY_TABLES[c] for c in candidates if c in ENTITY_TABLES), None)


def _package(entities: dict[str, Entity]) -> str:
    """The prefix every entity name shares, up to an underscore (``bbmri_nl_``)."""
    prefix = os.path.commonprefix(list(entities)) if len(entities) > 1 else ""
    return prefix[: prefix.rfind("_") + 1]


def _columns(table: str, entity: Entity) -> dict[str, str]:
    """EMX1 attribute -> Directory column, for the attributes that have one."""
    out = {}
    extra = ATTRIBUTES.get(table, {})
    for name, attribute in entity.attributes.items():
        found = ""
        for label in (name, attribute.get("label", "")):
            if not label:
                continue
            renamed, how = match_header(f"{table}.csv", [label], Model())
            found = renamed[0] if how[0][1] else extra.get(label_key(label), "")
            if found:
                break
        if found and found in KNOWN_COLUMNS.get(table, [found]):
            out[name] = found
    return out


def _names(entity: Entity) -> dict[str, str]:
    """A referenced entity's rows: id -> what the row is called (its name or label)."""
    if entity.sheet is None:
        return {}
    attrs = entity.attributes
    key = next((n for n, a in attrs.items() if _yes(a.get("idAttribute"))), "id")
    shown = next((n for n, a in attrs.items() if _yes(a.get("labelAttribute"))), None)
    shown = shown or next((n for n in NAMES if n in attrs), key)
    return {row.get(key, ""): row.get(shown, "") for _, row in _records(entity.sheet)}


def _yes(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "auto", "yes", "1")


@dataclass
class _Table:
    """One entity as a Directory table: the CSV text, and each of its rows' sheet row."""

    text: str
    rows: dict[int, int]  # row in the Directory table -> row in the EMX1 sheet
    notes: list[str]


def _as_directory(table: str, entity: Entity, entities: dict[str, Entity]) -> _Table:
    assert entity.sheet is not None
    source = entity.sheet.source
    columns = _columns(table, entity)
    notes = [f"{source}: entity {entity.name} read as the Directory's {table} table"]
    header: list[str] = []
    for name, column in columns.items():
        if column in header:
            notes.append(f"{source}: {name}: {column} is already given; not read")
        else:
            header.append(column)
    left = [n for n in entity.attributes if n not in columns]
    if left:
        notes.append(f"{source}: attributes with no place in the model: {', '.join(left)}")
    undeclared = [_text(h) for h in entity.sheet.header if _text(h) not in entity.attributes]
    if undeclared:
        notes.append(
            f"{source}: columns the attributes sheet does not declare, not read: "
            + ", ".join(h or "(no header)" for h in undeclared)
        )
    named = {
        attr: _names(entities[a["refEntity"]])
        for attr, a in entity.attributes.items()
        if columns.get(attr) == "juridical_person" and a.get("refEntity") in entities
    }
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    rows = {}
    for index, (number, row) in enumerate(_records(entity.sheet), start=2):
        record: dict[str, str] = {}
        for attr, column in columns.items():
            value = row.get(attr, "")
            if attr in named and value:
                value = ", ".join(named[attr].get(v.strip(), v.strip()) for v in value.split(","))
            elif column in SINGLE and "," in value:
                notes.append(f"{source}: {attr}: several values in one row; the first is kept")
                value = value.split(",")[0].strip()
            record.setdefault(column, value)
        writer.writerow(record)
        rows[index] = number
    return _Table(out.getvalue(), rows, list(dict.fromkeys(notes)))


def _refused(source: str, problems: list[Problem]) -> Conversion:
    return Conversion(source, "emx1", problems=problems)


def convert(
    files: Files, pseudonym_key: str, source: str | None = None, budget: Budget | None = None
) -> Conversion:
    """Map an EMX1 catalogue onto catalogue records through the Directory's tables; what
    has no place in the model is in the report's notes, located by sheet."""
    source = source or "EMX1 catalogue"
    tables, problems = read_sheets(files, budget or Budget())
    if problems:
        return _refused(source, problems)
    entities, problems = _model(tables)
    if problems:
        return _refused(source, problems)
    emx2: Files = {}
    origin: dict[str, tuple[str, dict[int, int]]] = {}
    notes: list[str] = []
    referenced = {a.get("refEntity") for e in entities.values() for a in e.attributes.values()}
    package = _package(entities)
    for entity in entities.values():
        table = _table_of(entity, package)
        if entity.sheet is None:
            notes += [f"entity {entity.name}: declared, but no data sheet"] if table else []
        elif table is None:
            why = "a lookup table: the ids that refer to it are read in its place"
            if entity.name not in referenced:
                why = f"no place in the model ({len(entity.sheet.rows)} rows not read)"
            notes.append(f"{entity.sheet.source}: entity {entity.name}: {why}")
        elif f"{table}.csv" in origin:
            first = origin[f"{table}.csv"][0]
            message = f"{first} is already the {table} table"
            problems.append(Problem(entity.sheet.source, "", message))
        else:
            found = _as_directory(table, entity, entities)
            emx2[f"{table}.csv"] = found.text.encode()
            origin[f"{table}.csv"] = (entity.sheet.source, found.rows)
            notes += found.notes
    for sheet in tables:
        if label_key(sheet.name) not in METADATA and not any(
            e.sheet is sheet for e in entities.values()
        ):
            notes.append(f"{sheet.source}: a sheet no entity declares; not read")
    if problems:
        return _refused(source, problems)
    conversion = directory_convert(emx2, pseudonym_key, source, Budget())
    conversion.format = "emx1"
    _point_at_sheets(conversion, origin)
    for note in notes:
        conversion.mapping.note(note)
    return conversion


def _point_at_sheets(conversion: Conversion, origin: dict[str, tuple[str, dict[int, int]]]) -> None:
    """Problems, now and when the records are checked later, name the EMX1 sheet and row."""
    conversion.problems = [_relocated(p, origin) for p in conversion.problems]
    located = conversion.locate
    if located is not None:

        def locate(section: str, i: int, rid: str | None, path: str) -> tuple[str, str, str]:
            found = Problem(*located(section, i, rid, path)[:2], "", path)
            moved = _relocated(found, origin)
            return moved.source, moved.where, path

        conversion.locate = locate


def _relocated(problem: Problem, origin: dict[str, tuple[str, dict[int, int]]]) -> Problem:
    """A problem in a Directory table, pointed at the EMX1 sheet and row it came from."""
    if problem.source not in origin:
        return problem
    sheet, rows = origin[problem.source]
    where = problem.where
    if where.startswith("row "):
        number, _, rest = where[4:].partition(" ")
        if number.isdigit() and int(number) in rows:
            where = f"row {rows[int(number)]}" + (f" {rest}" if rest else "")
    return Problem(sheet, where, problem.message, problem.field)
