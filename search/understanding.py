"""Words of a query that name a facet value are understood as that filter.

``iPSC female parkinson`` is the cell type hiPSC, the donor sex female, and the word
"parkinson". The rules:

* a word, or a run of words, names a value when it is that value's label or a known alias,
  in any case (``female``, ``hESC``, ``iPSC``, ``Germany``, ``United Kingdom``, ``Sendai``,
  ``Parkinson disease``, ``Parkinson's disease``); the longest run wins;
* the facets understood: cell type, donor sex, country, reprogramming vector, and diseases by
  the labels the nodes publish (a label held by several codes selects them all, OR-ed);
* a quoted word (``"female"``) is never understood: it is searched as a word. The link
  "search the word instead" quotes it;
* a word naming a value of a facet the URL already selects is dropped when that value is
  selected (the URL's filter says it already: no chip); otherwise it stays a word, so the
  URL's choice holds;
* one value per facet from the words (``male female`` stays words), but a repeat of a value
  already understood is dropped: ``ICD10:G20 ICD10:G20``, a code and its label
  (``ICD10:G20 Parkinson disease``), a label twice. Searched as words, it would match little;
* registry identifiers are never understood (search/identifiers.py finds them first), nor
  words the caller says are records' identifiers or synonyms (``taken``);
* a code typed as a word (``ICD10:G20``, ``orpha 98896``, ``CL:0002248``) is the filter on
  that code when the catalogue knows it (search/code_words.py has the forms and the rules);
* searching collections or biobanks, only countries and diseases are understood (KIND_FACETS).

Pure: the disease labels come from the caller (the index's ``code|label`` pairs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from schemas.validators import VECTORS
from schemas.vocabularies import vocabulary
from search.code_words import code_entries, read_code
from search.facets import FACETS_BY_NAME, InvalidQuery, Selection
from search.identifiers import Token, classify, join, tokens
from search.vocab import CELL_TYPE_TREE, SEX_LABELS

MAX_PHRASE = 6  # words in the longest value name looked for
KIND_FACETS = {"collection": ("country", "disease"), "biobank": ("country",)}
"""The facets whose values are understood when searching other records than cell lines."""

CELL_TYPE_ALIASES = {
    "hiPSC": ("ipsc", "ipscs", "hipscs", "ips", "induced pluripotent stem cells"),
    "hESC": ("hescs", "esc", "escs", "embryonic stem cells", "embryonic stem cell"),
    "MSC": ("mscs", "mesenchymal stromal cells"),
    "CARDIOMYOCYTE": ("cardiomyocyte", "cardiomyocytes"),
    "HEPATOCYTE": ("hepatocyte", "hepatocytes"),
    "FIBROBLAST": ("fibroblast", "fibroblasts"),
    "NEURAL": ("neural cells",),
}
SEX_ALIASES = {"FEMALE": ("female", "females"), "MALE": ("male", "males")}
COUNTRY_ALIASES = {"GB": ("uk", "united kingdom", "great britain", "britain"), "US": ("usa",)}


def fold(text: str) -> str:
    """How names are compared: lower case, ``'s`` and punctuation dropped, spaces single."""
    text = re.sub(r"[’']s\b", "", text.lower())
    return " ".join(re.sub(r"[^\w\s-]", " ", text).split())


@dataclass(frozen=True)
class Understood:
    """A run of words read as a facet value: ``words`` as typed, ``values`` selected."""

    facet: str
    values: tuple[str, ...]
    words: str


@dataclass(frozen=True)
class Understanding:
    q: str  # the query as typed
    rest: str  # what is left to search as words
    filters: tuple[Understood, ...] = ()

    def apply(self, params: Any) -> Any:
        """The search parameters with the words replaced by the filters they name."""
        selections = dict(params.selections)
        for f in self.filters:
            if f.facet not in selections:
                selections[f.facet] = Selection(tuple(sorted(f.values)))
        return replace(params, q=self.rest, selections=selections)

    def literal(self, understood: Understood) -> str:
        """The query with these words quoted: searched as words, not as a filter. Each time
        they occur: a repeat of them was dropped as the same value, and would be read again."""
        out: list[Token] = []
        parts = tokens(self.q)
        i = 0
        n = len(understood.words.split())
        while i < len(parts):
            run = parts[i : i + n]
            text = " ".join(t.text for t in run)
            if text == understood.words and not any(t.quoted for t in run):
                out.append(Token(understood.words, quoted=True))
                i += n
                continue
            out.append(parts[i])
            i += 1
        return join(out)


class _One:
    """One URL value, as a facet parses it (so a code is checked as the URL's would be)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def getlist(self, name: str) -> list[str]:
        return [self.value] if name == "disease" else []

    def get(self, name: str, default: Any = None) -> Any:
        return default


def names(disease_labels: Mapping[str, str] | None = None) -> dict[str, tuple[str, set[str]]]:
    """Folded value name -> (facet, values) for every facet value that can be named."""
    table: dict[str, tuple[str, set[str]]] = {}

    def add(name: str, facet: str, value: str) -> None:
        key = fold(name)
        if not key:
            return
        entry = table.setdefault(key, (facet, set()))
        if entry[0] == facet:
            entry[1].add(value)

    for code, (label, _) in CELL_TYPE_TREE.items():
        if code in ("stem", "differentiated", "OTHER", "somatic_stem"):
            continue
        add(code, "cell_type", code)
        if code in ("pluripotent", "HSPC", "RPE", "CANCER", "NEURAL"):
            add(label, "cell_type", code)
    for code, aliases in CELL_TYPE_ALIASES.items():
        for alias in aliases:
            add(alias, "cell_type", code)
    for code in SEX_LABELS:
        for alias in SEX_ALIASES.get(code, ()):
            add(alias, "sex", code)
    countries = vocabulary("countries")
    for code in countries.codes:
        add(countries.label(code), "country", code)
    for code, aliases in COUNTRY_ALIASES.items():
        for alias in aliases:
            add(alias, "country", code)
    for vector in VECTORS:
        if vector not in ("none", "other"):
            add(vector, "vector", vector)
    for code, label in (disease_labels or {}).items():
        if ":" in code and _is_disease(code):
            add(label, "disease", code)
    table.update(code_entries(disease_labels))  # keys with a ":": no folded name has one
    return table


def _is_disease(code: str) -> bool:
    """Labels of other codes come too (a Directory network id has a ":"): only diseases."""
    try:
        return FACETS_BY_NAME["disease"].parse(_One(code)) is not None
    except InvalidQuery:
        return False


def understand(
    q: str,
    disease_labels: Mapping[str, str] | None = None,
    selections: Mapping[str, Selection] | None = None,
    table: Mapping[str, tuple[str, set[str]]] | None = None,
    facets: Collection[str] | None = None,
    taken: Collection[str] = (),
    unambiguous: Collection[str] = (),
) -> Understanding:
    """Read the words of ``q`` that name facet values (see the module's rules); only values
    of ``facets`` when given (collections and biobanks have no cell type, sex or vector).
    ``taken``: words that are records' identifiers or synonyms, never read as values;
    ``unambiguous``: the bare codes (``G20``) that may be read as codes (the engine said so)."""
    table = table if table is not None else names(disease_labels)
    if facets is not None:
        table = {k: v for k, v in table.items() if v[0] in facets}
    selections = selections or {}
    words = _Words(table, {w.lower() for w in taken}, {w.lower() for w in unambiguous})
    parts = tokens(q)
    rest: list[Token] = []
    found: list[Understood] = []
    i = 0
    while i < len(parts):
        hit = words.read(parts, i, lambda f, v: _fits(f, v, selections, found))
        if hit:
            # Else the URL's filter, or the words before, say it already.
            if hit.facet not in selections and not _repeats(hit.facet, set(hit.values), found):
                found.append(hit)
            i += len(hit.words.split())  # (words not quoted hold no space)
        else:
            rest.append(parts[i])
            i += 1
    return Understanding(q, join(rest), tuple(found))


@dataclass(frozen=True)
class _Words:
    """What the words of one query are read against."""

    table: Mapping[str, tuple[str, set[str]]]
    taken: set[str]
    unambiguous: set[str]

    def read(
        self, parts: list[Token], i: int, fits: Callable[[str, set[str]], bool]
    ) -> Understood | None:
        """The longest run of words from ``parts[i]`` that is a code or a value's name and
        ``fits``; None when there is none."""
        if parts[i].quoted or classify(parts[i].text):
            return None
        for n in range(min(MAX_PHRASE, len(parts) - i), 0, -1):
            run = parts[i : i + n]
            if any(t.quoted or t.text.lower() in self.taken for t in run):
                continue
            text = " ".join(t.text for t in run)
            entry = self._code(run) or self.table.get(fold(text))
            if entry and fits(entry[0], entry[1]):
                return Understood(entry[0], tuple(sorted(entry[1])), text)
        return None

    def _code(self, run: list[Token]) -> tuple[str, set[str]] | None:
        typed = read_code([t.text for t in run]) if len(run) <= 2 else None
        if typed is None or (typed.bare and run[0].text.lower() not in self.unambiguous):
            return None
        return self.table.get(typed.code)


def _repeats(facet: str, values: set[str], found: list[Understood]) -> bool:
    """Whether a run names a value the words already named (one shared value suffices: a
    label several codes carry names the code typed before it)."""
    return any(f.facet == facet and not values.isdisjoint(f.values) for f in found)


def _fits(
    facet: str, values: set[str], selections: Mapping[str, Selection], found: list[Understood]
) -> bool:
    if _repeats(facet, values, found):
        return True  # read, then dropped by understand()
    if any(f.facet == facet for f in found):
        return False  # one value per facet from the words: "male female" stays words
    sel = selections.get(facet)
    return sel is None or values <= set(sel.values)
