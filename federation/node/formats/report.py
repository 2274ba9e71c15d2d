"""What an import found: problems that stop it, and how the source mapped onto the model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CATALOGUE_SECTIONS = {
    "networks": "network",
    "biobanks": "biobank",
    "collections": "collection",
    "cell_lines": "cell_line",
}
"""Sections of a catalogue document and the record kind each holds, in dependency order."""


@dataclass
class Problem:
    """One thing wrong, located: file (and sheet), row or record, field."""

    source: str  # "bank.json", "bank.xlsx: sheet cell_lines"
    where: str  # "cell_lines[3] (id WAe009-A)", "row 5 (id L2)", or "" for the whole file
    message: str  # "'X' is not a donor sex; ..."
    field: str = ""  # "donor.sex"

    def __str__(self) -> str:
        message = f"{self.field}: {self.message}" if self.field else self.message
        return ": ".join(part for part in (self.source, self.where, message) if part)


@dataclass
class MappingReport:
    """What in the source became what in the catalogue, and what was left out and why."""

    fields: Counter[tuple[str, str]] = field(default_factory=Counter)
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)
    values: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def mapped(self, source: str, target: str, n: int = 1) -> None:
        self.fields[(source, target)] += n

    def drop(self, source: str, reason: str, example: Any = None) -> None:
        self.dropped[(source, reason)] += 1
        if example not in (None, "") and (source, reason) not in self.examples:
            self.examples[(source, reason)] = str(example)[:80]

    def value(self, target: str, old: str, new: str) -> None:
        self.values[(target, old, new)] += 1

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @property
    def empty(self) -> bool:
        return not (self.fields or self.dropped or self.values or self.notes)

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.fields:
            out.append("mapped:")
            out += [f"  {s} -> {t}: {n}" for (s, t), n in sorted(self.fields.items())]
        if self.values:
            out.append("values changed:")
            out += [f"  {t}: {o!r} -> {v!r}: {n}" for (t, o, v), n in sorted(self.values.items())]
        if self.dropped:
            out.append("not mapped (left out):")
            for (s, reason), n in sorted(self.dropped.items()):
                example = self.examples.get((s, reason))
                out.append(f"  {s}: {reason}: {n}" + (f" (e.g. {example!r})" if example else ""))
        out += [f"note: {n}" for n in self.notes]
        return out


Locate = Callable[[str, int, "str | None", str], tuple[str, str, str]]
"""(section, index, record id, field path) -> (source, where, field) for a problem."""


def locate_in_document(source: str) -> Locate:
    """Problems in a catalogue document point at its sections: ``cell_lines[3] (id X)``."""

    def locate(section: str, index: int, rid: str | None, path: str) -> tuple[str, str, str]:
        return source, f"{section}[{index}]" + (f" (id {rid})" if rid else ""), path

    return locate


@dataclass
class Conversion:
    """A source turned into a catalogue document, before it is checked and stored."""

    source: str
    format: str
    document: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    mapping: MappingReport = field(default_factory=MappingReport)
    withdrawn: set[tuple[str, str]] = field(default_factory=set)
    rejected: set[tuple[str, str]] = field(default_factory=set)
    """(kind, id) of records left out with a problem: others may still name them."""
    locate: Locate | None = None

    def where(self, section: str, index: int, rid: str | None, path: str = ""):
        return (self.locate or locate_in_document(self.source))(section, index, rid, path)
