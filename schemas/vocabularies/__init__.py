"""Controlled vocabularies: codes and labels kept as data files beside this module.

Each ``<name>.json`` holds ``{"name", "title", "source", "terms": [{"code", "label", ...}]}``;
a term may list ``aliases`` (spellings other systems use, e.g. the Directory's ``UK`` for
``GB``) and extra keys (``kind`` for DUO, ``ontology`` for cell types, ``max`` for age units).
Files are read once, on first use, and cached.

Validation accepts codes only; aliases and near misses are offered as suggestions, and
importers map aliases with :meth:`Vocabulary.resolve`.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from marshmallow import ValidationError
from marshmallow.validate import Validator

HERE = Path(__file__).resolve().parent
LIST_ALL_UP_TO = 30
"""Short vocabularies are listed in full in error messages; long ones are not."""


@dataclass(frozen=True)
class Term:
    code: str
    label: str
    aliases: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def _fold(value: str) -> str:
    """Case, spacing and punctuation do not make a different term."""
    return "".join(ch for ch in value.casefold() if ch.isalnum())


class Vocabulary:
    """One controlled vocabulary, indexed by code, alias and folded spelling."""

    def __init__(self, name: str, title: str, source: str, terms: tuple[Term, ...]) -> None:
        self.name, self.title, self.source, self.terms = name, title, source, terms
        self._by_code = {t.code: t for t in terms}
        self._by_alias = {alias: t.code for t in terms for alias in t.aliases}
        self._by_folded: dict[str, set[str]] = {}
        for term in terms:
            for spelling in (term.code, term.label, *term.aliases):
                self._by_folded.setdefault(_fold(spelling), set()).add(term.code)

    def __repr__(self) -> str:
        return f"Vocabulary({self.name!r}, {len(self.terms)} terms)"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def get(self, code: str) -> Term | None:
        return self._by_code.get(code)

    def __getitem__(self, code: str) -> Term:
        return self._by_code[code]

    def label(self, code: str) -> str:
        """The term's label, or the code itself when it is not in the vocabulary."""
        term = self.get(code)
        return term.label if term else code

    def subset(self, **extra: Any) -> tuple[str, ...]:
        """Codes whose extra attributes match, e.g. ``subset(kind="permission")``."""
        return tuple(
            t.code for t in self.terms if all(t.extra.get(k) == v for k, v in extra.items())
        )

    def resolve(self, value: str) -> str | None:
        """The code meant by ``value``: the code itself, an alias, or a code, label or alias
        that differs only in case, spacing or punctuation. None if not exactly one fits."""
        if value in self._by_code:
            return value
        if value in self._by_alias:
            return self._by_alias[value]
        found = self._by_folded.get(_fold(value), set())
        return next(iter(found)) if len(found) == 1 else None

    def suggest(self, value: str, among: tuple[str, ...] | None = None) -> str | None:
        """The code most likely meant, for a "did you mean" hint."""
        allowed = set(among or self.codes)
        resolved = self.resolve(value)
        if resolved in allowed:
            return resolved
        names: dict[str, str] = {}
        for term in self.terms:
            if term.code in allowed:
                for name in (term.code, term.label, *term.aliases):
                    names.setdefault(_fold(name), term.code)
        close = difflib.get_close_matches(_fold(value), list(names), n=1, cutoff=0.75)
        return names[close[0]] if close else None

    def problem(self, value: Any, among: tuple[str, ...] | None = None, title: str = "") -> str:
        """A message saying what is wrong with ``value`` and what was probably meant."""
        allowed = among or self.codes
        what = title or self.title
        article = "an" if what[:1].lower() in "aeiou" else "a"
        head = f"{value!r} is not {article} {what}"
        guess = self.suggest(value, allowed) if isinstance(value, str) else None
        if guess:
            return f"{head}; did you mean {guess!r}?"
        if len(allowed) <= LIST_ALL_UP_TO:
            return f"{head}; must be one of: {', '.join(allowed)}"
        return f"{head}; see the '{self.name}' vocabulary for the codes"


@cache
def vocabulary(name: str) -> Vocabulary:
    """The vocabulary in ``<name>.json``, read once."""
    path = HERE / f"{name}.json"
    if not path.is_file():
        known = ", ".join(names())
        raise LookupError(f"no vocabulary named {name!r}; known: {known}")
    doc = json.loads(path.read_text(encoding="utf-8"))
    terms = tuple(
        Term(
            code=t["code"],
            label=t["label"],
            aliases=tuple(t.get("aliases", ())),
            extra={k: v for k, v in t.items() if k not in ("code", "label", "aliases")},
        )
        for t in doc["terms"]
    )
    return Vocabulary(doc["name"], doc["title"], doc.get("source", ""), terms)


def names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.json"))


class InVocabulary(Validator):
    """Accept a vocabulary's codes (or the subset with matching extra attributes), and say
    what was probably meant otherwise. The file is read on the first check, not at import."""

    def __init__(self, name: str, title: str = "", **subset: Any) -> None:
        self.name = name
        self.title = title
        self.subset = subset

    def allowed(self) -> tuple[str, ...]:
        vocab = vocabulary(self.name)
        return vocab.subset(**self.subset) if self.subset else vocab.codes

    def __call__(self, value: Any) -> Any:
        # A set of the codes, made on the first check: each harvested record asks many times.
        known = self.__dict__.get("_known") or self.__dict__.setdefault(
            "_known", frozenset(self.allowed())
        )
        if isinstance(value, str) and value in known:
            return value
        allowed = self.allowed()
        if value not in allowed:
            raise ValidationError(vocabulary(self.name).problem(value, allowed, self.title))
        return value

    def _repr_args(self) -> str:
        return f"name={self.name!r}"
