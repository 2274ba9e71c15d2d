"""A Directory export writes only codes the Directory's model has (the June 2023 model in
the shared data folder): ours mapped where it has a code, left out and reported where not."""

import csv
import io

import pytest

from cellfed.config import PROJECT_ROOT
from federation.node.exporter import export
from federation.node.formats.directory import codes
from federation.node.formats.directory.write import REPORT_FILE
from federation.node.formats.sources import expand, read_paths
from federation.node.importer import import_files
from federation.node.store import CatalogueStore
from tests.builders.data_files import shared

DEMO = PROJECT_ROOT / "config" / "demo"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def model():
    """(table, column) -> the codes its lookup table holds, for every ontology or lookup
    reference column of the Directory's model file."""
    folder = shared("bbmri-eric-directory-2023")
    lookups = {
        p.stem: {r.get("name") or r.get("id") for r in _rows(p.read_text(encoding="utf-8-sig"))}
        for p in (folder / "ontologies").glob("*.csv")
    }
    lookups["LaboratoryStandards"].discard("id")  # a stray header row in that table
    columns = {}
    for row in _rows((folder / "molgenis.csv").read_text(encoding="utf-8-sig")):
        if row["refTable"] in lookups and row["columnName"]:
            columns[(row["tableName"], row["columnName"])] = lookups[row["refTable"]]
    return columns


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory):
    """The three demo catalogues (iPSC and ESC lines, LN vapour, CN) exported as a Directory
    set: the tables and the export report."""
    files, problems = read_paths(sorted(DEMO.glob("*.json")))
    assert not problems
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    store = CatalogueStore(f"sqlite:///{path}")
    store.create_schema()
    for name, data in files.items():
        assert import_files(store, {name: data}).ok, name
    exported = export(store, "directory")
    store.dispose()
    tables, problems = expand(exported.filename, exported.content)
    assert not problems
    return {n: b.decode() for n, b in tables.items()}


def test_the_codes_listed_are_the_directory_model_s(model):
    for (table, column), known in sorted(model.items()):
        key = f"{table}.{column}"
        listed = codes.VOCABULARIES.get(key) or codes.VOCABULARIES.get(column)
        if key in (
            "QualityInfoBiobanks.assess_level_bio",
            "QualityInfoCollections.assess_level_col",
        ):
            listed = codes.VOCABULARIES["assessment_level"]
        if listed is not None:
            assert listed == known, key
    assert codes.VOCABULARIES["Collections.materials"] == model[("Collections", "materials")]
    assert model[("Biobanks", "national_node")] == codes.NATIONAL_NODES


def test_every_exported_code_is_in_the_directory_s_vocabularies(model, demo_export):
    diseases = model[("Collections", "diagnosis_available")]
    checked = 0
    for name, text in demo_export.items():
        if not name.endswith(".csv") or "/" in name:
            continue
        table = name[: -len(".csv")]
        for number, row in enumerate(_rows(text), start=2):
            for column, value in row.items():
                known = model.get((table, column))
                if known is None or column in ("biobank", "collection") or not value:
                    continue
                if table == "CollectionFacts" and value == "*":
                    continue  # the Directory's own "all" in facts (its demo CollectionFacts.csv)
                for code in value.split(","):
                    assert code in known, (name, number, column, code)
                    checked += 1
    assert checked > 100
    collections = _rows(demo_export["Collections.csv"])
    assert all(c["type"] and c["data_categories"] for c in collections)  # required there
    assert any("urn:miriam:icd:G20" in c["diagnosis_available"] for c in collections)
    assert "urn:miriam:icd:G20" in diseases


def test_codes_without_a_directory_code_are_reported_and_replacements_are_counted(demo_export):
    report = demo_export[REPORT_FILE]
    assert "Collections.materials: 'IPSC' -> 'CELL_LINES'" in report
    assert "Collections.storage_temperatures: 'temperatureLNvapour' -> 'temperatureLN'" in report
    assert "Collections.type: no Directory code for it:" in report
    assert "(e.g. 'CELL_LINE')" in report
    assert "Collections.data_categories: no Directory code for it:" in report
    assert "(e.g. 'GENOMIC_DATA')" in report
    assert "Biobanks.country: no Directory code for it:" in report  # CN is no Directory country
    assert "QualityInfoBiobanks.quality_standard: 'ISO 20387:2018' -> 'ISO-20387-2018'" in report
    biobanks = _rows(demo_export["Biobanks.csv"])
    assert {b["national_node"] for b in biobanks} >= {"UK", "DE", "EXT"}
    materials = {
        m for c in _rows(demo_export["Collections.csv"]) for m in c["materials"].split(",")
    }
    assert "CELL_LINES" in materials and not materials & {"IPSC", "ESC"}


def test_a_required_column_left_without_codes_gets_the_directory_s_other():
    mapper = codes.DirectoryCodes()
    assert mapper.join("Collections.type", ["CELL_LINE"]) == "OTHER"
    assert mapper.join("Collections.materials", ["MSC"]) == ""
    assert mapper.join("Collections.materials", []) == ""
    assert mapper.report.dropped[("Collections.materials", "no Directory code for it")] == 1


def test_the_command_line_export_prints_what_did_not_fit(tmp_path):
    from click.testing import CliRunner

    from cellfed.cli import main

    url = f"sqlite:///{tmp_path / 'node.sqlite3'}"
    runner = CliRunner()
    imported = runner.invoke(main, ["node", "import", str(DEMO / "cn-nsccr.json"), "--db", url])
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "directory.zip"
    argv = ["node", "export", "--format", "directory", "--db", url, "--out", str(out)]
    exported = runner.invoke(main, argv)
    assert exported.exit_code == 0, exported.output
    assert "Collections.materials: 'IPSC' -> 'CELL_LINES'" in exported.output
    assert "Collections.type: no Directory code for it: " in exported.output
    assert out.exists()
