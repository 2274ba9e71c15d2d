"""Identifier patterns and the controlled values the schemas check.

Codes follow the BBMRI-ERIC Directory / MIABIS where they exist, so records export back.
"""

from __future__ import annotations

from marshmallow import validate

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
CELL_ONTOLOGY_ID = validate.Regexp(
    r"^CL:\d{7}$", error="is not a Cell Ontology id such as 'CL:0000034'"
)
DISEASE_CODE = validate.Regexp(
    r"^(ICD10:[A-Z]\d{2}(\.\d{1,2})?|ORPHA:\d+|MONDO:\d{7}|DOID:\d+)$",
    error="must be a code such as 'ICD10:G20', 'ORPHA:399' or 'MONDO:0005180'",
)
DUO_CODE = validate.Regexp(r"^DUO:\d{7}$", error="is not a DUO code such as 'DUO:0000042'")

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
DONOR_SEXES = ("MALE", "FEMALE", "UNKNOWN")
SEXES = ("MALE", "FEMALE", "UNKNOWN", "UNDIFFERENTIAL", "NAV")  # a collection's donors (MIABIS)
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
AGE_UNITS = ("YEAR", "MONTH", "WEEK", "DAY")
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
MATERIAL_TYPES = (
    "CELL_LINES",
    "IPSC",
    "ESC",
    "MSC",
    "PRIMARY_CELLS",
    "DIFFERENTIATED_CELLS",
    "DNA",
    "RNA",
    "CDNA",
    "WHOLE_BLOOD",
    "PERIPHERAL_BLOOD_CELLS",
    "BUFFY_COAT",
    "SERUM",
    "PLASMA",
    "URINE",
    "SALIVA",
    "FECES",
    "TISSUE_FROZEN",
    "TISSUE_PARAFFIN_EMBEDDED",
    "TISSUE_STAINED",
    "PATHOGEN",
    "MICRO_RNA",
    "NAV",
    "OTHER",
)
STORAGE_TEMPERATURES = (
    "temperatureRoom",
    "temperature2to10",
    "temperature-18to-35",
    "temperature-60to-85",
    "temperatureLN",
    "temperatureLNvapour",
    "temperatureLNliquid",
    "temperatureOther",
)
COLLECTION_TYPES = (
    "BIRTH_COHORT",
    "CASE_CONTROL",
    "COHORT",
    "CROSS_SECTIONAL",
    "DISEASE_SPECIFIC",
    "FAMILY_STUDY",
    "HOSPITAL",
    "IMAGE",
    "LONGITUDINAL",
    "NON_HUMAN",
    "OTHER",
    "POPULATION_BASED",
    "PROSPECTIVE_COLLECTION",
    "QUALITY_CONTROL",
    "RD",
    "SAMPLE",
    "TWIN_STUDY",
    "CELL_LINE",
)
DATA_CATEGORIES = (
    "BIOLOGICAL_SAMPLES",
    "GENEALOGICAL_RECORDS",
    "IMAGING_DATA",
    "MEDICAL_RECORDS",
    "NATIONAL_REGISTRIES",
    "OTHER",
    "PHYSIOLOGICAL_BIOCHEMICAL",
    "SURVEY_DATA",
    "GENOMIC_DATA",
    "NAV",
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

DUO_PERMISSIONS = {
    "DUO:0000004": "no restriction (NRES)",
    "DUO:0000042": "general research use (GRU)",
    "DUO:0000006": "health, medical or biomedical research (HMB)",
    "DUO:0000007": "disease-specific research (DS)",
    "DUO:0000011": "population origins or ancestry research only (POA)",
}
DUO_MODIFIERS = {
    "DUO:0000012": "research-specific restrictions (RS)",
    "DUO:0000015": "no general methods research (NMDS)",
    "DUO:0000016": "genetic studies only (GSO)",
    "DUO:0000018": "not-for-profit, non-commercial use only (NPUNCU)",
    "DUO:0000019": "publication required (PUB)",
    "DUO:0000020": "collaboration required (COL)",
    "DUO:0000021": "ethics approval required (IRB)",
    "DUO:0000022": "geographical restriction (GS)",
    "DUO:0000024": "publication moratorium (MOR)",
    "DUO:0000025": "time limit on use (TS)",
    "DUO:0000026": "user-specific restriction (US)",
    "DUO:0000027": "project-specific restriction (PS)",
    "DUO:0000028": "institution-specific restriction (IS)",
    "DUO:0000029": "return to database or resource (RTN)",
    "DUO:0000043": "clinical care use (CC)",
    "DUO:0000044": "population origins or ancestry research prohibited (NPOA)",
    "DUO:0000045": "not-for-profit organisation use only (NPU)",
    "DUO:0000046": "non-commercial use only (NCU)",
}
DUO_DISEASE_SPECIFIC = "DUO:0000007"
DUO_NON_COMMERCIAL = frozenset({"DUO:0000018", "DUO:0000045", "DUO:0000046"})
