"""Research resources across the alliance (``/resources``): read from the index with
aggregations (search/resource_queries.py builds and reads them), so a resource spans every
node whose lines or collections name it. Engine errors are the catalogue search's."""

from __future__ import annotations

from typing import Any

from portal.service import CatalogueSearch
from search.resource_queries import (
    RESOURCE_ID,
    build_resource,
    build_resource_list,
    read_resource,
    read_resource_list,
)


class ResearchResources:
    def __init__(self, search: CatalogueSearch) -> None:
        self.search = search

    def all(self) -> list[dict[str, Any]]:
        """Every resource a line or collection names, with its holders and counts."""
        return read_resource_list(self.search._search(build_resource_list()) or {})

    def one(self, resource_id: str) -> dict[str, Any] | None:
        """One resource, its holders and its lines; None for an id nothing names."""
        if not RESOURCE_ID.fullmatch(resource_id):
            return None  # not an id any record can state; the engine need not be asked
        return read_resource(self.search._search(build_resource(resource_id)) or {}, resource_id)


def resource_jsonld(resource: dict[str, Any], page_url: str) -> dict[str, Any]:
    """schema.org ResearchProject: HipSci and EBiSC are programmes that make and bank lines,
    not a data set or a catalogue of their own here (the biobanks' DataCatalogs hold those)."""
    ld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ResearchProject",
        "@id": page_url,
        "identifier": resource["id"],
        "name": resource["name"],
        "url": resource["url"] or page_url,
    }
    if resource["acronym"]:
        ld["alternateName"] = resource["acronym"]
    if resource["url"]:
        ld["sameAs"] = resource["url"]
    return ld
