"""Time the import of the real BBMRI-ERIC Directory snapshot into a fresh node, then a
re-import of the same files (which must change nothing), and print the figures.

    python bench/directory_import.py [DATABASE_URL]

Default database: a fresh SQLite file in a temporary folder. Reads ../shared/data beside
the project. Not a test: it only reports.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from federation.node.formats.sources import read_paths
from federation.node.importer import import_files
from federation.node.store import CatalogueStore

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bbmri-eric-directory-2023"


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"the Directory snapshot is not at {DATA}")
    with tempfile.TemporaryDirectory() as tmp:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tmp}/bench.sqlite3"
        store = CatalogueStore(url)
        store.create_schema()
        started = time.monotonic()
        files, _ = read_paths([DATA])
        read = time.monotonic() - started
        first = import_files(store, files, source="directory", pseudonym_key="bench")
        second = import_files(store, files, source="directory", pseudonym_key="bench")
        store.dispose()
    print(f"database: {url.split(':')[0]}")
    print(f"read {len(files)} files: {read:.2f} s")
    for name, report in (("first import", first), ("re-import", second)):
        w = report.written
        print(
            f"{name}: {report.seconds:.2f} s; {sum(report.records.values())} records "
            f"({report.records}); created {w.created}, updated {w.updated}, "
            f"unchanged {w.unchanged}, withdrawn {w.withdrawn}"
        )


if __name__ == "__main__":
    main()
