"""The catalogue model: Network, Biobank, Collection, CellLine (MIABIS-style, snake_case).

Based on MIABIS Core 3, the BBMRI-ERIC Directory, hPSCreg and the ISCT/ISSCR quality
attributes (see the project's research notes). Nested parts (certifications, QC results,
access terms) live in schemas/parts.py. Every schema rejects unknown fields, so a typo in
an import is reported instead of silently dropped.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.facts import facts_field
from schemas.miabis import (
    TissueTermSchema,
    capability_field,
    check_miabis_parts,
    codes,
    content_diagnoses,
    content_status,
    publications,
    research_resources,
)
from schemas.parts import (
    AccessTermsSchema,
    CertificationSchema,
    ContactSchema,
    DerivationSchema,
    DiseaseSchema,
    KaryotypeSchema,
    LotSchema,
    ModificationSchema,
    QCResultSchema,
    QualityLabelSchema,
    StorageSchema,
    Strict,
    StrProfileSchema,
    text,
)
from schemas.provenance import (
    HPSCREG_DONOR_ID,
    CultureConditionsSchema,
    EthicsApprovalSchema,
    RelationSchema,
    relations_problems,
)
from schemas.standards import StandardDeclarationSchema, declaration_problems
from schemas.validators import (
    AGE_RANGES,
    AVAILABILITY,
    BIOSAMPLES_ID,
    CELL_ONTOLOGY_ID,
    CELLOSAURUS_AC,
    COLLECTION_STATUS,
    COUNTRY,
    HPSCREG_NAME,
    LOCAL_ID,
    NETWORK_STATUS,
    SHIPPING,
)
from schemas.vocabularies import InVocabulary, vocabulary

S = TypeVar("S")

SCHEMA_VERSION = "2"
"""Version of the record shapes below; feed entries carry it. Version 2 added networks, QC,
genetics, lots, storage and access terms to version 1, which stays readable (see
READABLE_SCHEMA_VERSIONS)."""

READABLE_SCHEMA_VERSIONS = frozenset({"1", "2"})
"""Versions whose records these schemas validate (version 1 records are valid version 2)."""


def _ids(**kw: Any) -> fields.List:
    return fields.List(fields.Str(validate=LOCAL_ID), load_default=list, **kw)


def _codes(vocabulary_name: str, **kw: Any) -> fields.List:
    return fields.List(fields.Str(validate=InVocabulary(vocabulary_name)), load_default=list, **kw)


class NetworkSchema(Strict):
    id = fields.Str(required=True, validate=LOCAL_ID)
    name = text(required=True, max_len=300)
    acronym = text(max_len=100)
    description = text(max_len=5000)
    url = fields.Url()
    juristic_person = text(max_len=300)
    countries = fields.List(fields.Str(validate=COUNTRY), load_default=list)
    contact = fields.Nested(ContactSchema)
    status = fields.Str(validate=validate.OneOf(NETWORK_STATUS))
    collaboration_topics = fields.List(text(max_len=100), load_default=list)  # MIABIS NETWORK-11


class BiobankSchema(Strict):
    id = fields.Str(required=True, validate=LOCAL_ID)
    pid = text(max_len=200)
    name = text(required=True, max_len=300)
    acronym = text(max_len=100)
    description = text(max_len=5000)
    url = fields.Url()
    country = fields.Str(required=True, validate=COUNTRY)
    city = text(max_len=200)
    latitude = fields.Float(validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(validate=validate.Range(min=-180, max=180))
    juristic_person = text(max_len=300)
    contact_email = fields.Email()
    contact = fields.Nested(ContactSchema)
    head = fields.Nested(ContactSchema)
    networks = _ids()
    capabilities = fields.List(text(max_len=200), load_default=list)
    infrastructural_capabilities = capability_field("infrastructural")  # MIABIS BIOBANK-09
    organisational_capabilities = capability_field("organisational")  # MIABIS BIOBANK-10
    bioprocessing_capabilities = capability_field("bioprocessing")  # MIABIS BIOBANK-11
    collaboration_commercial = fields.Bool()
    collaboration_non_profit = fields.Bool()
    certifications = fields.List(fields.Nested(CertificationSchema), load_default=list)
    quality_labels = fields.List(fields.Nested(QualityLabelSchema), load_default=list)


class CollectionSchema(Strict):
    id = fields.Str(required=True, validate=LOCAL_ID)
    biobank = fields.Str(required=True, validate=LOCAL_ID)
    parent = fields.Str(validate=LOCAL_ID)
    name = text(required=True, max_len=300)
    acronym = text(max_len=100)
    description = text(max_len=5000)
    url = fields.Url()
    contact = fields.Nested(ContactSchema)
    status = fields.Str(validate=validate.OneOf(COLLECTION_STATUS))
    types = _codes("collection_types")
    data_categories = _codes("data_categories")
    categories = _codes("collection_categories")
    materials = _codes("material_types")
    storage_temperatures = _codes("storage_temperatures")
    sex = _codes("sexes")
    # The upper bound depends on the unit (960 months is a fine age): checked below.
    age_low = fields.Int(validate=validate.Range(min=0))
    age_high = fields.Int(validate=validate.Range(min=0))
    age_unit = fields.Str(validate=InVocabulary("age_units"))
    diseases = fields.List(fields.Nested(DiseaseSchema), load_default=list)
    size = fields.Int(validate=validate.Range(min=0))
    order_of_magnitude = fields.Int(validate=validate.Range(min=0, max=9))
    number_of_donors = fields.Int(validate=validate.Range(min=0))
    networks = _ids()
    access = fields.Nested(AccessTermsSchema)
    sops = fields.List(text(max_len=100), load_default=list)
    quality_labels = fields.List(fields.Nested(QualityLabelSchema), load_default=list)
    facts = facts_field()  # counts by sex, age band, material, diagnosis (schemas/facts.py)
    sample_sources = codes("sample_sources")  # MIABIS COLLECTION-07
    miabis_sample_types = codes("miabis_sample_types")  # COLLECTION-14 beyond the materials
    species = codes("species")  # NCBI Taxonomy
    dataset_types = codes("dataset_types")  # MIABIS COLLECTION-13
    publications = publications()  # MIABIS COLLECTION-23
    research_resources = research_resources()

    @validates_schema
    def _miabis_parts_agree(self, data: dict[str, Any], **_: Any) -> None:
        check_miabis_parts(data)

    @validates_schema
    def _ages_and_sizes_agree(self, data: dict[str, Any], **_: Any) -> None:
        low, high = data.get("age_low"), data.get("age_high")
        if low is not None and high is not None and low > high:
            raise ValidationError(f"must not be below age_low ({low})", "age_high")
        if (low is not None or high is not None) and not data.get("age_unit"):
            raise ValidationError("is needed when age_low or age_high is given", "age_unit")
        unit = vocabulary("age_units").get(data.get("age_unit") or "")
        for name, age in (("age_low", low), ("age_high", high)):
            if unit and age is not None and age > unit.extra["max"]:
                raise ValidationError(
                    f"{age} {unit.label.lower()} is older than anyone lives "
                    f"(at most {unit.extra['max']})",
                    name,
                )
        size, magnitude = data.get("size"), data.get("order_of_magnitude")
        if size and magnitude is not None and not 10**magnitude <= size < 10 ** (magnitude + 1):
            raise ValidationError(
                f"is {magnitude}, but size {size} is of order {len(str(size)) - 1}",
                "order_of_magnitude",
            )


class DonorSchema(Strict):
    sex = fields.Str(required=True, validate=InVocabulary("donor_sexes"))
    age_range = fields.Str(validate=validate.OneOf(AGE_RANGES))
    ethnicity = text(max_len=100)
    diseases = fields.List(fields.Nested(DiseaseSchema), load_default=list)
    affected = fields.Bool()
    biosamples_id = fields.Str(validate=BIOSAMPLES_ID)  # BioSamples donor accession
    hpscreg_id = fields.Str(validate=HPSCREG_DONOR_ID)
    local_id = fields.Str(validate=LOCAL_ID)  # the biobank's own (pseudonymous) donor code


class CellLineSchema(Strict):
    id = fields.Str(required=True, validate=LOCAL_ID)
    biobank = fields.Str(required=True, validate=LOCAL_ID)
    collection = fields.Str(validate=LOCAL_ID)
    name = text(required=True, max_len=200)
    hpscreg_name = fields.Str(validate=HPSCREG_NAME)
    cellosaurus_ac = fields.Str(validate=CELLOSAURUS_AC)
    biosamples_id = fields.Str(validate=BIOSAMPLES_ID)
    synonyms = fields.List(text(max_len=200), load_default=list)
    description = text(max_len=5000)
    cell_type = fields.Str(required=True, validate=InVocabulary("cell_types"))
    cell_type_ontology = fields.Str(validate=CELL_ONTOLOGY_ID)
    tissue_source = text(max_len=200)
    derivation = fields.Nested(DerivationSchema)
    donor = fields.Nested(DonorSchema, required=True)
    genetically_modified = fields.Bool(load_default=False)
    modified_genes = fields.List(text(max_len=50), load_default=list)
    modifications = fields.List(fields.Nested(ModificationSchema), load_default=list)
    karyotype = fields.Nested(KaryotypeSchema)
    str_profile = fields.Nested(StrProfileSchema)
    hla = fields.List(text(max_len=50), load_default=list)
    qc = fields.List(fields.Nested(QCResultSchema), load_default=list)
    passage_at_banking = fields.Int(validate=validate.Range(min=0, max=500))
    lots = fields.List(fields.Nested(LotSchema), load_default=list)
    storage = fields.Nested(StorageSchema)
    shipping = fields.Str(validate=validate.OneOf(SHIPPING))
    availability = fields.Str(required=True, validate=validate.OneOf(AVAILABILITY))
    access = fields.Nested(AccessTermsSchema)
    relations = fields.List(fields.Nested(RelationSchema), load_default=list)
    ethics_approval = fields.Nested(EthicsApprovalSchema)
    culture_conditions = fields.Nested(CultureConditionsSchema)
    # No default: a line without declarations keeps the content hash it had before.
    standards_declared = fields.List(fields.Nested(StandardDeclarationSchema))
    miabis_sample_type = fields.Str(validate=InVocabulary("miabis_sample_types"))  # SAMPLE-02
    sample_source = fields.Str(validate=InVocabulary("sample_sources"))  # MIABIS SAMPLE-12
    species = fields.Str(validate=InVocabulary("species"))  # NCBI Taxonomy
    source_tissue = fields.Nested(TissueTermSchema)  # MIABIS SAMPLE-05
    content_status = content_status()  # MIABIS SAMPLE-10: the line's, not the donor's
    content_diagnoses = content_diagnoses()
    dataset_types = codes("dataset_types")  # MIABIS SAMPLEDONOR-03, per line
    publications = publications()
    research_resources = research_resources()

    @validates_schema
    def _relations_hold(self, data: dict[str, Any], **_: Any) -> None:
        if problems := relations_problems(data):
            raise ValidationError({path: [message] for path, message in problems})

    @validates_schema
    def _standards_fit_the_line(self, data: dict[str, Any], **_: Any) -> None:
        if problems := declaration_problems(data):
            raise ValidationError(problems)

    @validates_schema
    def _miabis_parts_agree(self, data: dict[str, Any], **_: Any) -> None:
        check_miabis_parts(data)

    @validates_schema
    def _genetics_agree(self, data: dict[str, Any], **_: Any) -> None:
        modified = data.get("genetically_modified")
        if data.get("modified_genes") and not modified:
            raise ValidationError(
                "genes are listed but genetically_modified is false", "modified_genes"
            )
        if data.get("modifications") and not modified:
            raise ValidationError(
                "modifications are listed but genetically_modified is false", "modifications"
            )
        lot_ids = [lot["lot_id"] for lot in data.get("lots", [])]
        if len(lot_ids) != len(set(lot_ids)):
            raise ValidationError("lot ids must be unique within a line", "lots")


KINDS: dict[str, type[Strict]] = {
    "network": NetworkSchema,
    "biobank": BiobankSchema,
    "collection": CollectionSchema,
    "cell_line": CellLineSchema,
}
"""Record kinds in dependency order: a biobank names networks, a collection its biobank,
a cell line both."""


def schema_for(kind: str) -> Strict:
    """The schema of a record kind, built once per thread: building one is costly
    (marshmallow copies every field), and loading keeps no state between calls."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}; known: {', '.join(KINDS)}")
    return per_thread(KINDS[kind])


_instances = threading.local()


def per_thread(schema_class: type[S]) -> S:
    """One instance of a schema class per thread."""
    cache: dict[type, Any] = _instances.__dict__  # type: ignore[assignment]
    if schema_class not in cache:
        cache[schema_class] = schema_class()
    return cache[schema_class]
