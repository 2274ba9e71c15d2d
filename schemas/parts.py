"""Nested parts of catalogue records: contacts, certifications, QC, genetics, lots, access."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.consent import ConsentScopeSchema
from schemas.jurisdiction import KnownRule
from schemas.validators import (
    ASSESSMENT_LEVELS,
    CERTIFICATION_STATUS,
    COUNTRY,
    DERIVATION_METHODS,
    DISEASE_CODE,
    DUO_DISEASE_SPECIFIC,
    DUO_NON_COMMERCIAL,
    KARYOTYPE_METHODS,
    LOCAL_ID,
    MODIFICATION_TYPES,
    QC_ATTRIBUTES,
    QC_OUTCOMES,
    SCOPE_ACTIVITIES,
    VECTORS,
)
from schemas.vocabularies import InVocabulary


class Strict(Schema):
    """Unknown fields are an error: a typo must not pass silently."""

    class Meta:
        ordered = True


def text(required: bool = False, max_len: int = 500, **kw: Any) -> fields.Str:
    return fields.Str(required=required, validate=validate.Length(min=1, max=max_len), **kw)


def one_of(values: Any, **kw: Any) -> fields.Str:
    return fields.Str(validate=validate.OneOf(tuple(values)), **kw)


class ContactSchema(Strict):
    first_name = text(max_len=100)
    last_name = text(max_len=100)
    email = fields.Email(required=True)
    phone = text(max_len=50)
    role = text(max_len=100)
    country = fields.Str(validate=COUNTRY)


class DiseaseSchema(Strict):
    code = fields.Str(required=True, validate=DISEASE_CODE)
    label = text(required=True, max_len=300)
    version = text(max_len=50)  # MIABIS's ontology version: "ICD-10 2019", an ORPHA release


class CertificationSchema(Strict):
    """A quality certification or accreditation, e.g. ISO 20387:2018 by CNAS
    (national equivalent GB/T 37864-2019)."""

    standard = text(required=True, max_len=100)
    national_equivalent = text(max_len=100)
    assessment_level = one_of(ASSESSMENT_LEVELS)
    body = text(required=True, max_len=200)
    certificate_number = text(required=True, max_len=100)
    scope = text(max_len=2000)
    scope_activities = fields.List(one_of(SCOPE_ACTIVITIES), load_default=list)
    issued = fields.Date(required=True)
    valid_until = fields.Date()
    status = one_of(CERTIFICATION_STATUS, required=True)
    report_url = fields.Url()

    @validates_schema
    def _dates_in_order(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("valid_until") and data["valid_until"] < data["issued"]:
            raise ValidationError("must not be before 'issued'", "valid_until")


class AccessTermsSchema(Strict):
    """Who may use the material for what: GA4GH DUO permission and modifiers, plus terms.

    The DUO permission is optional: most real catalogues (3,575 of the Directory's 3,586
    collections) state commercial use and fees but no DUO code, and MIABIS makes use and
    access conditions optional. Modifiers may stand alone (the Directory has IRB-only terms).
    """

    duo_permission = fields.Str(validate=InVocabulary("duo", "DUO permission", kind="permission"))
    duo_modifiers = fields.List(
        fields.Str(validate=InVocabulary("duo", "DUO modifier", kind="modifier")),
        load_default=list,
    )
    duo_diseases = fields.List(fields.Str(validate=DISEASE_CODE), load_default=list)
    commercial_use = fields.Bool(required=True)
    clinical_use = fields.Bool()
    mta_url = fields.Url()
    access_uri = fields.Url()
    fee = fields.Bool()
    joint_project = fields.Bool()
    ethics_approval_required = fields.Bool()
    description = text(max_len=2000)
    # The consent scope beside the DUO terms (CIRM's list), and export rules the material is
    # subject to (ids of schemas/jurisdiction_rules files): see schemas/consent.py, jurisdiction.py.
    consent_scope = fields.Nested(ConsentScopeSchema)
    export_rules = fields.List(fields.Str(validate=KnownRule()))

    @validates_schema
    def _terms_agree(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("duo_permission") == DUO_DISEASE_SPECIFIC and not data.get("duo_diseases"):
            raise ValidationError(
                "disease-specific research (DUO:0000007) needs the diseases it is limited to",
                "duo_diseases",
            )
        if data["commercial_use"] and DUO_NON_COMMERCIAL & set(data.get("duo_modifiers", [])):
            raise ValidationError(
                "commercial use is allowed, but a DUO modifier restricts use to non-commercial",
                "commercial_use",
            )


class QCResultSchema(Strict):
    """One quality-control result: what was tested, how, with what outcome, when."""

    attribute = one_of(QC_ATTRIBUTES, required=True)
    method = text(required=True, max_len=200)
    result = one_of(QC_OUTCOMES, required=True)
    value = fields.Float()
    unit = text(max_len=30)
    specification = text(max_len=200)
    markers = fields.List(text(max_len=50), load_default=list)
    date = fields.Date()
    passage = fields.Int(validate=validate.Range(min=0, max=500))
    accredited_lab = fields.Bool()
    lot = fields.Str(validate=LOCAL_ID)  # the lot the result is for; none: the line as banked


class DerivationSchema(Strict):
    method = one_of(DERIVATION_METHODS, required=True)
    vector = one_of(VECTORS)
    factors = fields.List(text(max_len=30), load_default=list)
    parent_line = fields.Str(validate=LOCAL_ID)
    xeno_free = fields.Bool()
    gmp = fields.Bool()
    clinical_grade = fields.Bool()
    vector_detail = text(max_len=200)  # e.g. "sleeping_beauty" transposon, "CRE lentivirus"
    excisable_vector = fields.Bool()


class ModificationSchema(Strict):
    type = one_of(MODIFICATION_TYPES, required=True)
    gene = text(max_len=50)
    hgvs = text(max_len=200)
    description = text(max_len=500)


class KaryotypeSchema(Strict):
    result = text(required=True, max_len=200)  # ISCN, e.g. "46,XX"
    normal = fields.Bool(required=True)
    method = one_of(KARYOTYPE_METHODS)
    passage = fields.Int(validate=validate.Range(min=0, max=500))


class StrProfileSchema(Strict):
    loci = fields.Dict(keys=text(max_len=30), values=text(max_len=30), required=True)
    verified = fields.Bool(load_default=False)
    match_percent = fields.Float(validate=validate.Range(min=0, max=100))


COA_FILE = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.pdf$",
    error="must be a PDF file name (letters, digits, . _ -, ending .pdf), no folders",
)


class CertificateOfAnalysisSchema(Strict):
    """A lot's certificate: a link, or a PDF the owning node serves from its CoA folder."""

    url = fields.Url(schemes={"https", "http"})
    file = fields.Str(validate=COA_FILE)
    passage = fields.Int(validate=validate.Range(min=0, max=500))

    @validates_schema
    def _one_place(self, data: dict[str, Any], **_: Any) -> None:
        if bool(data.get("url")) == bool(data.get("file")):
            raise ValidationError("give either a url or a file, not both or neither", "url")


class LotSchema(Strict):
    lot_id = fields.Str(required=True, validate=LOCAL_ID)
    vials_available = fields.Int(validate=validate.Range(min=0))
    # Vials promised by approvals and not yet shipped (set by the node from its lot holds,
    # never by an import): the published stock is vials_available - vials_held.
    vials_held = fields.Int(validate=validate.Range(min=0))
    cells_per_vial = fields.Int(validate=validate.Range(min=0))
    frozen_date = fields.Date()
    expiry = fields.Date()
    passage = fields.Int(validate=validate.Range(min=0, max=500))
    certificate_of_analysis = fields.Nested(CertificateOfAnalysisSchema)

    @validates_schema
    def _dates_in_order(self, data: dict[str, Any], **_: Any) -> None:
        frozen, expiry = data.get("frozen_date"), data.get("expiry")
        if frozen and expiry and expiry < frozen:
            raise ValidationError("must not be before 'frozen_date'", "expiry")


def lot_vials_free(lot: Mapping[str, Any]) -> int:
    """Vials of a lot that can still be requested: its stock less what approvals hold."""
    return max(0, (lot.get("vials_available") or 0) - (lot.get("vials_held") or 0))


class StorageSchema(Strict):
    temperature = fields.Str(required=True, validate=InVocabulary("storage_temperatures"))
    cryomedium = text(max_len=200)


class QualityLabelSchema(Strict):
    """A quality standard a biobank or collection declares, as the BBMRI-ERIC Directory
    lists it (standard and assessment level, rarely a certificate): weaker than a
    certification, which names the body, dates and status."""

    standard = text(required=True, max_len=100)  # Directory code, e.g. "iso-9001"
    assessment_level = one_of(ASSESSMENT_LEVELS, required=True)
    certificate_number = text(max_len=100)
    report_url = fields.Url()
