"""The node's own JSON catalogue format: the document is the catalogue, checked as it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from federation.node.formats.report import CATALOGUE_SECTIONS, Conversion, Problem
from federation.node.formats.sources import Files


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


def read_json_file(path: Path) -> tuple[Any, list[Problem]]:
    try:
        return parse_json(path.read_bytes(), str(path))
    except FileNotFoundError:
        return None, [Problem(str(path), "", "file does not exist")]


def parse_json(raw: bytes, source: str) -> tuple[Any, list[Problem]]:
    try:
        return json.loads(raw.decode("utf-8-sig")), []
    except UnicodeDecodeError as exc:
        return None, [Problem(source, "", f"not UTF-8 text (byte {exc.start})")]
    except json.JSONDecodeError as exc:
        return None, [
            Problem(
                source, "", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            )
        ]
    except RecursionError:
        return None, [Problem(source, "", "not valid JSON: nested too deeply")]
