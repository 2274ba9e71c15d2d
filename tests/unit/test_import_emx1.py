"""MOLGENIS EMX1 catalogues, built by the test from the real Directory snapshot (June 2023)
the way the Directory kept them before EMX2: package ``eu_bbmri_eric``, an entities sheet,
an attributes sheet and a data sheet per entity, with some BBMRI-NL attribute names."""

import csv
import io
import json

from federation.node.exporter import catalogue_document
from federation.node.formats import convert, detection
from federation.node.formats.sources import read_paths
from federation.node.importer import import_files
from federation.node.store import CatalogueStore
from tests.builders.data_files import shared

KEY = "test-pseudonym-key"
PACKAGE = "eu_bbmri_eric"
ENTITIES = {
    "Biobanks": "biobanks",
    "Collections": "collections",
    "Persons": "persons",
    "Networks": "networks",
    "QualityInfoBiobanks": "bio_qual_info",
    "QualityInfoCollections": "col_qual_info",
    "AlsoKnownIn": "also_known_in",
}
LOOKUPS = {
    "Countries": "countries",
    "MaterialTypes": "material_types",
    "DiseaseTypes": "disease_types",
}
TYPES = {
    "ref": "xref",
    "ref_array": "mref",
    "ontology": "categorical",
    "ontology_array": "categorical_mref",
    "text": "text",
    "bool": "bool",
    "int": "int",
    "hyperlink": "hyperlink",
    "email": "email",
    "datetime": "datetime",
}
RENAMED = {("Biobanks", "url"): "website", ("Collections", "contact"): "contact_person"}
"""Attributes given the names BBMRI-NL's EMX1 catalogue uses."""


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _csv(header: list[str], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _entity(table: str) -> str:
    return f"{PACKAGE}_{({**ENTITIES, **LOOKUPS}).get(table, table.lower())}"


def emx1_from_snapshot() -> dict[str, bytes]:
    """The snapshot as EMX1: its model file turned into attributes, its tables into data
    sheets, the biobanks' juridical persons into an entity of their own they refer to."""
    folder = shared("bbmri-eric-directory-2023")
    model = _rows((folder / "molgenis.csv").read_text(encoding="utf-8-sig"))
    data = {t: (folder / f"{t}.csv").read_text(encoding="utf-8-sig") for t in ENTITIES}
    data.update({t: (folder / "ontologies" / f"{t}.csv").read_text() for t in LOOKUPS})
    files: dict[str, bytes] = {}
    attributes = []
    for row in model:
        table, column = row["tableName"], row["columnName"]
        if table not in ENTITIES or row["columnType"] in ("heading", "refback") or not column:
            continue
        ref = row["refTable"]
        attributes.append(
            {
                "entity": _entity(table),
                "name": RENAMED.get((table, column), column),
                "dataType": TYPES.get(row["columnType"], "string"),
                "refEntity": _entity(ref) if ref else "",
                "nillable": "FALSE" if row["required"] == "true" else "TRUE",
                "idAttribute": "TRUE" if row["key"] == "1" else "FALSE",
                "label": row["label"],
            }
        )
    for attribute in attributes:
        if attribute["entity"].endswith("_biobanks") and attribute["name"] == "juridical_person":
            attribute.update(dataType="xref", refEntity=f"{PACKAGE}_juristic_persons")
    attributes.append({"entity": _entity("Collections"), "name": "publications", "label": ""})
    attributes += [
        {"entity": f"{PACKAGE}_juristic_persons", "name": n, "idAttribute": i}
        for n, i in (("id", "TRUE"), ("name", "FALSE"))
    ]
    attributes += [
        {"entity": _entity(t), "name": n, "idAttribute": "TRUE" if n == "name" else "FALSE"}
        for t in LOOKUPS
        for n in ("name", "label")
    ]
    header = ["entity", "name", "dataType", "refEntity", "nillable", "idAttribute", "label"]
    files["attributes.csv"] = _csv(header, attributes)
    names = [*ENTITIES.values(), *LOOKUPS.values(), "juristic_persons"]
    entities = [{"name": n, "package": PACKAGE, "label": n.replace("_", " ")} for n in names]
    files["entities.csv"] = _csv(["name", "package", "label"], entities)

    biobanks = _rows(data.pop("Biobanks"))
    people = sorted({b["juridical_person"] for b in biobanks if b["juridical_person"]})
    ids = {name: f"jp{n}" for n, name in enumerate(people, start=1)}
    for b in biobanks:
        b["website"] = b.pop("url")
        b["juridical_person"] = ids.get(b["juridical_person"], "")
    files[f"{_entity('Biobanks')}.csv"] = _csv(list(biobanks[0]), biobanks)
    juristic = [{"id": i, "name": name} for name, i in ids.items()]
    files[f"{PACKAGE}_juristic_persons.csv"] = _csv(["id", "name"], juristic)
    collections = _rows(data.pop("Collections"))
    for c in collections:
        c["contact_person"] = c.pop("contact")
    files[f"{_entity('Collections')}.csv"] = _csv(list(collections[0]), collections)
    for table, text in data.items():
        files[f"{_entity(table)}.csv"] = text.encode()
    return files


def _import(tmp_path, name, files):
    store = CatalogueStore(f"sqlite:///{tmp_path / name}.sqlite3")
    store.create_schema()
    report = import_files(store, files, pseudonym_key=KEY)
    contents = json.dumps(catalogue_document(store, withdrawn=True), ensure_ascii=False)
    seq = store.latest_seq()
    store.dispose()
    return report, contents, seq


def test_an_emx1_catalogue_imports_the_same_records_as_the_directory_export(tmp_path):
    snapshot, problems = read_paths([shared("bbmri-eric-directory-2023")])
    assert not problems
    original, expected, _ = _import(tmp_path, "original", snapshot)
    assert original.ok

    report, contents, _ = _import(tmp_path, "emx1", emx1_from_snapshot())
    assert report.ok, report.lines()[:5]
    assert report.format == "emx1"
    assert report.records == original.records
    assert contents == expected
    assert report.mapping.fields == original.mapping.fields  # the same mapping report
    assert report.mapping.dropped == original.mapping.dropped
    notes = report.mapping.notes
    sheet = f"{PACKAGE}_collections.csv"
    assert f"{sheet}: entity {PACKAGE}_collections read as the Directory's Collections table" in (
        notes
    )
    assert f"{sheet}: attributes with no place in the model: publications" in notes
    lookup = "a lookup table: the ids that refer to it are read in its place"
    for entity in ("also_known_in", "countries"):
        assert f"{PACKAGE}_{entity}.csv: entity {PACKAGE}_{entity}: {lookup}" in notes


def _small() -> dict[str, bytes]:
    """Two biobanks and a collection in EMX1, as a person would write them by hand."""
    return {
        "entities.csv": b"name,package,label\nbiobanks,bbmri_nl,Biobanks\n"
        b"sample_collections,bbmri_nl,Sample collections\nstudies,bbmri_nl,Studies\n",
        "attributes.csv": b"entity,name,dataType,refEntity,idAttribute,nillable,label\n"
        b"bbmri_nl_biobanks,id,string,,TRUE,FALSE,Id\n"
        b"bbmri_nl_biobanks,name,string,,FALSE,FALSE,Name\n"
        b"bbmri_nl_biobanks,country,xref,bbmri_nl_countries,FALSE,FALSE,Country\n"
        b"bbmri_nl_biobanks,juridical_person,string,,FALSE,FALSE,Juridical person\n"
        b"bbmri_nl_sample_collections,id,string,,TRUE,FALSE,Id\n"
        b"bbmri_nl_sample_collections,name,string,,FALSE,FALSE,Name\n"
        b"bbmri_nl_sample_collections,biobanks,mref,bbmri_nl_biobanks,FALSE,FALSE,Biobanks\n"
        b"bbmri_nl_sample_collections,type,mref,,FALSE,FALSE,Type\n"
        b"bbmri_nl_sample_collections,order_of_magnitude,int,,FALSE,FALSE,Size class\n"
        b"bbmri_nl_studies,id,string,,TRUE,FALSE,Id\n",
        "bbmri_nl_biobanks.csv": b"id,name,country,juridical_person\n"
        b"nl:1,Bank one,NL,Uni One\n\nnl:2,Bank two,NL,Uni Two\n",
        "bbmri_nl_sample_collections.csv": b"id,name,biobanks,type,order_of_magnitude\n"
        b'nl:1:c,Cohort,"nl:1,nl:2",COHORT,3\nnl:9:c,Lost,nl:9,COHORT,2\n',
        "bbmri_nl_studies.csv": b"id\ns1\n",
    }


def test_what_cannot_be_made_valid_is_refused_by_sheet_row_and_field(store):
    report = import_files(store, _small(), pseudonym_key=KEY)
    assert report.format == "emx1"
    messages = [str(p) for p in report.problems]
    assert messages == [
        "bbmri_nl_sample_collections.csv: row 3 (id nl:9:c): biobank: no biobank with id "
        "'nl:9' in this file or at this node"
    ]
    assert store.latest_seq() == 0  # nothing partly stored


def test_notes_say_what_has_no_place_and_which_value_of_several_was_kept():
    files = _small()
    files["bbmri_nl_sample_collections.csv"] = files["bbmri_nl_sample_collections.csv"].replace(
        b"nl:9", b"nl:2"
    )
    conversion = convert(files, pseudonym_key=KEY)
    assert conversion.format == "emx1" and not conversion.problems
    notes = conversion.mapping.notes
    assert (
        "bbmri_nl_sample_collections.csv: biobanks: several values in one row; the first is kept"
        in notes
    )
    assert (
        "bbmri_nl_studies.csv: entity bbmri_nl_studies: no place in the model (1 rows not read)"
        in (notes)
    )
    assert [c["biobank"] for c in conversion.document["collections"]] == ["nl:1", "nl:2"]


def test_an_emx1_workbook_is_read_sheet_by_sheet(store, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, data in _small().items():
        sheet = book.create_sheet(name[: -len(".csv")])
        for row in csv.reader(io.StringIO(data.decode())):
            sheet.append(row)
    book.save(tmp_path / "catalogue.xlsx")
    files = {"catalogue.xlsx": (tmp_path / "catalogue.xlsx").read_bytes()}
    report = import_files(store, files, pseudonym_key=KEY)
    assert report.format == "emx1"
    assert [str(p) for p in report.problems] == [
        "catalogue.xlsx: sheet bbmri_nl_sample_collections: row 3 (id nl:9:c): biobank: no "
        "biobank with id 'nl:9' in this file or at this node"
    ]


def test_files_in_no_known_format_are_refused_with_why_each_format_did_not_fit():
    files = {"samples.csv": b"id,tube\n1,A1\n", "README.txt": b"hello"}
    conversion = convert(files)
    (problem,) = conversion.problems
    message = str(problem)
    assert "cannot tell the format; tried Directory EMX2: no Biobanks.csv or Collections.csv" in (
        message
    )
    assert "EMX1: no attributes sheet and no entities sheet" in message
    assert "spreadsheet (XLSX or CSV): no sheet of the layout" in message
    assert "the sheets are 'samples'" in message
    assert "JSON (CellFed or hPSCreg): not every file is .json (README.txt is neither" in message
    assert "did you mean 'cell_lines'" in detection.reasons({"cell-lines.csv": b""})[2]


def test_an_attributes_sheet_without_entity_or_name_is_refused_where_it_is_empty():
    files = _small()
    files["attributes.csv"] += b",colour,string,,FALSE,TRUE,Colour\n"
    files["bbmri_nl_biobanks.csv"] = files["bbmri_nl_biobanks.csv"].replace(
        b"juridical_person\n", b"juridical_person,shoe size\n", 1
    )
    conversion = convert(files, pseudonym_key=KEY)
    assert [str(p) for p in conversion.problems] == ["attributes.csv: row 12: entity: empty"]
    files["attributes.csv"] = files["attributes.csv"].rsplit(b"\n", 2)[0] + b"\n"
    notes = convert(files, pseudonym_key=KEY).mapping.notes
    assert (
        "bbmri_nl_biobanks.csv: columns the attributes sheet does not declare, not read: shoe size"
    ) in notes
