"""A bad import names the record and field, and stores nothing."""

import json

from federation.node.importer import import_catalogue, import_file
from tests.builders import catalogue, cell_line


def test_a_malformed_record_is_reported_by_section_row_id_and_field(store):
    data = catalogue(cell_line("L1"), cell_line("L2", donor={"sex": "X"}))
    report = import_catalogue(store, data, "bank.json")
    assert not report.ok
    assert [str(p) for p in report.problems] == [
        "bank.json: cell_lines[1] (id L2): donor.sex: 'X' is not a donor sex; must be one of: "
        "MALE, FEMALE, UNKNOWN"
    ]
    assert store.latest_seq() == 0 and store.counts()["cell_line"] == 0


def test_nothing_already_stored_is_touched_by_a_rejected_import(store):
    assert import_catalogue(store, catalogue(cell_line("L1")), "a.json").ok
    bad = catalogue(cell_line("L1", availability="gone"), cell_line("L9"))
    assert not import_catalogue(store, bad, "b.json").ok
    assert store.get("cell_line", "L1")["availability"] == "available"
    assert store.get("cell_line", "L9") is None
    assert store.latest_seq() == 3


def test_broken_references_and_duplicates_are_reported(store):
    data = catalogue(cell_line("L1", collection="nope"), cell_line("L1"))
    data["collections"].append({"id": "other", "biobank": "elsewhere", "name": "Other"})
    messages = [str(p) for p in import_catalogue(store, data, "x.json").problems]
    assert "x.json: cell_lines[1] (id L1): id: duplicate of cell_lines[0] (id L1)" in messages
    assert (
        "x.json: collections[1] (id other): biobank: no biobank with id 'elsewhere' in this "
        "file or at this node"
    ) in messages
    assert (
        "x.json: cell_lines[0] (id L1): collection: no collection with id 'nope' in this "
        "file or at this node"
    ) in messages


def test_references_may_point_at_records_the_node_already_holds(store):
    assert import_catalogue(store, catalogue(cell_line("L1")), "a.json").ok
    later = {"schema_version": "1", "cell_lines": [cell_line("L2")]}
    assert import_catalogue(store, later, "b.json").ok


def test_wrong_version_unknown_sections_and_non_objects(store):
    data = {"schema_version": "9", "samples": [], "cell_lines": ["L1"]}
    messages = [str(p) for p in import_catalogue(store, data, "x.json").problems]
    assert messages == [
        "x.json: schema_version: is '9'; this node reads versions 1, 2",
        "x.json: samples: unknown section; expected networks, biobanks, collections, cell_lines",
        "x.json: cell_lines[0]: must be an object",
    ]


def test_invalid_json_is_reported_with_line_and_column(store, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"schema_version": "1",\n "biobanks": [}\n')
    report = import_file(store, path)
    assert len(report.problems) == 1
    assert "not valid JSON" in str(report.problems[0]) and "line 2" in str(report.problems[0])


def test_dry_run_reports_and_stores_nothing(store, tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(catalogue(cell_line("L1"))))
    report = import_file(store, path, dry_run=True)
    assert report.ok and report.written is None
    assert report.records == {"network": 0, "biobank": 1, "collection": 1, "cell_line": 1}
    assert store.latest_seq() == 0


def test_a_line_cannot_sit_under_a_stored_collection_of_another_biobank(store):
    assert import_catalogue(store, catalogue(cell_line("L1")), "a.json").ok
    other = {"id": "bb-other", "name": "Other Bank", "country": "DE"}
    later = {"schema_version": "1", "biobanks": [other],
             "cell_lines": [cell_line("L2", biobank="bb-other")]}  # fmt: skip
    seq = store.latest_seq()
    messages = [str(p) for p in import_catalogue(store, later, "b.json").problems]
    assert messages == [
        "b.json: cell_lines[0] (id L2): collection: 'ipsc-disease' belongs to biobank "
        "'bb-berlin', not 'bb-other'"
    ]
    assert store.latest_seq() == seq and store.get("cell_line", "L2") is None


def test_a_collection_moved_to_another_biobank_takes_its_stored_lines_along(store):
    assert import_catalogue(store, catalogue(cell_line("L1"), cell_line("L2")), "a.json").ok
    other = {"id": "bb-other", "name": "Other Bank", "country": "DE"}
    moved = {**catalogue()["collections"][0], "biobank": "bb-other"}
    alone = {"schema_version": "1", "biobanks": [other], "collections": [moved]}
    seq = store.latest_seq()
    messages = [str(p) for p in import_catalogue(store, alone, "b.json").problems]
    assert messages == [
        "b.json: collections[0] (id ipsc-disease): biobank: moves the collection to biobank "
        "'bb-other', but the cell lines 'L1', 'L2' at this node stay under it in another "
        "biobank; move them in this import too, or leave the collection where it is"
    ]
    assert store.latest_seq() == seq
    along = {**alone, "cell_lines": [cell_line(i, biobank="bb-other") for i in ("L1", "L2")]}
    assert import_catalogue(store, along, "c.json").ok
    assert store.get("cell_line", "L1")["biobank"] == "bb-other"
