"""Where the real public data files are: ../shared/data beside the project (never copied in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellfed.config import PROJECT_ROOT
from federation.node.formats.sources import Files, read_paths

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def shared(*parts: str) -> Path:
    """A path under the shared data folder; the test is skipped if it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (the shared data folder is beside CI)")
    return path


# Where the real hPSCreg records are imported into: EBiSC's biobank and one collection.
EBISC_PLACE = {
    "schema_version": "2",
    "biobanks": [{"id": "ebisc", "name": "EBiSC", "country": "DE"}],
    "collections": [{"id": "ebisc-ipsc", "biobank": "ebisc", "name": "EBiSC iPSC lines"}],
}


def hpscreg_records() -> Files:
    """The twenty real hPSCreg records of EBiSC lines, read as import files."""
    files, problems = read_paths(sorted(shared("ebisc-hpscreg", "hotstart-5").glob("*.json")))
    assert not problems and len(files) == 20
    return files
