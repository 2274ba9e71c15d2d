"""Terms that match, per item: effective terms, the request's consent declaration in
ProjectSchema, and the verdict with jurisdiction requirements (schemas/item_terms.py)."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError

from schemas.access import INTENDED_USES, ProjectSchema
from schemas.consent import DIMENSIONS, PROJECT_USES
from schemas.item_terms import check_item, declaration, effective_access, verdict_wire
from schemas.matching import DS, GRU, HMB, NCU, Outcome
from schemas.parts import AccessTermsSchema

CN = "cn-hgr-2019"


def consent(**yes: bool) -> dict[str, bool]:
    out = {name: False for name in DIMENSIONS}
    out.update(research_use=True, not_for_profit=True)
    out.update(yes)
    return out


def project(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Parkinson models",
        "description": "Differentiate iPSC into dopaminergic neurons for drug screens.",
        "intended_use": HMB,
        "ethics_ref": "EC-2026-17",
        "consent": consent(),
        "country": "DE",
        "institution": "Charité Berlin",
    }
    data.update(kw)
    return ProjectSchema().load(data)


def access(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"commercial_use": False, "duo_permission": GRU}
    data.update(kw)
    return AccessTermsSchema().load(data)


ALL_ALLOWED = {name: "allowed" for name in DIMENSIONS}


def test_intended_uses_are_spelled_alike_in_both_schemas():
    assert tuple(INTENDED_USES) == PROJECT_USES


def test_a_project_without_the_new_fields_stays_valid_and_dumps_unchanged():
    old = {
        "title": "Old style",
        "description": "A project as the portal sent it before consent existed.",
        "intended_use": GRU,
        "ethics_ref": "EC-1",
    }
    loaded = ProjectSchema().load(old)
    assert set(ProjectSchema().dump(loaded)) == {*old, "disease", "commercial"}


def test_a_consent_declaration_needs_country_and_institution():
    with pytest.raises(ValidationError) as refused:
        project(country=None)
    assert "country" in refused.value.messages
    with pytest.raises(ValidationError) as bad:
        project(country="Germany", jurisdiction_references={"Not A Rule": "x"})
    assert "country" in bad.value.messages and "jurisdiction_references" in bad.value.messages


def test_a_line_without_terms_is_offered_on_its_collections_whole():
    collection = {"access": {"commercial_use": True, "consent_scope": ALL_ALLOWED}}
    assert effective_access({"id": "L"}, collection) == collection["access"]
    own = {"commercial_use": False}
    assert effective_access({"access": own}, collection) == own
    assert effective_access({"id": "L"}, {"id": "C"}) is None


def test_the_declaration_joins_the_projects_fields_and_counts_a_commercial_flag():
    declared = declaration(project(commercial=True))
    assert declared is not None
    assert declared["commercial_use"] is True
    assert declared["irb_approval"] is True  # every request carries an ethics reference
    assert declared["country"] == "DE" and declared["intended_use"] == HMB
    assert declaration({**project(), "consent": None}) is None


def test_compatible_when_the_consent_allows_everything_the_project_does():
    check = check_item(access(consent_scope=ALL_ALLOWED), "DE", project())
    assert check.verdict.outcome is Outcome.COMPATIBLE
    assert check.requirements == ()


def test_incompatible_with_the_reason_in_words():
    terms = access(duo_modifiers=[NCU], consent_scope=ALL_ALLOWED)
    check = check_item(terms, "DE", project(consent=consent(commercial_use=True)))
    assert check.verdict.outcome is Outcome.INCOMPATIBLE
    assert check.verdict.reasons == (
        "the line's DUO terms say non-commercial use only (NCU); the project is commercial",
    )


def test_no_declaration_is_needs_review_never_compatible():
    check = check_item(access(consent_scope=ALL_ALLOWED), "DE", {**project(), "consent": None})
    assert check.verdict.outcome is Outcome.NEEDS_REVIEW
    assert "declares no consent scope" in check.verdict.reasons[0]


def test_a_disease_in_words_against_a_ds_line_goes_to_review():
    terms = access(duo_permission=DS, duo_diseases=["ICD10:G20"], consent_scope=ALL_ALLOWED)
    words = check_item(terms, "DE", project(intended_use=DS, disease="Parkinson's"))
    assert words.verdict.outcome is Outcome.NEEDS_REVIEW
    assert 'as "Parkinson\'s", not as a code' in words.verdict.reasons[0]
    broad = check_item(terms, "DE", project(disease="Parkinson's"))
    assert broad.verdict.outcome is Outcome.NEEDS_REVIEW
    assert "not as a code, so a reviewer must judge it" in broad.verdict.reasons[0]
    coded = check_item(terms, "DE", project(intended_use=DS, disease="ICD10:G20.1"))
    assert coded.verdict.outcome is Outcome.COMPATIBLE
    other = check_item(terms, "DE", project(intended_use=DS, disease="ICD10:G30"))
    assert other.verdict.outcome is Outcome.INCOMPATIBLE


def test_chinese_hgr_material_from_abroad_needs_its_reference():
    terms = access(consent_scope=ALL_ALLOWED, export_rules=[CN])
    without = check_item(terms, "CN", project())
    assert [r.rule.id for r in without.missing_references] == [CN]
    given = check_item(terms, "CN", project(jurisdiction_references={CN: "HGR-2026-118"}))
    assert given.missing_references == ()
    assert verdict_wire(given)["requirements"][0]["reference"] == "HGR-2026-118"
    inside = check_item(terms, "CN", project(country="CN"))
    assert inside.requirements == ()


# -- carried through imports, exports and the index ---------------------------------------
def marked_catalogue() -> dict[str, Any]:
    from tests.builders import COLLECTION, catalogue, cell_line

    scope = {**ALL_ALLOWED, "genetic_modification": "not_allowed", "commercial_use": "not_stated"}
    doc = catalogue(
        cell_line(
            "L-own",
            access={"commercial_use": False, "duo_permission": HMB, "consent_scope": scope},
        ),
        cell_line("L-inherits"),
    )
    doc["collections"][0] = {
        **COLLECTION,
        "access": {"commercial_use": False, "duo_permission": GRU, "export_rules": [CN]},
    }
    return doc


def test_consent_scope_and_export_rules_round_trip_through_every_export(tmp_path):
    from federation.node.exporter import catalogue_document, export
    from federation.node.importer import import_catalogue
    from federation.node.store import CatalogueStore
    from tests.builders.round_trip import assert_round_trips

    source = CatalogueStore(f"sqlite:///{tmp_path / 'source'}.sqlite3")
    source.create_schema()
    assert import_catalogue(source, marked_catalogue(), "marked.json").ok
    original = catalogue_document(source)
    [own] = [line for line in original["cell_lines"] if line["id"] == "L-own"]
    assert own["access"]["consent_scope"]["genetic_modification"] == "not_allowed"
    assert original["collections"][0]["access"]["export_rules"] == [CN]
    assert_round_trips(source, tmp_path)
    # The Directory's model has no consent scope or export rules: its export leaves them out.
    assert export(source, "directory").content
    source.dispose()


def test_the_index_document_carries_the_effective_terms():
    from search.indexer.derived import cell_line_fields

    doc = marked_catalogue()
    collection = AccessTermsSchema().load(doc["collections"][0]["access"])
    inherits = cell_line_fields(
        {**doc["cell_lines"][1], "donor": {"sex": "FEMALE"}},
        "n1:cell_line:L-inherits",
        "n1",
        {"access": collection},
        None,
    )
    assert inherits["export_rules"] == [CN] and inherits["duo_permission"] == GRU
    own = AccessTermsSchema().load(doc["cell_lines"][0]["access"])
    fields = cell_line_fields(
        {**doc["cell_lines"][0], "access": own, "donor": {"sex": "FEMALE"}},
        "n1:cell_line:L-own",
        "n1",
        {"access": collection},
        None,
    )
    assert "export_rules" not in fields  # its own terms, whole: none of the collection's
    assert fields["consent_allows"] == sorted(
        set(DIMENSIONS) - {"genetic_modification", "commercial_use"}
    )
    assert fields["consent_scope"]["genetic_modification"] == "not_allowed"


def test_terms_without_a_duo_permission_still_make_an_index_document():
    from search.indexer.derived import access_fields

    # Most real catalogues state commercial use but no DUO code (hPSCreg, the Directory).
    bare = AccessTermsSchema().load({"commercial_use": True, "export_rules": [CN]})
    fields = access_fields(bare)
    assert fields["duo_permission"] is None and fields["commercial_use"] is True
    assert fields["export_rules"] == [CN]
