"""Imports cannot exhaust the node (review M4): hostile files, built here, each refused with
a clear, located message, in little time and memory, and nothing stored. Where a real attack
would take a large file, the test lowers the limit instead."""

import io
import json
import os
import re
import time
import tracemalloc
import zipfile
import zlib

import pytest
from openpyxl import Workbook

from federation.node.formats import convert, limits, tabular
from federation.node.formats.limits import Limits
from federation.node.formats.sources import expand, read_paths, read_uploads, sweep_staged
from federation.node.importer import import_files
from tests.unit.test_import_tabular import GOOD, xlsx

MB = 1 << 20


@pytest.fixture
def lowered(monkeypatch):
    """Replace the import limits for one test: ``lowered(cells=10)``."""

    def lower(**changes):
        monkeypatch.setattr(limits, "LIMITS", Limits(**changes))

    return lower


def refused(store, files, fmt=None):
    """Import ``files``; it must be refused with exactly one problem, storing nothing."""
    seq = store.latest_seq()
    report = import_files(store, files, fmt)
    assert not report.ok and report.written is None
    assert store.latest_seq() == seq
    assert len(report.problems) == 1, [str(p) for p in report.problems]
    return str(report.problems[0])


class Peak:
    """The most memory Python allocated inside the block, on top of what was there."""

    def __enter__(self):
        tracemalloc.start()
        self.started = time.monotonic()
        return self

    def __exit__(self, *_):
        self.bytes = tracemalloc.get_traced_memory()[1]
        self.seconds = time.monotonic() - self.started
        tracemalloc.stop()


def zipped(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


# -- archives and the whole import ----------------------------------------------------------
def test_a_zip_bomb_is_refused_before_it_is_unpacked():
    bomb = zipped({"d/Persons.csv": bytes(50 * MB), "d/Biobanks.csv": b"id\n"})
    assert len(bomb) < MB // 4
    with Peak() as peak:
        files, problems = expand("bomb.zip", bomb)
    assert files == {}
    assert len(problems) == 1
    assert re.fullmatch(
        r"bomb\.zip: d/Persons\.csv: compressed 1,0\d\d to 1, more than the 200 to 1 a real "
        r"file reaches \(a zip bomb\?\)",
        str(problems[0]),
    )
    assert peak.bytes < 2 * MB
    assert read_uploads([("bomb.zip", bomb)]) == ({}, problems)


def test_a_member_unpacking_to_more_than_it_declares_is_refused_in_bounded_steps():
    data = bytearray(zipped({"Biobanks.csv": bytes(20 * MB)}))
    for header, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # the declared sizes
        offset = data.index(header) + at
        data[offset : offset + 4] = (1000).to_bytes(4, "little")
    with Peak() as peak:
        files, problems = expand("liar.zip", bytes(data))
    assert files == {} and [str(p) for p in problems] == [
        "liar.zip: Biobanks.csv: does not unpack to the 1,000 bytes it declares (a zip bomb?)"
    ]
    assert peak.bytes < 4 * MB  # Python's zipfile would unpack all 20 MB on the way


def lying(members: dict[str, bytes], first: str, padding: int) -> bytes:
    """A zip whose member ``first`` holds ``padding`` more bytes than its headers declare,
    with a checksum that matches the declared bytes (Python's zipfile reads it without
    complaint, after unpacking all of it)."""
    declared = members[first]
    others = {name: content for name, content in members.items() if name != first}
    data = bytearray(zipped({first: declared + b" " * padding, **others}))
    crc = zlib.crc32(declared).to_bytes(4, "little")
    size = len(declared).to_bytes(4, "little")
    for at in (0, data.index(b"PK\x01\x02")):  # its local header, its directory entry
        shift = 0 if at == 0 else 2  # a directory entry has "version made by" first
        data[at + 14 + shift : at + 18 + shift] = crc
        data[at + 22 + shift : at + 26 + shift] = size
    return bytes(data)


def test_a_workbook_part_unpacking_to_more_than_it_declares_is_refused(store):
    source = zipfile.ZipFile(io.BytesIO(xlsx(GOOD)))
    members = {i.filename: source.read(i) for i in source.infolist()}
    book = lying(members, "xl/styles.xml", 30 * MB)
    assert zipfile.ZipFile(io.BytesIO(book)).read("xl/styles.xml") == members["xl/styles.xml"]
    with Peak() as peak:
        message = refused(store, {"bank.xlsx": book})
    assert message == (
        f"bank.xlsx: xl/styles.xml: does not unpack to the {len(members['xl/styles.xml']):,} "
        "bytes it declares (a zip bomb?)"
    )
    assert peak.bytes < 8 * MB


def test_many_small_archives_share_one_budget_per_import(store, lowered):
    lowered(unpacked_bytes=1 * MB)
    text = b"".join(
        b"row %d,some text that does not compress to nothing\n" % i for i in range(7000)
    )
    assert 360_000 < len(text) < 400_000
    uploads = [(f"part{i}.zip", zipped({f"d{i}/Persons.csv": text})) for i in range(10)]
    read = []

    def lazily():
        for name, data in uploads:
            read.append(name)
            yield name, data

    files, problems = read_uploads(lazily())
    assert [str(p) for p in problems] == [
        "part2.zip: the import unpacks to more than 1 MB with this file, the most one import "
        "may unpack: import the files in smaller parts"
    ]
    assert read == ["part0.zip", "part1.zip", "part2.zip"]  # the rest were never read
    assert set(files) == {"d0/Persons.csv", "d1/Persons.csv"}
    # and one archive at a time (the admin pages read them so today) still meets the
    # import's budget when the files are converted
    each = {}
    for name, data in uploads:
        each.update(expand(name, data)[0])
    assert "unpacks to more than 1 MB" in refused(store, each, "directory")


def test_the_number_of_files_is_capped_and_archives_in_archives_are_refused(lowered):
    lowered(files=5)
    many = zipped({f"f{i}.csv": b"id\n" for i in range(6)})
    assert "holds more than 5 files" in str(expand("many.zip", many)[1][0])
    nested = zipped({"inner.zip": zipped({"Biobanks.csv": b"id\n"}), "a.csv": b"id\n"})
    assert [str(p) for p in expand("outer.zip", nested)[1]] == [
        "outer.zip: inner.zip: an archive inside an archive is not read: unpack it and "
        "import its files"
    ]


def test_an_archive_with_an_oversized_directory_is_refused_before_it_is_read(lowered):
    lowered(archive_directory=4096)
    archive = zipped({f"{i:04}.csv": b"" for i in range(200)}, zipfile.ZIP_STORED)
    assert "list of members takes" in str(expand("long.zip", archive)[1][0])


def test_a_folder_is_judged_by_file_sizes_before_reading(tmp_path, lowered):
    lowered(unpacked_bytes=1000)
    (tmp_path / "Biobanks.csv").write_bytes(b"x" * 600)
    (tmp_path / "Collections.csv").write_bytes(b"x" * 600)
    files, problems = read_paths([tmp_path])
    assert list(files) == ["Biobanks.csv"] and "unpacks to more than" in str(problems[0])


# -- workbooks -------------------------------------------------------------------------------
def patched(book: bytes, part: str, change) -> bytes:
    """The workbook with one part's XML changed."""
    source = zipfile.ZipFile(io.BytesIO(book))
    members = {i.filename: source.read(i) for i in source.infolist()}
    members[part] = change(members[part])
    return zipped(members)


def sheet_part(book: bytes, title: str) -> str:
    """The part of the sheet named ``title`` (openpyxl writes them in order)."""
    return f"xl/worksheets/sheet{list(GOOD).index(title) + 1}.xml"


def claims(ref: str):
    def change(xml: bytes) -> bytes:
        start = xml.index(b"<dimension ref=")
        end = xml.index(b"/>", start) + 2
        return xml[:start] + f'<dimension ref="{ref}"/>'.encode() + xml[end:]

    return change


def test_a_sheet_claiming_a_huge_dimension_is_read_as_it_is(store):
    """openpyxl's read-only mode used to pad every row to the claimed 16,384 columns and the
    sheet to 1,048,576 rows: hours of CPU. The claim is ignored now."""
    book = xlsx(GOOD)
    for title in GOOD:
        book = patched(book, sheet_part(book, title), claims("A1:XFD1048576"))
    with Peak() as peak:
        report = import_files(store, {"bank.xlsx": book})
    assert report.ok, report.lines()
    assert store.get("cell_line", "L1")["donor"]["sex"] == "FEMALE"
    assert peak.seconds < 10 and peak.bytes < 50 * MB


def add_to_sheet(xml_row: str):
    def change(xml: bytes) -> bytes:
        return xml.replace(b"</sheetData>", xml_row.encode() + b"</sheetData>")

    return change


def test_a_cell_far_right_in_a_sheet_is_refused(store):
    book = xlsx(GOOD)
    part = sheet_part(book, "cell_lines")
    book = patched(book, part, claims("A1:XFD1048576"))
    book = patched(book, part, add_to_sheet('<row r="4"><c r="XFD4"><v>1</v></c></row>'))
    assert refused(store, {"bank.xlsx": book}) == (
        f"bank.xlsx: {part}: row 4: has a cell beyond column 500, the widest row an import reads"
    )


def test_a_row_a_million_rows_down_is_refused(store):
    book = xlsx(GOOD)
    part = sheet_part(book, "cell_lines")
    book = patched(book, part, add_to_sheet('<row r="1000000"><c r="A1000000"><v>1</v></c></row>'))
    with Peak() as peak:
        message = refused(store, {"bank.xlsx": book})
    assert message == (
        f"bank.xlsx: {part}: row 1000000: the sheet has more than 200,000 rows, the most an "
        "import reads in one sheet: split it (or delete the empty rows below the data)"
    )
    assert peak.seconds < 5


def test_a_sheet_of_a_million_rows_is_refused(store, lowered):
    """Written with openpyxl's write-only mode; the limit is lowered to keep the test fast
    (200,000 rows is the real one)."""
    lowered(sheet_rows=1_000)
    book = Workbook(write_only=True)
    ws = book.create_sheet("cell_lines")
    ws.append(["id", "name"])
    for i in range(1_500):
        ws.append([f"L{i}", "x"])
    out = io.BytesIO()
    book.save(out)
    message = refused(store, {"bank.xlsx": out.getvalue()})
    assert message.startswith("bank.xlsx: xl/worksheets/sheet1.xml: row 1001: the sheet has ")
    assert "more than 1,000 rows" in message


def test_rows_beyond_openpyxls_reach_are_capped_too(lowered):
    """Behind the scan, the rows openpyxl gives are counted as well (gaps in the numbering
    come back as empty rows)."""
    lowered(sheet_rows=1_000)
    budget = limits.Budget()
    rows = budget.sheet("s", iter([["id"]] + [[]] * 5_000))
    with pytest.raises(limits.TooLarge, match="more than 1,000 rows"):
        list(rows)


def test_too_many_cells_or_shared_strings_are_refused(store, lowered):
    lowered(cells=20)
    assert "more than 20 cells" in refused(store, {"bank.xlsx": xlsx(GOOD)})
    lowered(strings=10)
    assert "more than 10 shared strings" in refused(store, {"bank.xlsx": strings_book(11)})


def strings_book(n: int) -> bytes:
    """A workbook with ``n`` shared strings (openpyxl writes inline strings only)."""
    book = xlsx(GOOD)

    def sst(_: bytes) -> bytes:
        items = "".join(f"<si><t>s{i}</t></si>" for i in range(n))
        return (
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            f'count="{n}" uniqueCount="{n}">{items}</sst>'
        ).encode()

    source = zipfile.ZipFile(io.BytesIO(book))
    members = {i.filename: source.read(i) for i in source.infolist()}
    members["xl/sharedStrings.xml"] = sst(b"")
    return zipped(members)


def test_a_part_with_a_dtd_is_refused(store):
    """Entity expansion ("billion laughs") needs a DTD; no workbook has one."""
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    book = patched(xlsx(GOOD), "xl/styles.xml", lambda xml: laughs + xml)
    assert refused(store, {"bank.xlsx": book}) == (
        "bank.xlsx: xl/styles.xml: declares a DTD, which no workbook does; not read"
    )


def test_a_part_read_whole_may_not_hold_too_many_elements(store, lowered):
    lowered(xml_elements=50)
    assert "more than 50 XML elements" in refused(store, {"bank.xlsx": xlsx(GOOD)})


def test_an_xlsx_counts_its_unpacked_parts_against_the_import(store, lowered):
    book = xlsx(GOOD)
    lowered(unpacked_bytes=len(book) + 1000)  # the file fits, its unpacked parts do not
    assert "the import unpacks to more than" in refused(store, {"bank.xlsx": book})


# -- CSV and JSON ----------------------------------------------------------------------------
def test_a_csv_with_a_100_mb_field_is_refused_at_its_line(store):
    huge = b"id,name\nbb1," + b"x" * (100 * MB) + b"\n"
    with Peak() as peak:
        message = refused(store, {"biobanks.csv": huge})
    assert message == (
        "biobanks.csv: line 2: the line is longer than 1,048,576 characters, the most an "
        "import reads in one line"
    )
    assert peak.bytes < 110 * MB  # the decoded text, no copy of the line, no split fields
    assert peak.seconds < 5


def test_a_long_csv_cell_is_refused_with_its_row_and_column(store, lowered):
    lowered(cell_chars=1_000)
    text = b"id,name\nbb1," + b"x" * 1_001 + b"\n"
    assert refused(store, {"biobanks.csv": text}) == (
        "biobanks.csv: row 2: column 2: the cell is longer than 1,000 characters, the most a "
        "spreadsheet cell holds"
    )
    beyond_the_csv_module = b'id,name\nbb1,"' + b"y\n" * 70_000 + b'"\n'  # over 131,072
    assert refused(store, {"biobanks.csv": beyond_the_csv_module}).startswith("biobanks.csv: line ")


def test_a_csv_row_of_half_a_million_fields_is_refused(store):
    row = b"id,name\n" + b"x," * 450_000 + b"\n"
    with Peak() as peak:
        message = refused(store, {"biobanks.csv": row})
    assert "beyond column 500" in message
    assert peak.bytes < 20 * MB


def test_csv_rows_are_capped(store, lowered):
    lowered(sheet_rows=100)
    text = b"id,name\n" + b"".join(b"b%d,Bank\n" % i for i in range(200))
    assert "more than 100 rows" in refused(store, {"biobanks.csv": text})


def test_the_directory_tables_are_read_within_the_limits(store, lowered):
    lowered(sheet_rows=10)
    rows = b"".join(b"c%d,C,bb:1,2,false,false\n" % i for i in range(20))
    files = {
        "Biobanks.csv": b"id,name,country,withdrawn\nbb:1,Bank,DE,false\n",
        "Collections.csv": b"id,name,biobank,order_of_magnitude,commercial_use,withdrawn\n" + rows,
    }
    assert refused(store, files).startswith("Collections.csv: row 11: the sheet has more than 10")


def test_json_is_capped_in_size_and_nesting(store, lowered):
    deep = b"[" * 100 + b"]" * 100
    assert refused(store, {"deep.json": deep}) == (
        "deep.json: not valid JSON: nested deeper than 64 levels"
    )
    digits = b'{"schema_version": "2", "biobanks": [{"id": ' + b"1" * 5_000 + b"}]}"
    assert refused(store, {"digits.json": digits}).startswith("digits.json: not valid JSON: ")
    lowered(json_bytes=100)
    big = json.dumps({"schema_version": "2", "biobanks": [{"id": "x" * 200}]}).encode()
    assert refused(store, {"big.json": big}) == (
        "big.json: the file is larger than 100 bytes, the most an import reads in one JSON "
        "file: split it"
    )


def test_convert_counts_every_file_given_against_the_import(lowered):
    lowered(unpacked_bytes=1_000)
    conversion = convert({"a.csv": b"x" * 600, "b.csv": b"y" * 600})
    assert [str(p) for p in conversion.problems] == [
        "b.csv: the import unpacks to more than 1,000 bytes with this file, the most one "
        "import may unpack: import the files in smaller parts"
    ]


# -- staged imports --------------------------------------------------------------------------
def test_stale_staged_imports_are_swept(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    old, new = staging / "old-token", staging / "new-token"
    for folder in (old, new):
        folder.mkdir()
        (folder / "files.zip").write_bytes(b"z" * 1000)
    (staging / "old-token.taken").mkdir()  # a confirm that died half-way
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not staging's")
    (staging / "link").symlink_to(outside, target_is_directory=True)
    hour_ago = time.time() - 3600
    for path in (old, staging / "old-token.taken", staging / "link"):
        os.utime(path, (hour_ago, hour_ago), follow_symlinks=False)
    assert sweep_staged(staging, older_than=1800) == 3
    assert sorted(p.name for p in staging.iterdir()) == ["new-token"]
    assert (outside / "keep.txt").exists()  # the link went, not what it points at
    newer = staging / "newer-token"
    newer.mkdir()
    (newer / "files.zip").write_bytes(b"z" * 1000)
    os.utime(new, (hour_ago + 60, hour_ago + 60))
    assert sweep_staged(staging, older_than=7200, max_bytes=1500) == 1  # the oldest goes
    assert sorted(p.name for p in staging.iterdir()) == ["newer-token"]
    assert sweep_staged(tmp_path / "missing", older_than=0) == 0


def test_the_tabular_reader_ignores_what_the_scan_has_already_judged():
    """A workbook within every limit reads as before (the scan holds nothing)."""
    conversion = tabular.convert({"bank.xlsx": xlsx(GOOD)})
    assert not conversion.problems and len(conversion.document["cell_lines"]) == 2
