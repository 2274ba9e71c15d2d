"""Our codes in the Directory's vocabularies, for the export: mapped, or left out and said.

The Directory accepts in an ontology column only the codes of its own lookup table, so an
export must not write ``IPSC``, ``GENOMIC_DATA`` or ``temperatureLNvapour`` verbatim. Each
code goes through :class:`DirectoryCodes`: spelled the Directory's way (``GB`` -> ``UK``),
replaced by the Directory code that covers it where one exists (:data:`REPLACED`), or left out
and counted in the export's report. The Directory's codes below are those of the June 2023
"biobank-directory" model that directory/read.py imports (its ``ontologies/*.csv``);
tests/unit/test_export_directory_codes.py checks them against that model's files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from federation.node.formats.report import MappingReport
from schemas.vocabularies import vocabulary

MATERIALS = frozenset(
    [
        "BUFFY_COAT",
        "CDNA",
        "CELL_LINES",
        "DNA",
        "FECES",
        "MICRO_RNA",
        "NASAL_SWAB",
        "NAV",
        "OTHER",
        "PATHOGEN",
        "PERIPHERAL_BLOOD_CELLS",
        "PLASMA",
        "RNA",
        "SALIVA",
        "SERUM",
        "THROAT_SWAB",
        "TISSUE_FROZEN",
        "TISSUE_PARAFFIN_EMBEDDED",
        "TISSUE_STAINED",
        "URINE",
        "WHOLE_BLOOD",
    ]
)
DATA_CATEGORIES = frozenset(
    [
        "ANTIBODIES",
        "BIOLOGICAL_SAMPLES",
        "BLOOD",
        "CLINICAL_SYMPTOMS",
        "CT",
        "DiseaseDuration",
        "GENEALOGICAL_RECORDS",
        "IMAGING_DATA",
        "MEDICAL_RECORDS",
        "NATIONAL_REGISTRIES",
        "NAV",
        "OTHER",
        "PHYSIOLOGICAL_BIOCHEMICAL_MEASUREMENTS",
        "SURVEY_DATA",
        "TREATMENT_PROTOCOL",
    ]
)
COUNTRIES = frozenset(
    [
        "AT",
        "AU",
        "BE",
        "BG",
        "CA",
        "CH",
        "CY",
        "CZ",
        "DE",
        "EE",
        "ES",
        "EU",
        "FI",
        "FR",
        "GR",
        "HU",
        "IT",
        "LT",
        "LV",
        "MT",
        "NL",
        "NO",
        "PL",
        "PT",
        "QA",
        "RU",
        "SE",
        "SI",
        "TR",
        "UG",
        "UK",
        "US",
        "VN",
    ]
)
NATIONAL_NODES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CH",
        "CY",
        "CZ",
        "DE",
        "EE",
        "ES",
        "EU",
        "EXT",
        "FI",
        "FR",
        "GR",
        "HU",
        "IT",
        "LT",
        "LV",
        "MT",
        "NL",
        "NO",
        "PL",
        "SE",
        "SI",
        "UK",
    ]
)
OUTSIDE_NODES = "EXT"
"""The Directory's national node for a biobank in a country without one."""

STANDARDS_COMMON = [
    "cen-ts-16826-1-2015",
    "cen-ts-16826-2-2015",
    "cen-ts-16827-1-2015",
    "cen-ts-16827-2-2015",
    "cen-ts-16827-3-2015",
    "cen-ts-16835-1-2015",
    "cen-ts-16835-2-2015",
    "cen-ts-16835-3-2015",
    "cen-ts-16945-2016",
    "iso-17034-2016",
    "iso-17043-2010",
    "iso-20166-1",
    "iso-20166-2",
    "iso-20166-3",
    "iso-20184-1",
    "iso-20184-2",
    "iso-20186-1",
    "iso-20186-2",
    "iso-20186-3",
    "iso-9001",
    "iso-fdis-20387",
    "nfs96-900",
    "oecd-guidelines",
    "oeci_accreditation",
    "others",
]

VOCABULARIES: dict[str, frozenset[str]] = {
    "Collections.materials": MATERIALS,
    "CollectionFacts.sample_type": MATERIALS,  # the same material types
    "Collections.data_categories": DATA_CATEGORIES,
    "Collections.storage_temperatures": frozenset(
        [
            "temperature-18to-35",
            "temperature-60to-85",
            "temperature2to10",
            "temperatureLN",
            "temperatureOther",
            "temperatureRoom",
        ]
    ),
    "Collections.type": frozenset(
        [
            "BIRTH_COHORT",
            "CASE_CONTROL",
            "COHORT",
            "CROSS_SECTIONAL",
            "DISEASE_SPECIFIC",
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
        ]
    ),
    "Collections.categories": frozenset(
        ["cancer", "covid19", "paediatric_included", "paediatric_only", "rare_disease"]
    ),
    "Collections.sex": frozenset(
        [
            "FEMALE",
            "MALE",
            "NASK",
            "NAV",
            "NEUTERED_FEMALE",
            "NEUTERED_MALE",
            "UNDIFFERENTIAL",
            "UNKNOWN",
        ]
    ),
    "Collections.age_unit": frozenset(["DAY", "MONTH", "WEEK", "YEAR"]),
    "Collections.access_fee": frozenset(["data", "images", "samples"]),
    "Collections.access_joint_project": frozenset(["data", "images", "samples"]),
    "Collections.sop": frozenset(
        [
            "data_processing_sop",
            "data_storage_sop",
            "data_transport_sop",
            "sample_processing_sop",
            "sample_storage_sop",
            "sample_transport_sop",
        ]
    ),
    "Collections.data_use": frozenset(
        [f"DUO_{n:07d}" for n in (1, 2, 3, 4, 5, 6, 7, 11, 12, *range(14, 23), *range(24, 30))]
        + [f"DUO_{n:07d}" for n in (*range(31, 41), 42)]
        + ["OBI_0000066"]
    ),
    "Biobanks.capabilities": frozenset(
        [
            "BSL2",
            "BSL3",
            "PCR",
            "ProspectiveCollections",
            "Screening_tools",
            "Testing_Facility_Animal",
            "TrialSetupClinical",
            "VSF",
            "biomaterial-storage",
            "cell-culture",
            "covid19",
            "data-analytics",
            "data-storage",
            "development_antibody",
            "digital-imaging",
            "immunohistochemistry-scoring",
            "immunohistochemistry-staining",
            "nucleic-acid-extraction",
            "pathology-archive-access",
            "proteomics",
            "recontact",
            "tma-creation",
        ]
    ),
    "Networks.common_network_elements": frozenset(
        [
            "charter",
            "data_access_policy",
            "focus",
            "image_access_policy",
            "image_mta",
            "mta",
            "representation",
            "sample_access_policy",
            "sops",
            "url",
        ]
    ),
    "country": COUNTRIES,
    "national_node": NATIONAL_NODES,
    "QualityInfoBiobanks.quality_standard": frozenset(
        STANDARDS_COMMON
        + [
            "ISO-20387-2018",
            "iso-15189-2012",
            "iso-15189-2014",
            "iso-15190-2020",
            "iso-17020-2012",
            "iso-17025-2017",
            "iso-17025-2018",
            "iso-20184-3",
            "iso-21899-2020",
        ]
    ),
    "QualityInfoCollections.quality_standard": frozenset(
        STANDARDS_COMMON + ["iso-15189", "iso-15190", "iso-17025"]
    ),
    "assessment_level": frozenset(("accredited", "eric")),
}
"""The Directory's codes per export column (``Table.column``, or a column all tables share)."""

REPLACED = {
    "Collections.materials": {"IPSC": "CELL_LINES", "ESC": "CELL_LINES"},
    "CollectionFacts.sample_type": {"IPSC": "CELL_LINES", "ESC": "CELL_LINES"},
    "Collections.storage_temperatures": {
        "temperatureLNvapour": "temperatureLN",
        "temperatureLNliquid": "temperatureLN",
    },
}
"""Our codes the Directory has no code for, and the broader Directory code that covers them
(an iPSC or ESC line is a cell line; both nitrogen phases are ``temperatureLN``)."""

REPLACED["Collections.materials"] |= {"CANCER_CELL_LINES": "CELL_LINES", "ORGANOIDS": "OTHER"}
REPLACED["Collections.storage_temperatures"]["temperature-lt-135"] = "temperatureOther"
# The June 2023 model's categories: the current list's codes that have one there.
REPLACED["Collections.categories"] = {"oncology": "cancer", "paediatrics": "paediatric_included"}


def _capabilities_in_directory() -> dict[str, str]:
    """MIABIS capability -> the Directory capability that means it (its alias there)."""
    known = VOCABULARIES["Biobanks.capabilities"]
    out = {}
    for term in vocabulary("biobank_capabilities").terms:
        spellings = [s for s in (term.code, *term.aliases) if s in known]
        if spellings:
            out[term.code] = spellings[0]
    return out


REPLACED["Biobanks.capabilities"] = _capabilities_in_directory()


def miabis_and_free_capabilities(biobank: dict) -> list[str]:
    """A biobank's MIABIS capability lists, then its free-text ones, for one export column."""
    lists = ("infrastructural", "organisational", "bioprocessing")
    chosen = [code for name in lists for code in biobank.get(f"{name}_capabilities", [])]
    return chosen + list(biobank.get("capabilities", []))


REQUIRED_FALLBACK = {"Collections.type": "OTHER", "Collections.data_categories": "OTHER"}
"""Columns the Directory requires: when none of a record's codes fit, this one is written."""

VOCABULARY_OF = {
    "Collections.data_categories": "data_categories",
    "Collections.data_use": "duo",
    "country": "countries",
}
"""Columns whose codes our vocabulary spells differently from the Directory (its aliases)."""


def spelled(vocab: str, code: str) -> str:
    """Our code in the Directory's spelling (its alias, where the vocabulary lists one)."""
    if vocab == "duo":
        return code.replace(":", "_")
    term = vocabulary(vocab).get(code)
    aliases = [a for a in (term.aliases if term else ()) if not a.startswith("DUO_")]
    return aliases[0] if aliases else code


class DirectoryCodes:
    """Turns codes into the Directory's, counting in :attr:`report` what changed or was left
    out (per column, with an example)."""

    def __init__(self) -> None:
        self.report = MappingReport()

    def code(self, column: str, code: str | None, kind: str = "") -> str:
        """One code in the Directory's vocabulary for ``column``, or "" when it has none."""
        if not code:
            return ""
        key = column if column in VOCABULARIES else column.split(".")[-1]
        known = VOCABULARIES.get(key)
        vocab = VOCABULARY_OF.get(key)
        spelling = spelled(vocab, code) if vocab else code  # the same term: not reported
        out = REPLACED.get(key, {}).get(code, spelling)
        if known is None or out in known:
            if out != spelling:
                self.report.value(column, code, out)
            return out
        if key == "national_node":
            self.report.value(column, code, OUTSIDE_NODES)
            return OUTSIDE_NODES
        self.report.drop(column, f"no {kind or 'Directory'} code for it", code)
        return ""

    def join(self, column: str, codes: Iterable[str]) -> str:
        """Codes for a list column, each mapped once, in order; a required column that is
        left with none gets its fallback."""
        given = list(codes)
        out: list[str] = []
        for code in given:
            mapped = self.code(column, code)
            if mapped and mapped not in out:
                out.append(mapped)
        fallback = REQUIRED_FALLBACK.get(column)
        if not out and fallback and given:
            self.report.value(column, "(no Directory code left)", fallback)
            out.append(fallback)
        return ",".join(out)

    def standard(self, table: str, standard: str) -> str:
        """A quality standard as one of the table's Directory codes: the same code, or the
        code for the same standard number (``ISO 20387:2018`` -> ``ISO-20387-2018``), the
        one with the year given when there are several; "" when there is none."""
        column = f"{table}.quality_standard"
        known = VOCABULARIES[column]
        if standard in known:
            return standard
        numbers = re.findall(r"\d{3,}", standard)
        candidates = [c for c in known if numbers and numbers[0] in re.findall(r"\d{3,}", c)]
        dated = [c for c in candidates if all(n in c for n in numbers)]
        chosen = sorted(dated or candidates, key=lambda c: (len(c), c))
        if not chosen:
            self.report.drop(column, "no Directory standard for it", standard)
            return ""
        self.report.value(column, standard, chosen[0])
        return chosen[0]

    def lines(self) -> list[str]:
        return self.report.lines()
