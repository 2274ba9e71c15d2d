"""What a cell line's record page shows about its donor, its relations and its provenance.
Pure: built from the indexed record and the records the search service found for it.

A relation names a line by a registry identifier (found at any biobank) or by a local id
(found only at the same node: local ids mean nothing elsewhere). Relations are shown from
both ends: a line that names this one as its parental line is listed as a subclone here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from schemas.provenance import INVERSE, RELATION_LABELS, RELATION_TYPES, related_lines
from search.identifiers import classify


def _binds(name: str, hit: dict[str, Any], node_id: str) -> bool:
    """Whether ``name`` (as a relation gives it) may refer to the record ``hit``."""
    if name.lower() not in {i.lower() for i in hit.get("identifiers", [])}:
        return False
    return classify(name) is not None or hit.get("node_id") == node_id


def _entry(kind: str, name: str, hit: dict[str, Any] | None, note: str | None) -> dict:
    return {
        "type": kind,
        "label": RELATION_LABELS[kind],
        "line": name,
        "note": note,
        "uid": hit["uid"] if hit else None,
        "name": hit["name"] if hit else name,
        "biobank_name": hit.get("biobank_name") if hit else None,
    }


def relations(
    doc: dict[str, Any], named: list[dict[str, Any]], naming: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The line's relations (resolved to records in ``named`` where possible), then the
    relations other records (``naming``) declare towards it, inverted; in vocabulary order."""
    node, out = doc["node_id"], []
    for rel in related_lines(doc.get("record", {})):
        candidates = [h for h in named if _binds(rel["line"], h, node) and h["uid"] != doc["uid"]]
        same_node = [h for h in candidates if h.get("node_id") == node]
        best = same_node or candidates
        hit = best[0] if best else None
        out.append(_entry(rel["type"], rel["line"], hit, rel.get("note")))
    own = {i.lower() for i in doc.get("identifiers", [])}
    for hit in naming:
        for rel in related_lines(hit.get("record", {})):
            if rel["line"].lower() in own and _binds(rel["line"], doc, hit.get("node_id", "")):
                out.append(_entry(INVERSE[rel["type"]], hit["name"], hit, rel.get("note")))
    seen: set[tuple[str, str]] = set()
    unique = []
    for entry in sorted(out, key=lambda e: RELATION_TYPES.index(e["type"])):
        key = (entry["type"], entry["uid"] or entry["line"].lower())
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def coa_links(doc: dict[str, Any], node_url: str | None) -> list[dict[str, Any]]:
    """Each lot's certificate, linked at the owning node (which serves the file or sends the
    reader on to the link); no link when the node's address is unknown here."""
    out = []
    for lot in doc.get("record", {}).get("lots", []):
        certificate = lot.get("certificate_of_analysis")
        if not certificate:
            continue
        path = f"/catalogue/lines/{quote(doc['local_id'], safe='')}/lots/"
        path += f"{quote(lot['lot_id'], safe='')}/coa"
        out.append(
            {
                "lot_id": lot["lot_id"],
                "url": f"{node_url.rstrip('/')}{path}" if node_url else None,
                "form": "PDF" if certificate.get("file") else "link",
                "passage": certificate.get("passage"),
            }
        )
    return out


def _ld_prop(name: str, value: Any) -> dict[str, Any]:
    return {"@type": "PropertyValue", "name": name, "value": value}


def jsonld_parts(
    doc: dict[str, Any], related: dict[str, Any], url_of: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Bioschemas BioSample parts for donor, relations and provenance: additional
    properties, the samples the line is based on (``isBasedOn``: parental line, the line a
    derivative comes from) and the documents about it (``subjectOf``: certificates)."""
    record = doc.get("record", {})
    donor = record.get("donor", {})
    props = [
        _ld_prop(label, donor[key])
        for key, label in (
            ("biosamples_id", "donor BioSamples accession"),
            ("hpscreg_id", "donor hPSCreg id"),
        )
        if donor.get(key)
    ]
    based_on = []
    for rel in related.get("relations", []):
        target = {"@type": "BioSample", "name": rel["name"], "identifier": rel["line"]}
        if rel["uid"]:
            target["url"] = url_of(rel["uid"])
        if rel["type"] in ("parental_line", "derived_from"):
            based_on.append(target)
        else:
            props.append(_ld_prop(rel["label"].lower(), rel["line"]))
    ethics = record.get("ethics_approval") or {}
    if ethics.get("authority"):
        number = f" ({ethics['number']})" if ethics.get("number") else ""
        props.append(_ld_prop("ethics approval", f"{ethics['authority']}{number}"))
    if "consent_documents_available" in ethics:
        props.append(_ld_prop("consent documents available", ethics["consent_documents_available"]))
    for key, value in (record.get("culture_conditions") or {}).items():
        props.append(_ld_prop(f"culture {key.replace('_percent', ' %')}", value))
    derivation = record.get("derivation") or {}
    if derivation.get("vector_detail"):
        props.append(_ld_prop("reprogramming vector detail", derivation["vector_detail"]))
    documents = [
        {
            "@type": "DigitalDocument",
            "name": f"Certificate of analysis, lot {c['lot_id']}",
            "url": c["url"],
        }
        for c in related.get("coa", [])
        if c["url"]
    ]
    return props, based_on, documents
