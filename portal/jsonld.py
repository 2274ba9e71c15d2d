"""Bioschemas (schema.org) JSON-LD for record pages, so search engines and harvesters can
read what a page describes. Pure: built from the indexed record.

Cell line → BioSample; collection → Dataset in its biobank's DataCatalog; biobank →
DataCatalog provided by an Organization (the shape the BBMRI-ERIC Directory publishes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from portal.lineage import jsonld_parts
from search.vocab import CELL_TYPE_TREE, QC_FLAGS, duo_label

CONFORMS_TO = "http://purl.org/dc/terms/conformsTo"
PROFILES = {
    "cell_line": "https://bioschemas.org/profiles/BioSample/0.1-DRAFT-2019_11_12",
    "collection": "https://bioschemas.org/profiles/Dataset/1.0-RELEASE",
    "biobank": "https://bioschemas.org/profiles/DataCatalog/0.3-RELEASE-2019_07_01",
}
IDENTIFIER_URLS = {
    "hpscreg_name": "https://hpscreg.eu/cell-line/{}",
    "cellosaurus_ac": "https://www.cellosaurus.org/{}",
    "biosamples_id": "https://www.ebi.ac.uk/biosamples/samples/{}",
}


SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


def script_json(data: Any) -> Markup:
    """JSON to put inside ``<script type="application/ld+json">``: ``<``, ``>`` and ``&`` are
    written as ``\\u003c``, ``\\u003e`` and ``\\u0026`` (the same JSON to a parser), so no
    record text can end the block (``</script>``) or switch the HTML tokenizer into its
    escaped states (``<!--<script``), which would swallow the rest of the page."""
    return Markup(json.dumps(data, ensure_ascii=False).translate(SCRIPT_ESCAPES))


def _prop(name: str, value: Any, code: str | None = None) -> dict[str, Any]:
    prop: dict[str, Any] = {"@type": "PropertyValue", "name": name, "value": value}
    if code:
        prop["valueReference"] = {"@type": "DefinedTerm", "termCode": code, "name": value}
    return prop


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v not in (None, [], "", {})}


def _catalog_ref(doc: dict[str, Any], url_of: Callable[[str], str]) -> dict[str, Any] | None:
    if not doc.get("biobank_id"):
        return None
    return {
        "@type": "DataCatalog",
        "name": doc.get("biobank_name"),
        "url": url_of(f"{doc['node_id']}:biobank:{doc['biobank_id']}"),
    }


def cell_line(
    doc: dict[str, Any],
    url: str,
    url_of: Callable[[str], str],
    related: dict[str, Any] | None = None,
) -> dict[str, Any]:
    record = doc.get("record", {})
    donor = record.get("donor", {})
    identifiers = [
        {
            "@type": "PropertyValue",
            "propertyID": key,
            "value": record[key],
            "url": IDENTIFIER_URLS[key].format(record[key]),
        }
        for key in IDENTIFIER_URLS
        if record.get(key)
    ]
    props = [
        _prop(
            "cell type",
            CELL_TYPE_TREE.get(record["cell_type"], (record["cell_type"],))[0],
            record.get("cell_type_ontology"),
        )
    ]
    props.append(_prop("donor sex", donor.get("sex")))
    if donor.get("age_range"):
        props.append(_prop("donor age", donor["age_range"]))
    props += [_prop("disease", d["label"], d["code"]) for d in donor.get("diseases", [])]
    props.append(_prop("availability", record.get("availability")))
    props += [_prop("quality control", QC_FLAGS[f]) for f in doc.get("qc_passed", [])]
    if doc.get("duo_permission"):
        props.append(
            _prop("data use permission", duo_label(doc["duo_permission"]), doc["duo_permission"])
        )
    lineage, based_on, documents = jsonld_parts(doc, related or {}, url_of)
    props += lineage
    catalog = _catalog_ref(doc, url_of)
    return _clean(
        {
            "@context": "https://schema.org",
            "@type": "BioSample",
            "@id": url,
            CONFORMS_TO: {"@id": PROFILES["cell_line"], "@type": "CreativeWork"},
            "identifier": identifiers or doc["uid"],
            "name": record.get("name"),
            "alternateName": record.get("synonyms"),
            "description": record.get("description"),
            "url": url,
            "additionalProperty": props,
            "subjectOf": [catalog, *documents] if documents and catalog else catalog,
            "isBasedOn": based_on,
            "dateModified": doc.get("modified"),
        }
    )


def collection(doc: dict[str, Any], url: str, url_of: Callable[[str], str]) -> dict[str, Any]:
    record = doc.get("record", {})
    measured = [
        _prop("diagnosis available", d["label"], d["code"]) for d in record.get("diseases", [])
    ]
    measured += [_prop("material", m) for m in record.get("materials", [])]
    return _clean(
        {
            "@context": "https://schema.org",
            "@type": "Dataset",
            "@id": url,
            CONFORMS_TO: {"@id": PROFILES["collection"], "@type": "CreativeWork"},
            "identifier": doc["uid"],
            "name": record.get("name"),
            "description": record.get("description") or record.get("name"),
            "url": url,
            "keywords": ["biobank collection", *record.get("materials", [])],
            "includedInDataCatalog": _catalog_ref(doc, url_of),
            "variableMeasured": measured,
            "dateModified": doc.get("modified"),
        }
    )


def biobank(
    doc: dict[str, Any], related: dict[str, Any], url: str, url_of: Callable[[str], str]
) -> dict[str, Any]:
    record = doc.get("record", {})
    provider = _clean(
        {
            "@type": "Organization",
            "name": record.get("juristic_person") or record.get("name"),
            "email": record.get("contact_email"),
            "url": record.get("url"),
            "address": _clean(
                {
                    "@type": "PostalAddress",
                    "addressLocality": record.get("city"),
                    "addressCountry": record.get("country"),
                }
            ),
        }
    )
    return _clean(
        {
            "@context": "https://schema.org",
            "@type": "DataCatalog",
            "@id": url,
            CONFORMS_TO: {"@id": PROFILES["biobank"], "@type": "CreativeWork"},
            "identifier": record.get("pid") or doc["uid"],
            "name": record.get("name"),
            "alternateName": record.get("acronym"),
            "description": record.get("description") or record.get("name"),
            "keywords": "biobank",
            "url": url,
            "provider": provider,
            "dataset": [
                {
                    "@type": "Dataset",
                    "@id": url_of(c["uid"]),
                    "url": url_of(c["uid"]),
                    "name": c["name"],
                }
                for c in related.get("collections", [])
            ],
        }
    )


def jsonld_for(
    doc: dict[str, Any], related: dict[str, Any], url: str, url_of: Callable[[str], str]
) -> dict[str, Any]:
    if doc["kind"] == "cell_line":
        return cell_line(doc, url, url_of, related)
    if doc["kind"] == "collection":
        return collection(doc, url, url_of)
    if doc["kind"] == "biobank":
        return biobank(doc, related, url, url_of)
    return {
        "@context": "https://schema.org",
        "@type": "Organization",
        "@id": url,
        "name": doc.get("name"),
    }
