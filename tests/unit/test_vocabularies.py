"""Controlled vocabularies: data files, loaded once, with helpful messages."""

import json

import pytest
from marshmallow import ValidationError

from schemas import CollectionSchema
from schemas.validators import DUO_PERMISSIONS, MATERIAL_TYPES
from schemas.vocabularies import HERE, InVocabulary, names, vocabulary


def test_every_vocabulary_file_is_well_formed_with_unique_codes():
    assert {"material_types", "duo", "countries", "cell_types", "diseases"} <= set(names())
    for name in names():
        doc = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
        codes = [t["code"] for t in doc["terms"]]
        assert doc["name"] == name and doc["title"] and codes
        assert len(codes) == len(set(codes)), name
        assert all(t["label"].strip() for t in doc["terms"]), name


def test_vocabularies_are_read_once():
    assert vocabulary("material_types") is vocabulary("material_types")


def test_a_near_miss_gets_a_did_you_mean():
    with pytest.raises(ValidationError) as caught:
        CollectionSchema().load({"id": "c", "biobank": "b", "name": "C", "materials": ["Serum "]})
    assert caught.value.messages == {
        "materials": {0: ["'Serum ' is not a material type; did you mean 'SERUM'?"]}
    }


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("countries", "UK", "'UK' is not a country code; did you mean 'GB'?"),
        ("countries", "Germany", "'Germany' is not a country code; did you mean 'DE'?"),
        ("duo", "DUO_0000021", "'DUO_0000021' is not a DUO term; did you mean 'DUO:0000021'?"),
        ("donor_sexes", "X", "'X' is not a donor sex; must be one of: MALE, FEMALE, UNKNOWN"),
        ("countries", "ZZ", "'ZZ' is not a country code; see the 'countries' vocabulary"),
    ],
)
def test_messages_say_what_was_meant_or_what_is_allowed(name, value, expected):
    with pytest.raises(ValidationError) as caught:
        InVocabulary(name)(value)
    assert caught.value.messages[0].startswith(expected)


def test_a_subset_is_enforced_and_named():
    permission = InVocabulary("duo", "DUO permission", kind="permission")
    assert permission("DUO:0000042") == "DUO:0000042"
    with pytest.raises(ValidationError) as caught:
        permission("DUO:0000046")  # a modifier, not a permission
    assert "is not a DUO permission" in caught.value.messages[0]


def test_aliases_resolve_for_importers_but_are_not_codes():
    countries = vocabulary("countries")
    assert countries.resolve("UK") == "GB" and "UK" not in countries
    assert vocabulary("data_categories").resolve("PHYSIOLOGICAL_BIOCHEMICAL_MEASUREMENTS") == (
        "PHYSIOLOGICAL_BIOCHEMICAL"
    )
    assert vocabulary("material_types").resolve("whole blood") == "WHOLE_BLOOD"
    assert vocabulary("material_types").resolve("blood") is None


def test_the_old_code_lists_are_still_importable_and_come_from_the_files():
    assert "SERUM" in MATERIAL_TYPES and "CELL_LINES" in MATERIAL_TYPES
    assert set(DUO_PERMISSIONS) == set(vocabulary("duo").subset(kind="permission"))
    assert DUO_PERMISSIONS["DUO:0000042"] == "general research use (GRU)"


def test_cell_types_map_to_the_cell_ontology():
    cell_types = vocabulary("cell_types")
    assert cell_types.get("hESC").extra["ontology"] == "CL:0002322"
    assert all(t.extra["ontology"].startswith("CL:") for t in cell_types.terms)


def test_ages_are_bounded_by_their_unit():
    base = {"id": "c", "biobank": "b", "name": "C"}
    assert CollectionSchema().load({**base, "age_low": 0, "age_high": 960, "age_unit": "MONTH"})
    with pytest.raises(ValidationError) as caught:
        CollectionSchema().load({**base, "age_low": 0, "age_high": 960, "age_unit": "YEAR"})
    assert "age_high" in caught.value.messages
