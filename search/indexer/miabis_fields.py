"""Search fields for the MIABIS 3 parts of a record: sample type, source, species, dataset
types, publications, research resources, capabilities.

* ``miabis_sample_types``: a line's own ``miabis_sample_type``, else its cell type's MIABIS
  type (hiPSC -> Stem cells); a collection's own, with its materials' MIABIS types (IPSC ->
  Stem cells);
* ``sample_sources`` / ``species``: as stated; a line of a known species without a stated
  source gets the species' source (NCBITaxon:9606 -> human);
* ``has_publications``: at least one DOI; ``research_resources``: the resources' ids.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from schemas.miabis import CAPABILITY_LISTS
from schemas.vocabularies import vocabulary
from search.resource_queries import resource_variants


def _miabis_types(vocab: str, codes: list[str]) -> list[str]:
    return list(_types_of(vocab, tuple(codes)))


@lru_cache(maxsize=1024)  # a few codes (a cell type, a collection's materials) per record
def _types_of(vocab: str, codes: tuple[str, ...]) -> tuple[str, ...]:
    terms = (vocabulary(vocab).get(code) for code in codes)
    return tuple(sorted({t.extra["miabis_type"] for t in terms if t and "miabis_type" in t.extra}))


def _sources(species: list[str], stated: list[str]) -> list[str]:
    return list(_sources_of(tuple(species), tuple(stated)))


@lru_cache(maxsize=1024)  # a species or two and a stated source or two per record
def _sources_of(species: tuple[str, ...], stated: tuple[str, ...]) -> tuple[str, ...]:
    implied = []
    for code in species:
        term = vocabulary("species").get(code)
        if term and term.extra.get("source"):
            implied.append(term.extra["source"])
    return tuple(sorted(set(stated) | set(implied)))


def sample_type_fields(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    if kind == "cell_line":
        own = record.get("miabis_sample_type")
        types = [own] if own else _miabis_types("cell_types", [record["cell_type"]])
        species = [record["species"]] if record.get("species") else []
        stated = [record["sample_source"]] if record.get("sample_source") else []
    else:
        types = _miabis_types("material_types", record.get("materials", []))
        types = sorted({*types, *record.get("miabis_sample_types", [])})
        species = list(record.get("species", []))
        stated = list(record.get("sample_sources", []))
    return {
        "miabis_sample_types": types,
        "species": sorted(set(species)),
        "sample_sources": _sources(species, stated),
    }


def miabis_fields(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """The MIABIS search fields of a record of ``kind``."""
    if kind == "biobank":
        chosen = [c for name in CAPABILITY_LISTS for c in record.get(name, [])]
        return {"capabilities": sorted(set(chosen))}
    if kind not in ("collection", "cell_line"):
        return {}
    tissue = record.get("source_tissue") or {}
    return {
        **sample_type_fields(kind, record),
        "dataset_types": sorted(record.get("dataset_types", [])),
        "has_publications": bool(record.get("publications")),
        "publication_dois": [p["doi"].lower() for p in record.get("publications", [])],
        "research_resources": [r["id"] for r in record.get("research_resources", [])],
        "research_resource_variants": resource_variants(record.get("research_resources", [])),
        "content_status": record.get("content_status"),
        "source_tissue_code": tissue.get("code"),
    }
