"""Jurisdiction rules as data: the rule files load (a bad one is refused with file and field),
the evaluation says which references a request needs, and catalogue terms name known rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from marshmallow import ValidationError

from schemas.catalogue import CellLineSchema
from schemas.jurisdiction import (
    RULES_DIR,
    RuleFileInvalid,
    load_rule,
    load_rules,
    missing,
    requirements,
    rules,
)
from schemas.parts import AccessTermsSchema
from tests.builders import cell_line

CN = "cn-hgr-2019"


def rule_file(tmp_path: Path, **changes: object) -> Path:
    data = json.loads((RULES_DIR / f"{CN}.json").read_text())
    data.update(changes)
    path = tmp_path / f"{data['id']}.json"
    path.write_text(json.dumps(data))
    return path


def test_the_chinese_hgr_rule_loads_with_its_source_and_words():
    rule = rules()[CN]
    assert rule.countries == ("CN",)
    assert "Decree No. 717" in rule.citation
    assert rule.url.startswith("https://")
    assert rule.field == "hgr_approval_reference"
    assert "China" in rule.researcher_text and "approving" in rule.admin_text


def test_the_rules_are_installed_with_the_package_and_a_missing_folder_is_refused(tmp_path):
    from importlib import resources

    assert resources.files("schemas.jurisdiction_rules").joinpath(f"{CN}.json").is_file()
    with pytest.raises(RuleFileInvalid, match="no folder of jurisdiction rules"):
        load_rules(tmp_path / "missing")


def test_another_countrys_rule_is_a_file_and_no_code(tmp_path):
    rule_file(tmp_path, id="br-cgen-2015", countries=["BR"], title="Brazil: genetic heritage")
    rule_file(tmp_path)
    assert sorted(load_rules(tmp_path)) == ["br-cgen-2015", CN]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"countries": ["China"]}, "countries[0]"),
        ({"trigger": "always_sometimes"}, "trigger"),
        ({"requires": {"label": "Reference"}}, "requires.field"),
        ({"colour": "red"}, "colour"),
        ({"source": {"citation": "Decree No. 717", "url": "not a url"}}, "source.url"),
    ],
)
def test_a_bad_rule_file_is_refused_naming_the_file_and_the_field(tmp_path, changes, says):
    path = rule_file(tmp_path, **changes)
    with pytest.raises(RuleFileInvalid) as refused:
        load_rule(path)
    assert str(refused.value).startswith(f"{path.name}: ")
    assert says in str(refused.value)


def test_a_rule_whose_id_differs_from_its_file_name_is_refused(tmp_path):
    path = rule_file(tmp_path)
    path.rename(tmp_path / "cn-other.json")
    with pytest.raises(RuleFileInvalid, match="cn-other.json: id: 'cn-hgr-2019' must match"):
        load_rules(tmp_path)


def test_broken_json_is_refused_naming_the_file(tmp_path):
    (tmp_path / "xx-bad.json").write_text("{nope")
    with pytest.raises(RuleFileInvalid, match="xx-bad.json: not a readable JSON file"):
        load_rules(tmp_path)


def test_a_request_from_abroad_needs_the_reference_and_one_from_inside_does_not():
    [needed] = requirements([CN], "DE")
    assert needed.rule.id == CN and not needed.present
    assert needed.reason == "the requester is in DE, outside CN"
    assert requirements([CN], "CN") == []
    [given] = requirements([CN], "DE", {CN: "  MOST-2026-0042  "})
    assert given.present and given.reference == "MOST-2026-0042"


def test_an_unstated_country_or_a_too_short_reference_counts_as_missing():
    [unknown] = requirements([CN], None, {CN: "ab"})
    assert not unknown.present
    assert "country is not stated" in unknown.reason
    [line] = missing([unknown])
    assert line.startswith(f"jurisdiction_references.{CN}: ")
    assert "approval or filing reference is required" in line


def test_material_without_rules_requires_nothing():
    assert requirements([], "US") == []


def test_catalogue_terms_name_known_rules_only_with_the_path_of_a_bad_one():
    terms = AccessTermsSchema().load({"commercial_use": False, "export_rules": [CN]})
    assert terms["export_rules"] == [CN]
    with pytest.raises(ValidationError) as refused:
        CellLineSchema().load(
            {**cell_line("L-1"), "access": {"commercial_use": False, "export_rules": [CN, "xx-no"]}}
        )
    assert refused.value.messages == {
        "access": {"export_rules": {1: [f"'xx-no' is not a known jurisdiction rule; known: {CN}"]}}
    }
