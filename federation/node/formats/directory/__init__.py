"""BBMRI-ERIC Directory exports: the MOLGENIS EMX2 "biobank-directory" CSV set, both ways.

* read.py: :func:`convert` maps an export (files, a folder or a zip) onto catalogue records,
  with a mapping report; :func:`looks_like` tells an export from other files;
* write.py: :func:`export` / :func:`export_zip` write a node's catalogue back as the same
  tables, in the Directory's spellings, so an export imports back to identical records;
* emx2.py: what both directions share: the table names, the quality-label tables, the
  columns the model has no place for, and the disease-code spellings.
* labels.py: which file is which table and which column which attribute, by label (other
  model versions, the export's own ``molgenis.csv``);
* codes.py: the Directory's vocabularies, and our codes mapped onto them for the export
  (left out and reported where it has none).

Callers use this package (``directory.convert``, ``directory.export_zip``), not its modules.
"""

from __future__ import annotations

from federation.node.formats.directory.emx2 import DROPPED, ICD_PREFIX, REQUIRED, TABLES
from federation.node.formats.directory.read import (
    DUO_SPECIFICITY,
    PSEUDONYM_DOMAIN,
    ROLE_MAILBOX,
    convert,
    looks_like,
)
from federation.node.formats.directory.write import (
    BIOBANK_COLUMNS,
    COLLECTION_COLUMNS,
    DISEASE_COLUMNS,
    NETWORK_COLUMNS,
    PERSON_COLUMNS,
    QUALITY_COLUMNS,
    export,
    export_with_report,
    export_zip,
)

__all__ = [
    "BIOBANK_COLUMNS",
    "COLLECTION_COLUMNS",
    "DISEASE_COLUMNS",
    "DROPPED",
    "DUO_SPECIFICITY",
    "ICD_PREFIX",
    "NETWORK_COLUMNS",
    "PERSON_COLUMNS",
    "PSEUDONYM_DOMAIN",
    "QUALITY_COLUMNS",
    "REQUIRED",
    "ROLE_MAILBOX",
    "TABLES",
    "convert",
    "export",
    "export_with_report",
    "export_zip",
    "looks_like",
]
