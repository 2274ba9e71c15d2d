"""The Directory's EMX2 table set as both directions see it.

The file names an export consists of, the quality-label tables and their columns, the
Directory columns the model has no place for, and the disease-code spellings, which the
reader turns into ours and the writer turns back. Nothing here reads or writes a file.
"""

from __future__ import annotations

REQUIRED = ("Biobanks.csv", "Collections.csv")
"""The tables without which a set of files is not a Directory export."""

TABLES = (
    "Networks.csv",
    "Biobanks.csv",
    "Collections.csv",
    "Persons.csv",
    "QualityInfoBiobanks.csv",
    "QualityInfoCollections.csv",
    "DiseaseTypes.csv",
    "CollectionFacts.csv",
)
"""Every table the node reads (by file name, in any folder); any other file is ignored."""

QUALITY_TABLES = (
    ("QualityInfoBiobanks.csv", "biobank", "assess_level_bio"),
    ("QualityInfoCollections.csv", "collection", "assess_level_col"),
)
"""Per quality-label table: (file, the column naming the owner, its assessment-level column)."""

DROPPED = {
    "national_node": "the node model has no national node (the node itself is the member)",
    "also_known": "cross-references to other catalogues are not kept",
    "biobank_label": "derived from the biobank",
    "combined_network": "derived from the networks",
    "combined_quality": "derived from the quality labels",
    "order_of_magnitude_donors": "derived from number_of_donors",
    "timestamp": "the node keeps its own modification times",
    "Collections.location": "a collection is where its biobank is",
    "Collections.latitude": "a collection is where its biobank is",
    "Collections.longitude": "a collection is where its biobank is",
    "Collections.country": "a collection is where its biobank is",
    "head": "a collection has one contact in the model",
    "body_part_examined": "imaging collections are out of the model's scope",
    "imaging_modality": "imaging collections are out of the model's scope",
    "image_dataset_type": "imaging collections are out of the model's scope",
    "collaboration_commercial": "collaboration terms are kept on the biobank",
    "collaboration_non_for_profit": "collaboration terms are kept on the biobank",
    "parent_network": "network hierarchies are not kept",
    "pid": "a network's PID is not kept",
}
"""Columns (``col`` anywhere, or ``Table.col``) left out on import, with the reason reported."""

ICD_PREFIX = "urn:miriam:icd:"
"""How the Directory writes an ICD-10 code: ``urn:miriam:icd:C50`` is our ``ICD10:C50``."""


def our_disease(value: str) -> str | None:
    """A Directory diagnosis in our spelling (ICD-10 or Orphanet), or None for any other."""
    if value.startswith(ICD_PREFIX):
        return "ICD10:" + value[len(ICD_PREFIX) :]
    if value.upper().startswith("ORPHA:"):
        return "ORPHA:" + value.split(":", 1)[1]
    return None


def directory_disease(code: str) -> str:
    """Our disease code in the Directory's spelling, the way back from :func:`our_disease`."""
    return ICD_PREFIX + code[len("ICD10:") :] if code.startswith("ICD10:") else code
