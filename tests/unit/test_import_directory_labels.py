"""Directory exports whose files and columns carry other labels import as the original.

The test copies the real June 2023 snapshot to a temporary folder and renames its files and
columns there: title case with spaces and no model file (matched by label), and the labels
of the export's own model file or of earlier model versions (``Head of Biobank``, ``Also
Known In.csv``), with the model file kept.
"""

import csv
import io
import json
import re
import shutil

import pytest

from federation.node.exporter import catalogue_document
from federation.node.formats import directory
from federation.node.formats.directory.labels import OLDER_LABELS, match_header, read_model
from federation.node.formats.labels import file_key, label_key
from federation.node.formats.sources import read_paths
from federation.node.importer import import_files
from federation.node.store import CatalogueStore
from tests.builders.data_files import shared

KEY = "test-pseudonym-key"


def _title(name: str) -> str:
    """``juridical_person`` -> ``Juridical Person``; ``QualityInfoBiobanks`` -> ``Quality Info
    Biobanks``."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ")
    return " ".join(word[:1].upper() + word[1:] for word in spaced.split())


def _relabel(folder, rename_file, rename_column) -> None:
    """Rename every CSV file under ``folder`` and the columns of its header row."""
    for path in sorted(folder.rglob("*.csv")):
        table = path.stem
        text = path.read_text(encoding="utf-8")
        first, rest = text.split("\n", 1)
        header = next(csv.reader([first]))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow([rename_column(table, c) for c in header])
        target = path.with_name(rename_file(table) + ".csv")
        path.unlink()
        target.write_text(out.getvalue() + rest, encoding="utf-8")


def _import(tmp_path, name, folder):
    files, problems = read_paths([folder])
    assert not problems
    store = CatalogueStore(f"sqlite:///{tmp_path / name}.sqlite3")
    store.create_schema()
    report = import_files(store, files, pseudonym_key=KEY)
    contents = json.dumps(catalogue_document(store, withdrawn=True), ensure_ascii=False)
    store.dispose()
    return report, contents


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("original")
    report, contents = _import(tmp, "original", shared("bbmri-eric-directory-2023"))
    assert report.ok, report.lines()[:5]
    return report, contents


def test_title_case_files_and_columns_without_a_model_file_import_the_same(original, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(shared("bbmri-eric-directory-2023"), folder)
    (folder / "molgenis.csv").unlink()
    _relabel(folder, _title, lambda table, column: _title(column))
    assert (folder / "Quality Info Biobanks.csv").exists()
    assert (folder / "ontologies" / "Disease Types.csv").exists()

    report, contents = _import(tmp_path, "title", folder)
    assert report.ok, report.lines()[:5]
    assert report.format == "directory"
    assert report.records == original[0].records
    assert contents == original[1]
    # the same mapping report: every column mapped and left out as in the original
    assert report.mapping.fields == original[0].mapping.fields
    assert report.mapping.dropped == original[0].mapping.dropped
    assert report.mapping.values == original[0].mapping.values
    notes = report.mapping.notes
    assert any(
        n.startswith("Biobanks.csv: columns by label: ")
        and "'Juridical Person' -> juridical_person" in n
        for n in notes
    ), notes


def test_labels_of_the_model_file_and_of_earlier_versions_import_the_same(original, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(shared("bbmri-eric-directory-2023"), folder)
    model, problems = read_model({"molgenis.csv": (folder / "molgenis.csv").read_bytes()})
    assert not problems
    older = {t: {name: label for label, name in m.items()} for t, m in OLDER_LABELS.items()}
    by_label = {t: {name: key for key, name in m.items()} for t, m in model.labels.items()}
    label_of = {
        (row["tableName"], row["columnName"]): row["label"]
        for row in csv.DictReader(io.StringIO((folder / "molgenis.csv").read_text()))
        if row["columnName"]
    }

    def column(table: str, name: str) -> str:
        """Collections get the model file's labels ("Head of collection"), the other
        tables an earlier model's where one differs ("Juristic Person", "Website")."""
        if name in older.get(table, {}) and table != "Collections":
            return older[table][name]
        if name in by_label.get(table, {}):
            return label_of[(table, name)]
        return name

    files = {"AlsoKnownIn": "Also Known In", "Persons": "persons"}
    _relabel(folder, lambda t: files.get(t, t), column)
    header = (folder / "Biobanks.csv").read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    assert {"Head of Biobank", "Juristic Person", "Website", "Acronym"} <= set(header)
    assert "Capabilities provided" not in header and "Capabilities Provided" in header

    report, contents = _import(tmp_path, "older", folder)
    assert report.ok, report.lines()[:5]
    assert report.records == original[0].records
    assert contents == original[1]
    assert report.mapping.fields == original[0].mapping.fields
    assert report.mapping.dropped == original[0].mapping.dropped
    notes = report.mapping.notes
    assert "Also Known In.csv: not read: cross-references to other catalogues are not kept" in notes
    assert any(
        "Biobanks.csv: columns by an earlier model version's label: " in n
        and "'Website' -> url" in n
        and "'Juristic Person' -> juridical_person" in n
        for n in notes
    ), notes
    assert any(
        "Collections.csv: columns by the model file's label: " in n
        and "'Head of collection' -> head" in n
        for n in notes
    ), notes


def test_labels_are_compared_without_case_spaces_underscores_or_hyphens():
    assert {label_key(x) for x in ("Head of Biobank", "head_of_biobank", "HEAD-OF-biobank")} == {
        "headofbiobank"
    }
    assert file_key("ontologies/Disease Types.csv") == "diseasetypes"
    header, how = match_header(
        "Biobanks.csv", ["ID", "Head of Biobank", "Shoe size"], read_model({})[0]
    )
    assert header == ["id", "head", "Shoe size"]
    assert how[2] == ("Shoe size", "", "not matched")


def test_two_columns_that_are_one_attribute_are_refused_naming_both(store):
    files = {
        "Biobanks.csv": b"id,ID,name\nbb:1,bb:2,Bank\n",
        "Collections.csv": b"id,name,biobank\n",
    }
    report = import_files(store, files, "directory", pseudonym_key=KEY)
    assert [str(p) for p in report.problems] == [
        "Biobanks.csv: row 1: id: columns 'id' and 'ID' are both 'id'"
    ]
    assert store.latest_seq() == 0


def test_the_node_s_own_spreadsheet_files_are_not_taken_for_a_directory_export():
    assert not directory.looks_like({"biobanks.csv": b"", "collections.csv": b""})
    assert directory.looks_like({"BIOBANKS.csv": b"", "collections.csv": b""})
    assert directory.looks_like({"biobanks.csv": b"", "molgenis.csv": b""})
