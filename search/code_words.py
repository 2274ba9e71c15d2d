"""Codes typed as words: the spellings researchers type for a disease or cell-type code, read
as the value the facets hold, so ``q=ICD10:G20`` is the filter ``disease=ICD10:G20``.

The forms read (any case; ``:``, ``_``, a space or nothing between scheme and number):

* ICD-10: ``ICD10:G20``, ``ICD-10:G20``, ``icd10 g20``, ``ICD-10 G20``, ``ICD:G20.1``; a bare
  ``G20`` only when it is unambiguous (see below);
* Orphanet: ``ORPHA:98896``, ``orpha 98896``, ``Orphanet_98896`` (the ORDO IRI's name),
  ``ORDO:98896``;
* MONDO and the Disease Ontology: ``MONDO:0005180``, ``MONDO_0005180``, ``DOID:14330``;
* the Cell Ontology: ``CL:0002248`` is the cell-type node the vocabularies map it to;
* an IRI (``http://www.orpha.net/ORDO/Orphanet_98896``) by its last segment; only an http(s)
  one (``foo/ICD10:G20`` and ``x#G20`` are words).

A code is read only when the catalogue knows it: a disease code the nodes publish or the
vocabulary labels (schemas/vocabularies/diseases.json), the ICD-10 category of such a code
(``ICD10:G12`` for ``G12.2``: the filter then includes the narrower codes), a Cell Ontology id
of a cell type. Any other code (``OMIM:168600``, an ICD-10 code nobody holds) stays a word, so
the search says nothing matched instead of showing an empty filter. A bare ``G20`` could be
something else (``P53`` is a protein, ``C12`` a clone): it is read only when no record has it
as an identifier or synonym and every record whose text mentions it carries the code; the
search service asks the engine both in its identifying request (:func:`with_code_checks`).

Pure: the labels and the engine's answers come from the caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.vocabularies import vocabulary
from search.vocab import DISEASE_NODE

SCHEMES = {
    "icd10": "ICD10",
    "icd-10": "ICD10",
    "icd": "ICD10",
    "orpha": "ORPHA",
    "orphanet": "ORPHA",
    "ordo": "ORPHA",
    "mondo": "MONDO",
    "doid": "DOID",
    "cl": "CL",
}
"""Scheme names as typed (lower case) -> the scheme of the catalogue's codes."""

VALUES = {
    "ICD10": re.compile(r"[A-Z]\d{2}(\.\d{1,2})?"),
    "ORPHA": re.compile(r"\d{1,7}"),
    "MONDO": re.compile(r"\d{7}"),
    "DOID": re.compile(r"\d{1,7}"),
    "CL": re.compile(r"\d{7}"),
}
_ONE_WORD = re.compile(
    r"(?P<scheme>icd-?10|icd|orpha(?:net)?|ordo|mondo|doid|cl)[:_-]?(?P<value>[a-z0-9.]+)", re.I
)
_IRI = re.compile(r"https?://", re.I)
CELL_TYPE_GROUPS = {"CL:0000034": "stem", "CL:0002248": "pluripotent", "CL:0000723": "somatic_stem"}
"""Cell Ontology ids of the cell-type tree's groups (search/vocab.py); hiPSC's own id is its
parent's, pluripotent stem cell (CL has no iPSC term), so that id is the group."""
NOT_READ = {"OTHER"}  # CL:0000000 "cell" names every line, not the "other" ones


@dataclass(frozen=True)
class TypedCode:
    """A code as the facets hold it (``ICD10:G20``), and whether it was typed bare (``G20``)."""

    code: str
    bare: bool = False


def _canonical(scheme: str, value: str) -> str | None:
    value = value.upper()
    if not VALUES[scheme].fullmatch(value):
        return None
    if scheme in ("ORPHA", "DOID"):
        value = str(int(value))  # ORPHA:098896 is ORPHA:98896
    return f"{scheme}:{value}"


def read_code(words: Sequence[str]) -> TypedCode | None:
    """The code one or two words spell (``ICD10:G20``; ``orpha``, ``98896``), or None."""
    words = [w.rstrip(".") for w in words]  # the full stop after a code ends a sentence
    if len(words) == 2:
        scheme = SCHEMES.get(words[0].lower())
        code = _canonical(scheme, words[1]) if scheme else None
        return TypedCode(code) if code else None
    if len(words) != 1:
        return None
    word = words[0]
    if _IRI.match(word):  # an IRI's last segment; not any word with a / or # in it
        word = re.split(r"[/#]", word)[-1]
    match = _ONE_WORD.fullmatch(word)
    if match:
        code = _canonical(SCHEMES[match["scheme"].lower()], match["value"])
        if code:
            return TypedCode(code)
    if VALUES["ICD10"].fullmatch(word.upper()):
        return TypedCode(f"ICD10:{word.upper()}", bare=True)
    return None


def code_entries(
    disease_labels: Mapping[str, str] | None = None,
) -> dict[str, tuple[str, set[str]]]:
    """Each code the catalogue knows -> (facet, values), as the value-name table holds it
    (search/understanding.py ``names``; its other keys are folded names, never with a ``:``)."""
    table: dict[str, tuple[str, set[str]]] = {}
    diseases = [*(disease_labels or {}), *vocabulary("diseases").codes]
    for code in diseases:
        if ":" not in code or not DISEASE_NODE.match(code):
            continue  # a network's id, an ICD-10 chapter or block: not a node of the tree
        table[code] = ("disease", {code})
        if code.startswith("ICD10:") and "." in code:
            category = code.split(".")[0]
            table.setdefault(category, ("disease", {category}))
    cell_types = vocabulary("cell_types")
    for term in cell_types.terms:
        ontology = term.extra.get("ontology")
        if ontology and term.code not in NOT_READ and ontology not in CELL_TYPE_GROUPS:
            table[ontology] = ("cell_type", {term.code})
    for ontology, node in CELL_TYPE_GROUPS.items():
        table[ontology] = ("cell_type", {node})
    return table


def bare_codes(words: Sequence[str], table: Mapping[str, Any]) -> dict[str, str]:
    """The words typed as bare codes the catalogue knows (``G20``), folded -> code: they
    are read only when the engine says they are unambiguous (:func:`with_code_checks`)."""
    out = {}
    for word in words:
        typed = read_code([word])
        if typed and typed.bare and typed.code in table:
            out[word.lower()] = typed.code
    return out


def with_code_checks(body: dict[str, Any] | None, bare: Mapping[str, str]) -> dict[str, Any]:
    """The identifying request (search/queries.py ``build_identify``), plus for each bare
    code the number of records whose text has the word but not the code (over every record,
    whatever the request's query: a global aggregation)."""
    body = dict(body or {"size": 0, "track_total_hits": False})
    if not bare:
        return body
    checks = {
        f"w{i}": {
            "filter": {
                "bool": {
                    "must": [{"match": {"all_text": {"query": word}}}],
                    "must_not": [{"term": {"disease_nodes": code}}],
                }
            }
        }
        for i, (word, code) in enumerate(sorted(bare.items()))
    }
    body["aggs"] = {**body.get("aggs", {}), "code_words": {"global": {}, "aggs": checks}}
    return body


def read_code_checks(bare: Mapping[str, str], resp: Mapping[str, Any]) -> set[str]:
    """From :func:`with_code_checks`'s answer: the bare codes that are ambiguous (folded),
    which stay words. A check that did not come back counts as ambiguous."""
    checks = resp.get("aggregations", {}).get("code_words", {})
    return {
        word
        for i, (word, _) in enumerate(sorted(bare.items()))
        if checks.get(f"w{i}", {}).get("doc_count", 1) > 0
    }


_CURIE = re.compile(r"[A-Za-z][A-Za-z0-9]*[:_]\d+")  # OMIM:168600, HP:0001250


def unknown_codes(words: Sequence[str], table: Mapping[str, Any]) -> list[str]:
    """The words (as typed) that are a code the catalogue does not know: of a scheme it uses
    (``ICD10:G21``) or of another (``OMIM:168600``). Bare codes are left out: ``G21`` may be
    anything. For the page's "nothing matches" help: those were searched as words."""
    out: list[str] = []
    i = 0
    while i < len(words):
        pair = read_code(words[i : i + 2]) if i + 1 < len(words) else None
        if pair:
            if pair.code not in table:
                out.append(" ".join(words[i : i + 2]))
            i += 2
            continue
        typed = read_code([words[i]])
        if typed:
            unknown = not typed.bare and typed.code not in table
        else:
            unknown = bool(_CURIE.fullmatch(words[i].rstrip(".")))
        if unknown:
            out.append(words[i])
        i += 1
    return out
