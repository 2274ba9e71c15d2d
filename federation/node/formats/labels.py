"""Column and file labels compared the way a person reads them.

``Head of Biobank``, ``head_of_biobank``, ``HEAD-OF-BIOBANK`` and ``headOfBiobank`` are one
label: exports of other model versions, or re-saved by hand, change case and separators but
rarely words. Every reader that matches a column or a file name by label uses
:func:`label_key`, so they all agree on what counts as the same label.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_SEPARATORS = re.compile(r"[\s_\-]+")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
"""File endings a table file may have; what is before them is the table's label."""


def label_key(label: str) -> str:
    """The label with case folded and spaces, underscores and hyphens removed."""
    return _SEPARATORS.sub("", label.strip().casefold())


def file_key(name: str) -> str:
    """The label of a table file: its base name without folder and ending, as a key."""
    base = PurePosixPath(name).name
    for suffix in TABLE_SUFFIXES:
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    return label_key(base)
