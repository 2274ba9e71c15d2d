"""Exports: safe CSV cells, and JSON that parses even though it is written piece by piece;
the node's spreadsheet exports (XLSX, CSV) that never run a formula and import back exactly."""

import csv
import io
import json
import re
import zipfile

from hypothesis import given
from hypothesis import strategies as st

from portal.export import csv_chunks, json_chunks, safe_cell

DOCS = [
    {
        "uid": "berlin:cell_line:L1",
        "kind": "cell_line",
        "node_id": "berlin",
        "name": '=HYPERLINK("http://evil")',
        "biobank_name": "Berlin iPSC Bank",
        "qc_passed": ["sterile", "mycoplasma_negative"],
        "genetically_modified": False,
        "vials_available": 15,
        "record": {"id": "L1", "name": '=HYPERLINK("http://evil")'},
    },
    {
        "uid": "london:cell_line:L2",
        "kind": "cell_line",
        "node_id": "london",
        "name": "L2",
        "record": {"id": "L2"},
    },
]


def url_of(uid):
    return f"https://portal.example/records/{uid}"


def test_cells_that_a_spreadsheet_would_run_are_defused():
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("+44 20") == "'+44 20"
    assert safe_cell("-12") == "-12"  # a plain number stays a number
    assert safe_cell(None) == "" and safe_cell(True) == "yes"


def test_csv_has_a_header_and_one_row_per_record():
    rows = list(csv.reader(io.StringIO("".join(csv_chunks("cell_line", DOCS, url_of)))))
    header, first, second = rows
    assert header[0] == "uid" and header[-1] == "url"
    row = dict(zip(header, first, strict=True))
    assert row["name"] == '\'=HYPERLINK("http://evil")'
    assert row["qc_passed"] == "sterile; mycoplasma_negative"
    assert row["vials_available"] == "15" and row["genetically_modified"] == "no"
    assert row["url"] == "https://portal.example/records/berlin:cell_line:L1"
    assert dict(zip(header, second, strict=True))["uid"] == "london:cell_line:L2"


def test_json_export_is_one_valid_document():
    text = "".join(json_chunks({"kind": "cell_line", "total": 2}, iter(DOCS), url_of))
    data = json.loads(text)
    assert data["total"] == 2 and [r["uid"] for r in data["records"]] == [d["uid"] for d in DOCS]
    assert data["records"][0]["derived"]["qc_passed"] == ["sterile", "mycoplasma_negative"]
    assert json.loads("".join(json_chunks({"total": 0}, iter([]), url_of)))["records"] == []


# -- the node's own exports: spreadsheet cells that never run (review L5) ------------------
HOSTILE = {
    "name": '=HYPERLINK("http://x")',
    "description": "kolf;=1+1\n=cmd|' /C calc'!A0\n- a bullet, then, =2+2 | @SUM(1)",
    "synonyms": ["@SUM(1)", "-12", "+44 20 7946 0000", "'t Hooft", "'=already quoted", "a;=b"],
    "tissue_source": "skin\t=1+1",
}
TRIGGERS = tuple("=+-@")


def hostile_node(store):
    from federation.node.importer import import_catalogue
    from tests.builders import catalogue, cell_line

    data = catalogue(cell_line("L1", **HOSTILE), cell_line("L2"))
    assert import_catalogue(store, data, "hostile.json").ok
    return store


def test_node_xlsx_export_writes_text_cells_as_text_never_formulas(store):
    from openpyxl import load_workbook

    from federation.node.exporter import export

    content = export(hostile_node(store), "xlsx").content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        xml = b"".join(archive.read(n) for n in sheets)
    assert b"<f>" not in xml and b"<f " not in xml
    assert b"HYPERLINK" in xml
    ws = load_workbook(io.BytesIO(content))["cell_lines"]
    header = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(header, ws[2], strict=True)}
    assert row["name"].value == HOSTILE["name"] and row["name"].data_type == "s"
    assert row["description"].data_type == "s"


def test_node_csv_export_quotes_every_field_and_defuses_formulas(store):
    from federation.node.exporter import export

    content = export(hostile_node(store), "csv").content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        text = archive.read("cell_lines.csv").decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    quoted = io.StringIO()
    csv.writer(quoted, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows(rows)
    assert quoted.getvalue() == text  # every field quoted
    header = rows[0]
    line = dict(zip(header, rows[1], strict=True))
    assert line["name"] == '\'=HYPERLINK("http://x")'
    assert line["description"] == (
        "kolf;'=1+1\n'=cmd|' /C calc'!A0\n'- a bullet, then, '=2+2 | '@SUM(1)"
    )
    assert line["synonyms"] == (
        "'@SUM(1); -12; '+44 20 7946 0000; 't Hooft; ''=already quoted; a\\;'=b"
    )
    assert line["tissue_source"] == "skin\t'=1+1"  # a tab separates cells in some programs
    # Opened with any of the separators a spreadsheet might assume, no cell starts a formula.
    for separator in ";,|\t\n":
        for piece in text.split(separator):
            cell = piece.strip(' "\r\n')
            assert not cell.startswith(TRIGGERS) or cell.lstrip("+-").replace(".", "").isdigit(), (
                separator,
                cell,
            )


def test_node_exports_import_back_to_identical_records(store, tmp_path):
    from federation.node.exporter import catalogue_document
    from tests.builders.round_trip import assert_round_trips

    source = hostile_node(store)
    original = catalogue_document(source)
    assert original["cell_lines"][0]["name"] == HOSTILE["name"]
    assert_round_trips(source, tmp_path)


@given(st.text(alphabet=st.sampled_from("'=+-@;,|\t\r\n 1.eAx\\\""), max_size=30) | st.text())
def test_defusing_is_undone_exactly_and_leaves_no_formula(value):
    from federation.node.formats.tabular import defuse, undefuse

    assert undefuse(defuse(value)) == value
    segments = re.split(r"[;,|\t\r\n]", defuse(value))
    for segment in segments:
        start = segment.lstrip(" ")
        if start.startswith(TRIGGERS):
            assert re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", start), value
