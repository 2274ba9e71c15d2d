"""Leave out what a foreign source holds but the model cannot: value by value, reported.

Mappers from other systems (the Directory, hPSCreg) build records field by field; real
exports carry values the schemas refuse (a negative age, a birth year as an age, a broken
URL). Rather than refusing a whole catalogue for one such value, the value is dropped and
the mapping report says which, why and how often. What cannot be dropped (a required field,
a record-level rule) stays a problem, and the import stops as usual.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from marshmallow import Schema, ValidationError

from federation.node.formats.report import MappingReport
from schemas import schema_for
from schemas.errors import error_items

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
MAX_ROUNDS = 8


def _steps(path: str) -> list[str | int]:
    return [int(i) if i else key for key, i in _STEP.findall(path)]


def _remove(record: dict[str, Any], steps: list[str | int]) -> Any:
    """Remove the value at ``steps``; if it is not there (a required part missing), remove
    the smallest enclosing object instead. Returns what was removed (None: nothing)."""
    parents: list[tuple[Any, str | int]] = []
    node: Any = record
    for step in steps:
        try:
            child = node[step]
        except (KeyError, IndexError, TypeError):
            break
        parents.append((node, step))
        node = child
    else:
        container, key = parents[-1]
        return container.pop(key)
    # Missing: drop the object that needed it (not the record itself).
    if len(parents) >= 1:
        container, key = parents[-1]
        return container.pop(key)
    return None


@cache
def _schema(kind: str) -> Schema:
    """One schema per kind for this module: building one costs more than a load."""
    return schema_for(kind)


def load_leniently(
    kind: str,
    record: dict[str, Any],
    origin: dict[str, str],
    mapping: MappingReport,
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate ``record``, dropping each value the schema refuses (reported against the
    source column in ``origin``, keyed by the record's top-level field). Returns the loaded
    record, or None and the (field, message) problems that dropping cannot solve."""
    schema = _schema(kind)
    for _ in range(MAX_ROUNDS):
        try:
            return schema.load(record), []
        except ValidationError as exc:
            errors = error_items(exc.messages)
        fixed = False
        # Deepest and last first, so removing list item 9 does not shift item 10.
        by_position = sorted(errors, key=lambda e: [(isinstance(s, int), s) for s in _steps(e[0])])
        for path, message in reversed(by_position):
            steps = _steps(path)
            field = schema.fields.get(str(steps[0])) if steps else None
            if field is None or (len(steps) == 1 and field.required):
                continue  # a record-level rule or a required value: the import must say so
            removed = _remove(record, steps)
            if removed is not None:
                source = origin.get(str(steps[0]), str(steps[0]))
                mapping.drop(source, f"refused by the model ({message})", removed)
                fixed = True
        if not fixed:
            return None, errors
    try:
        return schema.load(record), []
    except ValidationError as exc:
        return None, error_items(exc.messages)
