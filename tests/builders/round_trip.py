"""The export → import round trip that several features check their fields survive."""

from __future__ import annotations

from pathlib import Path

from federation.node.exporter import catalogue_document, export
from federation.node.formats.sources import expand
from federation.node.importer import import_files
from federation.node.store import CatalogueStore

SPREADSHEET_FORMATS = ("json", "xlsx", "csv")


def assert_round_trips(source: CatalogueStore, tmp_path: Path) -> None:
    """Export ``source`` in each format and import it into a fresh store: the same catalogue
    document comes back, with no file problem and no import error."""
    original = catalogue_document(source)
    for fmt in SPREADSHEET_FORMATS:
        exported = export(source, fmt)
        files, problems = expand(exported.filename, exported.content)
        assert not problems, (fmt, problems)
        target = CatalogueStore(f"sqlite:///{tmp_path / fmt}.sqlite3")
        target.create_schema()
        report = import_files(target, files)
        assert report.ok, (fmt, report.lines()[:5])
        assert catalogue_document(target) == original, fmt
        target.dispose()
