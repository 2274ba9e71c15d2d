"""The node's own JSON catalogue format: the document is the catalogue, checked as it is."""

from __future__ import annotations

from typing import Any

from federation.node.imports.report import CATALOGUE_SECTIONS, Conversion, Problem
from federation.node.imports.sources import Files


def looks_like(data: Any) -> bool:
    return isinstance(data, dict) and bool(
        {"schema_version", *CATALOGUE_SECTIONS} & set(map(str, data))
    )


def convert(files: Files, parsed: dict[str, Any]) -> Conversion:
    """``parsed`` holds each file's JSON (already decoded by the format detection)."""
    if len(files) != 1:
        names = ", ".join(sorted(files))
        return Conversion(
            names, "json", problems=[Problem(names, "", "import one JSON catalogue at a time")]
        )
    (name,) = files
    data = parsed[name]
    conversion = Conversion(name, "json", data)
    if isinstance(data, dict):
        for section, kind in CATALOGUE_SECTIONS.items():
            rows = data.get(section)
            if isinstance(rows, list):
                conversion.mapping.mapped(section, kind, len(rows))
    return conversion
