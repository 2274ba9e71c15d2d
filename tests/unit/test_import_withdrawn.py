"""Withdrawals stick (review M5): a re-import or a save does not bring a withdrawn record
back or overwrite the content kept for its restore; only a restore does. Withdrawals an
import makes are checked like one made by hand."""

import json

import pytest

from cellfed.config import PROJECT_ROOT
from federation.node.exporter import export
from federation.node.formats.report import Conversion
from federation.node.formats.sources import expand
from federation.node.importer import check_catalogue, import_catalogue, import_files, run_import
from federation.node.store import CatalogueStore
from schemas import SCHEMA_VERSION
from tests.builders import catalogue, cell_line

DEMO = PROJECT_ROOT / "config" / "demo" / "de-stemcellbank.json"
LINE = "BIONi010-A"


def state(store: CatalogueStore):
    """Everything a refused import must leave as it was: the feed and the kept content."""
    return store.changes(0, 10_000), store.withdrawn("cell_line", LINE), store.counts()


@pytest.fixture
def demo_node(store):
    assert import_catalogue(store, json.loads(DEMO.read_text()), DEMO.name).ok
    return store


@pytest.mark.parametrize("fmt", ["json", "xlsx", "csv"])
def test_reimporting_an_export_taken_before_a_withdrawal_is_refused(demo_node, fmt):
    """The review's demo: export, withdraw a line, import the export, confirm. It used to say
    "0 created, 1 updated, 49 unchanged" and publish the line again."""
    store = demo_node
    exported = export(store, fmt)
    store.withdraw("cell_line", LINE)
    before = state(store)
    assert before[1]["id"] == LINE  # the content kept for a restore
    files, problems = expand(exported.filename, exported.content)
    assert not problems

    dry = import_files(store, files, dry_run=True)
    report = import_files(store, files)

    for refused in (dry, report):
        assert not refused.ok and refused.written is None
        messages = [str(p) for p in refused.problems]
        assert len(messages) == 1, messages
        assert "withdrawn at this node; restore it first to change it" in messages[0]
        assert f"(id {LINE})" in messages[0]  # located: file, row or section, id
    where = {
        "json": f"catalogue.json: cell_lines[0] (id {LINE})",
        "xlsx": f"catalogue.xlsx: sheet cell_lines: row 2 (id {LINE})",
        "csv": f"cell_lines.csv: row 2 (id {LINE})",
    }[fmt]
    assert messages[0] == f"{where}: id: withdrawn at this node; restore it first to change it"
    assert report.lines()[0].endswith("1 problem(s); nothing was stored")
    assert store.get("cell_line", LINE) is None
    assert state(store) == before  # feed unchanged, kept content intact

    store.restore("cell_line", LINE)  # the one way back; then the export imports unchanged
    again = import_files(store, files)
    assert again.ok and again.written.unchanged == 50


def test_saving_a_new_record_under_a_withdrawn_id_is_refused(demo_node):
    """The admin's save checks a record with check_catalogue before store.write."""
    store = demo_node
    store.withdraw("cell_line", LINE)
    before = state(store)
    record = {**before[1], "name": "Another line under an old id"}
    document = {"schema_version": SCHEMA_VERSION, "cell_lines": [record]}
    records, problems = check_catalogue(document, "edit", store)
    assert [(p.field, p.message) for p in problems] == [
        ("id", "withdrawn at this node; restore it first to change it")
    ]
    assert state(store) == before


def test_an_import_may_name_a_withdrawn_record_withdrawn_again(store):
    """The Directory marks withdrawn records: importing its export again changes nothing,
    and a withdrawn record whose content changed at the source keeps what was withdrawn."""
    files = {
        "Biobanks.csv": b"id,name,country,withdrawn\nbb:1,Bank,DE,false\n",
        "Collections.csv": b"id,name,biobank,order_of_magnitude,commercial_use,withdrawn\n"
        b"bb:1:a,Live,bb:1,2,false,false\nbb:1:b,Gone,bb:1,2,false,true\n",
    }
    first = import_files(store, files, pseudonym_key="k")
    assert first.ok and first.written.withdrawn == 1
    seq = store.latest_seq()
    changed = dict(files)
    changed["Collections.csv"] = files["Collections.csv"].replace(b"Gone", b"Renamed")
    again = import_files(store, changed, pseudonym_key="k")
    assert again.ok and again.written.unchanged == 3 and store.latest_seq() == seq
    assert store.withdrawn("collection", "bb:1:b")["name"] == "Gone"
    assert any("differ from the content kept" in note for note in again.mapping.notes)
    published = dict(files)
    published["Collections.csv"] = files["Collections.csv"].replace(b"false,true", b"false,false")
    refused = import_files(store, published, pseudonym_key="k")
    assert [str(p) for p in refused.problems] == [
        "Collections.csv: row 3 (id bb:1:b): id: withdrawn at this node; restore it first to "
        "change it"
    ]
    assert store.latest_seq() == seq


def test_an_import_withdrawing_a_referenced_collection_is_refused(store):
    assert import_catalogue(store, catalogue(cell_line("L1"), cell_line("L2")), "a.json").ok
    before = store.changes(0, 100)
    document = catalogue()  # the biobank and collection only, the collection withdrawn
    conversion_withdrawn = {("collection", "ipsc-disease")}
    report = run_import(
        store, Conversion("b.json", "json", document, withdrawn=conversion_withdrawn)
    )
    assert [str(p) for p in report.problems] == [
        "b.json: collections[0] (id ipsc-disease): cannot be withdrawn: still referenced by "
        "cell_line L1, cell_line L2 at this node; withdraw those first, or in this same import"
    ]
    assert store.changes(0, 100) == before and store.get("collection", "ipsc-disease")

    # withdrawing the lines in the same import too is a consistent withdrawal
    document = catalogue(cell_line("L1"), cell_line("L2"))
    both = conversion_withdrawn | {("cell_line", "L1"), ("cell_line", "L2")}
    report = run_import(store, Conversion("c.json", "json", document, withdrawn=both))
    assert report.ok, report.lines()
    assert store.counts()["cell_line"] == 0 and store.get("collection", "ipsc-disease") is None


def test_a_directory_import_withdrawing_a_biobank_with_live_collections_is_refused(store):
    files = {
        "Biobanks.csv": b"id,name,country,withdrawn\nbb:1,Bank,DE,false\n",
        "Collections.csv": b"id,name,biobank,order_of_magnitude,commercial_use,withdrawn\n"
        b"bb:1:a,Live,bb:1,2,false,false\n",
    }
    assert import_files(store, files, pseudonym_key="k").ok
    seq = store.latest_seq()
    only_the_biobank = {
        "Biobanks.csv": b"id,name,country,withdrawn\nbb:1,Bank,DE,true\n",
        "Collections.csv": b"id,name,biobank,order_of_magnitude,commercial_use,withdrawn\n",
    }
    report = import_files(store, only_the_biobank, pseudonym_key="k")
    assert [str(p) for p in report.problems] == [
        "Biobanks.csv: row 2 (id bb:1): cannot be withdrawn: still referenced by collection "
        "bb:1:a at this node; withdraw those first, or in this same import"
    ]
    assert store.latest_seq() == seq and store.get("biobank", "bb:1")
