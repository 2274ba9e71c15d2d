"""Search fields derived from a record: QC flags, line identity, hierarchies, terms, stock.

Each rule is small and stated where it is applied, so a researcher's filter means one thing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from schemas.conformance import standards_met
from schemas.parts import lot_vials_free
from search.indexer.facts_fields import facts_fields
from search.indexer.relations import relation_fields
from search.vocab import cell_type_path, disease_path, prefixes

PASSED = frozenset({"pass", "negative", "normal"})
"""QC outcomes that count as a pass for a flag (mycoplasma "negative", karyotype "normal")."""


def latest_qc(qc: list[dict[str, Any]], attribute: str) -> bool | None:
    """Did the latest result for ``attribute`` pass? None when it was never tested.

    Latest means by date; undated results count as older than dated ones and, among equals,
    the one listed last wins. ``not_done`` is no result.
    """
    results = [r for r in qc if r.get("attribute") == attribute and r.get("result") != "not_done"]
    if not results:
        return None
    _, latest = max(enumerate(results), key=lambda ir: (str(ir[1].get("date") or ""), ir[0]))
    return latest["result"] in PASSED


def _flag(*evidence: bool | None) -> bool:
    """Set when there is evidence for it and none against it."""
    known = [e for e in evidence if e is not None]
    return bool(known) and all(known)


def qc_flags(record: dict[str, Any]) -> list[str]:
    """The QC facets a line passes.

    * ``mycoplasma_negative``: the latest MYCOPLASMA result passed;
    * ``sterile``: the latest STERILITY result passed;
    * ``karyotype_normal``: the line's karyotype summary says normal (when given) and the
      latest KARYOTYPE result (when given) passed; at least one of them is given;
    * ``str_verified``: a verified STR profile or a passed latest IDENTITY_STR result, and no
      failed latest IDENTITY_STR result.
    """
    latest = _latest_outcomes(record.get("qc") or [])
    karyotype = record.get("karyotype")
    profile = record.get("str_profile") or {}
    flags = {
        "mycoplasma_negative": _flag(latest.get("MYCOPLASMA")),
        "sterile": _flag(latest.get("STERILITY")),
        "karyotype_normal": _flag(
            karyotype["normal"] if karyotype else None, latest.get("KARYOTYPE")
        ),
        "str_verified": _flag(
            True if profile.get("verified") else None, latest.get("IDENTITY_STR")
        ),
    }
    return [name for name, passed in flags.items() if passed]


FLAG_QC = ("MYCOPLASMA", "STERILITY", "KARYOTYPE", "IDENTITY_STR")


def _latest_outcomes(qc: list[dict[str, Any]]) -> dict[str, bool]:
    """:func:`latest_qc` of each attribute of :data:`FLAG_QC` in one pass over the results
    (the same rule: by date, undated older, the last listed among equals)."""
    latest: dict[str, tuple[str, dict[str, Any]]] = {}
    for r in qc:
        attribute = r.get("attribute")
        if attribute in FLAG_QC and r.get("result") != "not_done":
            date = str(r.get("date") or "")
            held = latest.get(attribute)
            if held is None or date >= held[0]:
                latest[attribute] = (date, r)
    return {a: r["result"] in PASSED for a, (_, r) in latest.items()}


# -- one line, several biobanks --------------------------------------------------------------
LINE_ID_FIELDS = (
    ("hpscreg", "hpscreg_name"),
    ("cellosaurus", "cellosaurus_ac"),
    ("biosamples", "biosamples_id"),
)


def line_ids(record: dict[str, Any]) -> list[str]:
    """The line's registry identifiers, normalised (``hpscreg:wae009-a``), strongest first."""
    return [
        f"{prefix}:{record[key].strip().lower()}"
        for prefix, key in LINE_ID_FIELDS
        if record.get(key)
    ]


def line_key(record: dict[str, Any], doc_uid: str) -> str:
    """What groups the same line held at several biobanks into one result.

    The strongest registry identifier (hPSCreg name, else Cellosaurus accession, else
    BioSamples id); a line with none of them stands alone under its own uid.
    """
    ids = line_ids(record)
    return ids[0] if ids else f"uid:{doc_uid}"


# -- donors ----------------------------------------------------------------------------------
def age_years(age_range: str | None) -> tuple[int, int] | None:
    """The donor's age band in years (``50-54`` → 50..54, ``85+`` → 85..150); None when the
    band is not an age (embryo, fetus, unknown)."""
    if not age_range:
        return None
    if age_range.endswith("+") and age_range[:-1].isdigit():
        return int(age_range[:-1]), 150
    low, sep, high = age_range.partition("-")
    if sep and low.isdigit() and high.isdigit():
        return int(low), int(high)
    return None


def hierarchy(paths: list[str]) -> dict[str, list[str]]:
    """Every node and every ancestor path, for filtering (nodes) and drill-down (paths)."""
    all_paths = sorted({p for path in paths for p in prefixes(path)})
    return {"paths": all_paths, "nodes": sorted({p.rsplit("/", 1)[-1] for p in all_paths})}


def disease_fields(diseases: list[dict[str, Any]]) -> dict[str, Any]:
    nodes, paths, code_labels = _disease_tree(tuple((d["code"], d["label"]) for d in diseases))
    return {
        "disease_nodes": list(nodes),
        "disease_paths": list(paths),
        # "code|label" pairs let the portal label codes without a vocabulary service.
        "disease_code_labels": list(code_labels),
    }


@lru_cache(maxsize=4096)  # a line has a disease or two, from a long tail shared by many lines
def _disease_tree(diseases: tuple[tuple[str, str], ...]) -> tuple[tuple[str, ...], ...]:
    tree = hierarchy([disease_path(code) for code, _ in diseases])
    labels = sorted({f"{code}|{label}" for code, label in diseases})
    return tuple(tree["nodes"]), tuple(tree["paths"]), tuple(labels)


def cell_type_fields(cell_type: str) -> dict[str, Any]:
    nodes, paths = _cell_type_tree(cell_type)
    return {"cell_type_nodes": list(nodes), "cell_type_paths": list(paths)}


@lru_cache(maxsize=1024)  # a handful of cell types, each line of the harvest asks again
def _cell_type_tree(cell_type: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    tree = hierarchy([cell_type_path(cell_type)])
    return tuple(tree["nodes"]), tuple(tree["paths"])


# -- terms, storage, stock -------------------------------------------------------------------
def access_fields(access: dict[str, Any] | None) -> dict[str, Any]:
    if not access:
        return {}
    return {
        "duo_permission": access.get("duo_permission"),  # optional in AccessTermsSchema
        "duo_modifiers": sorted(access.get("duo_modifiers", [])),
        "commercial_use": access["commercial_use"],
        **terms_fields(access),
    }


def terms_fields(access: dict[str, Any]) -> dict[str, Any]:
    """What the portal matches a project against: diseases of DS, the consent scope (kept
    whole, unindexed) with the dimensions it allows (a facet), and the export rules."""
    scope = access.get("consent_scope")
    fields: dict[str, Any] = {"duo_diseases": sorted(access.get("duo_diseases", []))}
    if scope:
        fields["consent_scope"] = scope
        fields["consent_allows"] = sorted(k for k, v in scope.items() if v == "allowed")
    if access.get("export_rules"):
        fields["export_rules"] = sorted(access["export_rules"])
    return fields


def stock_fields(lots: list[dict[str, Any]]) -> dict[str, Any]:
    """Lots and the vials they hold; lots that do not state a count add nothing."""
    if not lots:
        return {}
    return {
        "lots_count": len(lots),
        "vials_available": sum(lot_vials_free(lot) for lot in lots),
    }


def networks(*records: dict[str, Any] | None) -> list[str]:
    return sorted({n for r in records if r for n in r.get("networks", [])})


def modified_genes(record: dict[str, Any]) -> list[str]:
    genes = list(record.get("modified_genes", []))
    genes += [m["gene"] for m in record.get("modifications", []) if m.get("gene")]
    return sorted(set(genes))


def cell_line_fields(
    record: dict[str, Any],
    doc_uid: str,
    node_id: str,
    collection: dict[str, Any] | None,
    biobank: dict[str, Any] | None,
) -> dict[str, Any]:
    """The v2 fields of a cell line's search document."""
    derivation = record.get("derivation") or {}
    storage = record.get("storage") or {}
    ages = age_years(record["donor"].get("age_range"))
    fields: dict[str, Any] = {
        "line_key": line_key(record, doc_uid),
        "line_ids": line_ids(record),
        "cell_type_ontology": record.get("cell_type_ontology"),
        **cell_type_fields(record["cell_type"]),
        **disease_fields(record["donor"].get("diseases", [])),
        "donor_age_low": ages[0] if ages else None,
        "donor_age_high": ages[1] if ages else None,
        "qc_passed": qc_flags(record),
        "standards_met": standards_met(record),
        "derivation_method": derivation.get("method"),
        "derivation_vector": derivation.get("vector"),
        "storage_temperatures": [storage["temperature"]] if storage.get("temperature") else [],
        "networks": networks(biobank, collection),
        "modified_genes": modified_genes(record),
        # A line without its own terms is offered on its collection's terms.
        **access_fields(record.get("access") or (collection or {}).get("access")),
        **stock_fields(record.get("lots", [])),
        **relation_fields(record),  # donor_key, related_ids, has_isogenic_control
    }
    if record.get("collection"):
        fields["collection_uid"] = f"{node_id}:collection:{record['collection']}"
    return fields


def collection_fields(record: dict[str, Any], biobank: dict[str, Any] | None) -> dict[str, Any]:
    return {
        **disease_fields(record.get("diseases", [])),
        "storage_temperatures": sorted(record.get("storage_temperatures", [])),
        "networks": networks(biobank, record),
        **access_fields(record.get("access")),
        **facts_fields(record.get("facts", [])),  # search/indexer/facts_fields.py
    }
