"""MIABIS 3 in the model: the vocabularies (located errors with did-you-mean), old spellings
normalised on import and reported, DOIs, content diagnoses, species, round trips through the
node's exports, the Directory's codes on export, and the search and page fields."""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

import pytest

from federation.node.exporter import export
from federation.node.formats.directory import codes
from federation.node.formats.sources import expand
from federation.node.importer import import_catalogue, import_files
from portal.miabis_jsonld import with_miabis
from portal.miabis_view import miabis_view
from schemas import schema_for
from schemas.vocabularies import vocabulary
from search.indexer.documents import to_document
from tests.builders import BIOBANK, COLLECTION, catalogue, cell_line

HIPSCI = {"id": "hipsci", "name": "Human Induced Pluripotent Stem Cells Initiative"}
PAPER = {"doi": "10.1038/nature22403", "title": "Common genetic variation", "year": 2017}


def full_line(local_id: str = "L1", **fields: Any) -> dict[str, Any]:
    """A line using every MIABIS part."""
    line = cell_line(
        local_id,
        miabis_sample_type="STEM_CELLS",
        sample_source="human",
        species="NCBITaxon:9606",
        source_tissue={"code": "UBERON:0002067", "label": "dermis", "version": "2024-01-18"},
        content_status="healthy",
        dataset_types=["GENOMIC", "PROTEOMIC"],
        publications=[PAPER],
        research_resources=[{**HIPSCI, "acronym": "HipSci", "url": "https://www.hipsci.org"}],
        storage={"temperature": "temperature-lt-135"},
    )
    line.update(fields)
    return line


def full_catalogue() -> dict[str, Any]:
    data = catalogue(full_line())
    data["schema_version"] = "2"
    data["biobanks"][0].update(
        infrastructural_capabilities=["sample_storage", "biosafety"],
        organisational_capabilities=["recontact"],
        bioprocessing_capabilities=["cell_lines_processing"],
        capabilities=["gene editing"],
    )
    data["collections"][0].update(
        materials=["IPSC", "CANCER_CELL_LINES", "ORGANOIDS"],
        miabis_sample_types=["EMBRYO"],
        storage_temperatures=["temperature-lt-135", "temperatureLNvapour"],
        categories=["oncology", "paediatrics", "nervous_system"],
        sample_sources=["human"],
        species=["NCBITaxon:9606"],
        dataset_types=["GENOMIC"],
        publications=[PAPER],
        research_resources=[HIPSCI],
    )
    return data


def problems_of(report) -> list[tuple[str, str, str]]:
    return [(p.where, p.field, p.message) for p in report.problems]


# -- the vocabularies ------------------------------------------------------------------
def test_every_project_cell_type_and_material_has_a_miabis_sample_type():
    miabis = vocabulary("miabis_sample_types")
    for name in ("cell_types", "material_types"):
        for term in vocabulary(name).terms:
            if term.code == "NAV":  # "not available" is no sample type
                continue
            assert term.extra["miabis_type"] in miabis, (name, term.code)
    # The split MIABIS 3 makes, and the finer codes beneath it.
    assert vocabulary("cell_types")["hiPSC"].extra["miabis_type"] == "STEM_CELLS"
    assert vocabulary("cell_types")["CANCER"].extra["miabis_type"] == "CANCER_CELL_LINES"
    assert vocabulary("material_types")["CELL_LINES"].extra["miabis_type"] == (
        "IMMORTALIZED_CELL_LINES"
    )
    for code in ("IMMORTALIZED_CELL_LINES", "CANCER_CELL_LINES", "PRIMARY_CELLS", "ORGANOIDS"):
        assert code in miabis


def test_storage_temperatures_have_sprec_v3_below_minus_135_and_one_spelling_each():
    storage = vocabulary("storage_temperatures")
    assert "temperature-lt-135" in storage
    spellings = [s for t in storage.terms for s in (t.code, *t.aliases)]
    assert len(spellings) == len(set(spellings))
    assert storage.resolve("temperatureLNvapor") == "temperatureLNvapour"
    assert storage.resolve("temperatureGN") == "temperatureLNvapour"


def test_capabilities_are_the_three_miabis_lists():
    capabilities = vocabulary("biobank_capabilities")
    lists = {t.extra["list"] for t in capabilities.terms}
    assert lists == {"infrastructural", "organisational", "bioprocessing"}
    assert capabilities["cell_lines_processing"].extra["list"] == "bioprocessing"
    assert capabilities.resolve("cell-culture") == "cell_lines_processing"


def test_collection_categories_are_the_directory_s_current_list():
    categories = vocabulary("collection_categories")
    assert set(categories.codes) == {
        "rare_disease",
        "covid19",
        "paediatrics",
        "oncology",
        "infectious",
        "population",
        "metabolic",
        "cardiovascular",
        "nervous_system",
        "autoimmune",
    }
    assert categories.resolve("cancer") == "oncology"
    assert categories.resolve("paediatric_only") == "paediatrics"


@pytest.mark.parametrize(
    ("section", "change", "field", "message"),
    [
        ("cell_lines", {"miabis_sample_type": "Stem cell"}, "miabis_sample_type", "'STEM_CELLS'"),
        ("cell_lines", {"species": "NCBITaxon:96066"}, "species", "'NCBITaxon:9606'"),
        ("cell_lines", {"sample_source": "humna"}, "sample_source", "'human'"),
        ("cell_lines", {"dataset_types": ["GENOMC"]}, "dataset_types[0]", "'GENOMIC'"),
        ("cell_lines", {"content_status": "helthy"}, "content_status", "healthy"),
        ("collections", {"categories": ["oncolgy"]}, "categories[0]", "'oncology'"),
        (
            "collections",
            {"storage_temperatures": ["temperature-lt-130"]},
            "storage_temperatures[0]",
            "'temperature-lt-135'",
        ),
        (
            "biobanks",
            {"infrastructural_capabilities": ["genomics"]},
            "infrastructural_capabilities[0]",
            "is not an infrastructural capability; must be one of: sample_storage",
        ),
        (
            "biobanks",
            {"bioprocessing_capabilities": ["cell_line_processing"]},
            "bioprocessing_capabilities[0]",
            "did you mean 'cell_lines_processing'?",
        ),
    ],
)
def test_a_wrong_code_is_located_with_what_was_meant_and_nothing_is_stored(
    store, section, change, field, message
):
    data = full_catalogue()
    data[section][0].update(change)
    report = import_catalogue(store, data, "bank.json")
    [(where, at, text)] = problems_of(report)
    assert where.startswith(f"{section}[0]")
    assert at == field
    assert message in text
    assert not store.records("cell_line") and not store.records("biobank")


# -- old spellings on import -----------------------------------------------------------
def test_old_spellings_are_normalised_on_import_and_reported(store):
    data = full_catalogue()
    data["collections"][0].update(
        storage_temperatures=["temperatureLNvapor", "temperatureGN", "temperature-60to-85"],
        categories=["cancer", "paediatric_only", "paediatric_included"],
        species=["Homo sapiens"],
    )
    data["cell_lines"][0]["storage"] = {"temperature": "temperatureGN"}
    data["cell_lines"][0]["species"] = "9606"
    report = import_catalogue(store, data, "bank.json")
    assert report.ok, report.lines()
    [stored] = store.records("collection")
    assert stored["storage_temperatures"] == ["temperatureLNvapour", "temperature-60to-85"]
    assert stored["categories"] == ["oncology", "paediatrics"]
    assert stored["species"] == ["NCBITaxon:9606"]
    [line] = store.records("cell_line")
    assert line["storage"]["temperature"] == "temperatureLNvapour"
    assert line["species"] == "NCBITaxon:9606"
    changed = report.mapping.values
    assert changed[("collections.storage_temperatures", "temperatureGN", "temperatureLNvapour")]
    assert changed[("collections.categories", "cancer", "oncology")] == 1
    assert changed[("cell_lines.storage.temperature", "temperatureGN", "temperatureLNvapour")]
    assert any("'cancer' -> 'oncology'" in line for line in report.mapping.lines())


def test_free_text_capabilities_go_to_their_miabis_list_or_stay_free_text_located(store):
    data = full_catalogue()
    bank = data["biobanks"][0]
    for name in ("infrastructural", "organisational", "bioprocessing"):
        bank.pop(f"{name}_capabilities")
    bank["capabilities"] = ["biomaterial-storage", "cell-culture", "Recontact", "gene editing"]
    report = import_catalogue(store, data, "bank.json")
    assert report.ok, report.lines()
    [stored] = store.records("biobank")
    assert stored["infrastructural_capabilities"] == ["sample_storage"]
    assert stored["organisational_capabilities"] == ["recontact"]
    assert stored["bioprocessing_capabilities"] == ["cell_lines_processing"]
    assert stored["capabilities"] == ["gene editing"]
    [note] = report.mapping.notes
    assert note.startswith("biobanks[0] (id bb-berlin): capabilities 'gene editing'")


# -- DOIs, content, species ------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("10.1038/nature22403", "10.1038/nature22403"),
        ("https://doi.org/10.1038/nature22403", "10.1038/nature22403"),
        ("doi:10.1016/j.stem.2017.03.001", "10.1016/j.stem.2017.03.001"),
    ],
)
def test_a_doi_is_stored_plain(given, stored):
    line = schema_for("cell_line").load(full_line(publications=[{"doi": given}]))
    assert line["publications"] == [{"doi": stored}]


@pytest.mark.parametrize("bad", ["nature22403", "10.10/x", "https://example.org/10.1038/x", ""])
def test_a_malformed_doi_is_refused_where_it_is(store, bad):
    data = full_catalogue()
    data["cell_lines"][0]["publications"] = [PAPER, {"doi": bad, "title": "t"}]
    report = import_catalogue(store, data, "bank.json")
    [(where, at, text)] = problems_of(report)
    assert (where, at) == ("cell_lines[0] (id L1)", "publications[1].doi")
    assert "is not a DOI such as '10.1038/nature22403'" in text


def test_a_doi_or_research_resource_listed_twice_is_refused(store):
    data = full_catalogue()
    data["cell_lines"][0]["publications"] = [PAPER, {"doi": "https://doi.org/10.1038/NATURE22403"}]
    data["collections"][0]["research_resources"] = [HIPSCI, HIPSCI]
    report = import_catalogue(store, data, "bank.json")
    assert sorted(problems_of(report)) == [
        ("cell_lines[0] (id L1)", "publications", "doi '10.1038/nature22403' is listed twice"),
        ("collections[0] (id ipsc-disease)", "research_resources", "id 'hipsci' is listed twice"),
    ]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"content_status": "disease"}, "content_status", "needs content_diagnoses"),
        (
            {"content_diagnoses": [{"code": "ICD10:C50", "label": "Breast cancer"}]},
            "content_diagnoses",
            "content_status must be 'disease', not 'healthy'",
        ),
        ({"species": "NCBITaxon:10090"}, "species", "Mus musculus (mouse) is not a 'human'"),
        ({"source_tissue": {"code": "FMA:7163", "label": "skin"}}, "source_tissue.code", "UBERON"),
        ({"source_tissue": {"code": "UBERON:0002067"}}, "source_tissue.label", "required"),
    ],
)
def test_line_level_rules_are_located(fields, field, message):
    from marshmallow import ValidationError

    from schemas.errors import error_items

    with pytest.raises(ValidationError) as caught:
        schema_for("cell_line").load(full_line(**fields))
    [(at, text)] = error_items(caught.value.messages)
    assert at == field
    assert message in text


def test_a_cancer_line_carries_its_content_diagnosis_apart_from_its_donor_s():
    line = schema_for("cell_line").load(
        full_line(
            cell_type="CANCER",
            miabis_sample_type="CANCER_CELL_LINES",
            content_status="disease",
            content_diagnoses=[{"code": "ICD10:C50", "label": "Breast cancer", "version": "2019"}],
        )
    )
    assert line["donor"]["diseases"] == []
    assert line["content_diagnoses"][0]["version"] == "2019"


# -- round trips and the Directory export ----------------------------------------------
@pytest.mark.parametrize("fmt", ["json", "xlsx", "csv"])
def test_every_miabis_part_survives_the_node_s_exports(store, tmp_path, fmt):
    from federation.node.store import CatalogueStore

    assert import_catalogue(store, full_catalogue(), "bank.json").ok
    exported = export(store, fmt)
    again = CatalogueStore(f"sqlite:///{tmp_path / 'again.db'}")
    again.create_schema()
    files = {exported.filename: exported.content}
    if fmt == "csv":  # a zip of one CSV file per sheet
        files, problems = expand(exported.filename, exported.content)
        assert not problems
    report = import_files(again, files)
    assert report.ok, report.lines()
    for kind in ("biobank", "collection", "cell_line"):
        assert again.records(kind) == store.records(kind), kind
    again.dispose()


def test_the_directory_export_writes_the_new_codes_as_the_directory_s(store):
    assert import_catalogue(store, full_catalogue(), "bank.json").ok
    exported = export(store, "directory")
    tables, problems = expand(exported.filename, exported.content)
    assert not problems
    [bank] = csv.DictReader(io.StringIO(tables["Biobanks.csv"].decode()))
    assert bank["capabilities"].split(",") == ["biomaterial-storage", "recontact", "cell-culture"]
    [coll] = csv.DictReader(io.StringIO(tables["Collections.csv"].decode()))
    assert coll["categories"].split(",") == ["cancer", "paediatric_included"]
    assert coll["storage_temperatures"].split(",") == ["temperatureOther", "temperatureLN"]
    assert coll["materials"].split(",") == ["CELL_LINES", "OTHER"]
    for column, field in (
        ("Biobanks.capabilities", "capabilities"),
        ("Collections.categories", "categories"),
        ("Collections.storage_temperatures", "storage_temperatures"),
        ("Collections.materials", "materials"),
    ):
        row = bank if column.startswith("Biobanks") else coll
        assert set(row[field].split(",")) <= codes.VOCABULARIES[column], column
    report = tables["export-report.txt"].decode()
    assert "'nervous_system'" in report and "'biosafety'" in report  # left out, and said


# -- search documents, record pages, JSON-LD -------------------------------------------
def _doc(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    loaded = schema_for(kind).load(copy.deepcopy(record))
    dumped = schema_for(kind).dump(loaded)
    return to_document(
        "berlin",
        kind,
        dumped,
        seq=1,
        content_hash="h",
        schema_version="2",
        modified="2026-12-01T00:00:00Z",
        biobank=BIOBANK,
        collection=COLLECTION,
    )


def test_search_documents_carry_the_miabis_fields():
    line = _doc("cell_line", full_line())
    assert line["miabis_sample_types"] == ["STEM_CELLS"]
    assert (line["species"], line["sample_sources"]) == (["NCBITaxon:9606"], ["human"])
    assert line["dataset_types"] == ["GENOMIC", "PROTEOMIC"]
    assert line["has_publications"] is True
    assert line["research_resources"] == ["hipsci"]
    assert line["source_tissue_code"] == "UBERON:0002067"
    # Without its own MIABIS type a line gets its cell type's; a mouse species its source.
    plain = _doc(
        "cell_line",
        cell_line("L2", cell_type="CANCER", species="NCBITaxon:10090"),
    )
    assert plain["miabis_sample_types"] == ["CANCER_CELL_LINES"]
    assert plain["sample_sources"] == ["animal"]
    assert plain["has_publications"] is False
    coll = _doc("collection", full_catalogue()["collections"][0])
    assert coll["miabis_sample_types"] == ["CANCER_CELL_LINES", "EMBRYO", "ORGANOIDS", "STEM_CELLS"]
    bank = _doc("biobank", full_catalogue()["biobanks"][0])
    assert bank["capabilities"] == [
        "biosafety",
        "cell_lines_processing",
        "recontact",
        "sample_storage",
    ]


def test_record_pages_and_json_ld_show_the_miabis_parts():
    doc = _doc("cell_line", full_line())
    view = miabis_view(doc)
    assert view["sample_types"] == ["Stem cells (and iPS cells)"]
    assert view["species"] == ["Homo sapiens (human)"]
    assert view["content"] == "healthy (control)"
    assert view["publications"][0]["url"] == "https://doi.org/10.1038/nature22403"
    ld = with_miabis({"additionalProperty": [{"name": "cell type"}]}, doc)
    assert ld["taxonomicRange"]["termCode"] == "NCBITaxon:9606"
    assert ld["isControl"] is True
    names = [p["name"] for p in ld["additionalProperty"]]
    assert names[0] == "cell type"  # the page's own properties stay first
    assert {"MIABIS sample type", "source tissue", "dataset type", "publication"} <= set(names)
    coll = with_miabis({}, _doc("collection", full_catalogue()["collections"][0]))
    assert coll["citation"][0]["@id"] == "https://doi.org/10.1038/nature22403"
    bank = miabis_view(_doc("biobank", full_catalogue()["biobanks"][0]))
    assert bank["capabilities"][0] == ("Infrastructural", ["Sample storage", "Biosafety abilities"])


def test_hpscreg_lines_come_with_their_source_cell_term_and_species(store):
    from federation.node.formats.sources import read_paths
    from tests.builders.data_files import shared

    files, problems = read_paths(sorted(shared("ebisc-hpscreg", "hotstart-5").glob("*.json")))
    assert not problems
    place = {
        "schema_version": "2",
        "biobanks": [{"id": "ebisc", "name": "EBiSC", "country": "DE"}],
        "collections": [{"id": "ebisc-ipsc", "biobank": "ebisc", "name": "EBiSC iPSC lines"}],
    }
    assert import_catalogue(store, place, "place.json").ok
    report = import_files(store, files)
    assert report.ok, report.lines()[:5]
    line = store.get("cell_line", "BIONi010-A")
    assert line["source_tissue"] == {"code": "CL:0002551", "label": "fibroblast of dermis"}
    lines = store.records("cell_line")
    assert {(r["sample_source"], r["species"]) for r in lines} == {("human", "NCBITaxon:9606")}
