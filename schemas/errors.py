"""Turn marshmallow's nested error dicts into lines a person can act on."""

from __future__ import annotations

from typing import Any


def error_items(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten ``{"donor": {"sex": ["Must be ..."]}}`` into ``[("donor.sex", "Must be ...")]``.

    List positions become ``[i]``: ``qc[2].result``. The path is "" for a whole-record error.
    """
    if isinstance(messages, dict):
        items: list[tuple[str, str]] = []
        for key, value in messages.items():
            if key == "_schema":
                path = prefix
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            items.extend(error_items(value, path))
        return items
    if isinstance(messages, list):
        return [item for m in messages for item in error_items(m, prefix)]
    return [(prefix, str(messages))]


def format_errors(messages: Any, prefix: str = "") -> list[str]:
    """Flatten ``{"donor": {"sex": ["Must be ..."]}}`` into ``["donor.sex: Must be ..."]``."""
    return [f"{path}: {m}" if path else m for path, m in error_items(messages, prefix)]
