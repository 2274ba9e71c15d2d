"""The node's own JSON catalogue format: the document is the catalogue, checked as it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from federation.node.formats import limits as _limits
from federation.node.formats.limits import size_text, too_deep
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
    """Decode one JSON file, refused when larger than ``LIMITS.json_bytes`` or nested deeper
    than ``LIMITS.json_depth`` (federation/node/formats/limits.py)."""
    limits = _limits.LIMITS
    if len(raw) > limits.json_bytes:
        return None, [
            Problem(
                source,
                "",
                f"the file is larger than {size_text(limits.json_bytes)}, the most an import "
                "reads in one JSON file: split it",
            )
        ]
    deep = Problem(source, "", f"not valid JSON: nested deeper than {limits.json_depth} levels")
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return None, [Problem(source, "", f"not UTF-8 text (byte {exc.start})")]
    except json.JSONDecodeError as exc:
        return None, [
            Problem(
                source, "", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            )
        ]
    except RecursionError:
        return None, [deep]
    except ValueError as exc:  # a number of more than 4,300 digits
        return None, [Problem(source, "", f"not valid JSON: {exc}")]
    if too_deep(value, limits.json_depth):
        return None, [deep]
    return value, []
