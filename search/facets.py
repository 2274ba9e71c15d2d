"""The search facets, declared once: URL parameters, indexed fields, labels, how to filter
and how to count. Pure: no I/O.

Four kinds of facet:

* terms: values of a keyword field; several values are OR-ed, or AND-ed with ``<name>_op=and``;
* hierarchy: nodes of a tree (cell types, diseases); a node matches everything below it;
* range: ``<name>_min`` / ``<name>_max`` over a numeric field, with counts for preset bands;
* flag: a yes-only filter (``accredited=true``).

Each facet counts under every *other* facet's selection (see queries.py), so its counts say
what ticking a value would give.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.consent import DIMENSIONS as CONSENT_DIMENSIONS
from schemas.standards import standard_labels
from schemas.validators import DUO_PERMISSIONS, VECTORS
from schemas.vocabularies import vocabulary
from search import vocab
from search.donors import several_lines_filter

MAX_VALUE = 200
MAX_VALUES = 50
OPS = ("or", "and")


class InvalidQuery(ValueError):
    """Parameters a search cannot run with; the message says which and why."""


@dataclass(frozen=True)
class Selection:
    """What the URL selects in one facet."""

    values: tuple[str, ...] = ()
    op: str = "or"
    low: int | None = None
    high: int | None = None


def check_text(name: str, value: str, limit: int = MAX_VALUE) -> str:
    """Refuse values no catalogue field can hold: too long, control characters, bad UTF-8."""
    if len(value) > limit:
        raise InvalidQuery(f"a '{name}' value is longer than {limit} characters")
    if "\ufffd" in value:
        raise InvalidQuery(f"'{name}' is not valid UTF-8")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise InvalidQuery(f"'{name}' contains control characters")
    return value


def parse_int(args: Mapping[str, Any], name: str, lo: int, hi: int) -> int | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidQuery(f"'{name}' must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise InvalidQuery(f"'{name}' must be between {lo} and {hi}, got {value}")
    return value


@dataclass(frozen=True)
class Facet:
    name: str  # URL parameter
    label: str
    hidden: bool = field(default=False, kw_only=True)  # a filter with no counts or panel

    type = "terms"

    @property
    def params(self) -> tuple[str, ...]:
        return (self.name,)

    def parse(self, args: Any) -> Selection | None:
        raise NotImplementedError

    def clause(self, sel: Selection, today: dt.date) -> dict[str, Any]:
        raise NotImplementedError

    def count_own_selection(self, sel: Selection | None) -> bool:
        """Whether this facet's counts are taken under its own selection too (AND mode)."""
        return False

    def agg(self, sel: Selection | None, today: dt.date) -> dict[str, Any]:
        raise NotImplementedError

    def read(
        self, agg: Mapping[str, Any], sel: Selection | None, labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def args(self, sel: Selection) -> list[tuple[str, str]]:
        """The URL parameters that express ``sel`` (to rebuild links)."""
        pairs = [(self.name, v) for v in sel.values]
        if sel.op != getattr(self, "op", "or"):
            pairs.append((f"{self.name}_op", sel.op))
        return pairs

    def describe(self, sel: Selection, labels: Mapping[str, str]) -> str:
        """The selection in words, for chips and zero-result help."""
        names = [self.value_label(v, labels) for v in sel.values]
        return f" {'and' if sel.op == 'and' else 'or'} ".join(names)

    def value_label(self, value: str, labels: Mapping[str, str]) -> str:
        return labels.get(value, value)


def _values(facet: Facet, args: Any) -> tuple[str, ...]:
    values = [check_text(facet.name, v) for v in args.getlist(facet.name) if v != ""]
    if len(values) > MAX_VALUES:
        raise InvalidQuery(f"'{facet.name}' has more than {MAX_VALUES} values")
    return tuple(sorted(set(values)))


def _op(facet: Facet, args: Any, default: str) -> str:
    op = args.get(f"{facet.name}_op") or default
    if op not in OPS:
        raise InvalidQuery(f"'{facet.name}_op' must be 'or' or 'and', got {op!r}")
    return op


def _combine(field_name: str, values: tuple[str, ...], op: str) -> dict[str, Any]:
    if op == "and" and len(values) > 1:
        return {"bool": {"filter": [{"term": {field_name: v}} for v in values]}}
    return {"terms": {field_name: list(values)}}


@dataclass(frozen=True)
class TermsFacet(Facet):
    field: str = ""
    choices: Mapping[str, str] | None = None  # allowed values and their labels
    pattern: str | None = None  # or: a regular expression values must match
    size: int = 30
    op: str = "or"
    combinable: bool = False  # a record can hold several values, so AND makes sense

    @property
    def params(self) -> tuple[str, ...]:
        return (self.name, f"{self.name}_op") if self.combinable else (self.name,)

    def parse(self, args: Any) -> Selection | None:
        values = _values(self, args)
        op = _op(self, args, self.op) if self.combinable else self.op
        for v in values:
            if self.choices is not None and v not in self.choices:
                known = ", ".join(self.choices)
                raise InvalidQuery(f"'{self.name}' has no value {v!r}; known values: {known}")
            if self.pattern and not re.fullmatch(self.pattern, v):
                raise InvalidQuery(f"{v!r} is not a valid '{self.name}' value")
        return Selection(values, op) if values else None

    def clause(self, sel: Selection, today: dt.date) -> dict[str, Any]:
        return _combine(self.field, sel.values, sel.op)

    def count_own_selection(self, sel: Selection | None) -> bool:
        return bool(sel and sel.op == "and")

    def agg(self, sel: Selection | None, today: dt.date) -> dict[str, Any]:
        aggs: dict[str, Any] = {"values": {"terms": {"field": self.field, "size": self.size}}}
        if sel:
            # Selected values are counted even when they fall outside the top ``size``.
            aggs["selected"] = {
                "terms": {"field": self.field, "size": len(sel.values), "include": sel.values}
            }
        return aggs

    def read(
        self, agg: Mapping[str, Any], sel: Selection | None, labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        counts = {
            b["key_as_string"] if "key_as_string" in b else b["key"]: b["doc_count"]
            for b in agg.get("values", {}).get("buckets", [])
        }
        for b in agg.get("selected", {}).get("buckets", []):
            counts.setdefault(b["key"], b["doc_count"])
        if sel:
            # A selected value with no hits left still shows, so it can be unticked.
            for v in sorted(set(sel.values) - set(counts)):
                counts[v] = 0
        chosen = sel.values if sel else ()
        # (value_label inline: this runs for every value of every facet of every search)
        choices = self.choices or {}
        return [
            {
                "value": v,
                "label": choices.get(v) or labels.get(v, v),
                "count": n,
                "selected": v in chosen,
            }
            for v, n in counts.items()
        ]

    def value_label(self, value: str, labels: Mapping[str, str]) -> str:
        if self.choices and self.choices.get(value):
            return self.choices[value]
        return labels.get(value, value)


@dataclass(frozen=True)
class FlagFacet(Facet):
    filter: Callable[[dt.date], dict[str, Any]] = lambda today: {"match_all": {}}

    type = "flag"

    def parse(self, args: Any) -> Selection | None:
        values = _values(self, args)
        if any(v != "true" for v in values):
            bad = next(v for v in values if v != "true")
            raise InvalidQuery(f"'{self.name}' can only be 'true', got {bad!r}")
        return Selection(("true",)) if values else None

    def clause(self, sel: Selection, today: dt.date) -> dict[str, Any]:
        return self.filter(today)

    def agg(self, sel: Selection | None, today: dt.date) -> dict[str, Any]:
        return {"values": {"filter": self.filter(today)}}

    def read(
        self, agg: Mapping[str, Any], sel: Selection | None, labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        count = agg.get("values", {}).get("doc_count", 0)
        return [{"value": "true", "label": "Yes", "count": count, "selected": sel is not None}]

    def describe(self, sel: Selection, labels: Mapping[str, str]) -> str:
        return "yes"


def _escape_regex(text: str) -> str:
    # Lucene regular expressions: a backslash makes any character literal.
    return "".join(c if c.isalnum() else "\\" + c for c in text)


@dataclass(frozen=True)
class HierarchyFacet(Facet):
    nodes_field: str = ""
    paths_field: str = ""
    valid: Callable[[str], bool] = lambda node: True
    path_of: Callable[[str], str] = lambda node: node
    node_label: Callable[[str], str | None] = lambda node: None
    expand_all: bool = False  # a small tree: show every level, not just the opened ones
    size: int = 100
    op: str = "or"
    combinable: bool = True  # a node and its descendant, or two diseases, can both hold

    type = "hierarchy"

    @property
    def params(self) -> tuple[str, ...]:
        return (self.name, f"{self.name}_op") if self.combinable else (self.name,)

    def parse(self, args: Any) -> Selection | None:
        values = _values(self, args)
        op = _op(self, args, self.op) if self.combinable else self.op
        for v in values:
            if not self.valid(v):
                raise InvalidQuery(f"{v!r} is not a '{self.name}' value")
        return Selection(values, op) if values else None

    def clause(self, sel: Selection, today: dt.date) -> dict[str, Any]:
        return _combine(self.nodes_field, sel.values, sel.op)

    def count_own_selection(self, sel: Selection | None) -> bool:
        return bool(sel and sel.op == "and")

    def open_paths(self, sel: Selection | None) -> list[str]:
        """Paths whose children are shown: each selected node and its ancestors."""
        if not sel:
            return []
        return sorted({p for v in sel.values for p in vocab.prefixes(self.path_of(v))})

    def agg(self, sel: Selection | None, today: dt.date) -> dict[str, Any]:
        terms: dict[str, Any] = {"field": self.paths_field, "size": self.size}
        if not self.expand_all:
            child = "[^/]+"
            terms["include"] = "|".join(
                [child] + [f"{_escape_regex(p)}/{child}" for p in self.open_paths(sel)]
            )
        return {"values": {"terms": terms}}

    def read(
        self, agg: Mapping[str, Any], sel: Selection | None, labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        counts = {b["key"]: b["doc_count"] for b in agg.get("values", {}).get("buckets", [])}
        chosen = set(sel.values) if sel else set()
        for v in chosen:
            counts.setdefault(self.path_of(v), 0)
        children: dict[str, list[str]] = {}
        for path in counts:
            parent = path.rpartition("/")[0]
            children.setdefault(parent, []).append(path)
        out: list[dict[str, Any]] = []

        def walk(parent: str, depth: int) -> None:
            for path in sorted(children.get(parent, []), key=lambda p: (-counts[p], p)):
                node = path.rsplit("/", 1)[-1]
                out.append(
                    {
                        "value": node,
                        "label": self.value_label(node, labels),
                        "count": counts[path],
                        "selected": node in chosen,
                        "depth": depth,
                        "parent": parent.rsplit("/", 1)[-1] or None,
                    }
                )
                walk(path, depth + 1)

        walk("", 0)
        return out

    def value_label(self, value: str, labels: Mapping[str, str]) -> str:
        return self.node_label(value) or labels.get(value, value)


@dataclass(frozen=True)
class RangeFacet(Facet):
    low_field: str = ""
    high_field: str = ""  # the same as low_field for a single number
    bounds: tuple[int, int] = (0, 1_000_000)
    bands: tuple[tuple[int | None, int | None], ...] = ()
    unit: str = ""

    type = "range"

    @property
    def params(self) -> tuple[str, ...]:
        return (f"{self.name}_min", f"{self.name}_max")

    def parse(self, args: Any) -> Selection | None:
        low = parse_int(args, f"{self.name}_min", *self.bounds)
        high = parse_int(args, f"{self.name}_max", *self.bounds)
        if low is not None and high is not None and low > high:
            raise InvalidQuery(
                f"'{self.name}_min' ({low}) must not be above '{self.name}_max' ({high})"
            )
        if low is None and high is None:
            return None
        return Selection(low=low, high=high)

    def _between(self, low: int | None, high: int | None) -> dict[str, Any]:
        # Overlap: a donor aged 50-54 is in 40..52 and in 53..60.
        clauses = []
        if low is not None:
            clauses.append({"range": {self.high_field: {"gte": low}}})
        if high is not None:
            clauses.append({"range": {self.low_field: {"lte": high}}})
        return {"bool": {"filter": clauses}}

    def clause(self, sel: Selection, today: dt.date) -> dict[str, Any]:
        return self._between(sel.low, sel.high)

    @staticmethod
    def band_key(low: int | None, high: int | None) -> str:
        return f"{'' if low is None else low}-{'' if high is None else high}"

    def agg(self, sel: Selection | None, today: dt.date) -> dict[str, Any]:
        filters = {self.band_key(lo, hi): self._between(lo, hi) for lo, hi in self.bands}
        return {"values": {"filters": {"filters": filters}}}

    def read(
        self, agg: Mapping[str, Any], sel: Selection | None, labels: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        buckets = agg.get("values", {}).get("buckets", {})
        out = []
        for lo, hi in self.bands:
            key = self.band_key(lo, hi)
            out.append(
                {
                    "value": key,
                    "label": self.band_label(lo, hi),
                    "min": lo,
                    "max": hi,
                    "count": buckets.get(key, {}).get("doc_count", 0),
                    "selected": bool(sel and (sel.low, sel.high) == (lo, hi)),
                }
            )
        return out

    def band_label(self, low: int | None, high: int | None) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if high is None:
            return f"{low} or more{unit}"
        if low is None:
            return f"up to {high}{unit}"
        return f"{low}–{high}{unit}"

    def args(self, sel: Selection) -> list[tuple[str, str]]:
        pairs = []
        if sel.low is not None:
            pairs.append((f"{self.name}_min", str(sel.low)))
        if sel.high is not None:
            pairs.append((f"{self.name}_max", str(sel.high)))
        return pairs

    def describe(self, sel: Selection, labels: Mapping[str, str]) -> str:
        return self.band_label(sel.low, sel.high)


@dataclass(frozen=True)
class DonorLinesFacet(FlagFacet):
    """ "Donor with several lines": which donors those are is known only at query time
    (search/donors.py); queries.py binds the keys the search service looked up."""

    keys: tuple[str, ...] | None = None
    filter: Callable[[dt.date], dict[str, Any]] = lambda today: several_lines_filter(None)

    def clause(self, sel: Selection, today: dt.date) -> dict[str, Any]:
        return several_lines_filter(self.keys)

    def agg(self, sel: Selection | None, today: dt.date) -> dict[str, Any]:
        return {"values": {"filter": several_lines_filter(self.keys)}}


def _accredited(today: dt.date) -> dict[str, Any]:
    # Valid at today's date, decided at query time: a certificate can expire between syncs.
    return {"range": {"iso20387_valid_until": {"gte": today.isoformat()}}}


def _labels(name: str) -> dict[str, str]:
    return {t.code: t.label for t in vocabulary(name).terms}


CELL_TYPE_NODES = frozenset(vocab.CELL_TYPE_TREE)

FACETS: tuple[Facet, ...] = (
    HierarchyFacet(
        "cell_type",
        "Cell type",
        nodes_field="cell_type_nodes",
        paths_field="cell_type_paths",
        valid=CELL_TYPE_NODES.__contains__,
        path_of=vocab.cell_type_path,
        node_label=lambda n: vocab.CELL_TYPE_TREE.get(n, (None, None))[0],
        expand_all=True,
        combinable=False,  # one cell type per line: "all of" would only ever narrow a branch
    ),
    HierarchyFacet(
        "disease",
        "Donor disease (ICD-10, Orphanet)",
        nodes_field="disease_nodes",
        paths_field="disease_paths",
        valid=lambda n: bool(vocab.DISEASE_NODE.match(n)),
        path_of=lambda n: vocab.node_path("disease", n),
        node_label=vocab.disease_root_label,
    ),
    TermsFacet(
        "availability", "Availability", field="availability", choices=vocab.AVAILABILITY_LABELS
    ),
    TermsFacet(
        "qc",
        "Quality control passed",
        field="qc_passed",
        choices=vocab.QC_FLAGS,
        op="and",
        combinable=True,
    ),
    # Met on evidence or declared with a certificate (schemas/conformance.py says how).
    TermsFacet(
        "standard",
        "Meets standard",
        field="standards_met",
        choices=standard_labels(),
        combinable=True,
    ),
    TermsFacet("sex", "Donor sex", field="donor_sex", choices=vocab.SEX_LABELS),
    RangeFacet(
        "age",
        "Donor age",
        low_field="donor_age_low",
        high_field="donor_age_high",
        bounds=(0, 150),
        bands=((0, 17), (18, 39), (40, 59), (60, None)),
        unit="years",
    ),
    FlagFacet(
        "modified",
        "Genetically modified",
        filter=lambda t: {"term": {"genetically_modified": True}},
    ),
    TermsFacet("gene", "Modified gene", field="modified_genes", combinable=True),
    TermsFacet(
        "derivation",
        "Derivation method",
        field="derivation_method",
        choices=vocab.DERIVATION_LABELS,
    ),
    TermsFacet(
        "vector", "Reprogramming vector", field="derivation_vector", choices={v: v for v in VECTORS}
    ),
    TermsFacet("tissue", "Tissue source", field="tissue_source"),
    TermsFacet(
        "duo",
        "Permitted use (GA4GH DUO)",
        field="duo_permission",
        choices={k: v[0].upper() + v[1:] for k, v in DUO_PERMISSIONS.items()},
    ),
    FlagFacet(
        "commercial", "Commercial use allowed", filter=lambda t: {"term": {"commercial_use": True}}
    ),
    TermsFacet(  # the dimensions a line's consent scope allows (search/indexer/derived.py)
        "consent",
        "Consent allows",
        field="consent_allows",
        choices={k: v[0].upper() + v[1:] for k, v in CONSENT_DIMENSIONS.items()},
        combinable=True,
    ),
    FlagFacet("accredited", "Biobank accredited to ISO 20387 (valid today)", filter=_accredited),
    TermsFacet("country", "Country", field="country", pattern=r"[A-Z]{2}"),
    TermsFacet("biobank", "Biobank", field="biobank_name"),
    TermsFacet("network", "Network", field="networks", combinable=True),
    TermsFacet(
        "storage",
        "Storage temperature",
        field="storage_temperatures",
        choices=vocab.STORAGE_LABELS,
        combinable=True,
    ),
    TermsFacet(
        "sample_type",
        "Sample type (MIABIS 3)",
        field="miabis_sample_types",
        choices={t.code: t.label for t in vocabulary("miabis_sample_types").terms},
    ),
    TermsFacet(
        "species",
        "Species",
        field="species",
        choices={t.code: t.label for t in vocabulary("species").terms},
    ),
    TermsFacet(
        "dataset",
        "Dataset types (MIABIS 3)",
        field="dataset_types",
        choices={t.code: t.label for t in vocabulary("dataset_types").terms},
        combinable=True,
    ),
    FlagFacet(
        "publications",
        "Has publications (DOI)",
        filter=lambda t: {"term": {"has_publications": True}},
    ),
    # Labelled with the resource's name from the index (portal/service.py labels()).
    TermsFacet(
        "resource",
        "Research resource",
        field="research_resources",
        pattern=r"[A-Za-z0-9][A-Za-z0-9._:-]{0,254}",
    ),
    RangeFacet(
        "vials",
        "Vials available",
        low_field="vials_available",
        high_field="vials_available",
        bounds=(0, 1_000_000),
        bands=((1, None), (10, None), (50, None)),
        unit="vials",
    ),
    # Collection facts (search/indexer/facts_fields.py): what a collection publishes counts of.
    TermsFacet("facts_sex", "Donors by sex", field="facts_sexes", choices=_labels("sexes")),
    TermsFacet(
        "facts_age", "Donors by age band", field="facts_age_bands", choices=_labels("age_bands")
    ),
    TermsFacet(
        "facts_material",
        "Donors by material",
        field="facts_materials",
        choices=_labels("material_types"),
        combinable=True,
    ),
    TermsFacet(
        "facts_diagnosis",
        "Donors by diagnosis",
        field="facts_diagnoses",
        pattern=r"(ICD10|ORPHA|MONDO|DOID):[A-Z0-9.\-]{1,20}",
        combinable=True,
    ),
    TermsFacet("collection", "Collection", field="collection_uid", hidden=True),
    FlagFacet(
        "isogenic",
        "Has an isogenic control",
        filter=lambda t: {"term": {"has_isogenic_control": True}},
    ),
    DonorLinesFacet("donor_lines", "Donor with several lines"),
)
FACETS_BY_NAME = {f.name: f for f in FACETS}
