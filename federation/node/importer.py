"""JSON catalogue import: check everything first, then commit all or nothing.

The file holds ``{"schema_version": "2", "networks": [...], "biobanks": [...],
"collections": [...], "cell_lines": [...]}``, every section optional. Every problem is
reported with file, section, row, record id and field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import ValidationError

from federation.node.store import CatalogueStore, WriteSummary
from schemas import READABLE_SCHEMA_VERSIONS, format_errors, schema_for

SECTIONS = {
    "networks": "network",
    "biobanks": "biobank",
    "collections": "collection",
    "cell_lines": "cell_line",
}
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "biobank": (("networks", "network"),),
    "collection": (("biobank", "biobank"), ("parent", "collection"), ("networks", "network")),
    "cell_line": (("biobank", "biobank"), ("collection", "collection")),
}
"""Per kind: (field, kind it names). A field may hold one id or a list of ids."""


@dataclass
class Problem:
    source: str
    where: str  # "cell_lines[3] (id WAe009-A)" or "" for the whole file
    message: str  # "donor.sex: Must be one of: MALE, FEMALE, UNKNOWN."

    def __str__(self) -> str:
        return (
            f"{self.source}: {self.where}: {self.message}"
            if self.where
            else (f"{self.source}: {self.message}")
        )


@dataclass
class ImportReport:
    source: str
    problems: list[Problem] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    written: WriteSummary | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        if self.problems:
            head = f"{self.source}: {len(self.problems)} problem(s); nothing was stored"
            return [head, *(f"  {p}" for p in self.problems)]
        found = ", ".join(f"{n} {kind}" for kind, n in self.records.items())
        if self.written is None:
            return [f"{self.source}: valid ({found}); dry run, nothing stored"]
        w = self.written
        return [
            f"{self.source}: imported ({found}): {w.created} created, {w.updated} updated, "
            f"{w.unchanged} unchanged"
        ]


def read_json_file(path: Path) -> tuple[Any, list[Problem]]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), []
    except FileNotFoundError:
        return None, [Problem(str(path), "", "file does not exist")]
    except UnicodeDecodeError as exc:
        return None, [Problem(str(path), "", f"not UTF-8 text (byte {exc.start})")]
    except json.JSONDecodeError as exc:
        return None, [
            Problem(
                str(path), "", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            )
        ]


def check_catalogue(
    data: Any, source: str, store: CatalogueStore
) -> tuple[list[tuple[str, dict[str, Any]]], list[Problem]]:
    """Validate a whole catalogue document against the schemas and the store's records."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return [], [
            Problem(source, "", "expected a JSON object with biobanks, collections, cell_lines")
        ]
    version = data.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        readable = ", ".join(sorted(READABLE_SCHEMA_VERSIONS))
        problems.append(
            Problem(
                source, "schema_version", f"is {version!r}; this node reads versions {readable}"
            )
        )
    for key in sorted(set(data) - set(SECTIONS) - {"schema_version"}):
        problems.append(Problem(source, key, f"unknown section; expected {', '.join(SECTIONS)}"))

    valid: list[tuple[str, dict[str, Any]]] = []
    known = {kind: store.existing_ids(kind) for kind in SECTIONS.values()}
    in_file: dict[str, dict[str, str]] = {kind: {} for kind in SECTIONS.values()}
    for section, kind in SECTIONS.items():
        rows = data.get(section, [])
        if not isinstance(rows, list):
            problems.append(Problem(source, section, "must be a list of records"))
            continue
        for i, row in enumerate(rows):
            rid = row.get("id") if isinstance(row, dict) else None
            where = f"{section}[{i}]" + (f" (id {rid})" if isinstance(rid, str) else "")
            if not isinstance(row, dict):
                problems.append(Problem(source, where, "must be an object"))
                continue
            try:
                record = schema_for(kind).load(row)
            except ValidationError as exc:
                problems.extend(Problem(source, where, m) for m in format_errors(exc.messages))
                continue
            if record["id"] in in_file[kind]:
                problems.append(
                    Problem(source, where, f"id: duplicate of {in_file[kind][record['id']]}")
                )
                continue
            in_file[kind][record["id"]] = where
            valid.append((kind, record))

    records_by = {kind: {r["id"]: r for k, r in valid if k == kind} for kind in SECTIONS.values()}
    for kind, record in valid:
        for field_name, ref in REFERENCES.get(kind, ()):
            value = record.get(field_name)
            for target in value if isinstance(value, list) else [value]:
                if target and target not in in_file[ref] and target not in known[ref]:
                    where = in_file[kind][record["id"]]
                    problems.append(
                        Problem(
                            source,
                            where,
                            f"{field_name}: no {ref} with id {target!r} in this file or at this "
                            "node",
                        )
                    )
        collection = records_by["collection"].get(record.get("collection") or "")
        if kind == "cell_line" and collection and collection["biobank"] != record["biobank"]:
            where = in_file[kind][record["id"]]
            problems.append(
                Problem(
                    source,
                    where,
                    f"collection: {collection['id']!r} belongs to "
                    f"biobank {collection['biobank']!r}, not "
                    f"{record['biobank']!r}",
                )
            )
    return valid, problems


def import_catalogue(
    store: CatalogueStore, data: Any, source: str, dry_run: bool = False
) -> ImportReport:
    """Check, then write all records in one transaction, or nothing if anything is wrong."""
    records, problems = check_catalogue(data, source, store)
    report = ImportReport(source, problems)
    for kind in SECTIONS.values():
        report.records[kind] = sum(1 for k, _ in records if k == kind)
    if problems or dry_run:
        return report
    report.written = store.write(records)
    return report


def import_file(store: CatalogueStore, path: Path, dry_run: bool = False) -> ImportReport:
    data, problems = read_json_file(path)
    if problems:
        return ImportReport(str(path), problems)
    return import_catalogue(store, data, str(path), dry_run=dry_run)
