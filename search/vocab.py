"""Static vocabularies search needs: hierarchies for facets and labels for facet values.

The hierarchies are paths of node ids joined by ``/``; a record is indexed under every prefix
of its paths, so filtering on a node finds everything below it. Node ids are safe in URLs.
"""

from __future__ import annotations

import re

from schemas.validators import DUO_MODIFIERS, DUO_PERMISSIONS

SEP = "/"

# -- cell types -------------------------------------------------------------------------
# Groups follow the Cell Ontology (CL:0000034 stem cell, CL:0002248 pluripotent stem cell,
# CL:0000723 somatic stem cell); leaves are the catalogue's CELL_TYPES codes.
CELL_TYPE_TREE: dict[str, tuple[str, str | None]] = {
    # node: (label, parent)
    "stem": ("Stem cells", None),
    "pluripotent": ("Pluripotent stem cells", "stem"),
    "hESC": ("Embryonic stem cells (hESC)", "pluripotent"),
    "hiPSC": ("Induced pluripotent stem cells (hiPSC)", "pluripotent"),
    "somatic_stem": ("Somatic stem and progenitor cells", "stem"),
    "MSC": ("Mesenchymal stromal cells (MSC)", "somatic_stem"),
    "HSPC": ("Haematopoietic stem and progenitor cells", "somatic_stem"),
    "differentiated": ("Differentiated and primary cells", None),
    "CARDIOMYOCYTE": ("Cardiomyocytes", "differentiated"),
    "NEURAL": ("Neural cells", "differentiated"),
    "HEPATOCYTE": ("Hepatocytes", "differentiated"),
    "RPE": ("Retinal pigment epithelium", "differentiated"),
    "FIBROBLAST": ("Fibroblasts", "differentiated"),
    "CANCER": ("Cancer cell lines", None),
    "OTHER": ("Other cell types", None),
}


def cell_type_path(cell_type: str) -> str:
    """``stem/pluripotent/hiPSC`` for ``hiPSC``; unknown types sit at the top level."""
    nodes = [cell_type]
    parent = CELL_TYPE_TREE.get(cell_type, ("", None))[1]
    while parent:
        nodes.append(parent)
        parent = CELL_TYPE_TREE[parent][1]
    return SEP.join(reversed(nodes))


# -- diseases -----------------------------------------------------------------------------
# ICD-10 (WHO) chapters by the range of three-character categories they hold.
ICD10_CHAPTERS: tuple[tuple[str, str, str, str], ...] = (
    ("I", "A00", "B99", "Certain infectious and parasitic diseases"),
    ("II", "C00", "D48", "Neoplasms"),
    ("III", "D50", "D89", "Diseases of the blood and immune mechanism"),
    ("IV", "E00", "E90", "Endocrine, nutritional and metabolic diseases"),
    ("V", "F00", "F99", "Mental and behavioural disorders"),
    ("VI", "G00", "G99", "Diseases of the nervous system"),
    ("VII", "H00", "H59", "Diseases of the eye and adnexa"),
    ("VIII", "H60", "H95", "Diseases of the ear and mastoid process"),
    ("IX", "I00", "I99", "Diseases of the circulatory system"),
    ("X", "J00", "J99", "Diseases of the respiratory system"),
    ("XI", "K00", "K93", "Diseases of the digestive system"),
    ("XII", "L00", "L99", "Diseases of the skin and subcutaneous tissue"),
    ("XIII", "M00", "M99", "Diseases of the musculoskeletal system and connective tissue"),
    ("XIV", "N00", "N99", "Diseases of the genitourinary system"),
    ("XV", "O00", "O99", "Pregnancy, childbirth and the puerperium"),
    ("XVI", "P00", "P96", "Certain conditions originating in the perinatal period"),
    ("XVII", "Q00", "Q99", "Congenital malformations and chromosomal abnormalities"),
    ("XVIII", "R00", "R99", "Symptoms, signs and abnormal findings not elsewhere classified"),
    ("XIX", "S00", "T98", "Injury, poisoning and other consequences of external causes"),
    ("XX", "V01", "Y98", "External causes of morbidity and mortality"),
    ("XXI", "Z00", "Z99", "Factors influencing health status and contact with health services"),
    ("XXII", "U00", "U99", "Codes for special purposes"),
)
ICD10_OTHER = "ICD10-other"
DISEASE_ROOTS = {
    "ORPHA": "Rare diseases (Orphanet)",
    "MONDO": "Diseases (MONDO)",
    "DOID": "Diseases (Disease Ontology)",
    ICD10_OTHER: "Other ICD-10 codes",
}
DISEASE_NODE = re.compile(
    r"^(ICD10-[IVX]+|ICD10-other|ORPHA|MONDO|DOID|ICD10:[A-Z]\d{2}(\.\d{1,2})?"
    r"|ORPHA:\d+|MONDO:\d{7}|DOID:\d+)$"
)


def icd10_chapter(category: str) -> str:
    """The chapter node (``ICD10-VI``) of a three-character category such as ``G20``."""
    for numeral, first, last, _ in ICD10_CHAPTERS:
        if first <= category <= last:
            return f"ICD10-{numeral}"
    return ICD10_OTHER


def disease_path(code: str) -> str:
    """Where a disease code sits: ``ICD10-VI/ICD10:G20/ICD10:G20.1``, ``ORPHA/ORPHA:399``."""
    scheme, _, value = code.partition(":")
    if scheme != "ICD10":
        return f"{scheme}{SEP}{code}"
    category = value.split(".")[0]
    nodes = [icd10_chapter(category), f"ICD10:{category}"]
    if "." in value:
        nodes.append(code)
    return SEP.join(nodes)


def node_path(facet: str, node: str) -> str:
    """The path of a hierarchy node, for either hierarchy."""
    if facet == "cell_type":
        return cell_type_path(node)
    if node.startswith("ICD10:"):
        return disease_path(node)
    if ":" in node:
        return disease_path(node)
    return node  # a root


def prefixes(path: str) -> list[str]:
    """Every ancestor path of ``path`` and the path itself."""
    parts = path.split(SEP)
    return [SEP.join(parts[: i + 1]) for i in range(len(parts))]


# -- labels for facet values ---------------------------------------------------------------
QC_FLAGS = {
    "mycoplasma_negative": "Mycoplasma negative",
    "karyotype_normal": "Normal karyotype",
    "str_verified": "Identity verified by STR",
    "sterile": "Sterility tested (no contamination)",
}
STORAGE_LABELS = {
    "temperatureRoom": "Room temperature",
    "temperature2to10": "2 to 10 °C",
    "temperature-18to-35": "−18 to −35 °C",
    "temperature-60to-85": "−60 to −85 °C",
    "temperature-lt-135": "Below −135 °C",
    "temperatureLN": "Liquid nitrogen",
    "temperatureLNvapour": "Liquid nitrogen, vapour phase",
    "temperatureLNliquid": "Liquid nitrogen, liquid phase",
    "temperatureOther": "Other temperature",
}
AVAILABILITY_LABELS = {
    "available": "Available",
    "expand_to_order": "Expanded to order",
    "restricted_distribution": "Restricted distribution",
    "not_available": "Not available",
    "recalled": "Recalled",
}
DERIVATION_LABELS = {
    "embryo_derived": "Derived from an embryo",
    "primary_isolation": "Primary isolation",
    "reprogramming_integrating": "Reprogramming, integrating vector",
    "reprogramming_non_integrating": "Reprogramming, non-integrating vector",
    "pluripotent_differentiation": "Differentiated from pluripotent cells",
    "immortalisation": "Immortalisation",
    "other": "Other",
}
SEX_LABELS = {"MALE": "Male", "FEMALE": "Female", "UNKNOWN": "Unknown"}


def duo_label(code: str) -> str:
    """``health, medical or biomedical research (HMB)`` for ``DUO:0000006``."""
    return DUO_PERMISSIONS.get(code) or DUO_MODIFIERS.get(code) or code


def disease_root_label(node: str) -> str | None:
    """The label of a chapter or root node; None for codes (their labels come from data)."""
    if node in DISEASE_ROOTS:
        return DISEASE_ROOTS[node]
    if node.startswith("ICD10-"):
        numeral = node.removeprefix("ICD10-")
        for num, first, last, label in ICD10_CHAPTERS:
            if num == numeral:
                return f"{label} ({first}–{last})"
    return None
