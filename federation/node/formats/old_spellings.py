"""Old and foreign spellings of codes, normalised before an import is checked, and reported.

The schemas accept one spelling per code. Catalogues written before MIABIS 3 (or by other
systems) spell some codes otherwise: the Directory's June 2023 collection categories
(``cancer`` for ``oncology``), the Directory draft's ``temperatureLNvapor`` and GBN's
``temperatureGN`` for ``temperatureLNvapour``, Directory capability codes in the free-text
``capabilities`` list. Each such value is replaced by the code, and the mapping report says
what became what (``values changed``), so the import neither fails on a spelling nor changes
a value silently. Free-text capabilities that are no MIABIS capability stay free text, and the
report names the records that hold them.
"""

from __future__ import annotations

from typing import Any

from federation.node.formats.report import CATALOGUE_SECTIONS, MappingReport
from schemas.miabis import CAPABILITY_LISTS
from schemas.vocabularies import vocabulary

LIST_FIELDS = {
    "collections": (
        ("storage_temperatures", "storage_temperatures"),
        ("categories", "collection_categories"),
        ("sample_sources", "sample_sources"),
        ("species", "species"),
        ("dataset_types", "dataset_types"),
    ),
    "cell_lines": (("dataset_types", "dataset_types"),),
}
"""Section -> (list field, its vocabulary) whose old spellings are replaced."""
VALUE_FIELDS = {
    "cell_lines": (
        (("storage", "temperature"), "storage_temperatures"),
        (("sample_source",), "sample_sources"),
        (("species",), "species"),
    ),
}
"""Section -> (path to one value, its vocabulary)."""


def normalise(document: Any, mapping: MappingReport) -> None:
    """Replace old spellings in ``document`` (a catalogue document) in place, reporting each."""
    if not isinstance(document, dict):
        return
    for section in CATALOGUE_SECTIONS:
        rows = document.get(section)
        if not isinstance(rows, list):
            continue
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                continue
            for name, vocab in LIST_FIELDS.get(section, ()):
                _normalise_list(row, name, vocab, f"{section}.{name}", mapping)
            for path, vocab in VALUE_FIELDS.get(section, ()):
                _normalise_value(row, path, vocab, f"{section}.{'.'.join(path)}", mapping)
            if section == "biobanks":
                _sort_capabilities(row, f"{section}[{i}]", mapping)


def _respelled(vocab: str, value: Any) -> str | None:
    """The code an old spelling stands for, or None when it is a code already or unknown."""
    if not isinstance(value, str) or value in vocabulary(vocab):
        return None
    return vocabulary(vocab).resolve(value)


def _normalise_list(
    row: dict[str, Any], name: str, vocab: str, target: str, mapping: MappingReport
) -> None:
    values = row.get(name)
    if not isinstance(values, list):
        return
    out: list[Any] = []
    for value in values:
        code = _respelled(vocab, value)
        if code is not None:
            mapping.value(target, value, code)
            value = code
        if value not in out:  # two old spellings of one code become one entry
            out.append(value)
    row[name] = out


def _normalise_value(
    row: dict[str, Any], path: tuple[str, ...], vocab: str, target: str, mapping: MappingReport
) -> None:
    holder: Any = row
    for step in path[:-1]:
        holder = holder.get(step) if isinstance(holder, dict) else None
    if not isinstance(holder, dict):
        return
    code = _respelled(vocab, holder.get(path[-1]))
    if code is not None:
        mapping.value(target, holder[path[-1]], code)
        holder[path[-1]] = code


def _sort_capabilities(row: dict[str, Any], where: str, mapping: MappingReport) -> None:
    """Free-text capabilities that name a MIABIS capability move to its list; the rest stay."""
    free = row.get("capabilities")
    if not isinstance(free, list):
        return
    vocab = vocabulary("biobank_capabilities")
    lists = {name: field for field, name in CAPABILITY_LISTS.items()}
    kept: list[Any] = []
    for value in free:
        code = vocab.resolve(value) if isinstance(value, str) else None
        if code is None:
            kept.append(value)
            continue
        field = lists[vocab[code].extra["list"]]
        chosen = row.setdefault(field, [])
        if isinstance(chosen, list) and code not in chosen:
            chosen.append(code)
        mapping.value(f"biobanks.capabilities -> {field}", value, code)
    row["capabilities"] = kept
    if kept:
        rid = row.get("id")
        mapping.note(
            f"{where}" + (f" (id {rid})" if isinstance(rid, str) else "") + ": capabilities "
            f"{', '.join(map(repr, kept))} are no MIABIS capability; kept as free text"
        )
