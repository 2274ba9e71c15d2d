"""Turn validated catalogue records into search documents (denormalised, one per record)."""

from __future__ import annotations

from typing import Any

from search.indexer.derived import cell_line_fields, collection_fields, networks
from search.indexer.miabis_fields import miabis_fields
from search.str_queries import str_fields

ISO_20387 = "ISO 20387"


def uid(node_id: str, kind: str, local_id: str) -> str:
    """The alliance-wide id of a record: its node, its kind and its id at that node."""
    return f"{node_id}:{kind}:{local_id}"


def iso20387_valid_until(biobank: dict[str, Any]) -> str | None:
    """The latest expiry of the biobank's valid ISO 20387 accreditations (None: none held).

    Whether it is still valid is decided at query time against today's date.
    """
    dates = [
        str(cert.get("valid_until") or "9999-12-31")
        for cert in biobank.get("certifications", [])
        if cert.get("status") == "valid" and ISO_20387 in cert.get("standard", "").upper()
    ]
    return max(dates) if dates else None


def _biobank_fields(biobank: dict[str, Any] | None) -> dict[str, Any]:
    if not biobank:
        return {}
    return {
        "biobank_id": biobank["id"],
        "biobank_name": biobank["name"],
        "country": biobank["country"],
        "iso20387_valid_until": iso20387_valid_until(biobank),
        "certifications": sorted({c["standard"] for c in biobank.get("certifications", [])}),
    }


def _diseases(items: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {
        "disease_codes": [d["code"] for d in items],
        "disease_labels": [d["label"] for d in items],
    }


def to_document(
    node_id: str,
    kind: str,
    record: dict[str, Any],
    *,
    seq: int,
    content_hash: str,
    schema_version: str,
    modified: str,
    biobank: dict[str, Any] | None = None,
    collection: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A search document; ``record`` is kept whole (not indexed) for record pages."""
    doc: dict[str, Any] = {
        "uid": uid(node_id, kind, record["id"]),
        "kind": kind,
        "node_id": node_id,
        "local_id": record["id"],
        "seq": seq,
        "content_hash": content_hash,
        "schema_version": schema_version,
        "modified": modified,
        "name": record["name"],
        "description": record.get("description"),
        "record": record,
    }
    if kind == "network":
        doc["identifiers"] = [x for x in (record["id"], record.get("acronym")) if x]
    elif kind == "biobank":
        doc.update(_biobank_fields(record))
        doc["identifiers"] = [x for x in (record["id"], record.get("acronym")) if x]
        doc["networks"] = networks(record)
    elif kind == "collection":
        doc.update(_biobank_fields(biobank))
        doc.update(_diseases(record.get("diseases", [])))
        doc.update(materials=record.get("materials", []), size=record.get("size"))
        doc["identifiers"] = [record["id"]]
        doc.update(collection_fields(record, biobank))
    elif kind == "cell_line":
        doc.update(_biobank_fields(biobank))
        doc.update(_diseases(record["donor"].get("diseases", [])))
        identifiers = [record.get(k) for k in ("hpscreg_name", "cellosaurus_ac", "biosamples_id")]
        doc.update(
            hpscreg_name=record.get("hpscreg_name"),
            cellosaurus_ac=record.get("cellosaurus_ac"),
            biosamples_id=record.get("biosamples_id"),
            # Lot numbers too: a query naming a lot finds the line it is a lot of.
            identifiers=[
                x
                for x in (record["id"], record["name"], *identifiers)
                + tuple(lot.get("lot_id") for lot in record.get("lots", []))
                if x
            ],
            synonyms=record.get("synonyms", []),
            cell_type=record["cell_type"],
            tissue_source=record.get("tissue_source"),
            donor_sex=record["donor"]["sex"],
            donor_age_range=record["donor"].get("age_range"),
            genetically_modified=record.get("genetically_modified", False),
            modified_genes=record.get("modified_genes", []),
            availability=record["availability"],
        )
        if collection:
            doc.update(collection_id=collection["id"], collection_name=collection["name"])
        doc.update(cell_line_fields(record, doc["uid"], node_id, collection, biobank))
        doc.update(str_fields(record.get("str_profile")))  # the STR search
    doc.update(miabis_fields(kind, record))
    return {k: v for k, v in doc.items() if v is not None}
