"""Standards files: validated when loaded, a bad one refused with its file, attribute and field;
records that declare a standard are checked against the loaded files, and imports carry it."""

import copy
import json

import pytest

from federation.node.exporter import catalogue_document
from federation.node.importer import import_catalogue, import_files
from federation.node.store import CatalogueStore
from schemas import schema_for
from schemas.standards import (
    HERE,
    StandardFileError,
    load_folder,
    load_standard,
    parse_standard,
    standards,
)
from tests.builders import catalogue, cell_line
from tests.builders.round_trip import assert_round_trips

ISCT = json.loads((HERE / "isct-msc-2006.json").read_text())


def test_the_eight_shipped_standards_load_and_each_cites_a_source():
    shipped = standards()
    assert sorted(shipped) == [
        "cscb-cardiomyocyte",
        "cscb-hepatocyte",
        "cscb-hipsc",
        "cscb-hmsc",
        "cscb-hspc",
        "cscb-rpe",
        "isct-msc-2006",
        "isscr-2023-hpsc",
    ]
    for s in shipped.values():
        assert all(src.get("doi") or src.get("url") for src in s.sources), s.id
        assert any(a.required for a in s.attributes), s.id


def test_rules_are_given_only_with_a_stated_source_and_null_rules_say_why():
    with_rules = {
        (s.id, a.id): a.rule.words()
        for s in standards().values()
        for a in s.attributes
        if a.rule is not None
    }
    assert with_rules == {
        ("isct-msc-2006", "positive_markers"): "≥ 95 %",
        ("isct-msc-2006", "negative_markers"): "≤ 2 %",
    }
    assert all(a.note for s in standards().values() for a in s.attributes if a.rule is None)


def test_the_api_shape_is_the_file_shape():
    assert standards()["isct-msc-2006"].to_dict() == ISCT


def refused(doc: dict, name: str = "isct-msc-2006.json") -> str:
    with pytest.raises(StandardFileError) as err:
        parse_standard(doc, name)
    return str(err.value)


def test_a_bad_attribute_is_refused_with_the_file_the_attribute_and_the_field():
    doc = copy.deepcopy(ISCT)
    doc["attributes"][1]["evidence"]["qc_attribute"] = "POS_MARKER"
    message = refused(doc)
    assert message.startswith(
        "isct-msc-2006.json: attribute 'positive_markers', field evidence.qc_attribute: "
        "Must be one of: VIABILITY"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["attributes"][0]["evidence"].pop("note"),
            "attribute 'plastic_adherence', field evidence.note: the rule is null: say why",
        ),
        (
            lambda d: d["attributes"][2]["evidence"].update(rule={"unit": "%"}),
            "attribute 'negative_markers', field evidence.rule.min: a rule needs 'min' or 'max'",
        ),
        (
            lambda d: d["attributes"][3].update(category="potency"),
            "attribute 'trilineage', field category: Must be one of: identity",
        ),
        (lambda d: d.update(cell_types=["MCS"]), "cell_types[0]: 'MCS' is not a cell type"),
        (lambda d: d.pop("issuing_body"), "issuing_body: Missing data for required field."),
        (
            lambda d: d["attributes"].append(copy.deepcopy(d["attributes"][0])),
            "attributes: attribute ids appear twice: plastic_adherence",
        ),
    ],
)
def test_each_kind_of_mistake_is_located(change, expected):
    doc = copy.deepcopy(ISCT)
    change(doc)
    assert expected in refused(doc)


def test_the_id_must_match_the_file_name():
    assert refused(copy.deepcopy(ISCT), "isct.json") == (
        "isct.json: field id: 'isct-msc-2006' must match the file name"
    )


def test_a_folder_with_one_bad_file_is_refused_naming_that_file(tmp_path):
    (tmp_path / "isct-msc-2006.json").write_text(json.dumps(ISCT))
    assert list(load_folder(tmp_path)) == ["isct-msc-2006"]
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(StandardFileError, match=r"^broken\.json: cannot be read as JSON"):
        load_folder(tmp_path)
    assert load_standard(tmp_path / "isct-msc-2006.json").id == "isct-msc-2006"


# -- records declaring standards -------------------------------------------------------------
LOTS = [{"lot_id": "M-L1", "vials_available": 3}]


def msc(**fields):
    return cell_line("M1", cell_type="MSC", lots=copy.deepcopy(LOTS), **fields)


def declared(standard="isct-msc-2006", **more):
    return {"standard": standard, "certificate_number": "CoA-1", "date": "2024-05-01", **more}


def test_an_unknown_standard_in_an_import_is_a_located_problem_and_nothing_is_stored(store):
    data = catalogue(msc(standards_declared=[declared("isct-2006")]))
    report = import_catalogue(store, data, "bank.json")
    assert [str(p) for p in report.problems] == [
        "bank.json: cell_lines[0] (id M1): standards_declared[0].standard: 'isct-2006' is not "
        "a known standard; known: " + ", ".join(sorted(standards()))
    ]
    assert store.latest_seq() == 0 and store.counts()["cell_line"] == 0


def test_a_declaration_or_result_that_does_not_fit_its_line_is_located(store):
    line = msc(
        standards_declared=[declared("cscb-hipsc"), declared(lot="M-L9")],
        qc=[{"attribute": "STERILITY", "method": "culture", "result": "pass", "lot": "nope"}],
    )
    report = import_catalogue(store, catalogue(line), "bank.json")
    assert sorted(str(p) for p in report.problems) == [
        "bank.json: cell_lines[0] (id M1): qc[0].lot: the line has no lot 'nope'",
        "bank.json: cell_lines[0] (id M1): standards_declared[0].standard: cscb-hipsc covers "
        "hiPSC, not MSC",
        "bank.json: cell_lines[0] (id M1): standards_declared[1].lot: the line has no lot 'M-L9'",
    ]
    assert store.counts()["cell_line"] == 0


def test_a_declaration_needs_its_certificate_number_and_date():
    errors = schema_for("cell_line").validate(msc(standards_declared=[{"standard": "cscb-hmsc"}]))
    assert errors == {
        "standards_declared": {
            0: {
                "certificate_number": ["Missing data for required field."],
                "date": ["Missing data for required field."],
            }
        }
    }


def test_declarations_and_qc_lots_round_trip_through_json_xlsx_and_csv(tmp_path):
    line = msc(
        standards_declared=[declared(), declared("cscb-hmsc", lot="M-L1")],
        qc=[{"attribute": "TRILINEAGE", "method": "staining", "result": "pass", "lot": "M-L1"}],
    )
    source = CatalogueStore(f"sqlite:///{tmp_path / 'source'}.sqlite3")
    source.create_schema()
    assert import_catalogue(source, catalogue(line), "bank.json").ok
    original = catalogue_document(source)
    [stored] = original["cell_lines"]
    assert stored["standards_declared"][1] == declared("cscb-hmsc", lot="M-L1")
    assert stored["qc"][0]["lot"] == "M-L1"
    assert_round_trips(source, tmp_path)
    source.dispose()


def test_real_hpscreg_records_are_judged_on_what_they_report(store):
    """hPSCreg reports screening, markers, trilineage and the karyotype, but no STR result."""
    from federation.node.formats.sources import read_paths
    from schemas.conformance import checklist
    from tests.builders.data_files import shared

    files, _ = read_paths(sorted(shared("ebisc-hpscreg", "hotstart-5").glob("*.json")))
    place = {
        "schema_version": "2",
        "biobanks": [{"id": "ebisc", "name": "EBiSC", "country": "DE"}],
        "collections": [{"id": "ebisc-ipsc", "biobank": "ebisc", "name": "EBiSC iPSC lines"}],
    }
    assert import_catalogue(store, place, "place.json").ok
    assert import_files(store, files).ok
    line = store.get("cell_line", "BIONi010-A")
    by_id = {c["standard"]: c for c in checklist(line)}
    assert set(by_id) == {"cscb-hipsc", "isscr-2023-hpsc"}
    assert by_id["isscr-2023-hpsc"]["kind"] == "partial"
    assert by_id["isscr-2023-hpsc"]["gaps"] == [
        "Identity and authentication (STR or SNP genotype): no IDENTITY_STR result"
    ]
    karyotype = next(
        i for i in by_id["isscr-2023-hpsc"]["checklist"] if i["attribute"] == "genomic_integrity"
    )
    assert (karyotype["status"], karyotype["words"]) == ("met", "KARYOTYPE passed")
