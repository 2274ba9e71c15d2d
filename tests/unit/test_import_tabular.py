"""Spreadsheets: XLSX and CSV sheets, per-row reports, nothing stored on any problem."""

import io
import json
import zipfile

from openpyxl import Workbook

from cellfed.config import PROJECT_ROOT
from federation.node.exporter import catalogue_document, export
from federation.node.formats import tabular
from federation.node.formats.sources import expand
from federation.node.importer import import_catalogue, import_files
from federation.node.privacy import FactsPolicy, PublishedCatalogue
from federation.node.store import CatalogueStore

DEMO = PROJECT_ROOT / "config" / "demo"


def xlsx(sheets: dict[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


GOOD = {
    "biobanks": [["id", "name", "country"], ["bb1", "Bank One", "DE"]],
    "collections": [
        ["id", "biobank", "name", "materials"],
        ["c1", "bb1", "iPSC", "IPSC; CELL_LINES"],
    ],
    "cell_lines": [
        ["id", "biobank", "collection", "name", "cell_type", "donor.sex", "availability"],
        ["L1", "bb1", "c1", "Line 1", "hiPSC", "FEMALE", "available"],
        ["L2", "bb1", "c1", "Line 2", "hiPSC", "MALE", "available"],
    ],
    "cell_lines.qc": [
        ["cell_line", "attribute", "method", "result", "date"],
        ["L1", "MYCOPLASMA", "PCR", "negative", "2024-05-01"],
    ],
}


def test_a_workbook_imports_with_lists_nested_columns_and_part_sheets(store):
    report = import_files(store, {"bank.xlsx": xlsx(GOOD)})
    assert report.ok, report.lines()
    assert report.format == "xlsx"
    line = store.get("cell_line", "L1")
    assert line["donor"]["sex"] == "FEMALE"
    assert line["qc"] == [
        {
            "attribute": "MYCOPLASMA",
            "method": "PCR",
            "result": "negative",
            "markers": [],
            "date": "2024-05-01",
        }
    ]
    assert store.get("collection", "c1")["materials"] == ["IPSC", "CELL_LINES"]


def test_a_malformed_spreadsheet_gets_a_per_row_report_and_changes_nothing(store):
    assert import_files(store, {"bank.xlsx": xlsx(GOOD)}).ok
    before = (store.latest_seq(), json.dumps(catalogue_document(store)))
    bad = {
        **GOOD,
        "cell_lines": [
            [
                "id",
                "biobank",
                "collection",
                "name",
                "cell_type",
                "donor.sex",
                "availability",
                "colour",
            ],
            ["L1", "bb1", "c1", "Line 1", "hiPSC", "Female ", "available", "red"],
            ["L3", "bb1", "nope", "Line 3", "iPS", "MALE", "available", None],
            ["L3", "bb1", "c1", "Line 3 again", "hiPSC", "MALE", "available", None],
        ],
        "cell_lines.qc": [
            ["cell_line", "attribute", "method", "result", "passage"],
            ["L1", "MYCOPLASMA", "PCR", "negative", "ten"],
            ["L9", "STERILITY", "culture", "pass", None],
        ],
        "celllines.lots": [["cell_line", "lot_id"]],
    }
    report = import_files(store, {"bank.xlsx": xlsx(bad)})
    messages = [str(p) for p in report.problems]
    sheet = "bank.xlsx: sheet cell_lines"
    assert f"{sheet}: row 1: colour: unknown column" in messages
    assert (
        f"{sheet}: row 2 (id L1): donor.sex: 'Female' is not a donor sex; did you mean 'FEMALE'?"
    ) in messages
    assert (
        f"{sheet}: row 3 (id L3): cell_type: 'iPS' is not a cell type; did you mean 'hiPSC'?"
        in (messages)
    )
    assert f"{sheet}: row 4 (id L3): id: duplicate of row 3 (id L3)" in messages
    assert "bank.xlsx: sheet cell_lines.qc: row 2 (L1): passage: Not a valid integer." in messages
    assert (
        "bank.xlsx: sheet cell_lines.qc: row 3: cell_line: no cell_line with id 'L9' in sheet "
        "'cell_lines'"
    ) in messages
    assert any(
        "unknown sheet 'celllines.lots'; did you mean 'cell_lines.lots'?" in m for m in messages
    )
    assert (store.latest_seq(), json.dumps(catalogue_document(store))) == before


def test_csv_files_with_excel_habits_are_read(store):
    biobanks = "\ufeffid;name;country\nbb1;Bank One;DE\n".encode()  # BOM and ';'
    collections = b"id,biobank,name,sex\nc1,bb1,Donors,MALE; FEMALE\n"
    report = import_files(store, {"biobanks.csv": biobanks, "collections.csv": collections})
    assert report.ok, report.lines()
    assert store.get("collection", "c1")["sex"] == ["MALE", "FEMALE"]


def test_not_a_workbook_is_reported_not_raised(store):
    report = import_files(store, {"bank.xlsx": b"PK\x03\x04 not really"})
    assert [str(p) for p in report.problems][0].startswith("bank.xlsx: not a readable XLSX")


def test_list_cells_escape_the_separator():
    assert tabular.split_list(tabular.join_list(["a; b", "c\\d", "e"])) == ["a; b", "c\\d", "e"]


def test_demo_catalogues_round_trip_exactly_through_every_export(tmp_path):
    for path in sorted(DEMO.glob("*.json")):
        source = CatalogueStore(f"sqlite:///{tmp_path / path.stem}.sqlite3")
        source.create_schema()
        assert import_catalogue(source, json.loads(path.read_text()), path.name).ok
        # An export holds the published facts: counts below k are "< k" (privacy.py).
        original = catalogue_document(PublishedCatalogue(source, FactsPolicy()))
        for fmt in ("json", "xlsx", "csv"):
            exported = export(source, fmt)
            files, problems = expand(exported.filename, exported.content)
            assert not problems
            target = CatalogueStore(f"sqlite:///{tmp_path / path.stem}-{fmt}.sqlite3")
            target.create_schema()
            report = import_files(target, files)
            assert report.ok, (fmt, report.lines()[:5])
            assert catalogue_document(target) == original, (path.name, fmt)
            again = import_files(source, files)  # the export into its own node: no change
            assert again.ok and again.written.unchanged == sum(report.records.values())
            target.dispose()
        source.dispose()


def test_the_csv_export_names_each_sheet_file():
    doc = json.loads((DEMO / "uk-hipsci.json").read_text())
    names = zipfile.ZipFile(io.BytesIO(tabular.to_csv_zip(doc))).namelist()
    assert {"networks.csv", "biobanks.csv", "collections.csv", "cell_lines.csv"} <= set(names)


def test_a_leading_apostrophe_in_csv_marks_a_formula_as_text_and_is_not_kept(store):
    """What the node's CSV export writes (and Excel's own rule): ``'=x`` is the text ``=x``;
    an apostrophe before anything else is part of the value."""
    biobanks = (
        b'id,name,country,acronym\nbb1,"\'=Bank",DE,"\'\'@twice"\nbb2,\'t Hooft Bank,DE,"x;\'+y"\n'
    )
    assert import_files(store, {"biobanks.csv": biobanks}).ok
    assert store.get("biobank", "bb1")["name"] == "=Bank"
    assert store.get("biobank", "bb1")["acronym"] == "'@twice"
    assert store.get("biobank", "bb2")["name"] == "'t Hooft Bank"
    assert store.get("biobank", "bb2")["acronym"] == "x;+y"
