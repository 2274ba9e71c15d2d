"""How much one import may make the node read, and the budget that holds an import to it.

An import is untrusted input (a biobank administrator's upload, or anyone's on open admin
pages), so everything it can make the node unpack, parse or hold is capped, and the caps
count per *import* (one upload form with all its files, one CLI run), not per file: a
hundred small archives share one allowance. A refused import says which limit, where
(file, sheet or part, row), and stores nothing.

* **bytes and files**: every uploaded file, every archive member and every part of every
  workbook counts against ``unpacked_bytes`` and ``files``. A zip is judged by the sizes
  its directory declares before anything is unpacked, and each member is then unpacked in
  bounded steps and refused as soon as it unpacks to more than it declared (:class:`Archive`;
  Python's zipfile cuts a member to its declared size only *after* unpacking all of its
  compressed data in one step). An archive inside an archive is refused; a member
  compressed more than ``ratio`` to 1 is refused as a zip bomb; an archive directory over
  ``archive_directory`` bytes is refused before it is read (Python reads it whole, one
  object per entry);
* **sheets** (XLSX and CSV): rows per sheet and in all, cells in all, columns and text per
  cell. A workbook's XML is scanned before openpyxl opens it (rows, columns, cells, shared
  strings, elements, no DTD), and the ``<dimension>`` a sheet claims is never used: openpyxl's
  read-only mode would pad every row and sheet up to it;
* **CSV**: physical lines over ``line_chars`` are refused before the csv module splits them,
  and a field over ``cell_chars`` (the csv module's own limit, ``csv.field_size_limit()``,
  is left as it is: it is process-wide, and its default of 131,072 is above ours);
* **JSON**: ``json_bytes`` per file and ``json_depth`` levels of nesting.

The limits are data: :data:`LIMITS`, read when an import starts (a test or an operator may
replace it with another :class:`Limits`).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from federation.node.formats.report import Problem

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    unpacked_bytes: int = 256 * MiB
    """Bytes one import may unpack in all: uploads, archive members, workbook parts."""
    files: int = 1_000
    """Files one import may hold in all: uploads, archive members, workbook parts."""
    ratio: int = 200
    """The most an archive member over ``ratio_from`` may be compressed, unpacked : packed
    (DEFLATE reaches about 1,032 : 1 on repeated bytes; CSV and XML stay far below 100 : 1)."""
    ratio_from: int = 1 * MiB
    archive_directory: int = 1 * MiB
    """The most bytes an archive's directory (its list of members) may take."""
    sheet_rows: int = 200_000
    """Rows per sheet (XLSX sheet or CSV file), counting empty rows and the header."""
    rows: int = 1_000_000
    """Rows of all sheets of one import together."""
    columns: int = 500
    """Columns per row (the layout's widest sheet has 49, a Directory table 47)."""
    cells: int = 2_000_000
    """Cells of all sheets of one import together."""
    cell_chars: int = 32_767
    """Characters per cell: the most an Excel cell holds."""
    line_chars: int = 1 * MiB
    """Characters per physical line of a CSV file, checked before the line is split."""
    strings: int = 1_000_000
    """Shared strings of one workbook (openpyxl holds every one of them)."""
    xml_elements: int = 250_000
    """Elements of a workbook part that openpyxl reads whole (styles, workbook, theme; the
    part of a sheet outside its rows); sheet rows and shared strings are streamed."""
    json_bytes: int = 64 * MiB
    """Bytes per JSON file (decoded JSON takes several times its size)."""
    json_depth: int = 64
    """Levels of nesting in a JSON file (a catalogue document has six)."""


LIMITS = Limits()
"""The limits every import is held to (replace it to change them)."""


class TooLarge(Exception):
    """An import went over a limit; ``problem`` says which, and where."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def size_text(n: int) -> str:
    """``268435456`` -> ``256 MB``; ``1000`` -> ``1,000 bytes``."""
    return f"{n / MiB:g} MB" if n >= MiB and n * 10 % MiB == 0 else f"{n:,} bytes"


class Budget:
    """What one import has used of its :class:`Limits` so far."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or LIMITS
        self.unpacked = 0
        self.files = 0
        self.rows = 0
        self.cells = 0

    # -- bytes and files -----------------------------------------------------------------
    def take(self, source: str, size: int, files: int = 1) -> Problem | None:
        """Count ``files`` files of ``size`` bytes in all; a problem once over a limit."""
        self.unpacked += size
        self.files += files
        if self.unpacked > self.limits.unpacked_bytes:
            return Problem(
                source,
                "",
                f"the import unpacks to more than {size_text(self.limits.unpacked_bytes)} "
                "with this file, the most one import may unpack: import the files in smaller "
                "parts",
            )
        if self.files > self.limits.files:
            return Problem(
                source,
                "",
                f"the import holds more than {self.limits.files:,} files with this one "
                "(archive members and workbook parts count too), the most one import may: "
                "import them in smaller parts",
            )
        return None

    def archive(
        self,
        name: str,
        data: bytes,
        wanted: Callable[[str], bool] = lambda _: True,
        nested: bool = False,
    ) -> tuple[Archive | None, list[Problem]]:
        """Open a zip archive (an upload or a workbook) and count its wanted members, all
        judged by what its directory declares before any of them is unpacked. ``nested``:
        whether members that are zip archives themselves may be there (a workbook's never
        are; an upload's are refused)."""
        limits = self.limits
        directory = _directory_size(data)
        if directory is None:
            return None, [Problem(name, "", "not a readable zip archive")]
        if directory > limits.archive_directory:
            return None, [
                Problem(
                    name,
                    "",
                    f"the archive's list of members takes {size_text(directory)}, more than "
                    f"the {size_text(limits.archive_directory)} an import reads",
                )
            ]
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as opened:
                members = [m for m in opened.infolist() if not m.is_dir() and wanted(m.filename)]
        except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, OSError) as exc:
            return None, [Problem(name, "", f"not a readable zip archive ({exc})")]
        problems = [p for p in (self._member_problem(name, m, nested) for m in members) if p]
        if not problems:
            trouble = self.take(name, sum(m.file_size for m in members), len(members))
            problems += [trouble] if trouble else []
        if problems:
            return None, problems
        return Archive(name, data, members), []

    def _member_problem(self, name: str, m: zipfile.ZipInfo, nested: bool) -> Problem | None:
        limits = self.limits
        if not nested and m.filename.lower().endswith(".zip"):
            return Problem(
                name,
                m.filename,
                "an archive inside an archive is not read: unpack it and import its files",
            )
        if m.flag_bits & 0x1 or m.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return Problem(
                name,
                m.filename,
                "encrypted or compressed in a way an import does not read: save it as an "
                "ordinary zip archive",
            )
        if m.file_size > limits.ratio_from and m.file_size > limits.ratio * max(m.compress_size, 1):
            return Problem(
                name,
                m.filename,
                f"compressed {m.file_size // max(m.compress_size, 1):,} to 1, more than the "
                f"{limits.ratio} to 1 a real file reaches (a zip bomb?)",
            )
        return None

    # -- sheets --------------------------------------------------------------------------
    def sheet(
        self, source: str, rows: Iterable[Sequence[Any]], first: int = 1
    ) -> Iterator[tuple[int, list[Any]]]:
        """Each row of a sheet with its number (from ``first``), trailing empty cells
        dropped, for as long as the sheet keeps within the limits; :class:`TooLarge` (the
        problem located at the row) as soon as it does not."""
        for number, row in enumerate(rows, start=first):
            yield number, self.row(source, number, row)

    def row(self, source: str, number: int, row: Sequence[Any]) -> list[Any]:
        """Row ``number`` of a sheet (the first is 1), checked and counted; trailing empty
        cells dropped."""
        limits = self.limits
        if number > limits.sheet_rows:
            raise TooLarge(
                Problem(
                    source,
                    f"row {number}",
                    f"the sheet has more than {limits.sheet_rows:,} rows, the most an import "
                    "reads in one sheet: split it (or delete the empty rows below the data)",
                )
            )
        self.rows += 1
        if self.rows > limits.rows:
            raise TooLarge(
                Problem(
                    source,
                    f"row {number}",
                    f"the import has more than {limits.rows:,} rows in all, the most one "
                    "import reads: import it in smaller parts",
                )
            )
        cells = list(row)
        while cells and (cells[-1] is None or cells[-1] == ""):
            cells.pop()
        if len(cells) > limits.columns:
            raise TooLarge(
                Problem(
                    source,
                    f"row {number}",
                    f"has a cell in column {len(cells):,}, beyond column {limits.columns}, "
                    "the widest row an import reads",
                )
            )
        self.cells += len(cells)
        if self.cells > limits.cells:
            raise TooLarge(
                Problem(
                    source,
                    f"row {number}",
                    f"the import has more than {limits.cells:,} cells in all, the most one "
                    "import reads: import it in smaller parts",
                )
            )
        for i, value in enumerate(cells):
            if isinstance(value, str) and len(value) > limits.cell_chars:
                raise TooLarge(self.long_cell(source, f"row {number}", f"column {i + 1}"))
        return cells

    def long_cell(self, source: str, where: str, column: str = "") -> Problem:
        return Problem(
            source,
            where,
            f"the cell is longer than {self.limits.cell_chars:,} characters, the most a "
            "spreadsheet cell holds",
            column,
        )

    def lines(self, source: str, text: str) -> Iterator[str]:
        """The physical lines of a CSV text (ending in a line feed, a carriage return or
        both, kept, as the csv module wants them), each refused (:class:`TooLarge`) when
        longer than ``line_chars`` before it is copied out of the text or split."""
        limit = self.limits.line_chars
        size, start, number = len(text), 0, 0
        lf = cr = -2  # where the next of each is; -1 once there is none
        while start < size:
            number += 1
            if -1 < lf < start or lf == -2:
                lf = text.find("\n", start)
            if -1 < cr < start or cr == -2:
                cr = text.find("\r", start)
            breaks = [at for at in (lf, cr) if at >= 0]
            end = min(breaks) + 1 if breaks else size
            if end - 1 == cr and text.startswith("\n", end):
                end += 1
            if end - start > limit:
                raise TooLarge(
                    Problem(
                        source,
                        f"line {number}",
                        f"the line is longer than {limit:,} characters, the most an import "
                        "reads in one line",
                    )
                )
            yield text[start:end]
            start = end


class Archive:
    """A zip archive whose ``members`` were counted against an import's budget. Read them
    with :meth:`read` or :meth:`chunks` only: those unpack a member in bounded steps and
    refuse it (:class:`TooLarge`) once it unpacks to more than its directory declares, or
    to other bytes. Python's zipfile would unpack all of a member's compressed data in one
    step before cutting it to the declared size, so a member declaring 1 KB could still
    take gigabytes of memory on the way; once every member has been read through here, the
    sizes are known to be true and zipfile (openpyxl) may read the archive."""

    CHUNK = 1 << 20

    def __init__(self, name: str, data: bytes, members: list[zipfile.ZipInfo]) -> None:
        self.name = name
        self.data = data
        self.members = members

    def read(self, member: zipfile.ZipInfo) -> bytes:
        return b"".join(self.chunks(member))

    def chunks(self, member: zipfile.ZipInfo) -> Iterator[bytes]:
        """The member's bytes, at most CHUNK at a time, checked against what it declares."""
        lying = TooLarge(
            Problem(
                self.name,
                member.filename,
                f"does not unpack to the {size_text(member.file_size)} it declares (a zip bomb?)",
            )
        )
        raw = self._raw(member)
        produced, crc = 0, 0
        if member.compress_type == zipfile.ZIP_STORED:
            if len(raw) != member.file_size:
                raise lying
            pieces: Iterable[bytes] = (
                bytes(raw[at : at + self.CHUNK]) for at in range(0, len(raw), self.CHUNK)
            )
        else:
            pieces = self._inflate(raw, member.file_size, lying)
        for piece in pieces:
            produced += len(piece)
            crc = zlib.crc32(piece, crc)
            yield piece
        if produced != member.file_size or crc != member.CRC:
            raise lying

    def _inflate(self, raw: memoryview, size: int, lying: TooLarge) -> Iterator[bytes]:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        at, produced = 0, 0
        while not inflater.eof:
            if inflater.unconsumed_tail:
                piece = inflater.decompress(inflater.unconsumed_tail, self.CHUNK)
            elif at < len(raw):
                piece = inflater.decompress(raw[at : at + self.CHUNK], self.CHUNK)
                at += self.CHUNK
            else:
                raise lying  # the compressed data ends before its stream does
            produced += len(piece)
            if produced > size:
                raise lying
            yield piece

    def _raw(self, member: zipfile.ZipInfo) -> memoryview:
        """The member's compressed bytes, found through its local header."""
        at = member.header_offset
        header = self.data[at : at + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise TooLarge(Problem(self.name, member.filename, "not a readable zip member"))
        names, extra = struct.unpack_from("<HH", header, 26)
        start = at + 30 + names + extra
        raw = memoryview(self.data)[start : start + member.compress_size]
        if len(raw) != member.compress_size:
            raise TooLarge(Problem(self.name, member.filename, "not a readable zip member"))
        return raw


def _directory_size(data: bytes) -> int | None:
    """The size an archive's end record gives its directory (None: no end record), read
    the way Python's zipfile finds it, so that an oversized directory can be refused
    before zipfile builds one object per entry."""
    end = struct.Struct("<4s4H2LH")  # signature, disks, entries, size, offset, comment length
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - end.size - 0xFFFF))
    if at < 0 or len(data) - at < end.size:
        return None
    size = end.unpack_from(data, at)[5]
    if size != 0xFFFFFFFF:
        return size
    locator = at - 20  # a ZIP64 archive: its end record is just before the locator
    record = locator - 56
    if record < 0 or data[locator : locator + 4] != b"PK\x06\x07":
        return None
    if data[record : record + 4] != b"PK\x06\x06":
        return None
    return int.from_bytes(data[record + 40 : record + 48], "little")


def too_deep(value: Any, depth: int) -> bool:
    """Whether a decoded JSON value nests lists and objects deeper than ``depth`` levels."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, level = stack.pop()
        if level > depth:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return False
