"""Terms that match: the consent scope and project schemas, and the DUO matching table."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError

from schemas.consent import DIMENSIONS, ConsentTermsSchema, ProjectDeclarationSchema
from schemas.matching import (
    CC,
    COL,
    DS,
    GRU,
    GS,
    GSO,
    HMB,
    IRB,
    IS,
    MOR,
    NCU,
    NMDS,
    NPOA,
    NPU,
    NPUNCU,
    NRES,
    POA,
    PS,
    PUB,
    RS,
    RTN,
    TS,
    US,
    Outcome,
    disease_within,
    match,
)

OK, BAD, REVIEW = Outcome.COMPATIBLE, Outcome.INCOMPATIBLE, Outcome.NEEDS_REVIEW
ALL_ALLOWED = {name: "allowed" for name in DIMENSIONS}


def terms(permission: str | None = GRU, *modifiers: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "duo_permission": permission,
        "duo_modifiers": list(modifiers),
        "scope": {**ALL_ALLOWED, **kw.pop("scope", {})},
    }
    return {**out, **kw}


def project(use: str = HMB, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {name: False for name in DIMENSIONS}
    out.update(
        research_use=True,
        intended_use=use,
        disease=None,
        country="DE",
        institution="Charité Berlin",
        not_for_profit=True,
        irb_approval=True,
    )
    return {**out, **kw}


PARKINSON = "ICD10:G20"
YOUNG_ONSET_PARKINSON = "ORPHA:2828"
HIERARCHY = {YOUNG_ONSET_PARKINSON: [PARKINSON]}

CASES = [
    # permissions against intended uses
    ("NRES allows any use", terms(NRES), project(POA), OK),
    ("NRES allows clinical care", terms(NRES), project(CC), OK),
    ("GRU allows HMB", terms(GRU), project(HMB), OK),
    ("GRU allows GRU", terms(GRU), project(GRU), OK),
    ("GRU allows POA", terms(GRU), project(POA), OK),
    ("GRU allows DS", terms(GRU), project(DS, disease="ICD10:G10"), OK),
    ("HMB allows HMB", terms(HMB), project(HMB), OK),
    ("HMB allows DS", terms(HMB), project(DS, disease=PARKINSON), OK),
    ("HMB excludes ancestry", terms(HMB), project(POA), BAD),
    ("HMB is narrower than GRU", terms(HMB), project(GRU), BAD),
    ("POA allows POA", terms(POA), project(POA), OK),
    ("POA-only line, HMB project", terms(POA), project(HMB), BAD),
    ("POA-only line, DS project", terms(POA), project(DS, disease=PARKINSON), BAD),
    ("no DUO permission", terms(None), project(HMB), REVIEW),
    ("clinical care without CC", terms(GRU), project(CC), REVIEW),
    ("clinical care with CC", terms(GRU, CC), project(CC), OK),
    # disease-specific research and the disease hierarchy
    ("DS on the disease", terms(DS, duo_diseases=[PARKINSON]), project(DS, disease=PARKINSON), OK),
    (
        "DS on an ICD-10 sub-code",
        terms(DS, duo_diseases=["ICD10:G30"]),
        project(DS, disease="ICD10:G30.0"),
        OK,
    ),
    (
        "DS on a chapter, project on a disease in it",
        terms(DS, duo_diseases=["ICD10:VI"]),
        project(DS, disease=PARKINSON),
        OK,
    ),
    (
        "DS on a block, project on a disease in it",
        terms(DS, duo_diseases=["ICD10:G10-G14"]),
        project(DS, disease="ICD10:G12.0"),
        OK,
    ),
    (
        "DS on another disease",
        terms(DS, duo_diseases=[PARKINSON]),
        project(DS, disease="ICD10:G10"),
        BAD,
    ),
    (
        "DS on a disease, project on its whole chapter",
        terms(DS, duo_diseases=[PARKINSON]),
        project(DS, disease="ICD10:VI"),
        BAD,
    ),
    (
        "DS on a disease outside the chapter",
        terms(DS, duo_diseases=["ICD10:IX"]),
        project(DS, disease=PARKINSON),
        BAD,
    ),
    (
        "DS, codes the hierarchy cannot relate",
        terms(DS, duo_diseases=[PARKINSON]),
        project(DS, disease=YOUNG_ONSET_PARKINSON),
        REVIEW,
    ),
    (
        "DS, one of several diseases",
        terms(DS, duo_diseases=["ICD10:G10", PARKINSON]),
        project(DS, disease=PARKINSON),
        OK,
    ),
    (
        "DS line, HMB project without a disease",
        terms(DS, duo_diseases=[PARKINSON]),
        project(HMB),
        BAD,
    ),
    (
        "DS line, HMB project on the disease",
        terms(DS, duo_diseases=[PARKINSON]),
        project(HMB, disease=PARKINSON),
        REVIEW,
    ),
    ("DS line, POA project", terms(DS, duo_diseases=[PARKINSON]), project(POA), BAD),
    # modifiers
    ("NCU, non-commercial project", terms(GRU, NCU), project(), OK),
    ("NCU, commercial project", terms(GRU, NCU), project(commercial_use=True), BAD),
    ("NPU, not-for-profit institution", terms(GRU, NPU), project(), OK),
    ("NPU, for-profit institution", terms(GRU, NPU), project(not_for_profit=False), BAD),
    ("NPU, commercial use by a non-profit", terms(GRU, NPU), project(commercial_use=True), OK),
    ("NPUNCU, commercial project", terms(GRU, NPUNCU), project(commercial_use=True), BAD),
    ("NPUNCU, for-profit institution", terms(GRU, NPUNCU), project(not_for_profit=False), BAD),
    ("NPUNCU, non-profit, non-commercial", terms(GRU, NPUNCU), project(), OK),
    ("IRB, approval held", terms(GRU, IRB), project(), OK),
    ("IRB, no approval", terms(GRU, IRB), project(irb_approval=False), BAD),
    ("PUB, agrees", terms(GRU, PUB), project(agrees_to_publish=True), OK),
    ("PUB, refuses", terms(GRU, PUB), project(agrees_to_publish=False), BAD),
    ("PUB, not stated", terms(GRU, PUB), project(), REVIEW),
    ("COL, agrees", terms(GRU, COL), project(agrees_to_collaborate=True), OK),
    ("COL, refuses", terms(GRU, COL), project(agrees_to_collaborate=False), BAD),
    ("COL, not stated", terms(GRU, COL), project(), REVIEW),
    ("RTN, agrees", terms(GRU, RTN), project(agrees_to_return_results=True), OK),
    ("RTN, refuses", terms(GRU, RTN), project(agrees_to_return_results=False), BAD),
    ("RTN, not stated", terms(GRU, RTN), project(), REVIEW),
    ("GS, country allowed", terms(GRU, GS, gs_countries=["DE", "FR"]), project(), OK),
    ("GS, country not allowed", terms(GRU, GS, gs_countries=["CN"]), project(), BAD),
    ("GS, region not named", terms(GRU, GS), project(), REVIEW),
    ("NPOA, HMB project", terms(GRU, NPOA), project(HMB), OK),
    ("NPOA, POA project", terms(GRU, NPOA), project(POA), BAD),
    ("MOR", terms(GRU, MOR), project(), REVIEW),
    ("TS", terms(GRU, TS), project(), REVIEW),
    ("US", terms(GRU, US), project(), REVIEW),
    ("PS", terms(GRU, PS), project(), REVIEW),
    ("IS", terms(GRU, IS), project(), REVIEW),
    ("RS", terms(GRU, RS), project(), REVIEW),
    ("GSO", terms(GRU, GSO), project(), REVIEW),
    ("NMDS", terms(GRU, NMDS), project(), REVIEW),
    ("a failure outweighs a review", terms(GRU, MOR, NCU), project(commercial_use=True), BAD),
    # the consent scope
    *[
        (
            f"{words} allowed",
            terms(GRU),
            project(**{name: True}),
            OK,
        )
        for name, words in DIMENSIONS.items()
    ],
    *[
        (
            f"{words} not allowed",
            terms(GRU, scope={name: "not_allowed"}),
            project(**{name: True}),
            BAD,
        )
        for name, words in DIMENSIONS.items()
    ],
    *[
        (
            f"{words} not stated",
            terms(GRU, scope={name: "not_stated"}),
            project(**{name: True}),
            # a DUO permission states which research is allowed
            OK if name == "research_use" else REVIEW,
        )
        for name, words in DIMENSIONS.items()
    ],
    *[
        (
            f"{words} not allowed, project does not need it",
            terms(GRU, scope={name: "not_allowed"}),
            project(research_use=name != "research_use"),
            OK,
        )
        for name, words in DIMENSIONS.items()
    ],
    (
        "research use not stated and no DUO permission",
        terms(None, scope={"research_use": "not_stated"}),
        project(),
        REVIEW,
    ),
    (
        "requester abroad though not declared",
        terms(GRU, country="CN", scope={"distribution_abroad": "not_allowed"}),
        project(country="DE"),
        BAD,
    ),
    (
        "requester in the provider's country",
        terms(GRU, country="DE", scope={"distribution_abroad": "not_allowed"}),
        project(country="DE"),
        OK,
    ),
]


@pytest.mark.parametrize(
    ("line", "project_", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decision_table(line: dict[str, Any], project_: dict[str, Any], expected: Outcome) -> None:
    verdict = match(line, project_)
    assert verdict.outcome is expected, verdict.reasons
    assert bool(verdict.reasons) is (expected is not OK)
    assert verdict.compatible is (expected is OK)


def test_a_parkinson_subtype_is_within_a_parkinson_line_given_the_hierarchy() -> None:
    line = terms(DS, duo_diseases=[PARKINSON])
    verdict = match(line, project(DS, disease=YOUNG_ONSET_PARKINSON), parents=HIERARCHY)
    assert verdict.outcome is OK
    other = match(line, project(DS, disease="ORPHA:399"), parents=HIERARCHY)
    assert other.outcome is REVIEW  # Huntington (ORPHA): the hierarchy does not relate it


def test_disease_hierarchy() -> None:
    assert disease_within("ICD10:G30.0", "ICD10:G30") is True
    assert disease_within("ICD10:G30", "ICD10:G30.0") is False
    assert disease_within("ICD10:G20", "ICD10:VI") is True
    assert disease_within("ICD10:D56.1", "ICD10:III") is True
    assert disease_within("ICD10:D56.1", "ICD10:II") is False
    assert disease_within("ICD10:G12.0", "ICD10:G10-G14") is True
    assert disease_within("ICD10:G10-G14", "ICD10:VI") is True
    assert disease_within("ORPHA:399", "ICD10:G10") is None
    assert disease_within("ORPHA:399", "ORPHA:399") is True
    chain = {"ORPHA:1": ["ORPHA:2"], "ORPHA:2": ["ICD10:G20", "ORPHA:1"]}
    assert disease_within("ORPHA:1", "ICD10:VI", chain) is True  # transitive, cycle-safe


def test_one_reason_per_failing_condition_naming_condition_and_value() -> None:
    line = terms(GRU, NCU, IRB, GS, gs_countries=["CN"], scope={"commercial_use": "not_allowed"})
    verdict = match(line, project(commercial_use=True, irb_approval=False, country="US"))
    assert verdict.outcome is BAD
    assert [f.outcome for f in verdict.findings] == [BAD] * 4
    reasons = verdict.reasons
    assert "the line's consent excludes commercial use; the project is commercial" in reasons
    assert any("non-commercial use only (NCU)" in r and "commercial" in r for r in reasons)
    assert any("ethics approval required (IRB)" in r for r in reasons)
    assert any("CN" in r and "US" in r and "(GS)" in r for r in reasons)


def test_reasons_name_the_diseases() -> None:
    verdict = match(terms(DS, duo_diseases=[PARKINSON]), project(DS, disease="ICD10:G10"))
    (reason,) = verdict.reasons
    assert "Parkinson disease (ICD10:G20)" in reason
    assert "Huntington disease (ICD10:G10)" in reason


def test_review_reasons_say_what_to_check() -> None:
    (reason,) = match(terms(GRU, MOR), project()).reasons
    assert "publication moratorium (MOR)" in reason
    assert "Charité Berlin" in reason


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"duo_permission": "DUO:0000099"}, "duo_permission", "not a DUO permission"),
        ({"duo_permission": NCU}, "duo_permission", "not a DUO permission"),
        ({"duo_modifiers": [HMB]}, "duo_modifiers", "not a DUO modifier"),
        (
            {"duo_modifiers": ["non-commercial use only"]},
            "duo_modifiers",
            "did you mean 'DUO:0000046'",
        ),
        ({"duo_permission": DS}, "duo_diseases", "needs the diseases"),
        ({"duo_diseases": ["Parkinson"]}, "duo_diseases", "must be a code"),
        ({"gs_countries": ["XX"]}, "gs_countries", "not a"),
        ({"scope": {"commercial_use": "maybe"}}, "scope", "must be one of"),
        ({"scope": {"cloning": "allowed"}}, "scope", "Unknown field"),
        ({"fee": True}, "fee", "Unknown field"),
    ],
)
def test_terms_schema_refuses_unknown_codes(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ConsentTermsSchema().load(data)
    assert words in str(caught.value.messages[field])


def test_terms_schema_defaults_to_not_stated() -> None:
    loaded = ConsentTermsSchema().load({"duo_permission": GRU})
    assert loaded["scope"] == {name: "not_stated" for name in DIMENSIONS}
    assert loaded["duo_modifiers"] == [] and loaded["gs_countries"] == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"intended_use": "DUO:0000099"}, "intended_use", "not an intended use (DUO permission)"),
        ({"intended_use": NCU}, "intended_use", "is not an intended use"),
        ({"intended_use": NRES}, "intended_use", "is not an intended use"),
        ({"intended_use": DS}, "disease", "name the disease"),
        ({"disease": "parkinson"}, "disease", "must be a code"),
        ({"country": "Germany"}, "country", "not a"),
        ({"commercial_use": None}, "commercial_use", "may not be null"),
        ({"institution": ""}, "institution", "Length"),
        ({"purpose": "x"}, "purpose", "Unknown field"),
    ],
)
def test_project_schema_refuses(change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ProjectDeclarationSchema().load(project(**change))
    assert words in str(caught.value.messages[field])


@pytest.mark.parametrize("name", [*DIMENSIONS, "not_for_profit", "irb_approval", "country"])
def test_project_must_declare(name: str) -> None:
    data = project()
    del data[name]
    with pytest.raises(ValidationError) as caught:
        ProjectDeclarationSchema().load(data)
    assert name in caught.value.messages


def test_match_refuses_unknown_codes_too() -> None:
    with pytest.raises(ValidationError):
        match(terms(GRU, "DUO:0000099"), project())
    with pytest.raises(ValidationError):
        match(terms(GRU), project("GRU"))


def test_terms_without_a_scope_need_review_for_what_the_project_does() -> None:
    verdict = match({"duo_permission": GRU}, project(genetic_modification=True))
    assert verdict.outcome is REVIEW
    assert verdict.reasons == (
        "the line's consent does not state whether genetic modification is allowed; "
        "the project involves genetic modification",
    )
