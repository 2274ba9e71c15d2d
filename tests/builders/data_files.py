"""Where the real public data files are: ../shared/data beside the project (never copied in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellfed.config import PROJECT_ROOT

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def shared(*parts: str) -> Path:
    """A path under the shared data folder; the test is skipped if it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (the shared data folder is beside CI)")
    return path
