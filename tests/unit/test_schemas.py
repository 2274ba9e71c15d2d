import pytest
from marshmallow import ValidationError

from schemas import BiobankSchema, CellLineSchema, CollectionSchema, FeedEntrySchema, format_errors
from tests.builders import BIOBANK, cell_line


def errors_of(schema, data) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        schema.load(data)
    return format_errors(caught.value.messages)


def test_a_complete_cell_line_loads_with_defaults():
    line = CellLineSchema().load(
        cell_line("BIONi010-A", hpscreg_name="BIONi010-A", cellosaurus_ac="CVCL_1E66")
    )
    assert line["hpscreg_name"] == "BIONi010-A"
    assert line["genetically_modified"] is False
    assert line["synonyms"] == []


def test_errors_name_the_nested_field_and_the_allowed_values():
    bad = cell_line("x", donor={"sex": "M"}, cell_type="iPS")
    messages = errors_of(CellLineSchema(), bad)
    assert "donor.sex: 'M' is not a donor sex; did you mean 'MALE'?" in messages
    assert "cell_type: 'iPS' is not a cell type; did you mean 'hiPSC'?" in messages


def test_unknown_fields_are_rejected_not_dropped():
    assert "colour: Unknown field." in errors_of(CellLineSchema(), cell_line("x", colour="red"))


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("hpscreg_name", "WA09", "hpscreg_name: is not an hPSCreg name such as 'WAe009-A'"),
        ("cellosaurus_ac", "CVCL-9773", "cellosaurus_ac: is not a Cellosaurus accession"),
        ("biosamples_id", "12345", "biosamples_id: is not a BioSamples id"),
    ],
)
def test_identifiers_are_checked(field, value, expected):
    assert any(
        m.startswith(expected)
        for m in errors_of(CellLineSchema(), cell_line("x", **{field: value}))
    )


def test_certificate_expiry_must_follow_issue():
    biobank = {
        **BIOBANK,
        "certifications": [{**BIOBANK["certifications"][0], "valid_until": "2020-01-01"}],
    }
    assert errors_of(BiobankSchema(), biobank) == [
        "certifications[0].valid_until: must not be before 'issued'"
    ]


def test_modified_genes_require_the_modified_flag():
    messages = errors_of(CellLineSchema(), cell_line("x", modified_genes=["SNCA"]))
    assert messages == ["modified_genes: genes are listed but genetically_modified is false"]


def test_disease_codes_follow_a_known_scheme():
    line = cell_line("x", donor={"sex": "MALE", "diseases": [{"code": "G20", "label": "PD"}]})
    assert any("donor.diseases[0].code" in m for m in errors_of(CellLineSchema(), line))


def test_feed_entry_upsert_needs_a_record():
    entry = {
        "seq": 3,
        "kind": "cell_line",
        "id": "x",
        "op": "upsert",
        "schema_version": "1",
        "hash": "0" * 64,
        "modified": "2026-01-01T00:00:00+00:00",
        "record": None,
    }
    assert errors_of(FeedEntrySchema(), entry) == ["record: an upsert carries its record"]


def test_disease_specific_access_needs_its_diseases():
    line = cell_line("x", access={"duo_permission": "DUO:0000007", "commercial_use": False})
    assert errors_of(CellLineSchema(), line) == [
        "access.duo_diseases: disease-specific research (DUO:0000007) needs the diseases it is "
        "limited to"
    ]


def test_commercial_use_cannot_contradict_a_non_commercial_duo_modifier():
    access = {
        "duo_permission": "DUO:0000042",
        "duo_modifiers": ["DUO:0000046"],
        "commercial_use": True,
    }
    assert errors_of(CellLineSchema(), cell_line("x", access=access)) == [
        "access.commercial_use: commercial use is allowed, but a DUO modifier restricts use to "
        "non-commercial"
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"age_low": 60, "age_high": 18, "age_unit": "YEAR"},
            "age_high: must not be below age_low",
        ),
        ({"age_low": 18}, "age_unit: is needed when age_low or age_high is given"),
        ({"size": 5000, "order_of_magnitude": 2}, "order_of_magnitude: is 2, but size 5000 is of"),
    ],
)
def test_collection_cross_field_rules(fields, expected):
    collection = {"id": "c", "biobank": "b", "name": "C", **fields}
    assert errors_of(CollectionSchema(), collection)[0].startswith(expected)


def test_qc_results_and_lots_load():
    line = CellLineSchema().load(
        cell_line(
            "x",
            qc=[
                {
                    "attribute": "MYCOPLASMA",
                    "method": "PCR",
                    "result": "negative",
                    "date": "2025-05-01",
                }
            ],
            karyotype={"result": "46,XX", "normal": True, "method": "G_banding"},
            lots=[
                {"lot_id": "L-1", "vials_available": 12},
                {"lot_id": "L-2", "vials_available": 0},
            ],
        )
    )
    assert line["qc"][0]["result"] == "negative" and len(line["lots"]) == 2
    dup = cell_line("x", lots=[{"lot_id": "L-1"}, {"lot_id": "L-1"}])
    assert errors_of(CellLineSchema(), dup) == ["lots: lot ids must be unique within a line"]
