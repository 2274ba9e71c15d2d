"""Turn marshmallow's nested error dicts into lines a person can act on."""

from __future__ import annotations

from typing import Any


def format_errors(messages: Any, prefix: str = "") -> list[str]:
    """Flatten ``{"donor": {"sex": ["Must be ..."]}}`` into ``["donor.sex: Must be ..."]``."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            lines.extend(format_errors(value, path))
        return lines
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix}: {m}" if prefix else m for m in messages]
    if isinstance(messages, list):
        return [line for m in messages for line in format_errors(m, prefix)]
    return [f"{prefix}: {messages}" if prefix else str(messages)]
