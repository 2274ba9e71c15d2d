"""Consent scope of a line or collection, and a requesting project's declaration of the same.

A line's terms carry its DUO permission, modifiers and diseases (as in
:class:`schemas.parts.AccessTermsSchema`) and, beside them, a structured consent scope
modelled on the CIRM consent list: one value per dimension, ``allowed``, ``not_allowed`` or
``not_stated``. The project declares the same dimensions as yes/no, plus its intended use
(a DUO permission), the disease it studies, the requester's country and institution, and
what it agrees to (ethics approval, collaboration, publication, returning results).
:func:`schemas.matching.match` compares the two.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.validators import COUNTRY, DISEASE_CODE, DUO_DISEASE_SPECIFIC
from schemas.vocabularies import InVocabulary

ALLOWED = "allowed"
NOT_ALLOWED = "not_allowed"
NOT_STATED = "not_stated"
SCOPE_VALUES = (ALLOWED, NOT_ALLOWED, NOT_STATED)

DIMENSIONS: dict[str, str] = {
    # field name: the words a reason uses for it
    "research_use": "research use",
    "commercial_use": "commercial use",
    "genetic_modification": "genetic modification",
    "transplantation_humans": "transplantation into humans",
    "transplantation_animals": "transplantation into animals",
    "genome_sequencing": "genome sequencing and data sharing",
    "distribution_abroad": "distribution abroad",
}
"""The consent dimensions, after the CIRM (Coriell) enumerated consent scope."""

PROJECT_USES = ("DUO:0000042", "DUO:0000006", "DUO:0000007", "DUO:0000011", "DUO:0000043")
"""A project's intended use: the DUO codes an access request offers (GRU, HMB, DS, POA, CC).
Spelled here, not imported from schemas.access, which imports this module (the catalogue's
access terms and the request's project both carry consent); a test keeps the two equal."""


def _scope_field() -> fields.Str:
    return fields.Str(
        load_default=NOT_STATED,
        validate=validate.OneOf(SCOPE_VALUES, error="must be one of: {choices}"),
    )


class ConsentScopeSchema(Schema):
    """Each dimension allowed, not allowed or not stated (the default)."""

    class Meta:
        ordered = True

    research_use = _scope_field()
    commercial_use = _scope_field()
    genetic_modification = _scope_field()
    transplantation_humans = _scope_field()
    transplantation_animals = _scope_field()
    genome_sequencing = _scope_field()
    distribution_abroad = _scope_field()


class ConsentTermsSchema(Schema):
    """A line's (or its collection's) terms for matching: DUO terms beside a consent scope.

    ``gs_countries`` names where a geographical restriction (GS) allows use; ``country`` is
    the provider's country, so a request from elsewhere counts as distribution abroad.
    """

    class Meta:
        ordered = True

    duo_permission = fields.Str(
        load_default=None,
        allow_none=True,
        validate=InVocabulary("duo", "DUO permission", kind="permission"),
    )
    duo_modifiers = fields.List(
        fields.Str(validate=InVocabulary("duo", "DUO modifier", kind="modifier")),
        load_default=list,
    )
    duo_diseases = fields.List(fields.Str(validate=DISEASE_CODE), load_default=list)
    gs_countries = fields.List(fields.Str(validate=COUNTRY), load_default=list)
    country = fields.Str(load_default=None, allow_none=True, validate=COUNTRY)
    scope = fields.Nested(ConsentScopeSchema, load_default=lambda: ConsentScopeSchema().load({}))

    @validates_schema
    def _diseases_when_disease_specific(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("duo_permission") == DUO_DISEASE_SPECIFIC and not data.get("duo_diseases"):
            raise ValidationError(
                "disease-specific research (DUO:0000007) needs the diseases it is limited to",
                "duo_diseases",
            )


def _yes_no(**kw: Any) -> fields.Bool:
    return fields.Bool(required=True, **kw)


def _agrees() -> fields.Bool:
    return fields.Bool(load_default=None, allow_none=True)


class ProjectDeclarationSchema(Schema):
    """What a requesting project declares. The consent dimensions are required yes/no: a
    project that does not say whether it is commercial must not pass as non-commercial.
    The agreements may be left unstated (None), which a matching modifier sends to review."""

    class Meta:
        ordered = True

    research_use = _yes_no()
    commercial_use = _yes_no()
    genetic_modification = _yes_no()
    transplantation_humans = _yes_no()
    transplantation_animals = _yes_no()
    genome_sequencing = _yes_no()
    distribution_abroad = _yes_no()
    intended_use = fields.Str(
        required=True,
        validate=InVocabulary("duo", "intended use (DUO permission)"),
    )
    disease = fields.Str(load_default=None, allow_none=True, validate=DISEASE_CODE)
    country = fields.Str(required=True, validate=COUNTRY)
    institution = fields.Str(required=True, validate=validate.Length(min=2, max=300))
    not_for_profit = _yes_no()
    irb_approval = _yes_no()
    agrees_to_collaborate = _agrees()
    agrees_to_publish = _agrees()
    agrees_to_return_results = _agrees()

    @validates_schema
    def _use_and_disease(self, data: dict[str, Any], **_: Any) -> None:
        use = data.get("intended_use")
        if use is not None and use not in PROJECT_USES:
            raise ValidationError(
                f"{use!r} is not an intended use; must be one of: {', '.join(PROJECT_USES)}",
                "intended_use",
            )
        if use == DUO_DISEASE_SPECIFIC and not data.get("disease"):
            raise ValidationError(
                "name the disease (a code such as 'ICD10:G20') for disease-specific research",
                "disease",
            )


class ProjectConsentSchema(Schema):
    """The consent part of a request's project (``schemas.access.ProjectSchema.consent``):
    the seven dimensions and the agreements. Intended use, disease, country and institution
    are the project's own fields; :func:`schemas.item_terms.declaration` joins them into a
    :class:`ProjectDeclarationSchema`."""

    class Meta:
        ordered = True

    research_use = _yes_no()
    commercial_use = _yes_no()
    genetic_modification = _yes_no()
    transplantation_humans = _yes_no()
    transplantation_animals = _yes_no()
    genome_sequencing = _yes_no()
    distribution_abroad = _yes_no()
    not_for_profit = _yes_no()
    agrees_to_collaborate = _agrees()
    agrees_to_publish = _agrees()
    agrees_to_return_results = _agrees()
