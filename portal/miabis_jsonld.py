"""The MIABIS 3 parts of a record in its Bioschemas JSON-LD, where schema.org has a property:
a line's species (``taxonomicRange``) and control status (``isControl``), a collection's key
publications (``citation``); the rest as ``additionalProperty`` / ``variableMeasured``
PropertyValues with the code as a DefinedTerm. Pure."""

from __future__ import annotations

from typing import Any

from schemas.vocabularies import vocabulary


def _term(vocab: str, code: str) -> dict[str, Any]:
    return {"@type": "DefinedTerm", "termCode": code, "name": vocabulary(vocab).label(code)}


def _prop(name: str, value: str, code: str | None = None) -> dict[str, Any]:
    prop: dict[str, Any] = {"@type": "PropertyValue", "name": name, "value": value}
    if code:
        prop["valueReference"] = {"@type": "DefinedTerm", "termCode": code, "name": value}
    return prop


def _article(publication: dict[str, Any]) -> dict[str, Any]:
    article = {
        "@type": "ScholarlyArticle",
        "@id": f"https://doi.org/{publication['doi']}",
        "identifier": f"doi:{publication['doi']}",
    }
    if publication.get("title"):
        article["name"] = publication["title"]
    if publication.get("year"):
        article["datePublished"] = str(publication["year"])
    return article


def _properties(doc: dict[str, Any]) -> list[dict[str, Any]]:
    record = doc.get("record", {})
    label = vocabulary("miabis_sample_types").label
    props = [_prop("MIABIS sample type", label(t), t) for t in doc.get("miabis_sample_types", [])]
    tissue = record.get("source_tissue")
    if tissue:
        props.append(_prop("source tissue", tissue["label"], tissue["code"]))
    props += [
        _prop("content diagnosis", d["label"], d["code"])
        for d in record.get("content_diagnoses", [])
    ]
    dataset = vocabulary("dataset_types").label
    props += [_prop("dataset type", dataset(t), t) for t in record.get("dataset_types", [])]
    props += [
        _prop("research resource", r.get("acronym") or r["name"], r["id"])
        for r in record.get("research_resources", [])
    ]
    return props


def with_miabis(ld: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """``ld`` (the page's JSON-LD) with the record's MIABIS parts added."""
    record = doc.get("record", {})
    if doc.get("kind") == "cell_line":
        if record.get("species"):
            ld["taxonomicRange"] = _term("species", record["species"])
        if record.get("content_status") in ("healthy", "disease"):
            ld["isControl"] = record["content_status"] == "healthy"
        publications = [
            _prop("publication", f"doi:{p['doi']}") for p in record.get("publications", [])
        ]
        extra = _properties(doc) + publications
        if extra:
            ld["additionalProperty"] = [*ld.get("additionalProperty", []), *extra]
    elif doc.get("kind") == "collection":
        if record.get("publications"):
            ld["citation"] = [_article(p) for p in record["publications"]]
        extra = _properties(doc)
        if extra:
            ld["variableMeasured"] = [*ld.get("variableMeasured", []), *extra]
    return ld
