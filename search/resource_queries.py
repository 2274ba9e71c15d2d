"""Research resources (MIABIS RESEARCHRESOURCE: HipSci, EBiSC) as entities read from the index.

A resource is not a record kind: each line or collection names the resources it belongs to
(schemas/miabis.py). The index holds their ids (``research_resources``) and each stated
(id, name, acronym, url) as one keyword (``research_resource_variants``), so aggregations say
which nodes hold a resource and whether they agree on its name and url. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SEP = "\x1f"  # the unit separator: the schemas refuse control characters in text
RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,254}")  # schemas.validators.LOCAL_ID
MAX_RESOURCES = 1000
MAX_NODES = 200
MAX_VARIANTS = 50
LINES_SHOWN = 100
KINDS = ("cell_line", "collection")


def resource_variants(refs: list[Mapping[str, Any]]) -> list[str]:
    """Each reference as it is stated, one keyword per (id, name, acronym, url)."""
    return sorted(
        {SEP.join(str(r.get(k) or "") for k in ("id", "name", "acronym", "url")) for r in refs}
    )


def parse_variant(key: str) -> dict[str, Any]:
    rid, name, acronym, url = (key.split(SEP) + ["", "", "", ""])[:4]
    return {"id": rid, "name": name, "acronym": acronym or None, "url": url or None}


def _summary_aggs() -> dict[str, Any]:
    return {
        "kinds": {"terms": {"field": "kind", "size": 10}},
        "nodes": {
            "terms": {"field": "node_id", "size": MAX_NODES},
            "aggs": {
                "biobanks": {
                    "terms": {"field": "biobank_id", "size": MAX_NODES},
                    "aggs": {"name": {"terms": {"field": "biobank_name", "size": 1}}},
                }
            },
        },
    }


def _variant_agg(include: str | None = None) -> dict[str, Any]:
    terms: dict[str, Any] = {"field": "research_resource_variants", "size": MAX_RESOURCES}
    if include:
        terms["include"] = include
    return {
        "terms": terms,
        "aggs": {
            # "First seen": the earliest change of a record stating it this way.
            "first": {"min": {"field": "modified"}},
            "nodes": {"terms": {"field": "node_id", "size": MAX_NODES}},
        },
    }


def _resources_filter() -> dict[str, Any]:
    return {"bool": {"filter": [{"terms": {"kind": list(KINDS)}}]}}


def build_resource_list() -> dict[str, Any]:
    """Every resource named by a line or collection, with its holders and stated names."""
    return {
        "size": 0,
        "query": _resources_filter(),
        "aggs": {
            "resources": {
                "terms": {"field": "research_resources", "size": MAX_RESOURCES},
                "aggs": _summary_aggs(),
            },
            "variants": _variant_agg(),
        },
    }


def _escape(text: str) -> str:
    return "".join(c if c.isalnum() else "\\" + c for c in text)


def build_resource(resource_id: str, lines: int = LINES_SHOWN) -> dict[str, Any]:
    """One resource: its holders and stated names (aggregations over its lines and
    collections) and its lines by name (the hits; the post_filter leaves the counts whole)."""
    query = _resources_filter()
    query["bool"]["filter"].append({"term": {"research_resources": resource_id}})
    return {
        "size": lines,
        "query": query,
        "post_filter": {"term": {"kind": "cell_line"}},
        "sort": [{"name.sort": "asc"}, {"uid": "asc"}],
        "_source": ["uid", "name", "node_id", "biobank_name", "hpscreg_name", "availability"],
        "track_total_hits": True,
        "aggs": {
            **_summary_aggs(),
            "variants": _variant_agg(f"{_escape(resource_id)}{SEP}.*"),
        },
    }


def _holders(bucket: Mapping[str, Any]) -> dict[str, Any]:
    kinds = {b["key"]: b["doc_count"] for b in bucket.get("kinds", {}).get("buckets", [])}
    nodes, biobanks = [], []
    for node in bucket.get("nodes", {}).get("buckets", []):
        nodes.append({"node_id": node["key"], "records": node["doc_count"]})
        for bank in node.get("biobanks", {}).get("buckets", []):
            names = bank.get("name", {}).get("buckets", [])
            biobanks.append(
                {
                    "uid": f"{node['key']}:biobank:{bank['key']}",
                    "name": names[0]["key"] if names else bank["key"],
                    "node_id": node["key"],
                    "records": bank["doc_count"],
                }
            )
    return {
        "records": bucket.get("doc_count", sum(kinds.values())),
        "lines": kinds.get("cell_line", 0),
        "collections": kinds.get("collection", 0),
        "nodes": nodes,
        "biobanks": sorted(biobanks, key=lambda b: (b["name"].lower(), b["uid"])),
    }


def _naming(variants: list[dict[str, Any]]) -> dict[str, Any]:
    """The name shown is the first seen; other statements are kept, each with its nodes."""
    ordered = sorted(variants, key=lambda v: (v["first_seen"] or "9999", -v["records"]))
    first = ordered[0]
    notes = []
    for field in ("name", "url"):
        said = {v[field] for v in ordered}
        if len(said) > 1:
            notes.append(
                f"nodes disagree on the {field}: "
                + "; ".join(f"{v[field] or '(none)'} ({', '.join(v['nodes'])})" for v in ordered)
                + f". Shown: the first seen, {first[field] or '(none)'}."
            )
    return {
        "name": first["name"],
        "acronym": first["acronym"],
        "url": first["url"],
        "variants": ordered,
        "notes": notes,
    }


def read_variants(agg: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The stated (name, acronym, url) of each resource id, with who states it and since when."""
    out: dict[str, list[dict[str, Any]]] = {}
    for b in agg.get("buckets", []):
        variant = parse_variant(b["key"])
        variant.update(
            records=b["doc_count"],
            first_seen=b.get("first", {}).get("value_as_string"),
            nodes=[n["key"] for n in b.get("nodes", {}).get("buckets", [])],
        )
        out.setdefault(variant.pop("id"), []).append(variant)
    return out


def read_resource_list(resp: Mapping[str, Any]) -> list[dict[str, Any]]:
    aggs = resp.get("aggregations", {})
    variants = read_variants(aggs.get("variants", {}))
    out = []
    for bucket in aggs.get("resources", {}).get("buckets", []):
        rid = bucket["key"]
        naming = _naming(variants.get(rid) or [_unnamed(rid)])
        out.append({"id": rid, **naming, **_holders(bucket)})
    return sorted(out, key=lambda r: ((r["acronym"] or r["name"]).lower(), r["id"]))


def _unnamed(rid: str) -> dict[str, Any]:
    # Only when the variants aggregation was cut short: the id stands in for the name.
    return {
        "name": rid,
        "acronym": None,
        "url": None,
        "records": 0,
        "first_seen": None,
        "nodes": [],
    }


def read_resource(resp: Mapping[str, Any], resource_id: str) -> dict[str, Any] | None:
    """The resource page's data; None when no line or collection names ``resource_id``."""
    aggs = resp.get("aggregations", {})
    total = sum(b["doc_count"] for b in aggs.get("kinds", {}).get("buckets", []))
    if not total:
        return None
    variants = read_variants(aggs.get("variants", {})).get(resource_id) or [_unnamed(resource_id)]
    lines = [h["_source"] for h in resp.get("hits", {}).get("hits", [])]
    return {
        "id": resource_id,
        **_naming(variants),
        **_holders({**aggs, "doc_count": total}),
        "shown_lines": lines,
    }
