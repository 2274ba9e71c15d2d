"""Identifier patterns and the controlled values the schemas check.

Codes follow the BBMRI-ERIC Directory / MIABIS where they exist, so records export back.
The larger code lists are vocabularies kept as data (schemas/vocabularies/*.json); their
names below (MATERIAL_TYPES, DUO_PERMISSIONS, ...) are read from those files on first use.
"""

from __future__ import annotations

from typing import Any

from marshmallow import validate

from schemas.vocabularies import InVocabulary, vocabulary

LOCAL_ID = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$",
    error="must be 1-255 letters, digits or . _ : - and start with a letter or digit",
)
COUNTRY = InVocabulary("countries")
HPSCREG_NAME = validate.Regexp(
    r"^[A-Z]{2,6}[ei]\d{3}-[A-Z](-\d+)?$", error="is not an hPSCreg name such as 'WAe009-A'"
)
CELLOSAURUS_AC = validate.Regexp(
    r"^CVCL_[A-Z0-9]{4}$", error="is not a Cellosaurus accession such as 'CVCL_9773'"
)
BIOSAMPLES_ID = validate.Regexp(
    r"^SAM[NEA][AG]?\d+$", error="is not a BioSamples id such as 'SAMEA3158083'"
)
CELL_ONTOLOGY_ID = validate.Regexp(
    r"^CL:\d{7}$", error="is not a Cell Ontology id such as 'CL:0000034'"
)
DISEASE_CODE = validate.Regexp(
    # ICD-10 categories and sub-codes, blocks (C00-C75) and chapters (II), as the Directory uses.
    r"^(ICD10:([A-Z]\d{2}(\.\d{1,2})?|[A-Z]\d{2}-[A-Z]\d{2}|[IVX]{1,5})|ORPHA:\d+|MONDO:\d{7}"
    r"|DOID:\d+)$",
    error="must be a code such as 'ICD10:G20', 'ORPHA:399' or 'MONDO:0005180'",
)
DUO_CODE = validate.Regexp(r"^DUO:\d{7}$", error="is not a DUO code such as 'DUO:0000042'")

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
AVAILABILITY = (
    "available",
    "expand_to_order",
    "restricted_distribution",
    "not_available",
    "recalled",
)
CERTIFICATION_STATUS = ("valid", "suspended", "withdrawn", "expired")
ASSESSMENT_LEVELS = ("accredited", "certified", "eric", "self_declared")
SCOPE_ACTIVITIES = (
    "collection",
    "reception",
    "preparation",
    "preservation",
    "qc_testing",
    "storage",
    "distribution",
    "disposal",
)
COLLECTION_STATUS = ("Active", "Ended", "Other")
NETWORK_STATUS = ("Active", "Ended", "Other")
SHIPPING = ("dry_shipper_LN2", "dry_ice", "ambient")
DERIVATION_METHODS = (
    "embryo_derived",
    "primary_isolation",
    "reprogramming_integrating",
    "reprogramming_non_integrating",
    "pluripotent_differentiation",
    "immortalisation",
    "other",
)
VECTORS = ("Sendai", "episomal", "mRNA", "lentivirus", "retrovirus", "piggyBac", "none", "other")
MODIFICATION_TYPES = ("variant", "isogenic", "knock_in", "knock_out", "transgene", "reporter")
KARYOTYPE_METHODS = ("G_banding", "SNP_array", "M_FISH", "Q_banding", "other")
QC_ATTRIBUTES = (
    "VIABILITY",
    "CELL_COUNT",
    "STERILITY",
    "MYCOPLASMA",
    "ENDOTOXIN",
    "VIRUS_HIV1",
    "VIRUS_HIV2",
    "VIRUS_HBV",
    "VIRUS_HCV",
    "VIRUS_OTHER",
    "IDENTITY_STR",
    "KARYOTYPE",
    "POS_MARKERS",
    "NEG_MARKERS",
    "PLURIPOTENCY_MARKERS",
    "TRILINEAGE",
    "RESIDUAL_PSC",
    "RESIDUAL_VECTOR",
    "PURITY",
    "POTENCY",
    "FUNCTION",
)
QC_OUTCOMES = ("pass", "fail", "negative", "positive", "normal", "abnormal", "not_done")

DUO_DISEASE_SPECIFIC = "DUO:0000007"
DUO_NON_COMMERCIAL = frozenset({"DUO:0000018", "DUO:0000045", "DUO:0000046"})

_VOCABULARY_CODES = {
    "CELL_TYPES": "cell_types",
    "MATERIAL_TYPES": "material_types",
    "STORAGE_TEMPERATURES": "storage_temperatures",
    "COLLECTION_TYPES": "collection_types",
    "COLLECTION_CATEGORIES": "collection_categories",
    "DATA_CATEGORIES": "data_categories",
    "SEXES": "sexes",  # a collection's donors (MIABIS)
    "DONOR_SEXES": "donor_sexes",
    "AGE_UNITS": "age_units",
    "COUNTRIES": "countries",
}


def __getattr__(name: str) -> Any:
    """The vocabulary-backed code lists, read on first use (PEP 562)."""
    if name in _VOCABULARY_CODES:
        return vocabulary(_VOCABULARY_CODES[name]).codes
    if name in ("DUO_PERMISSIONS", "DUO_MODIFIERS"):
        duo = vocabulary("duo")
        kind = "permission" if name == "DUO_PERMISSIONS" else "modifier"
        return {
            code: f"{duo.label(code)} ({duo[code].extra['shorthand']})"
            for code in duo.subset(kind=kind)
        }
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
