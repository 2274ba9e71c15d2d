"""Beacon filtering terms: the portal's facets, with ontology CURIEs where their values have
them, and the reading of a request's filters into engine terms (``search.queries.BeaconTerm``).

Ontology terms (``type: ontology``), each with its descendants unless the filter says
``includeDescendantTerms: false``:

* **cell type**: Cell Ontology terms of the cell-type tree (``search/vocab.py``; leaves from
  ``schemas/vocabularies/cell_types.json``): ``CL:0000034`` stem cell finds every stem-cell line,
  ``CL:0002322`` embryonic stem cell the hESC lines. The Cell Ontology has no iPSC class, so
  hiPSC maps to its parent ``CL:0002248`` pluripotent stem cell: with descendants it finds hESC
  and hiPSC lines, without them the hiPSC lines only (and ``cell_type = hiPSC`` does too).
  ``CL:0000000`` (cell, our "other") is not offered: with its descendants it means every line.
* **donor disease**: ICD-10 (``ICD10:G20``; chapters as ``ICD10:VI``), Orphanet
  (``Orphanet:399``; our own spelling ``ORPHA:399`` is accepted), MONDO and DOID. The list
  holds every code and ICD-10 node the catalogue's cell lines hold; a query may name any
  well-formed code. An ICD-10 chapter or category finds the codes below it; without
  descendants only records coded with exactly that term.
* **donor sex**: NCIT ``C16576`` female, ``C20197`` male, ``C17998`` unknown.
* **data use**: DUO permissions (the line's, else its collection's) and modifiers
  (``schemas/vocabularies/duo.json``), matched as given: DUO's own hierarchy is not applied.

Alphanumeric terms (``type: alphanumeric``): every other facet, by its parameter name in the
portal's search API (``availability``, ``qc``, ``age``, ``vials``, ``country`` …, and
``cell_type`` for the nodes with no CL term of their own), with its values where it has a
closed list or the records hold them. Operators ``=`` and ``!`` (not); ``<``, ``>``, ``<=``,
``>=`` also for the numbers ``age`` (years, or ``P40Y``) and ``vials``. As on the search page,
``age`` is matched against the donor's age band: ``age > 40`` finds a donor aged 40-44.

In a GET request (``filters=NCIT:C16576,age>=40``) an alphanumeric filter is written
``<id><operator><value>``. Filters are AND-ed. A filter this beacon does not know, a malformed
one, an operator a term does not take or a value outside a closed list is a
:class:`FilterError`, which the views answer as a Beacon error (400). Every term applies to
biosamples and to individuals alike (an individual is the donor of one line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from werkzeug.datastructures import MultiDict

from schemas.vocabularies import vocabulary
from search import vocab
from search.facets import (
    FACETS,
    FACETS_BY_NAME,
    FlagFacet,
    HierarchyFacet,
    InvalidQuery,
    RangeFacet,
    Selection,
    TermsFacet,
    check_text,
)
from search.queries import BEACON_OPEN_FACETS, BeaconTerm

SCOPES = ["biosample", "individual"]
SCOPE_NAMES = frozenset({"biosample", "biosamples", "individual", "individuals"})
MAX_FILTERS = 50
OPERATORS = ("=", "<", ">", "!", ">=", "<=")
SIMILARITIES = ("exact", "high", "medium", "low")  # any is answered exactly
ONTOLOGY_FACETS = frozenset({"cell_type", "disease", "sex", "duo"})

# -- Cell Ontology -----------------------------------------------------------------------------
CL_LABELS = {
    "CL:0000034": "stem cell",
    "CL:0002248": "pluripotent stem cell",
    "CL:0002322": "embryonic stem cell",
    "CL:0000723": "somatic stem cell",
    "CL:0000134": "mesenchymal stem cell",
    "CL:0008001": "hematopoietic precursor cell",
    "CL:0000746": "cardiac muscle cell",
    "CL:0002319": "neural cell",
    "CL:0000182": "hepatocyte",
    "CL:0002586": "retinal pigment epithelial cell",
    "CL:0000057": "fibroblast",
    "CL:0001063": "neoplastic cell",
}
CL_GROUPS = {"stem": "CL:0000034", "pluripotent": "CL:0002248", "somatic_stem": "CL:0000723"}
"""Groups of the cell-type tree that are Cell Ontology classes ("differentiated" is not)."""
CL_ROOT = "CL:0000000"


@cache
def cell_type_terms() -> dict[str, tuple[str, tuple[str, ...]]]:
    """CL term -> (its node in the cell-type tree, the cell types coded with exactly it)."""
    exact: dict[str, list[str]] = {}
    for term in vocabulary("cell_types").terms:
        exact.setdefault(term.extra["ontology"], []).append(term.code)
    nodes = dict(CL_GROUPS)
    for code, ontology in ((t.code, t.extra["ontology"]) for t in vocabulary("cell_types").terms):
        if ontology != CL_ROOT and ontology not in nodes.values():
            nodes[code] = ontology
    return {cl: (node, tuple(exact.get(cl, ()))) for node, cl in nodes.items()}


# -- diseases ----------------------------------------------------------------------------------
CHAPTERS = frozenset(numeral for numeral, *_ in vocab.ICD10_CHAPTERS)
DISEASE_PREFIXES = {
    # CURIE prefix -> the scheme of our codes; Orphanet is published as "Orphanet:<n>".
    "ICD10": "ICD10",
    "Orphanet": "ORPHA",
    "ORPHA": "ORPHA",
    "MONDO": "MONDO",
    "DOID": "DOID",
}


def disease_curie(node: str) -> str | None:
    """The CURIE of a node of the disease hierarchy (``ICD10-VI`` -> ``ICD10:VI``,
    ``ORPHA:399`` -> ``Orphanet:399``); None for the roots (ORPHA, MONDO, other ICD-10)."""
    if node.startswith("ICD10-"):
        numeral = node.removeprefix("ICD10-")
        return f"ICD10:{numeral}" if numeral in CHAPTERS else None
    if node.startswith("ORPHA:"):
        return "Orphanet:" + node.removeprefix("ORPHA:")
    return node if ":" in node else None


def disease_node(curie: str) -> tuple[str, str] | None:
    """(node, code) of a disease CURIE: where it sits in the hierarchy, and the code records
    carry; None when it is not a term of ours."""
    prefix, _, local = curie.partition(":")
    scheme = DISEASE_PREFIXES.get(prefix)
    if scheme is None:
        return None
    code = f"{scheme}:{local}"
    node = f"ICD10-{local}" if scheme == "ICD10" and local in CHAPTERS else code
    return (node, code) if vocab.DISEASE_NODE.match(node) else None


# -- donor sex and data use --------------------------------------------------------------------
SEX_TERMS = {
    "FEMALE": ("NCIT:C16576", "female"),
    "MALE": ("NCIT:C20197", "male"),
    "UNKNOWN": ("NCIT:C17998", "unknown"),
}
NCIT_SEX = {curie: sex for sex, (curie, _) in SEX_TERMS.items()}


def sex_term(sex: str | None) -> dict[str, str]:
    curie, label = SEX_TERMS.get(sex or "UNKNOWN", SEX_TERMS["UNKNOWN"])
    return {"id": curie, "label": label}


def duo_term(code: str) -> dict[str, str]:
    return {"id": code, "label": vocabulary("duo").label(code)}


RESOURCES = [
    {
        "id": "cl",
        "name": "Cell Ontology",
        "nameSpacePrefix": "CL",
        "iriPrefix": "http://purl.obolibrary.org/obo/CL_",
    },
    {
        "id": "icd10",
        "name": "International Classification of Diseases, 10th revision (WHO)",
        "nameSpacePrefix": "ICD10",
    },
    {
        "id": "ordo",
        "name": "Orphanet Rare Disease Ontology",
        "nameSpacePrefix": "Orphanet",
        "iriPrefix": "http://www.orpha.net/ORDO/Orphanet_",
    },
    {
        "id": "mondo",
        "name": "Mondo Disease Ontology",
        "nameSpacePrefix": "MONDO",
        "iriPrefix": "http://purl.obolibrary.org/obo/MONDO_",
    },
    {
        "id": "doid",
        "name": "Human Disease Ontology",
        "nameSpacePrefix": "DOID",
        "iriPrefix": "http://purl.obolibrary.org/obo/DOID_",
    },
    {
        "id": "ncit",
        "name": "NCI Thesaurus",
        "nameSpacePrefix": "NCIT",
        "iriPrefix": "http://purl.obolibrary.org/obo/NCIT_",
    },
    {
        "id": "duo",
        "name": "Data Use Ontology",
        "nameSpacePrefix": "DUO",
        "iriPrefix": "http://purl.obolibrary.org/obo/DUO_",
    },
]


# -- alphanumeric terms ------------------------------------------------------------------------
def alphanumeric_facets() -> list[str]:
    """Facets offered by name: all but the hidden ones and those with ontology terms only."""
    return [
        f.name
        for f in FACETS
        if not f.hidden
        and (f.name not in ONTOLOGY_FACETS or f.name == "cell_type")
        and not f.name.startswith("facts_")  # collection facts: the Beacon serves no collections
    ]


def _closed_values(name: str) -> list[str]:
    facet = FACETS_BY_NAME[name]
    if isinstance(facet, FlagFacet):
        return ["true"]
    if isinstance(facet, HierarchyFacet):
        return list(vocab.CELL_TYPE_TREE) if name == "cell_type" else []
    if isinstance(facet, TermsFacet) and facet.choices is not None:
        return list(facet.choices)
    return []


def _label(name: str) -> str:
    facet = FACETS_BY_NAME[name]
    if isinstance(facet, RangeFacet):
        return f"{facet.label} ({facet.unit}, {facet.bounds[0]} to {facet.bounds[1]})"
    return facet.label


# -- the list ----------------------------------------------------------------------------------
def filtering_terms(
    values: Mapping[str, list[str]], labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Every filtering term: ontology terms first (cell types, the diseases the lines hold,
    sex, DUO), then one alphanumeric term per other facet. ``values``: the values the index
    holds per open facet (``search.queries.read_beacon_filtering_values``); ``labels``: disease
    labels as the nodes publish them."""
    terms: list[dict[str, Any]] = [
        _ontology(cl, CL_LABELS[cl]) for cl in sorted(cell_type_terms(), key=_cl_order)
    ]
    diseases = vocabulary("diseases")
    seen = set()
    for node in values.get("disease", []):
        curie = disease_curie(node)
        if curie is None or curie in seen:
            continue
        seen.add(curie)
        known = diseases.get(node)
        label = labels.get(node) or (known.label if known else vocab.disease_root_label(node))
        terms.append(_ontology(curie, label))
    terms += [_ontology(curie, label) for curie, label in SEX_TERMS.values()]
    terms += [_ontology(t.code, t.label) for t in vocabulary("duo").terms]
    for name in alphanumeric_facets():
        term: dict[str, Any] = {
            "type": "alphanumeric",
            "id": name,
            "label": _label(name),
            "scopes": SCOPES,
        }
        held = _closed_values(name) or (values.get(name, []) if name in BEACON_OPEN_FACETS else [])
        if held:
            term["values"] = held
        terms.append(term)
    return terms


def _cl_order(cl: str) -> int:
    order = list(CL_LABELS)
    return order.index(cl) if cl in order else len(order)


def _ontology(curie: str, label: str | None) -> dict[str, Any]:
    term: dict[str, Any] = {"type": "ontology", "id": curie, "scopes": SCOPES}
    if label:
        term["label"] = label
    return term


# -- reading a request's filters ---------------------------------------------------------------
class FilterError(ValueError):
    """A filter this beacon cannot apply; the message says which and why."""


ALPHANUMERIC_GET = re.compile(r"^([a-z_]+)(>=|<=|=|<|>|!)(.*)$")
FILTER_KEYS = frozenset(
    {"id", "operator", "value", "scope", "includeDescendantTerms", "similarity", "type"}
)
AGE = re.compile(r"^P(\d{1,3})Y$")


def parse_filters(raw: Any, from_get: bool = False) -> tuple[list[BeaconTerm], list[str]]:
    """The engine terms of a request's ``filters`` and how each was read (for the received
    request summary). ``from_get``: strings of a GET request, where ``<id><op><value>`` is an
    alphanumeric filter; a POST body's strings are ontology ids (or objects of any kind)."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        raise FilterError("'filters' must be a list")
    if len(raw) > MAX_FILTERS:
        raise FilterError(f"at most {MAX_FILTERS} filters are allowed, got {len(raw)}")
    terms, read = [], []
    for item in raw:
        term, summary = _one(item, from_get)
        terms.append(term)
        read.append(summary)
    return terms, read


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FilterError(f"a filter's {what} must be a string")
    try:
        return check_text(f"filter {what}", str(value).strip())
    except InvalidQuery as exc:
        raise FilterError(str(exc)) from None


def _one(item: Any, from_get: bool) -> tuple[BeaconTerm, str]:
    if isinstance(item, str):
        text = _text(item, "id")
        match = ALPHANUMERIC_GET.match(text) if from_get else None
        if match and match.group(1) in alphanumeric_facets():
            return alphanumeric(*match.groups()), text
        return ontology(text), text
    if not isinstance(item, dict):
        raise FilterError("each filter must be an id or an object with an 'id'")
    unknown = sorted(set(item) - FILTER_KEYS)
    if unknown:
        raise FilterError(f"a filter has an unknown key {unknown[0]!r}")
    if "id" not in item:
        raise FilterError("a filter object needs an 'id'")
    ident = _text(item["id"], "id")
    scope = item.get("scope")
    if scope is not None and scope not in SCOPE_NAMES:
        raise FilterError(f"filter {ident!r}: scope must be biosample or individual, got {scope!r}")
    if "operator" in item or "value" in item:
        if "value" not in item:
            raise FilterError(f"alphanumeric filter {ident!r} needs a 'value'")
        operator = _text(item.get("operator", "="), "operator")
        value = _text(item["value"], "value")
        return alphanumeric(ident, operator, value), f"{ident}{operator}{value}"
    descendants = item.get("includeDescendantTerms", True)
    if not isinstance(descendants, bool):
        raise FilterError(f"filter {ident!r}: includeDescendantTerms must be true or false")
    similarity = item.get("similarity", "exact")
    if similarity not in SIMILARITIES:
        raise FilterError(f"filter {ident!r}: similarity must be one of {', '.join(SIMILARITIES)}")
    return ontology(ident, descendants), ident


def _unknown(ident: str) -> FilterError:
    return FilterError(
        f"unknown filter {ident!r}: this beacon's filters are listed at /filtering_terms"
    )


def ontology(curie: str, descendants: bool = True) -> BeaconTerm:
    """The engine term of an ontology filter."""
    prefix = curie.partition(":")[0]
    if prefix == "CL":
        if curie not in cell_type_terms():
            raise _unknown(curie)
        node, exact = cell_type_terms()[curie]
        if descendants:
            return BeaconTerm("cell_type", Selection((node,)))
        return BeaconTerm("cell_type_code", Selection(exact))
    if prefix == "NCIT":
        if curie not in NCIT_SEX:
            raise _unknown(curie)
        return BeaconTerm("sex", Selection((NCIT_SEX[curie],)))
    if prefix == "DUO":
        term = vocabulary("duo").get(curie)
        if term is None:
            raise _unknown(curie)
        facet = "duo" if term.extra.get("kind") == "permission" else "duo_modifier"
        return BeaconTerm(facet, Selection((curie,)))
    found = disease_node(curie)
    if found is None:
        raise _unknown(curie)
    node, code = found
    return (
        BeaconTerm("disease", Selection((node,)))
        if descendants
        else BeaconTerm("disease_code", Selection((code,)))
    )


def alphanumeric(ident: str, operator: str, value: str) -> BeaconTerm:
    """The engine term of an alphanumeric filter on a facet."""
    if ident not in alphanumeric_facets():
        raise _unknown(ident)
    if operator not in OPERATORS:
        raise FilterError(f"filter {ident!r}: operator must be one of {' '.join(OPERATORS)}")
    facet = FACETS_BY_NAME[ident]
    negate = operator == "!"
    if isinstance(facet, RangeFacet):
        return BeaconTerm(ident, _range(facet, operator, value), negate)
    if operator not in ("=", "!"):
        raise FilterError(f"filter {ident!r} takes the operators = and ! only")
    if "%" in value:
        raise FilterError(f"filter {ident!r}: wildcards (%) are not supported")
    try:
        selection = facet.parse(MultiDict([(ident, value)]))
    except InvalidQuery as exc:
        raise FilterError(f"filter {ident!r}: {exc}") from None
    if selection is None:
        raise FilterError(f"filter {ident!r} needs a value")
    return BeaconTerm(ident, selection, negate)


def _range(facet: RangeFacet, operator: str, value: str) -> Selection:
    iso = AGE.match(value) if facet.name == "age" else None
    number = iso.group(1) if iso else value
    low, high = facet.bounds
    if not number.isdigit() or not low <= int(number) <= high:
        unit = f"{facet.unit}, " if facet.unit else ""
        raise FilterError(
            f"filter {facet.name!r} takes a whole number ({unit}{low} to {high}), got {value!r}"
        )
    n = int(number)
    bounds = {
        "=": (n, n),
        "!": (n, n),
        ">=": (n, None),
        ">": (n + 1, None),
        "<=": (None, n),
        "<": (None, n - 1),
    }[operator]
    return Selection(low=bounds[0], high=bounds[1])
