"""The real BBMRI-ERIC Directory snapshot (June 2023): import, report, privacy, round trip."""

import csv
import io
import json

import pytest

from federation.node.exporter import catalogue_document, export
from federation.node.formats.sources import expand, read_paths
from federation.node.importer import import_files
from federation.node.store import CatalogueStore
from tests.builders.data_files import shared

KEY = "test-pseudonym-key"


@pytest.fixture(scope="module")
def directory_files():
    files, problems = read_paths([shared("bbmri-eric-directory-2023")])
    assert not problems
    return files


def _contents(store):
    return json.dumps(catalogue_document(store, withdrawn=True), ensure_ascii=False)


def test_the_snapshot_imports_whole_with_a_mapping_report_and_twice_changes_nothing(
    store, directory_files, tmp_path
):
    report = import_files(store, directory_files, pseudonym_key=KEY, source="directory")
    assert report.ok, report.lines()[:5]
    assert report.format == "directory"
    assert report.records == {"network": 34, "biobank": 649, "collection": 3586, "cell_line": 0}
    assert report.withdrawn["biobank"] == 237 and report.withdrawn["collection"] == 663
    assert store.counts()["biobank"] == 649 - 237 and store.counts()["collection"] == 2923
    mapping = report.mapping
    assert mapping.fields[("Collections.materials", "materials")] == 3357
    assert mapping.values[("country", "UK", "GB")] > 0
    assert any(s == "Collections.body_part_examined" for s, _ in mapping.dropped)
    uk = "bbmri-eric:ID:UK_GBR-1-203"
    assert (store.get("biobank", uk) or store.withdrawn("biobank", uk))["country"] == "GB"
    stored = _contents(store)
    assert [v for v in _personal_values(directory_files) if v in stored] == []

    seq = store.latest_seq()
    again = import_files(store, directory_files, pseudonym_key=KEY, source="directory")
    assert again.ok and again.written.unchanged == 4269 and again.written.created == 0
    assert store.latest_seq() == seq  # nothing new in the feed

    # import -> export (Directory CSV set) -> import into an empty node: identical records
    exported = export(store, "directory")
    files, problems = expand(exported.filename, exported.content)
    assert not problems
    fresh = CatalogueStore(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    fresh.create_schema()
    back = import_files(fresh, files, pseudonym_key=KEY)
    assert back.ok, back.lines()[:5]
    assert _contents(fresh) == _contents(store)
    fresh.dispose()


def _personal_values(files):
    persons = csv.DictReader(io.StringIO(files["Persons.csv"].decode("utf-8")))
    columns = ("first_name", "last_name", "email", "phone", "address")
    return {p.get(c) for p in persons for c in columns if len(p.get(c) or "") > 5}


TINY = {
    "Persons.csv": "id,first_name,last_name,email,phone,country,role\n"
    "p1,Ada,Lovelace-Byron,ada.lovelace@uni.example,+44 20 7946 0000,UK,Director\n"
    "p2,,,biobank@uni.example,,UK,\n",
    "Biobanks.csv": "id,name,country,juridical_person,contact,head,withdrawn\n"
    "bb:1,Bank,UK,ada.lovelace@uni.example,p2,p1,false\n",
    "Collections.csv": "id,name,biobank,order_of_magnitude,commercial_use,contact,withdrawn\n"
    "bb:1:c,Coll,bb:1,2,false,p1,false\n",
}


def test_contacts_keep_role_mailboxes_and_pseudonymise_personal_addresses(store):
    files = {name: text.encode() for name, text in TINY.items()}
    assert import_files(store, files, pseudonym_key="one").ok
    biobank = store.get("biobank", "bb:1")
    assert biobank["contact"] == {
        "email": "biobank@uni.example",
        "role": "contact",
        "country": "GB",
    }
    head = biobank["head"]
    assert head["email"].endswith("@pseudonymised.invalid") and head["role"] == "Director"
    assert biobank["juristic_person"] == head["email"]  # the address in free text, too
    stored = _contents(store)
    assert not [v for v in _personal_values(files) if v in stored and "biobank@" not in v]
    other = CatalogueStore(store.engine.url.render_as_string(hide_password=False))
    assert import_files(store, files, pseudonym_key="two").written.updated == 2  # new key
    other.dispose()


def test_a_broken_export_is_reported_by_file_row_and_field(store):
    biobanks = "id,pid,name,country,juridical_person,withdrawn\nbb:1,p,Bank,XX,Uni,false\n"
    collections = (
        "id,name,biobank,type,data_categories,order_of_magnitude,commercial_use,withdrawn\n"
        "c:1,Coll,bb:missing,SAMPLE,BIOLOGICAL_SAMPLES,2,true,false\n"
    )
    files = {"Biobanks.csv": biobanks.encode(), "Collections.csv": collections.encode()}
    report = import_files(store, files, pseudonym_key=KEY)
    messages = [str(p) for p in report.problems]
    assert (
        "Biobanks.csv: row 2 (id bb:1): country: 'XX' is not a country code; see the "
        "'countries' vocabulary for the codes"
    ) in messages
    assert (
        "Collections.csv: row 2 (id c:1): biobank: no biobank with id 'bb:missing' in this "
        "file or at this node"
    ) in messages
    assert store.latest_seq() == 0


def test_an_export_without_its_collections_is_refused(store):
    report = import_files(store, {"Biobanks.csv": b"id,name\n"}, "directory", pseudonym_key=KEY)
    assert [str(p) for p in report.problems] == [
        "Collections.csv: missing: a Directory export needs it"
    ]
