"""Beacon records from the index's cell-line documents: a biosample per record, an individual
per line's donor.

They carry what the portal's public search API already shows of a line and nothing more
(``search.queries.BEACON_SOURCE`` is all that is read): no contacts, no ethnicity, no lots. An
individual's id is made from the line's public identity (``donor:`` + its line key, e.g.
``donor:hpscreg:wae009-a``): the catalogue has no donor identifiers, and none is invented
beyond that.

* **biosample** (default schema ``beacon-biosample-v2.0.0``): ``id`` is the record's uid;
  ``biosampleStatus`` EFO "abnormal sample" when the donor has a disease and is not said to be
  unaffected, else "reference sample"; ``sampleOriginType`` OBI "cell culture";
  ``sampleOriginDetail`` the line's Cell Ontology term; ``individualId`` its donor; the rest
  (biobank, availability, identifiers, DUO terms, QC flags, stock, a link to the portal's
  record page) in ``info``.
* **individual** (``beacon-individual-v2.0.0``): ``sex`` as NCIT; ``diseases`` with their
  CURIEs; in ``info`` the donor's age band (``ageRange``, and as ISO 8601 durations in
  ``ageRangeDuration``) and the ids of the line's biosamples. Records of one line that differ
  (two biobanks disagree on the donor's sex) say "unknown" rather than pick one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portal.beacon.filters import CL_LABELS, disease_curie, duo_term, sex_term
from schemas.vocabularies import vocabulary

DONOR_PREFIX = "donor:"
REFERENCE = {"id": "EFO:0009654", "label": "reference sample"}
ABNORMAL = {"id": "EFO:0009655", "label": "abnormal sample"}
CELL_CULTURE = {"id": "OBI:0001876", "label": "cell culture"}
MAX_ID = 400


def individual_id(line_key: str) -> str:
    return DONOR_PREFIX + line_key


def line_key_of(ident: str) -> str | None:
    """The line key an individual id names; None when it is not one of ours."""
    if not ident.startswith(DONOR_PREFIX) or len(ident) > MAX_ID:
        return None
    key = ident.removeprefix(DONOR_PREFIX)
    scheme, _, rest = key.partition(":")
    return key if scheme in ("hpscreg", "cellosaurus", "biosamples", "uid") and rest else None


def _diseases(doc: dict[str, Any]) -> list[tuple[str, str]]:
    codes, labels = doc.get("disease_codes", []), doc.get("disease_labels", [])
    return [(code, labels[i] if i < len(labels) else code) for i, code in enumerate(codes)]


def _cell_type(doc: dict[str, Any]) -> dict[str, str] | None:
    ontology = doc.get("cell_type_ontology")
    if not ontology:
        term = vocabulary("cell_types").get(doc.get("cell_type", ""))
        ontology = term.extra.get("ontology") if term else None
    if not ontology:
        return None
    out = {"id": ontology}
    if ontology in CL_LABELS:
        out["label"] = CL_LABELS[ontology]
    return out


def _affected(doc: dict[str, Any]) -> bool:
    said = doc.get("record", {}).get("donor", {}).get("affected")
    return bool(doc.get("disease_codes")) and said is not False


def biosample(doc: dict[str, Any], record_url: Callable[[str], str]) -> dict[str, Any]:
    """A biosample from one cell-line document; ``record_url(uid)`` is its portal page."""
    out: dict[str, Any] = {
        "id": doc["uid"],
        "individualId": individual_id(doc["line_key"]),
        "biosampleStatus": ABNORMAL if _affected(doc) else REFERENCE,
        "sampleOriginType": CELL_CULTURE,
    }
    detail = _cell_type(doc)
    if detail:
        out["sampleOriginDetail"] = detail
    if doc.get("description"):
        out["notes"] = doc["description"]
    info: dict[str, Any] = {
        "name": doc.get("name"),
        "cellType": doc.get("cell_type"),
        "biobank": {
            "id": f"{doc['node_id']}:biobank:{doc['biobank_id']}",
            "name": doc.get("biobank_name"),
            "country": doc.get("country"),
        }
        if doc.get("biobank_id")
        else None,
        "availability": doc.get("availability"),
        "identifiers": {
            key: doc[field]
            for key, field in (
                ("hpscreg", "hpscreg_name"),
                ("cellosaurus", "cellosaurus_ac"),
                ("biosamples", "biosamples_id"),
            )
            if doc.get(field)
        },
        "tissueSource": doc.get("tissue_source"),
        "geneticallyModified": doc.get("genetically_modified"),
        "modifiedGenes": doc.get("modified_genes") or None,
        "qcPassed": doc.get("qc_passed") or None,
        "storageTemperatures": doc.get("storage_temperatures") or None,
        "vialsAvailable": doc.get("vials_available"),
        "modified": doc.get("modified"),
        "recordUrl": record_url(doc["uid"]),
    }
    if doc.get("duo_permission"):
        info["dataUse"] = {
            "permission": duo_term(doc["duo_permission"]),
            "modifiers": [duo_term(m) for m in doc.get("duo_modifiers", [])],
            "commercialUse": doc.get("commercial_use"),
        }
    out["info"] = {k: v for k, v in info.items() if v is not None}
    return out


def _one(values: list[Any]) -> Any:
    """The value all records agree on, else None."""
    distinct = {repr(v): v for v in values if v is not None}
    return next(iter(distinct.values())) if len(distinct) == 1 else None


def individual(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """An individual from the documents of one line (one per biobank that holds it)."""
    sexes = {d.get("donor_sex") for d in docs}
    out: dict[str, Any] = {
        "id": individual_id(docs[0]["line_key"]),
        "sex": sex_term(sexes.pop() if len(sexes) == 1 else None),
    }
    diseases: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for code, label in _diseases(doc):
            curie = disease_curie(code) or code
            diseases.setdefault(curie, {"diseaseCode": {"id": curie, "label": label}})
    if diseases:
        out["diseases"] = list(diseases.values())
    info: dict[str, Any] = {"biosampleIds": [d["uid"] for d in docs]}
    band = _one([d.get("donor_age_range") for d in docs])
    if band:
        info["ageRange"] = band
        low = _one([d.get("donor_age_low") for d in docs])
        high = _one([d.get("donor_age_high") for d in docs])
        if low is not None and high is not None:
            info["ageRangeDuration"] = {
                "start": {"iso8601duration": f"P{low}Y"},
                "end": {"iso8601duration": f"P{high}Y"},
            }
    out["info"] = info
    return out
