"""Biobank, Collection and CellLine: the fields a search needs (MIABIS-style names)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

SCHEMA_VERSION = "1"
"""Version of the record shapes below; feed entries carry it."""

LOCAL_ID = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$",
    error="must be 1-128 letters, digits or . _ : - and start with a letter or digit",
)
COUNTRY = validate.Regexp(r"^[A-Z]{2}$", error="must be an ISO 3166-1 alpha-2 code such as 'DE'")
HPSCREG_NAME = validate.Regexp(
    r"^[A-Z]{2,6}[ei]\d{3}-[A-Z](-\d+)?$", error="is not an hPSCreg name such as 'WAe009-A'"
)
CELLOSAURUS_AC = validate.Regexp(
    r"^CVCL_[A-Z0-9]{4}$", error="is not a Cellosaurus accession such as 'CVCL_9773'"
)
BIOSAMPLES_ID = validate.Regexp(
    r"^SAM[NEA][AG]?\d+$", error="is not a BioSamples id such as 'SAMEA3158083'"
)

CELL_TYPES = (
    "hESC",
    "hiPSC",
    "MSC",
    "RPE",
    "CARDIOMYOCYTE",
    "HSPC",
    "NEURAL",
    "HEPATOCYTE",
    "FIBROBLAST",
    "CANCER",
    "OTHER",
)
SEXES = ("MALE", "FEMALE", "UNKNOWN")
AGE_RANGES = (
    "EMBRYO",
    "FETUS",
    "0-4",
    "5-9",
    "10-14",
    "15-19",
    "20-24",
    "25-29",
    "30-34",
    "35-39",
    "40-44",
    "45-49",
    "50-54",
    "55-59",
    "60-64",
    "65-69",
    "70-74",
    "75-79",
    "80-84",
    "85+",
    "UNKNOWN",
)
AVAILABILITY = ("available", "expand_to_order", "restricted_distribution", "not_available")
CERTIFICATION_STATUS = ("valid", "suspended", "withdrawn", "expired")
MATERIAL_TYPES = (
    "CELL_LINES",
    "IPSC",
    "ESC",
    "PRIMARY_CELLS",
    "DNA",
    "RNA",
    "WHOLE_BLOOD",
    "SERUM",
    "PLASMA",
    "TISSUE_FROZEN",
    "TISSUE_PARAFFIN_EMBEDDED",
    "OTHER",
)
DISEASE_CODE = validate.Regexp(
    r"^(ICD10:[A-Z]\d{2}(\.\d{1,2})?|ORPHA:\d+|MONDO:\d{7}|DOID:\d+)$",
    error="must be a code such as 'ICD10:G20', 'ORPHA:399' or 'MONDO:0005180'",
)


class _Strict(Schema):
    """Unknown fields are an error: a typo must not pass silently."""

    class Meta:
        ordered = True


def _text(required: bool = False, max_len: int = 500, **kw: Any) -> fields.Str:
    return fields.Str(required=required, validate=validate.Length(min=1, max=max_len), **kw)


class DiseaseSchema(_Strict):
    code = fields.Str(required=True, validate=DISEASE_CODE)
    label = _text(required=True, max_len=300)


class CertificationSchema(_Strict):
    """A quality certification or accreditation, e.g. ISO 20387:2018 by CNAS."""

    standard = _text(required=True, max_len=100)
    national_equivalent = _text(max_len=100)
    body = _text(required=True, max_len=200)
    certificate_number = _text(required=True, max_len=100)
    issued = fields.Date(required=True)
    valid_until = fields.Date()
    status = fields.Str(required=True, validate=validate.OneOf(CERTIFICATION_STATUS))

    @validates_schema
    def _dates_in_order(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("valid_until") and data["valid_until"] < data["issued"]:
            raise ValidationError("must not be before 'issued'", "valid_until")


class BiobankSchema(_Strict):
    id = fields.Str(required=True, validate=LOCAL_ID)
    name = _text(required=True, max_len=300)
    acronym = _text(max_len=50)
    description = _text(max_len=5000)
    url = fields.Url()
    country = fields.Str(required=True, validate=COUNTRY)
    city = _text(max_len=200)
    juristic_person = _text(max_len=300)
    contact_email = fields.Email()
    certifications = fields.List(fields.Nested(CertificationSchema), load_default=list)


class CollectionSchema(_Strict):
    id = fields.Str(required=True, validate=LOCAL_ID)
    biobank = fields.Str(required=True, validate=LOCAL_ID)
    name = _text(required=True, max_len=300)
    description = _text(max_len=5000)
    materials = fields.List(fields.Str(validate=validate.OneOf(MATERIAL_TYPES)), load_default=list)
    diseases = fields.List(fields.Nested(DiseaseSchema), load_default=list)
    size = fields.Int(validate=validate.Range(min=0))


class DonorSchema(_Strict):
    sex = fields.Str(required=True, validate=validate.OneOf(SEXES))
    age_range = fields.Str(validate=validate.OneOf(AGE_RANGES))
    diseases = fields.List(fields.Nested(DiseaseSchema), load_default=list)


class CellLineSchema(_Strict):
    id = fields.Str(required=True, validate=LOCAL_ID)
    biobank = fields.Str(required=True, validate=LOCAL_ID)
    collection = fields.Str(validate=LOCAL_ID)
    name = _text(required=True, max_len=200)
    hpscreg_name = fields.Str(validate=HPSCREG_NAME)
    cellosaurus_ac = fields.Str(validate=CELLOSAURUS_AC)
    biosamples_id = fields.Str(validate=BIOSAMPLES_ID)
    synonyms = fields.List(_text(max_len=200), load_default=list)
    description = _text(max_len=5000)
    cell_type = fields.Str(required=True, validate=validate.OneOf(CELL_TYPES))
    tissue_source = _text(max_len=200)
    donor = fields.Nested(DonorSchema, required=True)
    genetically_modified = fields.Bool(load_default=False)
    modified_genes = fields.List(_text(max_len=50), load_default=list)
    availability = fields.Str(required=True, validate=validate.OneOf(AVAILABILITY))

    @validates_schema
    def _genes_need_modification(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("modified_genes") and not data.get("genetically_modified"):
            raise ValidationError(
                "genes are listed but genetically_modified is false", "modified_genes"
            )


KINDS: dict[str, type[Schema]] = {
    "biobank": BiobankSchema,
    "collection": CollectionSchema,
    "cell_line": CellLineSchema,
}
"""Record kinds in dependency order: a collection names a biobank, a cell line both."""


def schema_for(kind: str) -> Schema:
    """A fresh schema instance for a record kind (schemas keep per-call state)."""
    try:
        return KINDS[kind]()
    except KeyError:
        raise ValueError(f"unknown record kind {kind!r}; known: {', '.join(KINDS)}") from None


def dump_record(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """The canonical JSON form of a validated record (dates as ISO strings, empty lists kept)."""
    return schema_for(kind).dump(record)
