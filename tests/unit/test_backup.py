"""Backups and restores of the node's and the portal's databases (cellfed/backup.py), on
SQLite and PostgreSQL: round trips, the manifest's refusals, and restores that fail leaving
the database as it was."""

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cellfed import backup as backups
from cellfed.backup import BackupError, Target, backup, read_manifest, restore
from cellfed.cli import main
from federation.database import database_engine
from federation.node.migrate import heads as node_heads
from federation.node.store import CatalogueStore
from portal import migrations as portal_migrations
from schemas import schema_for
from tests.builders import BIOBANK, COLLECTION, cell_line


def records(*lines):
    raw = [("biobank", BIOBANK), ("collection", COLLECTION)] + [("cell_line", x) for x in lines]
    return [(kind, schema_for(kind).load(record)) for kind, record in raw]


def state(store: CatalogueStore):
    """Everything the feed says: the latest change and every entry, in order."""
    return store.latest_seq(), store.changes(0, 10_000)


def node_target(store: CatalogueStore, node_id: str = "n1") -> Target:
    return Target("node", store.engine.url.render_as_string(hide_password=False), node_id)


def rewrite(path: Path, out: Path, manifest=None, members=None) -> Path:
    """A copy of a backup with some of its manifest's fields or members replaced."""
    with tarfile.open(path, "r:gz") as archive:
        contents = {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}
    data = json.loads(contents[backups.MANIFEST])
    data.update(manifest or {})
    contents.update(members or {})
    contents[backups.MANIFEST] = json.dumps(data).encode()
    with tarfile.open(out, "w:gz") as archive:
        for name in [backups.MANIFEST, *(n for n in contents if n != backups.MANIFEST)]:
            info = tarfile.TarInfo(name)
            info.size = len(contents[name])
            archive.addfile(info, io.BytesIO(contents[name]))
    return out


# -- round trips --------------------------------------------------------------------------
def test_a_node_restored_from_its_backup_is_as_it_was_and_its_sequence_goes_back(store, tmp_path):
    store.write(records(cell_line("L1"), cell_line("L2")))
    store.withdraw("cell_line", "L2")
    before = state(store)
    manifest = backup(node_target(store), tmp_path / "node.tar.gz")
    assert (manifest.kind, manifest.node_id, manifest.latest_seq) == ("node", "n1", before[0])
    assert set(manifest.revision) == node_heads()

    store.write(records(cell_line("L1", availability="not_available"), cell_line("L3")))
    store.withdraw("cell_line", "L1")
    assert store.latest_seq() > before[0]
    with store.engine.begin() as conn:  # as a newer revision might have made
        conn.execute(sa.text("CREATE TABLE later (id INTEGER PRIMARY KEY)"))

    report = restore(node_target(store), tmp_path / "node.tar.gz")
    assert state(store) == before  # the live store's own connections see the restored data
    assert "later" not in sa.inspect(store.engine).get_table_names()
    assert store.withdrawn("cell_line", "L2")["name"] == "L2"  # kept content comes back too
    assert report.replaced_seq > before[0] and report.manifest.latest_seq == before[0]
    assert any("read it again from 0" in line for line in report.lines())


def test_the_manifest_says_what_the_backup_holds(store, tmp_path):
    store.write(records(cell_line("L1")))
    path = tmp_path / "node.tar.gz"
    backup(node_target(store), path)
    manifest = read_manifest(path)
    with tarfile.open(path, "r:gz") as archive:
        names = archive.getnames()
        payload = archive.extractfile(names[1]).read()
    assert names == ["manifest.json", manifest.database_member]
    assert manifest.files[names[1]]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert manifest.format == "cellfed-backup" and manifest.format_version == 1
    assert manifest.database == store.engine.dialect.name
    assert manifest.latest_seq == store.latest_seq() and manifest.created_at


def test_the_portal_database_and_its_attachments_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    engine = database_engine(url)
    portal_migrations.upgrade(engine)
    files = tmp_path / "attachments"
    files.mkdir()
    (files / ("a" * 32)).write_bytes(b"%PDF-1.7 ethics approval")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO access_requests VALUES ('r1', 'iss', 'sub', 'Ann', NULL, '{}', "
                "CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO access_attachments (id, request_id, filename, stored_name, "
                "content_type, size, sha256, created_at) VALUES ('f1', 'r1', 'ethics.pdf', "
                ":name, 'application/pdf', 24, 'x', CURRENT_TIMESTAMP)"
            ),
            {"name": "a" * 32},
        )
    target = Target("portal", url, attachments=files)
    manifest = backup(target, tmp_path / "portal.tar.gz")
    assert manifest.kind == "portal" and f"attachments/{'a' * 32}" in manifest.files

    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM access_attachments"))
        conn.execute(sa.text("DELETE FROM access_requests"))
    (files / ("a" * 32)).unlink()
    report = restore(target, tmp_path / "portal.tar.gz")
    assert report.attachments_written == 1
    assert (files / ("a" * 32)).read_bytes() == b"%PDF-1.7 ethics approval"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT owner_name FROM access_requests")).scalar() == "Ann"
    engine.dispose()


# -- refusals -----------------------------------------------------------------------------
@pytest.fixture
def node_backup(store, tmp_path):
    store.write(records(cell_line("L1")))
    path = tmp_path / "node.tar.gz"
    backup(node_target(store), path)
    store.write(records(cell_line("L2")))
    return path


def test_a_node_backup_is_not_restored_into_the_portal_nor_the_other_way(
    node_backup, store, tmp_path
):
    portal_url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    engine = database_engine(portal_url)
    portal_migrations.upgrade(engine)
    engine.dispose()
    portal = Target("portal", portal_url, attachments=tmp_path / "files")
    with pytest.raises(BackupError, match="a backup of a node's database, not of the portal's"):
        restore(portal, node_backup)
    portal_backup = tmp_path / "portal.tar.gz"
    backup(portal, portal_backup)
    before = state(store)
    sqlite_store = node_target(store)
    with pytest.raises(BackupError, match="the portal's database, not of a node's"):
        restore(sqlite_store, portal_backup)
    assert state(store) == before


def test_a_backup_of_another_node_is_restored_only_when_forced(node_backup, store):
    before = state(store)
    with pytest.raises(BackupError, match="backup of node n1, and this is node n2"):
        restore(node_target(store, "n2"), node_backup)
    assert state(store) == before
    restore(node_target(store, "n2"), node_backup, force=True)
    assert store.latest_seq() < before[0]


def test_a_backup_at_a_revision_this_code_does_not_know_is_refused(node_backup, store, tmp_path):
    newer = rewrite(node_backup, tmp_path / "newer.tar.gz", {"revision": ["0099_future"]})
    before = state(store)
    with pytest.raises(BackupError, match="0099_future, which this CellFed does not know"):
        restore(node_target(store), newer)
    future = rewrite(node_backup, tmp_path / "future.tar.gz", {"format_version": 2})
    with pytest.raises(BackupError, match="backup format 2; this CellFed reads up to 1"):
        restore(node_target(store), future)
    assert state(store) == before


# -- damaged files and failures leave the database as it was -----------------------------
def test_a_damaged_backup_leaves_the_database_untouched(node_backup, store, tmp_path):
    before = state(store)
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not a backup at all")
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(node_backup.read_bytes()[: node_backup.stat().st_size // 2])
    manifest = read_manifest(node_backup)
    member = manifest.database_member
    tampered = rewrite(node_backup, tmp_path / "tampered.tar.gz", members={member: b"x" * 4096})
    junk = b"SQLite format 3\x00" + b"\x07" * 8192  # a database file that is not one
    hashed = {member: {"sha256": hashlib.sha256(junk).hexdigest(), "size": len(junk)}}
    consistent = rewrite(
        node_backup, tmp_path / "junk.tar.gz", {"files": hashed}, members={member: junk}
    )
    for path, why in [
        (garbage, "is not a CellFed backup"),
        (truncated, "is damaged"),
        (tampered, "does not match its hash"),
        (consistent, "damaged" if manifest.database == "sqlite" else "dump is damaged"),
    ]:
        with pytest.raises(BackupError, match=why):
            restore(node_target(store), path)
        assert state(store) == before, path.name
    assert not list(tmp_path.glob(".cellfed-restore-*"))  # no work files left behind


def test_a_restore_stopped_half_way_leaves_the_database_untouched(node_backup, store, monkeypatch):
    monkeypatch.setattr(backups, "SQLITE_STEP", 1)  # a page at a time: stopped after one
    before = state(store)

    class Stop(Exception):
        pass

    def stop_while_restoring(step, done, total):
        if step == "Restoring the database":
            raise Stop

    with pytest.raises(Stop):
        restore(node_target(store), node_backup, progress=stop_while_restoring)
    assert state(store) == before


# -- the commands -------------------------------------------------------------------------
def test_the_node_commands_back_up_and_restore_after_asking(tmp_path):
    url = f"sqlite:///{tmp_path / 'node.sqlite3'}"
    store = CatalogueStore(url)
    store.create_schema()
    store.write(records(cell_line("L1")))
    runner = CliRunner()
    out = tmp_path / "b.tar.gz"
    made = runner.invoke(main, ["node", "backup", "--out", str(out), "--db", url, "--id", "n1"])
    assert made.exit_code == 0, made.output
    assert f"node n1, sqlite: revision {', '.join(sorted(node_heads()))}" in made.output
    store.write(records(cell_line("L2")))

    argv = ["node", "restore-backup", str(out), "--db", url, "--id", "n1"]
    declined = runner.invoke(main, argv, input="n\n")
    assert declined.exit_code == 1 and "Replace the node database" in declined.output
    assert store.latest_seq() == 4
    done = runner.invoke(main, [*argv, "--yes"])
    assert done.exit_code == 0, done.output
    assert "change sequence is now 3 (was 4)" in done.output and store.latest_seq() == 3

    wrong = runner.invoke(main, ["portal", "restore-backup", str(out), "--yes"])
    assert wrong.exit_code == 1 and "restore it with `cellfed node restore-backup`" in wrong.output
    store.dispose()
