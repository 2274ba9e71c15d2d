"""Exports: safe CSV cells, and JSON that parses even though it is written piece by piece."""

import csv
import io
import json

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
