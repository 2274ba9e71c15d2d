"""Spreadsheet catalogues (XLSX, or a set of CSV files): one sheet per record kind.

The layout comes from the schemas, so it never drifts from the model:

* sheets ``networks``, ``biobanks``, ``collections``, ``cell_lines``: one row per record,
  a column per field; nested fields are dotted (``donor.sex``, ``access.duo_permission``);
  lists of values share one cell, separated by ``;`` (``IPSC; CELL_LINES``; a ``;`` inside
  a value is written ``\\;``); a mapping is ``key=value; key=value`` (STR loci);
* part sheets for lists of structured items, named ``<sheet>.<field>`` (``cell_lines.qc``,
  ``cell_lines.lots``, ``biobanks.certifications``, ``cell_lines.donor.diseases``): one row
  per item, with the owner's id in the first column (``cell_line``), in order.

As CSV, each sheet is a file named after it (``cell_lines.csv``, ``cell_lines.qc.csv``),
given as several files, a folder or a zip archive. Problems name the file or sheet, the
row and the column; the cells are converted by the field's type and left to the schemas
to judge, so a bad value gets the same message as in any other format.

Reading is held to the import's limits (formats/limits.py): a workbook's parts are counted
and its XML scanned before openpyxl opens it, a sheet's ``<dimension>`` is ignored (openpyxl
would pad every row and the sheet up to whatever it claims), and rows, columns, cells and
text per cell are capped as they are read.

**Formulas in exports** (OWASP, "CSV Injection"). A spreadsheet program runs a cell that
starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and in a locale whose list separator
is ``;`` it splits an unquoted ``kolf;=1+1`` into a live ``=1+1`` cell. So:

* XLSX cells holding text are written as text (``t="inlineStr"``, never ``<f>``), so
  ``=HYPERLINK(...)`` is shown, not run, and reads back as the same text;
* CSV fields are all quoted, and :func:`defuse` puts one ``'`` before the formula character
  at the start of the field and of every segment after a ``;``, ``,``, ``|``, tab or line
  break (after any spaces, and after any ``'`` already there): ``kolf;=1+1`` is written
  ``kolf;'=1+1``, ``@SUM(1)`` is written ``'@SUM(1)``. Plain numbers (``-12``, ``+3.5e2``) are
  not formulas and stay as they are.

The rule is reversible, so an export imports back to identical records: :func:`undefuse`,
applied to every CSV cell read, removes one ``'`` from each such segment. Whether a segment
gets the ``'`` depends only on what follows its leading spaces and apostrophes, which adding
or removing one ``'`` does not change, so ``undefuse(defuse(x)) == x`` for every text, a text
that already starts with ``'=`` included (it is written ``''=``). For a CSV file written by
hand the rule is Excel's own: a leading ``'`` before a formula character marks it as text
and is not part of the value (a ``'`` before anything else, as in ``'t Hooft``, is kept).
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from xml.parsers import expat

from marshmallow import Schema, fields

from federation.node.formats.limits import Archive, Budget, Limits, TooLarge
from federation.node.formats.report import CATALOGUE_SECTIONS, Conversion, Problem
from federation.node.formats.sources import Files, basename
from schemas import SCHEMA_VERSION, schema_for

SEPARATOR = ";"


@dataclass(frozen=True)
class Column:
    name: str  # "donor.sex"
    path: tuple[str, ...]
    field: fields.Field


@dataclass(frozen=True)
class Sheet:
    name: str  # "cell_lines" or "cell_lines.qc"
    section: str  # "cell_lines"
    kind: str  # "cell_line"
    columns: tuple[Column, ...]
    list_path: tuple[str, ...] = ()  # part sheets: where the items go, e.g. ("donor", "diseases")

    @property
    def is_part(self) -> bool:
        return bool(self.list_path)

    @property
    def header(self) -> list[str]:
        return ([self.kind] if self.is_part else []) + [c.name for c in self.columns]


def _walk(schema: Schema, prefix: tuple[str, ...]) -> tuple[list[Column], list[tuple]]:
    columns: list[Column] = []
    parts: list[tuple[tuple[str, ...], Schema]] = []
    for name, field in schema.fields.items():
        path = (*prefix, name)
        if isinstance(field, fields.Nested):
            inner_columns, inner_parts = _walk(field.schema, path)
            columns += inner_columns
            parts += inner_parts
        elif isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            parts.append((path, field.inner.schema))
        else:
            columns.append(Column(".".join(path), path, field))
    return columns, parts


@cache
def layout() -> dict[str, Sheet]:
    """Every sheet, main sheets first, each followed by its part sheets."""
    sheets: dict[str, Sheet] = {}
    for section, kind in CATALOGUE_SECTIONS.items():
        columns, parts = _walk(schema_for(kind), ())
        sheets[section] = Sheet(section, section, kind, tuple(columns))
        for path, schema in parts:
            part_columns, deeper = _walk(schema, ())
            assert not deeper, f"{section}.{'.'.join(path)}: lists within list items"
            name = f"{section}.{'.'.join(path)}"
            sheets[name] = Sheet(name, section, kind, tuple(part_columns), path)
    return sheets


# -- cells ------------------------------------------------------------------------------
def split_list(text: str) -> list[str]:
    """``a; b\\; c`` -> ``["a", "b; c"]``: split on unescaped separators, drop empties."""
    items, current, chars = [], [], iter(text)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, "\\"))
        elif ch == SEPARATOR:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    return [item for item in items if item]


def join_list(items: Iterable[Any]) -> str:
    return f"{SEPARATOR} ".join(
        str(i).replace("\\", "\\\\").replace(SEPARATOR, "\\" + SEPARATOR) for i in items
    )


_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_INT = re.compile(r"^[+-]?\d+$")


def _scalar(value: Any, field: fields.Field) -> Any:
    """A cell as the field's type when it clearly is one; anything else is passed on for
    the schema to reject with its usual message."""
    if isinstance(value, str):
        value = value.strip()
    if isinstance(field, fields.Boolean):
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        return value
    if isinstance(field, fields.Integer):
        if isinstance(value, str) and _INT.match(value):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if isinstance(field, fields.Float):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value
    if isinstance(field, (fields.Date, fields.DateTime)):
        if isinstance(value, dt.datetime) and isinstance(field, fields.Date):
            return value.date().isoformat()
        return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a number typed into a text column: 12, not 12.0
    if isinstance(value, (int, float, dt.date)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return value


def read_cell(value: Any, column: Column) -> tuple[Any, str | None]:
    """(value for the record, or a problem message)."""
    field = column.field
    if isinstance(field, fields.List):
        items = split_list(value) if isinstance(value, str) else [value]
        return [_scalar(item, field.inner) for item in items], None
    if isinstance(field, fields.Dict):
        if not isinstance(value, str):
            return None, "expected 'key=value; key=value'"
        pairs = {}
        for item in split_list(value):
            key, eq, val = item.partition("=")
            if not eq or not key.strip():
                return None, f"expected 'key=value; key=value', found {item!r}"
            pairs[key.strip()] = val.strip()
        return pairs, None
    return _scalar(value, field), None


def write_cell(value: Any, column: Column, for_csv: bool) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return join_list(value) if value else None
    if isinstance(value, dict):
        return join_list(f"{k}={v}" for k, v in value.items()) if value else None
    if isinstance(value, bool) and for_csv:
        return "true" if value else "false"
    if isinstance(value, float) and for_csv:
        return repr(value)
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# -- reading ---------------------------------------------------------------------------
@dataclass
class Table:
    source: str  # "bank.xlsx: sheet cell_lines" or "cell_lines.csv"
    name: str  # the sheet name it claims to be
    rows: list[tuple[int, list[Any]]]  # (row number in the sheet, cells), header excluded
    header: list[Any]


def _xlsx_tables(name: str, data: bytes, budget: Budget) -> tuple[list[Table], list[Problem]]:
    from openpyxl import load_workbook

    archive, problems = budget.archive(name, data, nested=True)
    if archive is None:
        if problems and problems[0].message.startswith("not a readable zip"):
            return [], [Problem(name, "", "not a readable XLSX workbook (not a zip archive)")]
        return [], problems
    problem = _scan_workbook(archive, budget.limits)
    if problem:
        return [], [problem]
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # any parser failure on untrusted input
        return [], [Problem(name, "", f"not a readable XLSX workbook ({type(exc).__name__})")]
    tables = []
    try:
        for ws in book.worksheets:
            source = f"{name}: sheet {ws.title}"
            if hasattr(ws, "reset_dimensions"):
                ws.reset_dimensions()  # never trust <dimension>: rows are padded up to it
            rows = budget.sheet(source, ws.iter_rows(values_only=True))
            header = next(rows, (1, []))[1]
            body = [(i, r) for i, r in rows if any(map(_nonempty, r))]
            tables.append(Table(source, ws.title, body, header))
    except TooLarge as exc:
        return [], [exc.problem]
    except Exception as exc:  # likewise: the file is untrusted
        return [], [Problem(name, "", f"not a readable XLSX workbook ({type(exc).__name__})")]
    finally:
        book.close()
    return tables, []


def _scan_workbook(archive: Archive, limits: Limits) -> Problem | None:
    """Read every part of a workbook once, streaming, holding nothing (which also proves
    each part unpacks to the size it declares): refused when a sheet has too many rows,
    columns or cells, the shared strings are too many, a part that openpyxl reads whole has
    too many elements, or a part declares a DTD (no workbook does; entity tricks need one)."""
    name, cells = archive.name, 0
    for info in archive.members:
        scan = _PartScan(f"{name}: {info.filename}", info.filename, limits, cells)
        try:
            scan.run(archive.chunks(info))
        except TooLarge as exc:
            return exc.problem
        except expat.ExpatError as exc:
            return Problem(name, "", f"not a readable XLSX workbook ({info.filename}: {exc})")
        except zlib.error:
            return Problem(name, "", f"not a readable XLSX workbook ({info.filename})")
        cells = scan.cells
    return None


def _column_number(ref: str, beyond: int) -> int:
    """``AB12`` -> 28; stops counting once past ``beyond``."""
    n = 0
    for ch in ref.upper():
        if not "A" <= ch <= "Z" or n > beyond:
            break
        n = n * 26 + ord(ch) - 64
    return n


class _PartScan:
    """One part of a workbook, parsed as a stream of elements with nothing kept.

    A part is a sheet (root ``worksheet``, under ``xl/worksheets/``: openpyxl streams its
    rows), the shared strings (root ``sst``: openpyxl streams them but keeps every one), or
    any other part, which openpyxl reads whole into a tree."""

    def __init__(self, source: str, part: str, limits: Limits, cells: int) -> None:
        self.source = source
        self.part = part
        self.limits = limits
        self.kind = ""
        self.depth = 0
        self.item: int | None = None  # the depth of the row (or shared string) we are in
        self.inner = 0  # elements in it
        self.outside = 0  # elements outside rows (or shared strings)
        self.rows = 0
        self.row_number = 0
        self.row_cells = 0
        self.cells = cells
        self.strings = 0

    def run(self, chunks: Iterator[bytes]) -> None:
        head = b""
        for chunk in chunks:  # the first bytes that say whether the part is XML
            head += chunk
            if head.strip(b"\xef\xbb\xbf \t\r\n") or len(head) > 4096:
                break
        parser = None
        if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") or head.startswith(
            (b"\xff\xfe", b"\xfe\xff")
        ):
            parser = expat.ParserCreate()
            parser.StartElementHandler = self.start
            parser.EndElementHandler = self.end
            parser.StartDoctypeDeclHandler = self.doctype
            parser.Parse(head, False)
        # else not XML (an image, a printer setting): openpyxl does not parse it, but it is
        # still read to the end, to prove it unpacks to what it declares
        for chunk in chunks:
            if parser is not None:
                parser.Parse(chunk, False)
        if parser is not None:
            parser.Parse(b"", True)

    def refuse(self, where: str, message: str) -> TooLarge:
        return TooLarge(Problem(self.source, where, message))

    def doctype(self, *_: Any) -> None:
        raise self.refuse("", "declares a DTD, which no workbook does; not read")

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        self.depth += 1
        limits = self.limits
        if self.depth == 1:
            if local == "worksheet" and self.part.startswith("xl/worksheets/"):
                self.kind = "sheet"
            elif local == "sst" and self.part.lower() == "xl/sharedstrings.xml":
                self.kind = "strings"
            else:
                self.kind = "part"
        if self.item is not None:
            self.inner += 1
            if self.inner > 64 * limits.columns:
                raise self.refuse(
                    f"row {self.row_number}", "too many elements in one row or string"
                )
            if self.kind == "sheet" and local == "c" and self.depth == self.item + 1:
                self.cell(attrs.get("r") or "")
            return
        if self.kind == "sheet" and local == "row":
            self.new_row(attrs.get("r") or "")
            return
        if self.kind == "strings" and local == "si" and self.depth == 2:
            self.strings += 1
            if self.strings > limits.strings:
                raise self.refuse(
                    "",
                    f"more than {limits.strings:,} shared strings, the most an import reads "
                    "in one workbook",
                )
            self.item, self.inner = self.depth, 0
            return
        self.outside += 1
        if self.outside > limits.xml_elements:
            where = "outside the rows of the sheet" if self.kind == "sheet" else ""
            raise self.refuse(
                where,
                f"more than {limits.xml_elements:,} XML elements, the most an import reads "
                "in one part of a workbook",
            )

    def new_row(self, ref: str) -> None:
        limits = self.limits
        self.rows += 1
        self.row_number = int(ref) if ref.isdigit() and len(ref) < 12 else self.row_number + 1
        if self.rows > limits.sheet_rows or self.row_number > limits.sheet_rows:
            raise self.refuse(
                f"row {self.row_number}",
                f"the sheet has more than {limits.sheet_rows:,} rows, the most an import "
                "reads in one sheet: split it (or delete the empty rows below the data)",
            )
        self.item, self.inner, self.row_cells = self.depth, 0, 0

    def cell(self, ref: str) -> None:
        limits = self.limits
        self.row_cells += 1
        column = max(self.row_cells, _column_number(ref, limits.columns))
        if column > limits.columns:
            raise self.refuse(
                f"row {self.row_number}",
                f"has a cell beyond column {limits.columns}, the widest row an import reads",
            )
        self.cells += 1
        if self.cells > limits.cells:
            raise self.refuse(
                f"row {self.row_number}",
                f"the workbook has more than {limits.cells:,} cells, the most an import "
                "reads: import it in smaller parts",
            )

    def end(self, _name: str) -> None:
        if self.item is not None and self.depth == self.item:
            self.item = None
        self.depth -= 1


def _nonempty(value: Any) -> bool:
    return not _empty(value)


def _csv_table(name: str, data: bytes, budget: Budget) -> tuple[list[Table], list[Problem]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [Problem(name, "", f"not UTF-8 text (byte {exc.start}); save it as CSV UTF-8")]
    first_line = text[: budget.limits.line_chars].split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)  # Excel in many locales writes ';'
    reader = csv.reader(budget.lines(name, text), delimiter=delimiter)
    try:
        rows = budget.sheet(name, ([undefuse(cell) for cell in row] for row in reader))
        header = next(rows, (1, []))[1]
        body = [(i, r) for i, r in rows if any(map(_nonempty, r))]
    except TooLarge as exc:
        return [], [exc.problem]
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            return [], [budget.long_cell(name, f"line {reader.line_num}")]
        return [], [Problem(name, "", f"not readable as CSV: {exc}")]
    sheet = basename(name)[: -len(".csv")]
    return [Table(name, sheet, body, header)], []


def _tables(files: Files, budget: Budget) -> tuple[list[Table], list[Problem]]:
    tables: list[Table] = []
    problems: list[Problem] = []
    for name, data in files.items():
        lower = name.lower()
        if lower.endswith(".xlsx"):
            found, trouble = _xlsx_tables(name, data, budget)
        elif lower.endswith(".csv"):
            found, trouble = _csv_table(name, data, budget)
        else:
            found, trouble = [], [Problem(name, "", "not a spreadsheet: expected .xlsx or .csv")]
        tables += found
        problems += trouble
    return tables, problems


def _did_you_mean(value: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _set(record: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        record = record.setdefault(key, {})
    record[path[-1]] = value


def _get_list(record: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    for key in path[:-1]:
        record = record.setdefault(key, {})
    return record.setdefault(path[-1], [])


def _row_values(
    table: Table, sheet: Sheet, problems: list[Problem]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each row as {column name: cell}, the header checked first."""
    known = {c.name for c in sheet.columns} | ({sheet.kind} if sheet.is_part else set())
    names: list[str | None] = []
    width = max([len(table.header), *(len(r) for _, r in table.rows)])
    header = [*table.header, *[None] * (width - len(table.header))]
    for i, raw in enumerate(header):
        name = str(raw).strip() if not _empty(raw) else None
        if name is not None and name not in known:
            problems.append(
                Problem(table.source, "row 1", f"unknown column{_did_you_mean(name, known)}", name)
            )
            name = None
        elif name is not None and name in names:
            problems.append(Problem(table.source, "row 1", "column appears twice", name))
            name = None
        elif name is None and any(i < len(r) and _nonempty(r[i]) for _, r in table.rows):
            problems.append(Problem(table.source, "row 1", f"column {i + 1} has no name"))
        names.append(name)
    key = sheet.kind if sheet.is_part else "id"
    if key not in names:
        problems.append(Problem(table.source, "row 1", f"the {key!r} column is missing", key))
        return
    for number, cells in table.rows:
        yield number, {n: v for n, v in zip(names, cells, strict=False) if n and _nonempty(v)}


def _fill(
    target: dict[str, Any], values: dict[str, Any], sheet: Sheet, source: str, where: str
) -> list[Problem]:
    problems = []
    by_name = {c.name: c for c in sheet.columns}
    for name, raw in values.items():
        if name not in by_name:
            continue  # the owner column of a part sheet
        value, message = read_cell(raw, by_name[name])
        if message:
            problems.append(Problem(source, where, message, name))
        else:
            _set(target, by_name[name].path, value)
    return problems


def convert(
    files: Files, source: str | None = None, fmt: str = "", budget: Budget | None = None
) -> Conversion:
    """Read the sheets into a catalogue document; problems point at file, sheet, row, column.
    The sheets are read within the import's ``budget`` (federation/node/formats/limits.py)."""
    source = source or ", ".join(sorted(files))
    fmt = fmt or ("xlsx" if any(n.lower().endswith(".xlsx") for n in files) else "csv")
    conversion = Conversion(source, fmt, {"schema_version": SCHEMA_VERSION})
    tables, conversion.problems = _tables(files, budget or Budget())
    reader = _Reader(conversion)
    seen: dict[str, str] = {}
    # Main sheets first, so the part sheets find the records they belong to.
    for table in sorted(tables, key=lambda t: (t.name not in CATALOGUE_SECTIONS, t.name)):
        problem = _sheet_problem(table, seen)
        if problem:
            conversion.problems.append(problem)
            continue
        seen[table.name] = table.source
        reader.read(table, layout()[table.name])
    for section, kind in CATALOGUE_SECTIONS.items():
        n = len(conversion.document.get(section, []))
        if n:
            conversion.mapping.mapped(f"sheet {section}", kind, n)
    conversion.locate = _locator(reader.origins, reader.part_origins)
    return conversion


def _sheet_problem(table: Table, seen: dict[str, str]) -> Problem | None:
    """Why this table is not read: not a sheet of the layout, or a sheet read already."""
    sheets = layout()
    if table.name not in sheets:
        return Problem(
            table.source, "", f"unknown sheet {table.name!r}{_did_you_mean(table.name, sheets)}"
        )
    if table.name in seen:
        return Problem(
            table.source, "", f"sheet {table.name!r} was already read from {seen[table.name]}"
        )
    return None


class _Reader:
    """Puts sheet rows into the document, remembering the sheet row of each record and
    part item so that the checks' problems point back at it."""

    def __init__(self, conversion: Conversion) -> None:
        self.conversion = conversion
        self.origins: dict[tuple[str, int], tuple[str, int]] = {}
        self.part_origins: dict[tuple[str, int, str, int], tuple[str, int]] = {}
        self.index: dict[str, dict[str, int]] = {s: {} for s in CATALOGUE_SECTIONS}

    def read(self, table: Table, sheet: Sheet) -> None:
        self.conversion.document.setdefault(sheet.section, [])
        for number, values in _row_values(table, sheet, self.conversion.problems):
            if sheet.is_part:
                self.part(table, sheet, number, values)
            else:
                self.record(table, sheet, number, values)

    def record(self, table: Table, sheet: Sheet, number: int, values: dict[str, Any]) -> None:
        records = self.conversion.document[sheet.section]
        record: dict[str, Any] = {}
        rid = values.get("id")
        where = f"row {number}" + (f" (id {rid})" if isinstance(rid, str) else "")
        self.conversion.problems += _fill(record, values, sheet, table.source, where)
        self.origins[(sheet.section, len(records))] = (table.source, number)
        if isinstance(record.get("id"), str):
            self.index[sheet.section].setdefault(record["id"], len(records))
        records.append(record)

    def part(self, table: Table, sheet: Sheet, number: int, values: dict[str, Any]) -> None:
        owner = values.get(sheet.kind)
        owner = str(owner).strip() if owner is not None else None
        where = f"row {number}"
        message = self.orphan(sheet, owner)
        if message:
            self.conversion.problems.append(Problem(table.source, where, message, sheet.kind))
            return
        if owner is None:
            raise AssertionError("orphan() lets no part row without an owner through")
        item: dict[str, Any] = {}
        self.conversion.problems += _fill(item, values, sheet, table.source, where)
        i = self.index[sheet.section][owner]
        items = _get_list(self.conversion.document[sheet.section][i], sheet.list_path)
        key = (sheet.section, i, ".".join(sheet.list_path), len(items))
        self.part_origins[key] = (table.source, number)
        items.append(item)

    def orphan(self, sheet: Sheet, owner: str | None) -> str | None:
        """Why a part row belongs to no record read so far, if it does not."""
        if owner is None:
            return f"says which {sheet.kind} it belongs to: empty"
        if owner not in self.index[sheet.section]:
            return f"no {sheet.kind} with id {owner!r} in sheet {sheet.section!r}"
        return None


_ITEM = re.compile(r"^(?P<list>[a-z_.]+)\[(?P<j>\d+)\](?:\.(?P<rest>.+))?$")


def _locator(origins: dict, part_origins: dict):
    def locate(section: str, i: int, rid: str | None, path: str) -> tuple[str, str, str]:
        m = _ITEM.match(path)
        if m and (section, i, m["list"], int(m["j"])) in part_origins:
            source, number = part_origins[(section, i, m["list"], int(m["j"]))]
            return source, f"row {number}" + (f" ({rid})" if rid else ""), m["rest"] or ""
        source, number = origins[(section, i)]
        return source, f"row {number}" + (f" (id {rid})" if rid else ""), path

    return locate


# -- writing ---------------------------------------------------------------------------
def sheet_rows(document: dict[str, Any], for_csv: bool) -> dict[str, list[list[Any]]]:
    """Each sheet's rows (header first) for a catalogue document."""
    out: dict[str, list[list[Any]]] = {}
    for name, sheet in layout().items():
        rows = [sheet.header]
        for record in document.get(sheet.section, []):
            if not sheet.is_part:
                rows.append([write_cell(_dig(record, c.path), c, for_csv) for c in sheet.columns])
                continue
            for item in _dig(record, sheet.list_path) or []:
                rows.append(
                    [record["id"]]
                    + [write_cell(_dig(item, c.path), c, for_csv) for c in sheet.columns]
                )
        out[name] = rows
    return out


def _dig(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def to_xlsx(document: dict[str, Any]) -> bytes:
    """The document as a workbook; every text cell is written as text, never a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    def text_cell(ws: Any, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"  # openpyxl takes a text that starts with "=" for a formula
        return cell

    book = Workbook(write_only=True)
    for name, rows in sheet_rows(document, for_csv=False).items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append([text_cell(ws, value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_csv_zip(document: dict[str, Any]) -> bytes:
    """One CSV file per sheet that has rows (the four main sheets always), zipped; every
    field quoted and defused (:func:`defuse`)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in sheet_rows(document, for_csv=True).items():
            if len(rows) == 1 and name not in CATALOGUE_SECTIONS:
                continue
            text = io.StringIO()
            csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(
                [["" if v is None else defuse(str(v)) for v in row] for row in rows]
            )
            archive.writestr(f"{name}.csv", text.getvalue())
    return buffer.getvalue()


# -- formulas in CSV (see the module docstring) ------------------------------------------
_SEGMENT_START = r"(?:^|(?<=[;,|\t\r\n]))"
_FORMULA = re.compile(_SEGMENT_START + r"( *)('*)([=+\-@][^;,|\t\r\n]*)")
_DEFUSED = re.compile(_SEGMENT_START + r"( *)'('*)([=+\-@][^;,|\t\r\n]*)")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def defuse(text: str) -> str:
    """``text`` with a ``'`` before each formula that a spreadsheet would run: at the start,
    and after each ``;``, ``,``, ``|``, tab or line break (spaces and ``'`` skipped)."""
    if not any(ch in text for ch in "=+-@"):
        return text
    return _FORMULA.sub(lambda m: m[0] if _NUMBER.fullmatch(m[3]) else f"{m[1]}'{m[2]}{m[3]}", text)


def undefuse(text: str) -> str:
    """The way back from :func:`defuse`: one ``'`` less before each such formula."""
    if "'" not in text:
        return text
    return _DEFUSED.sub(lambda m: m[0] if _NUMBER.fullmatch(m[3]) else m[1] + m[2] + m[3], text)
