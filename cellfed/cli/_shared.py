"""What more than one command group needs: settings with the command line's overrides."""

from __future__ import annotations

from typing import Any

from cellfed.config import load_config


def config_with(role: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The settings, with each option the user gave (not None) over them; with a ``role``,
    checked for it in production (cellfed/config.py, ``check_production``)."""
    return load_config({k: v for k, v in overrides.items() if v is not None}, role=role)
