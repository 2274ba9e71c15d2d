"""The Beacon v2 framework's responses: info, service-info, configuration, map, entry types,
and the envelopes (meta, boolean, count, result sets, errors) of every answer. Pure: settings
and URLs in, JSON-ready dicts out.

This beacon serves two entry types of the default model: ``biosample`` (cell-line records)
and ``individual`` (their donors), under the portal's ``/api/beacon``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from portal.beacon.granularity import anonymous_level

API_VERSION = "v2.0.0"
SPEC = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main"
"""Where the Beacon v2 schemas are published (the $ref base of the schemas themselves)."""
MODEL = f"{SPEC}/models/json/beacon-v2-default-model"

ENTRY_TYPES: dict[str, dict[str, Any]] = {
    "biosample": {
        "id": "biosample",
        "name": "Biological sample (a cell-line record)",
        "description": "A cell line as one biobank of the alliance holds it; the same line "
        "held by several biobanks is one biosample per biobank.",
        "ontologyTermForThisType": {"id": "NCIT:C70699", "label": "Biospecimen"},
        "partOfSpecification": "Beacon v2.0.0",
        "defaultSchema": {
            "id": "beacon-biosample-v2.0.0",
            "name": "Default schema for a biological sample",
            "referenceToSchemaDefinition": f"{MODEL}/biosamples/defaultSchema.json",
            "schemaVersion": "v2.0.0",
        },
        "additionallySupportedSchemas": [],
        "nonFilteredQueriesAllowed": True,
    },
    "individual": {
        "id": "individual",
        "name": "Individual (the donor of a cell line)",
        "description": "The donor of a line, with the sex, age band and diseases the catalogue "
        "publishes. The catalogue has no donor identifiers: each line is one donor, however "
        "many biobanks hold it.",
        "ontologyTermForThisType": {"id": "NCIT:C25190", "label": "Person"},
        "partOfSpecification": "Beacon v2.0.0",
        "defaultSchema": {
            "id": "beacon-individual-v2.0.0",
            "name": "Default schema for an individual",
            "referenceToSchemaDefinition": f"{MODEL}/individuals/defaultSchema.json",
            "schemaVersion": "v2.0.0",
        },
        "additionallySupportedSchemas": [],
        "nonFilteredQueriesAllowed": True,
    },
}
ENDPOINTS = {"biosample": "biosamples", "individual": "individuals"}


@dataclass(frozen=True)
class Urls:
    """Where things are, as the client reached the portal."""

    root: str  # the beacon's base URL, no trailing slash
    portal: str  # the portal's front page
    openapi: str  # the portal's OpenAPI document, which covers the Beacon routes


def beacon_id(config: Mapping[str, Any]) -> str:
    return str(config.get("BEACON_ID") or "cellfed.beacon")


def _environment(config: Mapping[str, Any]) -> str:
    return "prod" if config.get("ENV") == "production" else "dev"


def _version() -> str:
    try:
        return metadata.version("cellfed")
    except metadata.PackageNotFoundError:
        return "unknown"


def returned_schemas(entry: str | None = None) -> list[dict[str, str]]:
    entries = [entry] if entry else list(ENTRY_TYPES)
    return [{"entityType": e, "schema": ENTRY_TYPES[e]["defaultSchema"]["id"]} for e in entries]


def informational_meta(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "beaconId": beacon_id(config),
        "apiVersion": API_VERSION,
        "returnedSchemas": returned_schemas(),
    }


def _organization(config: Mapping[str, Any], urls: Urls) -> dict[str, Any]:
    return {
        "id": beacon_id(config),
        "name": str(config.get("BEACON_ORGANIZATION") or "CellFed alliance"),
        "welcomeUrl": urls.portal,
    }


def info_response(config: Mapping[str, Any], urls: Urls) -> dict[str, Any]:
    return {
        "meta": informational_meta(config),
        "response": {
            "id": beacon_id(config),
            "name": str(config.get("BEACON_NAME") or "CellFed Beacon"),
            "apiVersion": API_VERSION,
            "environment": _environment(config),
            "organization": _organization(config, urls),
            "description": "Cell lines (biosamples) and their donors (individuals) across the "
            "member biobanks of the alliance. Anonymous callers get "
            f"{anonymous_level(config)} answers; signed-in alliance members may ask for "
            "more.",
            "version": API_VERSION,
            "welcomeUrl": urls.portal,
            "info": {"software": {"name": "CellFed", "version": _version()}},
        },
    }


def service_info(config: Mapping[str, Any], urls: Urls) -> dict[str, Any]:
    """GA4GH service-info 1.0."""
    return {
        "id": beacon_id(config),
        "name": str(config.get("BEACON_NAME") or "CellFed Beacon"),
        "type": {"group": "org.ga4gh", "artifact": "beacon", "version": API_VERSION},
        "description": "Beacon v2 over the alliance's federated cell-line catalogue",
        "organization": {
            "name": str(config.get("BEACON_ORGANIZATION") or "CellFed alliance"),
            "url": urls.portal,
        },
        "documentationUrl": urls.openapi,
        "environment": _environment(config),
        "version": _version(),
    }


def configuration(config: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "$schema": f"{SPEC}/framework/json/configuration/beaconConfigurationSchema.json",
        "maturityAttributes": {
            "productionStatus": "PROD" if config.get("ENV") == "production" else "DEV"
        },
        "securityAttributes": {
            "defaultGranularity": anonymous_level(config),
            # PUBLIC: boolean and count answers for anyone; REGISTERED: records for members.
            "securityLevels": ["PUBLIC", "REGISTERED"],
        },
        "entryTypes": ENTRY_TYPES,
    }


def configuration_response(config: Mapping[str, Any]) -> dict[str, Any]:
    return {"meta": informational_meta(config), "response": configuration(config)}


def entry_types_response(config: Mapping[str, Any]) -> dict[str, Any]:
    return {"meta": informational_meta(config), "response": {"entryTypes": ENTRY_TYPES}}


def map_response(config: Mapping[str, Any], urls: Urls) -> dict[str, Any]:
    biosamples, individuals = f"{urls.root}/biosamples", f"{urls.root}/individuals"
    return {
        "meta": informational_meta(config),
        "response": {
            "$schema": f"{SPEC}/framework/json/configuration/beaconMapSchema.json",
            "endpointSets": {
                "biosample": {
                    "entryType": "biosample",
                    "rootUrl": biosamples,
                    "singleEntryUrl": biosamples + "/{id}",
                    "filteringTermsUrl": biosamples + "/filtering_terms",
                    "openAPIEndpointsDefinition": urls.openapi,
                    "endpoints": {},
                },
                "individual": {
                    "entryType": "individual",
                    "rootUrl": individuals,
                    "singleEntryUrl": individuals + "/{id}",
                    "filteringTermsUrl": individuals + "/filtering_terms",
                    "openAPIEndpointsDefinition": urls.openapi,
                    "endpoints": {
                        "biosampleLookup": {
                            "returnedEntryType": "biosample",
                            "url": individuals + "/{id}/biosamples",
                        }
                    },
                },
            },
        },
    }


def filtering_terms_response(
    config: Mapping[str, Any], terms: list[dict[str, Any]], resources: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "meta": informational_meta(config),
        "response": {"filteringTerms": terms, "resources": resources},
    }


# -- the envelopes of query answers ------------------------------------------------------------
def response_meta(
    config: Mapping[str, Any], entry: str | None, summary: dict[str, Any], granularity: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "beaconId": beacon_id(config),
        "apiVersion": API_VERSION,
        "returnedSchemas": returned_schemas(entry),
        "returnedGranularity": granularity,
        "receivedRequestSummary": summary,
    }
    if summary.get("testMode"):
        meta["testMode"] = True
    return meta


def summary_response(
    config: Mapping[str, Any],
    entry: str,
    summary: dict[str, Any],
    granularity: str,
    count: int,
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A boolean or a count answer."""
    section: dict[str, Any] = {"exists": count > 0}
    if granularity == "count":
        section["numTotalResults"] = count
    out: dict[str, Any] = {
        "meta": response_meta(config, entry, summary, granularity),
        "responseSummary": section,
    }
    if info:
        out["info"] = info
    return out


def resultsets_response(
    config: Mapping[str, Any],
    entry: str,
    summary: dict[str, Any],
    count: int,
    results: list[dict[str, Any]],
    include: str,
    page: dict[str, int],
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A record answer: one result set, the federated catalogue, with this page of results.
    ``include`` (includeResultsetResponses) says whether a set with, or without, hits is
    listed."""
    exists = count > 0
    shown = include == "ALL" or (include == "HIT" and exists) or (include == "MISS" and not exists)
    sets = []
    if shown:
        sets.append(
            {
                "id": beacon_id(config),
                "setType": "dataset",
                "exists": exists,
                "resultsCount": count,
                "results": results,
                "info": {"pagination": page},
            }
        )
    out: dict[str, Any] = {
        "meta": response_meta(config, entry, summary, "record"),
        "responseSummary": {"exists": exists, "numTotalResults": count},
        "response": {"resultSets": sets},
    }
    if info:
        out["info"] = info
    return out


def error_response(
    config: Mapping[str, Any],
    entry: str | None,
    summary: dict[str, Any],
    granularity: str,
    code: int,
    message: str,
) -> dict[str, Any]:
    return {
        "meta": response_meta(config, entry, summary, granularity),
        "error": {"errorCode": code, "errorMessage": message},
    }
