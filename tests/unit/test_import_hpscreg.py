"""hPSCreg records from EBiSC (real lines): mapped into cell lines, depositor contacts left out."""

import json

import pytest

from federation.node.importer import import_catalogue, import_files
from tests.builders.data_files import EBISC_PLACE, hpscreg_records

PLACE = EBISC_PLACE


@pytest.fixture(scope="module")
def records():
    return hpscreg_records()


def test_all_twenty_records_import_as_cell_lines_and_again_change_nothing(store, records):
    assert import_catalogue(store, PLACE, "place.json").ok
    report = import_files(store, records)
    assert report.ok, report.lines()[:5]
    assert report.format == "hpscreg" and report.records["cell_line"] == 20
    line = store.get("cell_line", "BIONi010-A")
    assert (line["biobank"], line["collection"]) == ("ebisc", "ebisc-ipsc")
    assert line["hpscreg_name"] == "BIONi010-A" and line["biosamples_id"] == "SAMEA3105765"
    assert line["derivation"]["vector"] == "episomal"
    assert "POU5F1" in line["derivation"]["factors"]
    assert line["karyotype"] == {
        "result": "Normal",
        "normal": True,
        "method": "G_banding",
        "passage": 20,
    }
    assert line["tissue_source"] == "fibroblast of dermis (CL:0002551)"
    assert {q["attribute"] for q in line["qc"]} >= {"MYCOPLASMA", "PLURIPOTENCY_MARKERS"}
    assert ("hPSCreg.providers", "depositors' personal contact data") in report.mapping.dropped
    seq = store.latest_seq()
    assert import_files(store, records).written.unchanged == 20 and store.latest_seq() == seq


def test_diseases_karyotypes_and_vectors_follow_the_record(store, records):
    assert import_catalogue(store, PLACE, "place.json").ok
    assert import_files(store, records).ok
    lines = {r["id"]: r for r in store.records("cell_line")}
    affected = [r for r in lines.values() if r["donor"].get("diseases")]
    assert affected and all(r["donor"]["affected"] for r in affected)
    codes = {d["code"] for r in affected for d in r["donor"]["diseases"]}
    assert "ORPHA:1956" in codes  # erythromelalgia, from the record's Orphanet link
    abnormal = [r for r in lines.values() if r.get("karyotype") and not r["karyotype"]["normal"]]
    assert any("47,XY,+12" in r["karyotype"]["result"] for r in abnormal)
    assert {r["derivation"].get("vector") for r in lines.values()} >= {"Sendai", "retrovirus"}


def test_no_depositor_contact_detail_is_stored(store, records):
    assert import_catalogue(store, PLACE, "place.json").ok
    assert import_files(store, records).ok
    stored = json.dumps(store.records("cell_line"))
    for data in records.values():
        for provider in json.loads(data).get("providers", []):
            for key in ("email", "phone", "contact_person_fullname", "adress", "fax"):
                value = provider.get(key) or ""
                if len(value) > 5:
                    assert value not in stored, (key, value)


def test_without_a_place_for_the_lines_the_import_says_so(store, records):
    report = import_files(store, records)
    assert [str(p) for p in report.problems] == [
        f"{', '.join(sorted(records))}: biobank: say which biobank of this node holds these "
        "lines (and, optionally, which collection)"
    ]
