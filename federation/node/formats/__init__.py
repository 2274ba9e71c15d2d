"""Catalogue formats: each turns its source into a catalogue document and a mapping report
(``tabular`` and ``directory`` also write a catalogue back, for federation.node.exporter).

* ``json``: the node's own catalogue document (json_catalogue.py);
* ``xlsx`` / ``csv``: a spreadsheet, one sheet per record kind (tabular.py);
* ``hpscreg``: hPSCreg cell-line records (hpscreg.py);
* ``directory``: a BBMRI-ERIC Directory export, the EMX2 CSV set (directory/);
* ``emx1``: a MOLGENIS EMX1 catalogue (emx1.py), read through the Directory's tables.

:func:`convert` picks the format from the files when not told. The conversion is then
checked and written all or nothing by federation.node.importer.run_import. What a
conversion may read (bytes, files, rows, cells, nesting) is capped per import
(formats/limits.py): an import over a limit is refused with the limit and where.
"""

from __future__ import annotations

from typing import Any

from federation.node.formats import directory, emx1, hpscreg, json_catalogue, tabular
from federation.node.formats.detection import has_tabular_sheet, reasons, xlsx_sheets
from federation.node.formats.limits import Budget
from federation.node.formats.report import Conversion, Problem
from federation.node.formats.sources import Files

FORMATS = {
    "json": "CellFed catalogue (JSON)",
    "xlsx": "spreadsheet (XLSX, one sheet per record kind)",
    "csv": "spreadsheet as CSV files (one file per sheet, or a zip of them)",
    "hpscreg": "hPSCreg cell-line records (JSON)",
    "directory": "BBMRI-ERIC Directory export (EMX2 CSV files, or a zip of them)",
    "emx1": "MOLGENIS EMX1 catalogue (entities, attributes and a sheet per entity; CSV or XLSX)",
}


def _parse_json(files: Files) -> tuple[dict[str, Any], list[Problem]]:
    parsed, problems = {}, []
    for name, data in files.items():
        value, trouble = json_catalogue.parse_json(data, name)
        parsed[name] = value
        problems += trouble
    return parsed, problems


def detect(files: Files) -> str | None:
    """The format the files are in, or None when they do not say."""
    return _detect(files)[0]


def _detect(files: Files) -> tuple[str | None, tuple[dict[str, Any], list[Problem]] | None]:
    """The format, and the JSON files decoded when telling needed that (decoded once)."""
    names = [n.lower() for n in files]
    if emx1.looks_like(files):
        return "emx1", None
    if directory.looks_like(files):
        return "directory", None
    # A spreadsheet is the node's own only when a sheet of its layout is there (or a
    # workbook cannot be peeked into: its conversion then says what is wrong with it).
    workbooks = [d for n, d in files.items() if n.lower().endswith(".xlsx")]
    if workbooks and (has_tabular_sheet(files) or None in map(xlsx_sheets, workbooks)):
        return "xlsx", None
    if names and all(n.endswith(".csv") for n in names) and has_tabular_sheet(files):
        return "csv", None
    if names and all(n.endswith(".json") for n in names):
        parsed, problems = _parse_json(files)
        if problems:
            return "json", (parsed, problems)  # its conversion reports the parse error
        if all(hpscreg.looks_like(v) for v in parsed.values()):
            return "hpscreg", (parsed, problems)
        return "json", (parsed, problems)
    return None, None


def convert(files: Files, fmt: str | None = None, **options: Any) -> Conversion:
    """Read ``files`` in format ``fmt`` (detected when None). Options: ``biobank`` and
    ``collection`` (hPSCreg lines go there), ``pseudonym_key`` (Directory contacts),
    ``existing`` (the node's ids per kind, to place hPSCreg lines by default)."""
    source = ", ".join(sorted(files)) or "(no files)"
    if not files:
        return Conversion(source, fmt or "", problems=[Problem(source, "", "no file given")])
    budget = Budget()  # what is read from here on counts against the import's limits
    for name in sorted(files):
        problem = budget.take(name, len(files[name]))
        if problem:
            return Conversion(source, fmt or "", problems=[problem])
    decoded = None
    if fmt is None:
        fmt, decoded = _detect(files)
    if fmt is None:
        return Conversion(
            source,
            "",
            problems=[
                Problem(
                    source,
                    "",
                    "cannot tell the format; tried " + "; ".join(reasons(files)) + " "
                    f"(or choose one of: {', '.join(FORMATS)})",
                )
            ],
        )
    if fmt not in FORMATS:
        problem = Problem(source, "", f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
        return Conversion(source, fmt, problems=[problem])
    if fmt in ("xlsx", "csv"):
        return tabular.convert(files, source, fmt, budget=budget)
    if fmt == "directory":
        return directory.convert(files, options.get("pseudonym_key") or "", source, budget)
    if fmt == "emx1":
        return emx1.convert(files, options.get("pseudonym_key") or "", source, budget)
    parsed, problems = decoded or _parse_json(files)
    if problems:
        return Conversion(source, fmt, problems=problems)
    if fmt == "hpscreg":
        return hpscreg.convert(
            parsed,
            biobank=options.get("biobank"),
            collection=options.get("collection"),
            existing=options.get("existing") or {},
        )
    return json_catalogue.convert(files, parsed)
