"""Import: check everything first, then commit all or nothing.

Every format (federation/node/formats/) turns its source into a catalogue document
``{"schema_version": "2", "networks": [...], "biobanks": [...], "collections": [...],
"cell_lines": [...]}`` plus a mapping report. Here that document is checked against the
schemas and the node's records, each problem located in the source (file or sheet, row,
record id, field), and only a clean document is written, in one transaction.

Withdrawals made at the node stick (federation/node/store.py): a record of the import that
is withdrawn here is a problem, "withdrawn at this node; restore it first to change it",
unless the import marks it withdrawn too (then it stays as it is, counted unchanged). And a
biobank or collection the import withdraws is checked as a withdrawal by hand is: refused
while a published record at the node that the import leaves alone still names it.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import ValidationError

from federation.node.formats import convert
from federation.node.formats.json_catalogue import read_json_file
from federation.node.formats.old_spellings import normalise as normalise_old_spellings
from federation.node.formats.report import (
    CATALOGUE_SECTIONS,
    Conversion,
    Locate,
    MappingReport,
    Problem,
    locate_in_document,
)
from federation.node.privacy import FactsPolicy, keep_exact_facts
from federation.node.store import (
    DEPENDENTS,
    REFERENCES,
    WITHDRAWN_HERE,
    CatalogueStore,
    InUse,
    StillWithdrawn,
    WriteSummary,
)
from federation.protocol import content_hash
from schemas import READABLE_SCHEMA_VERSIONS, schema_for
from schemas.errors import error_items

SECTIONS = CATALOGUE_SECTIONS
__all__ = [
    "REFERENCES",
    "SECTIONS",
    "ImportReport",
    "Problem",
    "check_catalogue",
    "import_catalogue",
    "import_file",
    "import_files",
    "run_import",
]


@dataclass
class ImportReport:
    source: str
    problems: list[Problem] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    written: WriteSummary | None = None
    format: str = "json"
    mapping: MappingReport = field(default_factory=MappingReport)
    withdrawn: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def dry_run(self) -> bool:
        return self.ok and self.written is None

    def lines(self) -> list[str]:
        if self.problems:
            head = f"{self.source}: {len(self.problems)} problem(s); nothing was stored"
            return [head, *(f"  {p}" for p in self.problems)]
        found = ", ".join(f"{n} {kind}" for kind, n in self.records.items())
        held = sum(self.withdrawn.values())
        if held:
            found += f"; {held} of them withdrawn at the source"
        if self.written is None:
            return [f"{self.source}: valid ({found}); dry run, nothing stored"]
        w = self.written
        return [
            f"{self.source}: imported ({found}): {w.created} created, {w.updated} updated, "
            f"{w.unchanged} unchanged" + (f", {w.withdrawn} withdrawn" if w.withdrawn else "")
        ]


def check_catalogue(
    data: Any,
    source: str,
    store: CatalogueStore,
    locate: Locate | None = None,
    withdrawn: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
    rejected: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> tuple[list[tuple[str, dict[str, Any]]], list[Problem]]:
    """Validate a whole catalogue document against the schemas and the store's records.

    ``rejected`` names records a converter already reported and left out; references to
    them are not reported again."""
    locate = locate or locate_in_document(source)
    if not isinstance(data, dict):
        return [], [
            Problem(source, "", "expected a JSON object with biobanks, collections, cell_lines")
        ]
    problems = _check_header(data, source)
    live = {kind: store.existing_ids(kind) for kind in SECTIONS.values()}
    known = {kind: set(ids) for kind, ids in live.items()}
    for kind, rid in rejected:
        known.setdefault(kind, set()).add(rid)
    rows = _check_rows(data, source, locate)
    problems += rows.problems
    problems += _check_withdrawn_here(rows, store, withdrawn, locate)
    problems += _check_references(rows, known, withdrawn, locate)
    problems += _check_withdrawals(rows, store, live, withdrawn, locate)
    problems += _check_placement(rows, store, locate)
    return rows.valid, problems


def _check_header(data: dict[str, Any], source: str) -> list[Problem]:
    """The schema version, and no section this node does not know."""
    problems = []
    version = data.get("schema_version")
    if version not in READABLE_SCHEMA_VERSIONS:
        readable = ", ".join(sorted(READABLE_SCHEMA_VERSIONS))
        problems.append(
            Problem(
                source,
                "",
                f"is {version!r}; this node reads versions {readable}",
                "schema_version",
            )
        )
    for key in sorted(set(data) - set(SECTIONS) - {"schema_version"}, key=str):
        problems.append(
            Problem(source, "", f"unknown section; expected {', '.join(SECTIONS)}", str(key))
        )
    return problems


def _per_kind() -> dict[str, dict[str, Any]]:
    return {kind: {} for kind in SECTIONS.values()}


@dataclass
class _Rows:
    """What the rows of a document held: the records that loaded, in document order, where
    each sits, every id seen (a row with its own problem still counts), and the problems."""

    valid: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    at: dict[str, dict[str, tuple[int, str]]] = field(default_factory=_per_kind)
    """kind -> id -> (index, section) of a record that loaded."""
    first_seen: dict[str, dict[str, int]] = field(default_factory=_per_kind)
    """kind -> id -> index of the first row with that id."""
    problems: list[Problem] = field(default_factory=list)


def _check_rows(data: dict[str, Any], source: str, locate: Locate) -> _Rows:
    """Load each section's rows through the schemas, reporting bad rows and duplicate ids."""
    rows = _Rows()
    schemas = {kind: schema_for(kind) for kind in SECTIONS.values()}  # one per kind: cheaper
    for section, kind in SECTIONS.items():
        section_rows = data.get(section, [])
        if not isinstance(section_rows, list):
            rows.problems.append(Problem(source, "", "must be a list of records", section))
            continue
        for i, row in enumerate(section_rows):
            rid = row.get("id") if isinstance(row, dict) else None
            rid = rid if isinstance(rid, str) else None
            if not isinstance(row, dict):
                rows.problems.append(_problem(locate(section, i, rid, ""), "must be an object"))
                continue
            seen = rows.first_seen[kind]
            if rid is not None and rid in seen:
                first = locate(section, seen[rid], rid, "")
                rows.problems.append(
                    _problem(locate(section, i, rid, "id"), f"duplicate of {first[1]}")
                )
                continue
            if rid is not None:
                seen[rid] = i
            try:
                record = schemas[kind].load(row)
            except ValidationError as exc:
                for path, message in error_items(exc.messages):
                    rows.problems.append(_problem(locate(section, i, rid, path), message))
                continue
            rows.at[kind][record["id"]] = (i, section)
            rows.valid.append((kind, record))
    return rows


def _check_references(
    rows: _Rows,
    known: dict[str, set[str]],
    withdrawn: Collection[tuple[str, str]],
    locate: Locate,
) -> list[Problem]:
    """Every id a published record names is in the file or at the node, and not withdrawn."""
    problems = []
    for kind, record in rows.valid:
        if (kind, record["id"]) in withdrawn:
            continue  # a withdrawn record may name what is gone; it is not published
        i, section = rows.at[kind][record["id"]]
        for field_name, ref in REFERENCES.get(kind, ()):
            value = record.get(field_name)
            for target in value if isinstance(value, list) else [value]:
                if not target:
                    continue
                if target in rows.at[ref] and (ref, target) in withdrawn:
                    problems.append(
                        _problem(
                            locate(section, i, record["id"], field_name),
                            f"{ref} {target!r} is withdrawn at the source, so this record "
                            "cannot be published",
                        )
                    )
                elif target not in rows.first_seen[ref] and target not in known[ref]:
                    # (a record of this file with its own problem counts as present)
                    problems.append(
                        _problem(
                            locate(section, i, record["id"], field_name),
                            f"no {ref} with id {target!r} in this file or at this node",
                        )
                    )
    return problems


def _check_withdrawn_here(
    rows: _Rows,
    store: CatalogueStore,
    withdrawn: Collection[tuple[str, str]],
    locate: Locate,
) -> list[Problem]:
    """A record withdrawn at this node comes back only through a restore: the import may
    name it withdrawn (it stays as it is), not published."""
    problems = []
    held = {kind: store.withdrawn_ids(kind) for kind in SECTIONS.values()}
    for kind, record in rows.valid:
        key = (kind, record["id"])
        if record["id"] in held[kind] and key not in withdrawn:
            i, section = rows.at[kind][record["id"]]
            problems.append(_problem(locate(section, i, record["id"], "id"), WITHDRAWN_HERE))
    return problems


def _check_withdrawals(
    rows: _Rows,
    store: CatalogueStore,
    live: dict[str, set[str]],
    withdrawn: Collection[tuple[str, str]],
    locate: Locate,
) -> list[Problem]:
    """A biobank or collection the import withdraws, published at the node now, may not be
    named by a published record at the node that the import leaves out (one in the import
    is checked with the import's references)."""
    problems = []
    for kind in DEPENDENTS:
        targets = {
            rid for k, rid in withdrawn if k == kind and rid in live[kind] and rid in rows.at[kind]
        }
        users = store.dependents(kind, targets)
        for rid in sorted(users):
            outside = [f"{k} {i}" for k, i in users[rid] if i not in rows.first_seen.get(k, {})]
            if not outside:
                continue
            i, section = rows.at[kind][rid]
            more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
            problems.append(
                _problem(
                    locate(section, i, rid, ""),
                    f"cannot be withdrawn: still referenced by {', '.join(outside[:5])}{more} "
                    "at this node; withdraw those first, or in this same import",
                )
            )
    return problems


def _check_placement(rows: _Rows, store: CatalogueStore, locate: Locate) -> list[Problem]:
    """A cell line's collection belongs to the line's biobank: the collection as the file
    has it, else as stored at this node. And a collection the file moves to another biobank
    leaves no stored line (one the file does not hold) behind in the old one."""
    problems = []
    stored = {c["id"]: c.get("biobank") for c in store.records("collection")}
    owners = {**stored, **{r["id"]: r["biobank"] for k, r in rows.valid if k == "collection"}}
    moved = {cid for cid, owner in owners.items() if cid in stored and stored[cid] != owner}
    if moved:
        problems += _left_behind(rows, store, moved, owners, locate)
    for kind, record in rows.valid:
        if kind != "cell_line":
            continue
        cid = record.get("collection")
        owner = owners.get(cid) if isinstance(cid, str) else None
        if owner is not None and owner != record["biobank"]:
            i, section = rows.at[kind][record["id"]]
            problems.append(
                _problem(
                    locate(section, i, record["id"], "collection"),
                    f"{cid!r} belongs to biobank {owner!r}, not {record['biobank']!r}",
                )
            )
    return problems


def _left_behind(
    rows: _Rows,
    store: CatalogueStore,
    moved: set[str],
    owners: dict[str, Any],
    locate: Locate,
) -> list[Problem]:
    """Stored cell lines, not in the file, under a collection the file moves elsewhere."""
    behind: dict[str, list[str]] = {}
    for record in store.records("cell_line"):
        cid = record.get("collection")
        in_file = record["id"] in rows.first_seen["cell_line"]
        if cid in moved and not in_file and record.get("biobank") != owners[cid]:
            behind.setdefault(cid, []).append(record["id"])
    problems = []
    for cid, lines in sorted(behind.items()):
        i, section = rows.at["collection"][cid]
        shown = ", ".join(repr(lid) for lid in sorted(lines)[:5])
        more = f" and {len(lines) - 5} more" if len(lines) > 5 else ""
        problems.append(
            _problem(
                locate(section, i, cid, "biobank"),
                f"moves the collection to biobank {owners[cid]!r}, but the cell lines {shown}"
                f"{more} at this node stay under it in another biobank; move them in this "
                "import too, or leave the collection where it is",
            )
        )
    return problems


def _problem(location: tuple[str, str, str], message: str) -> Problem:
    source, where, field_path = location
    return Problem(source, where, message, field_path)


def run_import(
    store: CatalogueStore,
    conversion: Conversion,
    dry_run: bool = False,
    facts_policy: FactsPolicy | None = None,
) -> ImportReport:
    """Check a converted source, then write all its records in one transaction, or nothing
    if anything is wrong. Timed, so the report can say how long the import took."""
    started = time.monotonic()
    report = ImportReport(
        conversion.source,
        list(conversion.problems),
        format=conversion.format,
        mapping=conversion.mapping,
    )
    if conversion.document or not conversion.problems:  # one report lists every problem
        normalise_old_spellings(conversion.document, conversion.mapping)
        records, problems = check_catalogue(
            conversion.document,
            conversion.source,
            store,
            locate=conversion.locate,
            withdrawn=conversion.withdrawn,
            rejected=conversion.rejected,
        )
        report.problems.extend(problems)
        for kind in SECTIONS.values():
            report.records[kind] = sum(1 for k, _ in records if k == kind)
            report.withdrawn[kind] = sum(1 for k, i in conversion.withdrawn if k == kind)
        if not report.problems:
            _note_kept_content(store, records, conversion)
            records = keep_exact_facts(records, store, facts_policy or FactsPolicy())
        if not report.problems and not dry_run:
            try:
                report.written = store.write(records, withdrawn=conversion.withdrawn)
            except (StillWithdrawn, InUse) as exc:  # changed at the node since the checks
                report.problems.append(Problem(conversion.source, "", str(exc)))
    report.seconds = time.monotonic() - started
    return report


def _note_kept_content(
    store: CatalogueStore, records: list[tuple[str, dict[str, Any]]], conversion: Conversion
) -> None:
    """Say so when records withdrawn here and in the source differ from the content kept
    for their restore: that content stays, so the import changes nothing about them."""
    again = {(k, r["id"]): r for k, r in records if (k, r["id"]) in conversion.withdrawn}
    differ = 0
    for kind in {k for k, _ in again}:
        schema = schema_for(kind)
        for kept in store.records(kind, withdrawn=True):
            record = again.get((kind, kept.get("id")))
            if record is not None and content_hash(schema.dump(record)) != content_hash(kept):
                differ += 1
    if differ:
        conversion.mapping.note(
            f"{differ} record(s) withdrawn at this node and marked withdrawn in the source "
            "differ from the content kept for their restore; that content stays as it was "
            "(restore a record first to change it)"
        )


def import_files(
    store: CatalogueStore,
    files: dict[str, bytes],
    fmt: str | None = None,
    dry_run: bool = False,
    source: str | None = None,
    **options: Any,
) -> ImportReport:
    """Convert files in any import format (detected when not given), then check and write.

    Options are passed to the format (see federation.node.formats.convert); the node's
    biobanks and collections are passed as ``existing`` so hPSCreg lines find their place.
    """
    started = time.monotonic()
    existing = {
        "biobank": {bid: bid for bid in store.existing_ids("biobank")},
        "collection": {c["id"]: c["biobank"] for c in store.records("collection")},
    }
    conversion = convert(files, fmt, existing=existing, **options)
    if source:
        conversion.source = source
    report = run_import(store, conversion, dry_run=dry_run)
    report.seconds = time.monotonic() - started
    return report


def import_catalogue(
    store: CatalogueStore, data: Any, source: str, dry_run: bool = False
) -> ImportReport:
    """Check a catalogue document, then write all of it or, if anything is wrong, nothing."""
    return run_import(store, Conversion(source, "json", data), dry_run=dry_run)


def import_file(store: CatalogueStore, path: Path, dry_run: bool = False) -> ImportReport:
    data, problems = read_json_file(path)
    if problems:
        return ImportReport(str(path), problems)
    return import_catalogue(store, data, str(path), dry_run=dry_run)
