"""The MIABIS 3 parts of catalogue records: publications, source tissue as an ontology term,
a line's content diagnosis, research resources, species, and the checks that tie them.

MIABIS Core 3.0 and Sample/Donor/Event v1.1 (docs/miabis.md says which attribute is where).
The vocabularies are data files: miabis_sample_types, sample_sources, species,
dataset_types, biobank_capabilities (schemas/vocabularies/).
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate

from schemas.parts import DiseaseSchema, Strict, one_of, text
from schemas.validators import LOCAL_ID
from schemas.vocabularies import InVocabulary, vocabulary

DOI_PATTERN = re.compile(r"^10\.\d{4,9}/\S+$")
DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/")
TISSUE_TERM = validate.Regexp(
    r"^(UBERON|BTO|CL):\d{7}$",
    error="is not an UBERON, BTO or Cell Ontology term such as 'UBERON:0002097'",
)
CONTENT_STATUS = ("disease", "healthy", "unknown", "not_applicable")
"""A line's content (MIABIS SAMPLE-10), apart from its donor's diagnosis: a cancer line or an
engineered disease model carries a disease ('disease', with content_diagnoses); a control line
is 'healthy'. MIABIS adds Healthy / Unknown / Not applicable to the disease codes."""
CAPABILITY_LISTS = {
    "infrastructural_capabilities": "infrastructural",  # BIOBANK-09
    "organisational_capabilities": "organisational",  # BIOBANK-10
    "bioprocessing_capabilities": "bioprocessing",  # BIOBANK-11
}


def plain_doi(value: str) -> str:
    """``https://doi.org/10.1/x`` and ``doi:10.1/x`` name the DOI ``10.1/x``."""
    value = value.strip()
    for prefix in (*DOI_PREFIXES, "doi:"):
        if value.lower().startswith(prefix):
            return value[len(prefix) :]
    return value


class Doi(fields.Str):
    """A DOI, stored plain (``10.1038/nature22403``); its URL and ``doi:`` forms are read as it."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kw: Any) -> str:
        doi = plain_doi(super()._deserialize(value, attr, data, **kw))
        if not DOI_PATTERN.match(doi):
            raise ValidationError(f"{value!r} is not a DOI such as '10.1038/nature22403'")
        return doi


class PublicationSchema(Strict):
    """A key publication (MIABIS COLLECTION-23 / RESEARCHRESOURCE-23)."""

    doi = Doi(required=True)
    title = text(max_len=500)
    year = fields.Int(validate=validate.Range(min=1900, max=2100))


class TissueTermSchema(Strict):
    """Where the line's source cells came from (MIABIS SAMPLE-05 anatomical site): ontology
    (the code's prefix), version, code, label."""

    code = fields.Str(required=True, validate=TISSUE_TERM)
    label = text(required=True, max_len=200)
    version = text(max_len=50)


class ResearchResourceRefSchema(Strict):
    """A research resource (study or project, MIABIS RESEARCHRESOURCE) the record belongs to,
    such as HipSci or EBiSC; it may span biobanks and nodes, so it is named by its registry
    identifier, not by a record of this node."""

    id = fields.Str(required=True, validate=LOCAL_ID)
    name = text(required=True, max_len=300)
    acronym = text(max_len=100)
    url = fields.Url()


def codes(vocabulary_name: str, **subset: Any) -> fields.List:
    return fields.List(
        fields.Str(validate=InVocabulary(vocabulary_name, **subset)), load_default=list
    )


def capability_field(list_name: str) -> fields.List:
    title = f"{list_name} capability"
    return fields.List(
        fields.Str(validate=InVocabulary("biobank_capabilities", title, list=list_name)),
        load_default=list,
    )


def content_status() -> fields.Str:
    return one_of(CONTENT_STATUS)


def content_diagnoses() -> fields.List:
    return fields.List(fields.Nested(DiseaseSchema), load_default=list)


def publications() -> fields.List:
    return fields.List(fields.Nested(PublicationSchema), load_default=list)


def research_resources() -> fields.List:
    return fields.List(fields.Nested(ResearchResourceRefSchema), load_default=list)


def check_miabis_parts(data: dict[str, Any]) -> None:
    """Record-level rules of the MIABIS parts: one entry per DOI and per research resource,
    a species that agrees with the sample source, content diagnoses only for 'disease'."""
    for name, key in (("publications", "doi"), ("research_resources", "id")):
        seen = [str(item[key]).lower() for item in data.get(name, [])]
        twice = sorted({v for v in seen if seen.count(v) > 1})
        if twice:
            raise ValidationError(f"{key} {twice[0]!r} is listed twice", name)
    source, code = data.get("sample_source"), data.get("species")
    species = vocabulary("species").get(code) if isinstance(code, str) else None  # a line's
    if source and species and species.extra.get("source") != source:
        raise ValidationError(
            f"{species.label} is not a {source!r} sample source "
            f"(it is {species.extra.get('source')!r})",
            "species",
        )
    status, diagnoses = data.get("content_status"), data.get("content_diagnoses")
    if status == "disease" and not diagnoses:
        raise ValidationError("status 'disease' needs content_diagnoses", "content_status")
    if diagnoses and status != "disease":
        raise ValidationError(
            f"are given, so content_status must be 'disease', not {status!r}", "content_diagnoses"
        )
