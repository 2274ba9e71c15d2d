"""Why a set of files is in none of the formats: one reason per format tried.

formats/__init__.py asks each format in turn whether the files are in it; when none says
yes, :func:`reasons` tells the user what each looked for and did not find, so a folder of
an unknown kind is refused with something to act on, not "unknown sheet" row by row.
"""

from __future__ import annotations

import difflib
import io
import re
import zipfile

from federation.node.formats.directory.emx2 import REQUIRED
from federation.node.formats.labels import file_key
from federation.node.formats.sources import Files, basename
from federation.node.formats.tabular import layout

INDEX_PART_LIMIT = 1_000_000
"""A workbook's sheet index larger than this is not peeked at (it is never that large)."""


def xlsx_sheets(data: bytes) -> list[str] | None:
    """The sheet names of a workbook, from its small index part, or None if unreadable."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            info = book.getinfo("xl/workbook.xml")
            if info.file_size > INDEX_PART_LIMIT:
                return None
            index = book.read(info).decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError):
        return None
    return re.findall(r'<(?:\w+:)?sheet\b[^>]*\bname="([^"]*)"', index)


def sheet_names(files: Files) -> list[str]:
    """Every sheet the files hold: a CSV file's name without ``.csv``, a workbook's sheets."""
    names = []
    for name, data in sorted(files.items()):
        if name.lower().endswith(".csv"):
            names.append(basename(name)[: -len(".csv")])
        elif name.lower().endswith(".xlsx"):
            names += xlsx_sheets(data) or []
    return names


def has_tabular_sheet(files: Files) -> bool:
    """Whether any sheet is one of the node's own spreadsheet layout (``biobanks``, ...)."""
    known = {s.lower() for s in layout()}
    return any(s.strip().lower() in known for s in sheet_names(files))


def reasons(files: Files) -> list[str]:
    """For each format, why the files are not in it."""
    names = sorted(files)
    sheets = sheet_names(files)
    shown = ", ".join(repr(s) for s in sheets[:6]) + (" ..." if len(sheets) > 6 else "")
    others = [n for n in names if not n.lower().endswith((".csv", ".xlsx", ".json"))]
    keys = {file_key(n) for n in names}
    return [
        "Directory EMX2: no " + " or ".join(REQUIRED) + " (by file label)",
        "EMX1: no attributes sheet"
        + ("" if "entities" in keys else " and no entities sheet")
        + " (attributes.csv, or a sheet of an .xlsx workbook)",
        "spreadsheet (XLSX or CSV): no sheet of the layout (networks, biobanks, collections, "
        "cell_lines ...)" + (f"; the sheets are {shown}" if sheets else "") + _close(sheets),
        "JSON (CellFed or hPSCreg): "
        + ("not every file is .json" if names else "no file")
        + (f" ({', '.join(others[:3])} is neither CSV, XLSX nor JSON)" if others else ""),
    ]


def _close(sheets: list[str]) -> str:
    """A did-you-mean for the first sheet that is nearly one of the layout's."""
    for sheet in sheets:
        close = difflib.get_close_matches(sheet, list(layout()), n=1, cutoff=0.8)
        if close:
            return f" (did you mean {close[0]!r} for {sheet!r}?)"
    return ""
