"""Fields search derives from records: QC flags, line identity, hierarchies, terms, stock."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.validators import (
    AVAILABILITY,
    DERIVATION_METHODS,
    DONOR_SEXES,
    STORAGE_TEMPERATURES,
)
from search.aliases import MAPPING_VERSION, mapping
from search.indexer.derived import age_years, disease_fields, latest_qc, line_key, qc_flags
from search.indexer.documents import to_document
from search.vocab import (
    AVAILABILITY_LABELS,
    DERIVATION_LABELS,
    SEX_LABELS,
    STORAGE_LABELS,
    cell_type_path,
    disease_path,
)
from tests.builders import cell_line
from tests.builders.alliance import berlin, london, qc


def flags(**record):
    return set(qc_flags(record))


def test_the_latest_result_decides_a_qc_flag():
    assert flags(qc=[qc("MYCOPLASMA", "negative", "2024-01-01")]) == {"mycoplasma_negative"}
    stale = [qc("MYCOPLASMA", "negative", "2021-01-01"), qc("MYCOPLASMA", "positive", "2023-01-01")]
    assert flags(qc=stale) == set()
    retested = [qc("MYCOPLASMA", "positive", "2021-01-01"), qc("MYCOPLASMA", "pass", "2023-01-01")]
    assert flags(qc=retested) == {"mycoplasma_negative"}
    # Undated results count as older than dated ones; "not_done" is no result at all.
    assert flags(qc=[qc("STERILITY", "pass", "2024-01-01"), qc("STERILITY", "fail")]) == {"sterile"}
    assert flags(qc=[qc("STERILITY", "pass"), qc("STERILITY", "not_done", "2025-01-01")]) == {
        "sterile"
    }
    assert flags(qc=[]) == set()


def test_karyotype_and_str_need_evidence_and_no_evidence_against():
    normal = {"result": "46,XX", "normal": True}
    assert flags(karyotype=normal) == {"karyotype_normal"}
    assert flags(karyotype={**normal, "normal": False}, qc=[qc("KARYOTYPE", "normal")]) == set()
    assert flags(karyotype=normal, qc=[qc("KARYOTYPE", "abnormal", "2024-01-01")]) == set()
    assert flags(qc=[qc("KARYOTYPE", "pass")]) == {"karyotype_normal"}

    assert flags(str_profile={"loci": {"TH01": "6"}, "verified": True}) == {"str_verified"}
    assert flags(str_profile={"loci": {"TH01": "6"}, "verified": False}) == set()
    assert flags(qc=[qc("IDENTITY_STR", "pass")]) == {"str_verified"}
    verified_but_failed = {
        "str_profile": {"loci": {"TH01": "6"}, "verified": True},
        "qc": [qc("IDENTITY_STR", "fail", "2024-01-01")],
    }
    assert flags(**verified_but_failed) == set()


def test_line_key_prefers_the_strongest_registry_identifier():
    uid = "n:cell_line:x"
    assert line_key({"hpscreg_name": "WAe009-A", "cellosaurus_ac": "CVCL_9773"}, uid) == (
        "hpscreg:wae009-a"
    )
    assert line_key({"cellosaurus_ac": "CVCL_9773", "biosamples_id": "SAMEA1"}, uid) == (
        "cellosaurus:cvcl_9773"
    )
    assert line_key({"biosamples_id": "SAMEA1"}, uid) == "biosamples:samea1"
    assert line_key({}, uid) == "uid:n:cell_line:x"


@pytest.mark.parametrize(
    ("band", "years"),
    [("0-4", (0, 4)), ("50-54", (50, 54)), ("85+", (85, 150)), ("EMBRYO", None), (None, None)],
)
def test_age_bands_become_years(band, years):
    assert age_years(band) == years


@pytest.mark.parametrize(
    ("code", "path"),
    [
        ("ICD10:G20", "ICD10-VI/ICD10:G20"),
        ("ICD10:M16.1", "ICD10-XIII/ICD10:M16/ICD10:M16.1"),
        ("ICD10:C50.9", "ICD10-II/ICD10:C50/ICD10:C50.9"),
        ("ICD10:D50", "ICD10-III/ICD10:D50"),
        ("ICD10:T14", "ICD10-XIX/ICD10:T14"),
        ("ICD10:H99", "ICD10-other/ICD10:H99"),  # between chapters VIII and IX
        ("ORPHA:399", "ORPHA/ORPHA:399"),
        ("MONDO:0005180", "MONDO/MONDO:0005180"),
    ],
)
def test_diseases_sit_under_their_icd10_chapter_or_ontology(code, path):
    assert disease_path(code) == path


def test_cell_types_sit_in_a_small_tree():
    assert cell_type_path("hiPSC") == "stem/pluripotent/hiPSC"
    assert cell_type_path("CARDIOMYOCYTE") == "differentiated/CARDIOMYOCYTE"
    assert cell_type_path("CANCER") == "CANCER"


def test_label_tables_cover_the_catalogue_code_lists():
    assert set(STORAGE_LABELS) == set(STORAGE_TEMPERATURES)
    assert set(AVAILABILITY_LABELS) == set(AVAILABILITY)
    assert set(DERIVATION_LABELS) == set(DERIVATION_METHODS)
    assert set(SEX_LABELS) == set(DONOR_SEXES)


def _document(data, line_id):
    [biobank] = data["biobanks"]
    collections = {c["id"]: c for c in data["collections"]}
    record = next(line for line in data["cell_lines"] if line["id"] == line_id)
    return to_document(
        "node",
        "cell_line",
        record,
        seq=1,
        content_hash="h",
        schema_version="2",
        modified="2026-01-01T00:00:00+00:00",
        biobank=biobank,
        collection=collections.get(record.get("collection")),
    )


def test_a_cell_line_document_carries_every_facet_field():
    doc = _document(berlin(), "BIONi010-A")
    assert doc["line_key"] == "hpscreg:bioni010-a"
    assert doc["qc_passed"] == [
        "mycoplasma_negative",
        "sterile",
        "karyotype_normal",
        "str_verified",
    ]
    assert doc["disease_nodes"] == ["ICD10-VI", "ICD10:G20"]
    assert doc["disease_code_labels"] == ["ICD10:G20|Parkinson disease"]
    assert doc["cell_type_nodes"] == ["hiPSC", "pluripotent", "stem"]
    assert (doc["donor_age_low"], doc["donor_age_high"]) == (60, 64)
    assert (doc["derivation_method"], doc["derivation_vector"]) == (
        "reprogramming_non_integrating",
        "Sendai",
    )
    assert (doc["duo_permission"], doc["commercial_use"]) == ("DUO:0000006", True)
    assert (doc["lots_count"], doc["vials_available"]) == (2, 15)
    assert doc["storage_temperatures"] == ["temperatureLNvapour"]
    assert doc["networks"] == ["eu-ipsc"]
    assert doc["collection_uid"] == "node:collection:ipsc-disease"


def test_a_line_without_its_own_terms_is_offered_on_its_collections():
    doc = _document(berlin(), "WAe009-A")
    assert (doc["duo_permission"], doc["duo_modifiers"], doc["commercial_use"]) == (
        "DUO:0000042",
        ["DUO:0000046"],
        False,
    )
    assert "donor_age_low" not in doc  # an embryo has no age band in years


def test_genes_come_from_the_gene_list_and_the_modifications():
    line = cell_line(
        "L1",
        genetically_modified=True,
        modified_genes=["SNCA"],
        modifications=[{"type": "knock_in", "gene": "GFP"}, {"type": "reporter"}],
    )
    doc = to_document(
        "n", "cell_line", line, seq=1, content_hash="h", schema_version="2", modified="x"
    )
    assert doc["modified_genes"] == ["GFP", "SNCA"]


def test_the_mapping_holds_every_field_a_document_can_have():
    """The mapping is strict: a derived field it lacks would make the engine refuse writes."""
    fields = set(mapping(MAPPING_VERSION)["mappings"]["properties"])
    docs = [
        _document(data, line["id"]) for data in (berlin(), london()) for line in data["cell_lines"]
    ]
    data = berlin()
    docs.append(
        to_document(
            "n",
            "collection",
            data["collections"][0],
            seq=1,
            content_hash="h",
            schema_version="2",
            modified="x",
            biobank=data["biobanks"][0],
        )
    )
    docs.append(
        to_document(
            "n",
            "biobank",
            data["biobanks"][0],
            seq=1,
            content_hash="h",
            schema_version="2",
            modified="x",
        )
    )
    used = {key for doc in docs for key in doc}
    assert used - fields == set()
    json.dumps(docs)  # and every document is plain JSON


def test_access_terms_without_a_duo_permission_index_as_none():
    # The Directory's collections may give terms (fee, joint project) but no DUO code.
    record = {"id": "c", "biobank": "b", "name": "C", "access": {"commercial_use": True}}
    doc = to_document(
        "n", "collection", record, seq=1, content_hash="h", schema_version="2", modified="x"
    )
    assert doc.get("duo_permission") is None and doc["commercial_use"] is True


QC_RESULTS = st.lists(
    st.fixed_dictionaries(
        {
            "attribute": st.sampled_from(["MYCOPLASMA", "STERILITY", "KARYOTYPE", "IDENTITY_STR"]),
            "result": st.sampled_from(["pass", "fail", "negative", "normal", "not_done"]),
        },
        optional={"date": st.sampled_from(["2021-01-01", "2023-05-01", "2023-05-01", ""])},
    ),
    max_size=8,
)


@given(QC_RESULTS)
def test_the_one_pass_over_qc_results_picks_what_latest_qc_picks(results):
    from search.indexer.derived import FLAG_QC, _latest_outcomes

    outcomes = _latest_outcomes(results)
    for attribute in FLAG_QC:
        assert outcomes.get(attribute) == latest_qc(results, attribute)


def test_memoised_disease_fields_are_each_documents_own_lists():
    diseases = [{"code": "ICD10:G20", "label": "Parkinson disease"}]
    first, second = disease_fields(diseases), disease_fields(diseases)
    assert first == second and first["disease_nodes"] is not second["disease_nodes"]
    first["disease_nodes"].append("changed")
    assert "changed" not in disease_fields(diseases)["disease_nodes"]
