"""The 'Meets standard' facet, record checklists and the standards API on the real engine: a
member node over HTTP, the indexer, the portal."""

from __future__ import annotations

import csv
import io
import uuid

import pytest

from portal.app import create_app
from search.aliases import drop_indices
from search.engine import SearchEngine
from tests.builders import catalogue, cell_line
from tests.builders.alliance import index_alliance

pytestmark = pytest.mark.engine


def qc(attribute: str, result: str = "pass", **more) -> dict:
    return {"attribute": attribute, "method": "lab method", "result": result, **more}


ISCT_EVIDENCE = [
    qc("FUNCTION", date="2024-01-10"),
    qc("POS_MARKERS", markers=["CD73", "CD90", "CD105"], value=98.0, unit="% positive"),
    qc("NEG_MARKERS", markers=["CD45", "CD34", "CD14", "CD19", "HLA-DR"], value=1.0, unit="%"),
    qc("TRILINEAGE", date="2024-02-01"),
]


def declared(standard: str, **more) -> dict:
    return {"standard": standard, "certificate_number": "CoA-9", "date": "2024-05-01", **more}


def lines() -> list[dict]:
    def msc(local_id: str, **fields) -> dict:
        lots = [{"lot_id": f"{local_id}-L1", "vials_available": 4}]
        return cell_line(local_id, cell_type="MSC", lots=lots, **fields)

    return [
        msc("M-EVID", qc=ISCT_EVIDENCE),
        msc("M-DECL", standards_declared=[declared("cscb-hmsc")]),
        msc("M-FAIL", qc=[*ISCT_EVIDENCE, qc("TRILINEAGE", "fail", date="2024-09-01")]),
        cell_line(
            "I-LOT",
            lots=[{"lot_id": "I-L1"}, {"lot_id": "I-L2"}],
            standards_declared=[declared("isscr-2023-hpsc", lot="I-L2")],
        ),
    ]


@pytest.fixture(scope="module")
def client(engine_url, tmp_path_factory):
    prefix = f"test-std-{uuid.uuid4().hex[:8]}-"
    data = catalogue(*lines())
    index_alliance(engine_url, prefix, tmp_path_factory.mktemp("std"), {"bank": data})
    app = create_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix})
    yield app.test_client()
    drop_indices(SearchEngine(engine_url), prefix)


def search(client, query: str) -> dict:
    resp = client.get(f"/api/v1/search?{query}")
    assert resp.status_code == 200, resp.json
    return resp.json


def ids(result: dict) -> set[str]:
    return {h["uid"].rsplit(":", 1)[-1] for h in result["hits"]}


def counts(result: dict) -> dict[str, int]:
    [entry] = [f for f in result["facets"] if f["name"] == "standard"]
    return {v["value"]: v["count"] for v in entry["values"] if v["count"]}


def test_the_facet_counts_lines_meeting_each_standard_on_evidence_or_declaration(client):
    result = search(client, "q=")
    assert counts(result) == {"isct-msc-2006": 1, "cscb-hmsc": 1, "isscr-2023-hpsc": 1}
    [entry] = [f for f in result["facets"] if f["name"] == "standard"]
    assert entry["label"] == "Meets standard"
    labels = {v["value"]: v["label"] for v in entry["values"]}
    assert labels["isct-msc-2006"] == "ISCT minimal criteria for MSC"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("standard=isct-msc-2006", {"M-EVID"}),  # evidence-backed; M-FAIL's latest failed
        ("standard=cscb-hmsc", {"M-DECL"}),  # declared with a certificate
        ("standard=isscr-2023-hpsc", {"I-LOT"}),  # declared for one of its lots
        ("standard=isct-msc-2006&standard=cscb-hmsc", {"M-EVID", "M-DECL"}),
        ("standard=isct-msc-2006&standard=cscb-hmsc&standard_op=and", set()),
        ("standard=cscb-rpe", set()),
    ],
)
def test_the_facet_filters(client, query, expected):
    assert ids(search(client, query)) == expected


def test_hits_and_exports_carry_the_standards_met(client):
    [hit] = search(client, "standard=isct-msc-2006")["hits"]
    assert hit["standards_met"] == ["isct-msc-2006"]
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/export.csv?q=M-DECL").text)))
    assert [(r["uid"], r["standards_met"]) for r in rows] == [
        ("bank:cell_line:M-DECL", "cscb-hmsc")
    ]


def test_the_search_page_filters_and_labels_without_javascript(client):
    html = client.get("/?standard=cscb-hmsc").get_data(as_text=True)
    assert "M-DECL" in html and "M-EVID" not in html
    assert "✓ CSCB mesenchymal stem cells" in html
    assert "Meets standard" in html  # the facet panel, a plain form


def test_an_unknown_standard_is_a_400_naming_the_parameter(client):
    resp = client.get("/api/v1/search?standard=iso-9999")
    assert resp.status_code == 400
    assert "'standard' has no value 'iso-9999'" in resp.json["detail"]


def test_the_record_api_gives_each_applicable_standard_for_the_line_and_its_lots(client):
    doc = client.get("/api/v1/records/bank:cell_line:I-LOT").json
    by_id = {c["standard"]: c for c in doc["standards"]}
    assert set(by_id) == {"cscb-hipsc", "isscr-2023-hpsc"}
    isscr = by_id["isscr-2023-hpsc"]
    assert isscr["kind"] == "partial"
    assert "Mycoplasma negative: no MYCOPLASMA result" in isscr["gaps"]
    assert [(lot["lot"], lot["kind"]) for lot in isscr["lots"]] == [
        ("I-L1", "partial"),
        ("I-L2", "declared"),
    ]
    assert isscr["lots"][1]["certificates"] == [
        {"certificate_number": "CoA-9", "lot": "I-L2", "date": "2024-05-01"}
    ]


def test_the_record_page_shows_the_checklist_without_javascript(client):
    html = client.get("/records/bank:cell_line:M-FAIL").get_data(as_text=True)
    assert '<h2 id="standards-heading">Standards</h2>' in html
    assert "ISCT minimal criteria for MSC" in html
    assert "latest TRILINEAGE result (2024-09-01) is fail" in html
    assert "Met: every required attribute" not in html
    page = client.get("/records/bank:cell_line:M-EVID").get_data(as_text=True)
    assert "Met: every required attribute has passing latest evidence" in page


def test_the_standards_are_listed_as_json_and_as_a_page(client):
    listed = client.get("/api/v1/standards").json["standards"]
    assert len(listed) == 8
    isct = next(s for s in listed if s["id"] == "isct-msc-2006")
    assert isct["sources"][0]["doi"] == "10.1080/14653240600855905"
    page = client.get("/standards").get_data(as_text=True)
    assert "Minimal criteria for defining multipotent mesenchymal stromal cells" in page
    assert "≥ 95 %" in page and 'href="/?standard=isct-msc-2006"' in page
