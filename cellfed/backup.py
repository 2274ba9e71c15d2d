"""Backups of a node's or the portal's database, and their restore (``cellfed node backup``,
``cellfed node restore-backup``, ``cellfed portal backup``, ``cellfed portal restore-backup``).

**The file** is a gzip-compressed tar archive with, in this order:

* ``manifest.json``: what the backup is (see :class:`Manifest`): ``format``
  ("cellfed-backup") and ``format_version``; ``kind`` ("node" or "portal"); ``node_id``;
  ``database`` ("sqlite" or "postgresql") and, on PostgreSQL, the ``schema`` dumped;
  ``revision``, the Alembic revisions the database was at; ``created_at``; a node's
  ``latest_seq`` (its change sequence); and ``files``, the SHA-256 and size of every other
  member;
* ``database.sqlite3``, a copy made with SQLite's online backup API (consistent while the app
  serves and writes), or ``database.pgdump``, ``pg_dump --format=custom`` of the app's schema,
  taken in the same snapshot as the manifest's facts;
* for the portal, ``attachments/<stored name>``: the files its requests' rows name.

The archive is written beside ``--out`` and renamed into place when complete.

**Restore** reads and checks everything before it touches the database: the manifest (the
right kind, the node's own id unless forced, the same kind of database, a revision this code
knows), every member's hash, and the database copy itself (SQLite's integrity check, or
``pg_restore --list``). Then it replaces the database in one step: SQLite's backup API from
the checked copy, which writes the whole target in one transaction, or, on PostgreSQL, the
dump replayed by ``psql`` inside one transaction that first drops what the schema holds and
commits only after the whole dump went in. A restore that fails leaves the database as it was.

pg_dump, pg_restore and psql are Debian's (``postgresql-client``): the newest version under
the package's directory (cellfed.launch.postgres), else those on the PATH.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from sqlalchemy import inspect, make_url, text
from sqlalchemy.engine import Connection

from federation.database import database_engine
from federation.migrate import Tree

FORMAT = "cellfed-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
POSTGRES_MEMBER = "database.pgdump"
ATTACHMENTS = "attachments/"
STORED_NAME = re.compile(r"^[0-9a-f]{32}$")  # portal/access/attachments.py
SQLITE_STEP = 4096  # pages per step of the online backup (16 MiB at the default page size)
CHUNK = 1 << 20

Progress = Callable[[str, int, int], None]
"""``progress(step, done, total)``: how far a long step is (``total`` > 0)."""


def _quiet(step: str, done: int, total: int) -> None:
    pass


class BackupError(RuntimeError):
    """A backup that cannot be made or restored; the message says why. Nothing was changed."""


# -- what is backed up -------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One app's database (and, for the portal, its attachments' folder)."""

    kind: str  # "node" or "portal"
    url: str
    node_id: str | None = None
    attachments: Path | None = None

    @classmethod
    def node(cls, config: Mapping[str, Any]) -> Target:
        return cls("node", config["DATABASE_URL"], node_id=config["NODE_ID"])

    @classmethod
    def portal(cls, config: Mapping[str, Any]) -> Target:
        return cls(
            "portal", config["PORTAL_DATABASE_URL"], attachments=Path(config["ATTACHMENTS_DIR"])
        )

    @property
    def tree(self) -> Tree:
        if self.kind == "node":
            from federation.node.migrate import TREE
        else:
            from portal.migrations import TREE
        return TREE

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    def sqlite_path(self) -> Path:
        database = make_url(self.url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise BackupError(f"{self.kind} database {self.url}: only a SQLite file is backed up")
        return Path(database)


@dataclass
class Manifest:
    kind: str
    database: str
    revision: list[str]
    created_at: str
    node_id: str | None = None
    latest_seq: int | None = None
    schema: str | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_attachments: list[str] = field(default_factory=list)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        try:
            raw = json.loads(data)
        except ValueError:
            raise BackupError(f"{where}: its manifest is not JSON; the file is damaged") from None
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise BackupError(f"{where} is not a CellFed backup")
        version = raw.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise BackupError(
                f"{where} has backup format {version!r}; this CellFed reads up to "
                f"{FORMAT_VERSION}: restore it with the newer CellFed that made it"
            )
        try:
            manifest = cls(**{k: raw[k] for k in raw if k in cls.__dataclass_fields__})
        except TypeError as exc:
            raise BackupError(f"{where}: its manifest lacks a field ({exc})") from None
        files = manifest.files
        if (
            manifest.kind not in ("node", "portal")
            or manifest.database not in ("sqlite", "postgresql")
            or not isinstance(manifest.revision, list)
            or not isinstance(files, dict)
            or not all(
                isinstance(f, dict) and isinstance(f.get("sha256"), str) for f in files.values()
            )
        ):
            raise BackupError(f"{where}: its manifest is not one this CellFed can read")
        return manifest

    @property
    def database_member(self) -> str:
        return SQLITE_MEMBER if self.database == "sqlite" else POSTGRES_MEMBER

    def summary(self) -> str:
        who = f"node {self.node_id}" if self.kind == "node" else "the portal"
        facts = [f"revision {', '.join(self.revision) or 'none'}", f"made {self.created_at}"]
        if self.latest_seq is not None:
            facts.append(f"latest change {self.latest_seq}")
        attachments = sum(name.startswith(ATTACHMENTS) for name in self.files)
        if self.kind == "portal":
            facts.append(f"{attachments} attachments")
        return f"{who}, {self.database}: " + ", ".join(facts)


@dataclass
class Facts:
    """What the manifest says about the database, read from the copy (or its snapshot)."""

    revision: list[str]
    latest_seq: int | None
    attachments: dict[str, str]  # stored name -> sha256
    has_marker: bool


def _facts(connection: Connection, target: Target) -> Facts:
    tables = set(inspect(connection).get_table_names())
    revision: list[str] = []
    if "alembic_version" in tables:
        revision = sorted(
            connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        )
    latest = None
    attachments: dict[str, str] = {}
    if target.kind == "node" and "counters" in tables:
        from federation.node.store import SEQUENCE

        latest = connection.execute(
            text("SELECT value FROM counters WHERE name = :name"), {"name": SEQUENCE}
        ).scalar()
        latest = int(latest or 0)
    if target.kind == "portal" and "access_attachments" in tables:
        rows = connection.execute(text("SELECT stored_name, sha256 FROM access_attachments"))
        attachments = {name: digest for name, digest in rows}
    return Facts(revision, latest, attachments, target.tree.marker in tables)


def _sqlite_facts(path: Path, target: Target) -> Facts:
    engine = database_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return _facts(connection, target)
    finally:
        engine.dispose()


# -- backup ------------------------------------------------------------------------------
def backup(target: Target, out: Path, progress: Progress = _quiet) -> Manifest:
    """Write a backup of the target's database to ``out``; returns its manifest."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".cellfed-backup-", dir=out.parent) as work:
        payload = Path(work) / "database"
        if target.dialect == "sqlite":
            source = target.sqlite_path()
            if not source.is_file():
                raise BackupError(f"there is no {target.kind} database at {source}")
            _sqlite_copy(source, payload, progress, "Copying the database")
            facts, schema = _sqlite_facts(payload, target), None
            member = SQLITE_MEMBER
        elif target.dialect == "postgresql":
            facts, schema = _pg_dump(target, payload, progress)
            member = POSTGRES_MEMBER
        else:
            raise BackupError(f"cannot back up a {target.dialect} database")
        if not facts.has_marker:
            raise BackupError(
                f"{_shown(target.url)} holds no {target.kind} database (no table "
                f"{target.tree.marker}): nothing to back up"
            )
        members = {member: payload}
        missing = []
        for name in sorted(facts.attachments):
            path = (target.attachments or Path()) / name
            if STORED_NAME.match(name) and path.is_file():
                members[ATTACHMENTS + name] = path
            else:
                missing.append(name)
        manifest = Manifest(
            kind=target.kind,
            database=target.dialect,
            revision=facts.revision,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            node_id=target.node_id,
            latest_seq=facts.latest_seq,
            schema=schema,
            files={name: _file_facts(path) for name, path in members.items()},
            missing_attachments=missing,
        )
        partial = Path(work) / "backup.tar.gz"
        _write_archive(partial, manifest, members, progress)
        os.replace(partial, out)
    return manifest


def _file_facts(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return {"sha256": digest.hexdigest(), "size": path.stat().st_size}


def _write_archive(
    path: Path, manifest: Manifest, members: Mapping[str, Path], progress: Progress
) -> None:
    total = sum(f["size"] for f in manifest.files.values()) or 1
    done = 0
    with tarfile.open(path, "w:gz", compresslevel=6) as archive:
        data = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(data), time.time(), 0o600
        archive.addfile(info, io.BytesIO(data))
        for name, source in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = manifest.files[name]["size"], time.time(), 0o600
            with source.open("rb") as fh:
                archive.addfile(info, _Counting(fh, done, total, progress))
            done += info.size


class _Counting:
    """A file being read into the archive, reporting how far the whole archive is."""

    def __init__(self, fh: IO[bytes], before: int, total: int, progress: Progress) -> None:
        self.fh, self.done, self.total, self.progress = fh, before, total, progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.fh.read(size)
        self.done += len(chunk)
        self.progress("Writing the backup", min(self.done, self.total), self.total)
        return chunk


def _sqlite_copy(source: Path, target: Path, progress: Progress, step: str) -> None:
    """Copy a SQLite database with its online backup API: a consistent copy while others
    write to the source, and one write transaction on the target (all of it, or none)."""
    src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(
            dst,
            pages=SQLITE_STEP,
            progress=lambda status, remaining, total: progress(
                step, total - remaining, max(total, 1)
            ),
        )
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"copying {source} failed: {exc}") from None
    finally:
        dst.close()
        src.close()


# -- PostgreSQL --------------------------------------------------------------------------
def pg_binary(name: str) -> Path:
    """pg_dump, pg_restore or psql: the newest under Debian's package directory, else PATH."""
    from cellfed.launch.postgres import PACKAGE_BINARIES

    def version(path: Path) -> int:
        number = path.parent.parent.name
        return int(number) if number.isdigit() else 0

    found = sorted((p for p in PACKAGE_BINARIES.glob(f"*/bin/{name}") if p.is_file()), key=version)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    raise BackupError(f"{name} is not installed: `apt-get install -y postgresql-client`")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for a SQLAlchemy URL, and the environment with its password
    (never on the command line, where other users could read it)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _pg_dump(target: Target, out: Path, progress: Progress) -> tuple[Facts, str]:
    """Dump the app's schema in the snapshot the facts are read in."""
    engine = database_engine(target.url)
    uri, env = _libpq(target.url)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                schema = connection.execute(text("SELECT current_schema()")).scalar_one()
                facts = _facts(connection, target)
                if not facts.has_marker:
                    return facts, schema
                tables = max(len(inspect(connection).get_table_names()), 1)
                argv = [
                    str(pg_binary("pg_dump")),
                    "--format=custom",
                    "--compress=0",  # the archive is compressed as a whole
                    "--verbose",
                    f"--snapshot={snapshot}",
                    '--schema="{}"'.format(schema.replace('"', '""')),  # the name, exactly
                    f"--file={out}",
                    f"--dbname={uri}",
                ]
                errors = _run_with_progress(
                    argv,
                    env,
                    "dumping contents of table",
                    "Dumping the database",
                    tables,
                    progress,
                )
                if errors is not None:
                    raise BackupError(f"pg_dump of {_shown(target.url)} failed: {errors}")
    finally:
        engine.dispose()
    return facts, schema


def _run_with_progress(
    argv: list[str], env: dict[str, str], marker: str, step: str, total: int, progress: Progress
) -> str | None:
    """Run a verbose tool, counting the stderr lines that contain ``marker``; returns None
    on success, else its last error lines."""
    lines: list[str] = []
    done = 0
    with subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stderr is not None
        try:
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                if marker in line:
                    done += 1
                    progress(step, min(done, total), total)
                elif "error" in line.lower() or "fatal" in line.lower():
                    lines.append(line)
        except BaseException:
            proc.kill()
            raise
    if proc.returncode == 0:
        progress(step, total, total)
        return None
    return "; ".join(lines[-5:]) or f"exit status {proc.returncode}"


_DROP_SCHEMA_CONTENT = b"""
BEGIN;
DO $cellfed$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           ORDER BY c.relkind LOOP
    EXECUTE format('DROP %s IF EXISTS %I.%I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                     WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      current_schema(), r.relname);
  END LOOP;
  FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind = 'S' LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %I.%I CASCADE', current_schema(), r.relname);
  END LOOP;
END
$cellfed$;
"""


def _toc(dump: Path) -> list[str]:
    """The dump's table of contents (``pg_restore --list``); a damaged dump fails here."""
    done = subprocess.run(
        [str(pg_binary("pg_restore")), "--list", str(dump)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BackupError(f"the database dump is damaged: {done.stderr.strip()[:300]}")
    return done.stdout.splitlines()


def _is_entry(line: str) -> bool:
    return bool(line.strip()) and not line.startswith(";")


def _is_schema_entry(line: str) -> bool:
    """``2; 2615 2200 SCHEMA - public owner`` and its COMMENT: the schema itself stays."""
    parts = line.split(";", 1)[-1].split()
    description = " ".join(parts[2:])
    return description.startswith(("SCHEMA ", "COMMENT - SCHEMA "))


def _pg_restore(dump: Path, target: Target, work: Path, progress: Progress) -> None:
    """Replay the dump into the target's schema in one transaction: drop what the schema
    holds, create and fill it from the dump, and commit only if all of that went through."""
    entries = [line for line in _toc(dump) if _is_entry(line) and not _is_schema_entry(line)]
    listing = work / "restore.list"
    listing.write_text("\n".join(entries) + "\n")
    uri, env = _libpq(target.url)
    psql_errors, script_errors = work / "psql.err", work / "pg_restore.err"
    with psql_errors.open("wb") as perr, script_errors.open("wb") as serr:
        psql = subprocess.Popen(
            [str(pg_binary("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", uri],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=perr,
        )
        script = subprocess.Popen(
            [
                str(pg_binary("pg_restore")),
                "--no-owner",
                "--no-privileges",
                f"--use-list={listing}",
                "--file=-",
                str(dump),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=serr,
        )
        complete = _replay(script, psql, len(entries), progress)
    if not complete or psql.returncode != 0:
        why = (
            psql_errors.read_text(errors="replace").strip()
            or script_errors.read_text(errors="replace").strip()
        )
        raise BackupError(
            f"restoring into {_shown(target.url)} failed, and nothing was changed: "
            f"{why[-500:] or 'pg_restore or psql stopped'}"
        )
    progress("Restoring the database", 1, 1)


def _replay(
    script: subprocess.Popen[bytes], psql: subprocess.Popen[bytes], entries: int, progress: Progress
) -> bool:
    """Feed psql the prelude and pg_restore's script; COMMIT only when the script is whole.
    True when the COMMIT was sent. Both processes have ended when it returns."""
    assert psql.stdin is not None and script.stdout is not None
    complete = False
    try:
        psql.stdin.write(_DROP_SCHEMA_CONTENT)
        done, total = 0, max(entries, 1)
        for line in script.stdout:
            if line.startswith((b"-- Name: ", b"-- Data for Name: ")):
                done += 1
                progress("Restoring the database", min(done, total), total)
            psql.stdin.write(line)
        if script.wait() == 0:
            psql.stdin.write(b"COMMIT;\n")
            complete = True
        psql.stdin.close()  # without COMMIT, psql ends and the server rolls back
    except BrokenPipeError:  # psql stopped at an error: its transaction is rolled back
        complete = False
    finally:
        if script.poll() is None:
            script.kill()
        script.wait()
        script.stdout.close()
        try:
            psql.stdin.close()
        except BrokenPipeError:
            pass
        psql.wait()
    return complete


# -- restore -----------------------------------------------------------------------------
@dataclass
class RestoreReport:
    manifest: Manifest
    replaced_revision: list[str] | None  # what the target held before; None: nothing
    replaced_seq: int | None
    code_heads: set[str] = field(default_factory=set)
    attachments_written: int = 0

    def lines(self) -> list[str]:
        lines = [f"restored {self.manifest.summary()}"]
        if self.manifest.kind == "node" and self.replaced_seq is not None:
            lines.append(
                f"the node's change sequence is now {self.manifest.latest_seq} "
                f"(was {self.replaced_seq})"
            )
            if (
                self.manifest.latest_seq is not None
                and self.manifest.latest_seq < self.replaced_seq
            ):
                lines.append(
                    "the node starts a new epoch: harvesters read it again from 0 and drop "
                    "what it no longer holds"
                )
        if self.manifest.kind == "portal":
            lines.append(f"{self.attachments_written} attachment files written")
        if self.code_heads and set(self.manifest.revision) != self.code_heads:
            kind = self.manifest.kind
            lines.append(
                f"the backup is at revision {', '.join(self.manifest.revision) or 'none'} and "
                f"this code at {', '.join(sorted(self.code_heads))}: run `cellfed {kind} "
                f"migrate` (outside production the {kind} also migrates when it starts)"
            )
        return lines


def read_manifest(path: Path) -> Manifest:
    with _archive(path) as archive:
        return _manifest(archive, path)


UNREADABLE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
"""What reading a damaged or foreign archive raises."""


@contextmanager
def _archive(path: Path) -> Iterator[tarfile.TarFile]:
    """The backup archive; reading errors inside the block are reported as a damaged file."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    opened = False
    try:
        with tarfile.open(path, "r:gz") as archive:
            opened = True
            yield archive
    except UNREADABLE as exc:
        if not opened:
            raise BackupError(f"{path} is not a CellFed backup (not a tar.gz archive)") from None
        raise BackupError(f"{path} is damaged: {exc}") from None


def _manifest(archive: tarfile.TarFile, path: Path) -> Manifest:
    member = archive.next()
    if member is None or member.name != MANIFEST or not member.isfile():
        raise BackupError(f"{path} is not a CellFed backup (it has no {MANIFEST} first)")
    return Manifest.from_json(_read(archive, member), str(path))


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = archive.extractfile(member)
    if stream is None:
        raise BackupError(f"{member.name} in the backup is not a file")
    return stream.read()


def check(manifest: Manifest, target: Target, path: Path, force: bool = False) -> None:
    """Refuse a backup that is not for this target, before anything is read further."""
    if manifest.kind != target.kind:
        whose = {"node": "a node's", "portal": "the portal's"}
        raise BackupError(
            f"{path} is a backup of {whose[manifest.kind]} database, not of "
            f"{whose[target.kind]}: restore it with `cellfed {manifest.kind} restore-backup`"
        )
    if target.kind == "node" and manifest.node_id != target.node_id and not force:
        raise BackupError(
            f"{path} is a backup of node {manifest.node_id}, and this is node "
            f"{target.node_id}; its records would be published as this node's. Pass --force "
            "to restore it anyway"
        )
    if manifest.database != target.dialect:
        raise BackupError(
            f"{path} is a backup of a {manifest.database} database; the {target.kind}'s is "
            f"{target.dialect}: restore it into a {manifest.database} database"
        )
    unknown = set(manifest.revision) - target.tree.known()
    if unknown:
        raise BackupError(
            f"{path} is at revision {', '.join(sorted(unknown))}, which this CellFed does not "
            f"know (it knows up to {', '.join(sorted(target.tree.heads()))}): restore it with "
            "the newer CellFed that made it"
        )
    if manifest.database_member not in manifest.files:
        raise BackupError(f"{path}: its manifest names no {manifest.database_member}")


def restore(
    target: Target, path: Path, progress: Progress = _quiet, force: bool = False
) -> RestoreReport:
    """Replace the target's database with the backup at ``path`` (see the module docstring).
    Raises BackupError, with the database untouched, when anything is wrong."""
    path = Path(path)
    work_dir = target.sqlite_path().resolve().parent if target.dialect == "sqlite" else None
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".cellfed-restore-", dir=work_dir) as work:
        work_path = Path(work)
        with _archive(path) as archive:
            manifest = _manifest(archive, path)
            check(manifest, target, path, force)
            extracted = _extract(archive, manifest, work_path, path, progress)
        database = extracted[manifest.database_member]
        replaced = _peek(target)
        if manifest.database == "sqlite":
            _check_sqlite_copy(database, manifest, target, path)
        else:
            _check_schema(manifest, target, path)
            _toc(database)
        written = _restore_attachments(manifest, extracted, target)
        if manifest.database == "sqlite":
            _sqlite_copy(database, target.sqlite_path(), progress, "Restoring the database")
        else:
            _pg_restore(database, target, work_path, progress)
    if manifest.kind == "node":
        _renew_epoch(target)
    _end_logins(target)
    return RestoreReport(
        manifest,
        replaced.revision if replaced else None,
        replaced.latest_seq if replaced else None,
        target.tree.heads(),
        written,
    )


def _end_logins(target: Target) -> None:
    """Nobody stays signed in across a restore: the backup holds sessions revoked since, and
    administrators' refresh tokens (federation/web/sessions.py)."""
    engine = database_engine(target.url)
    try:
        if inspect(engine).has_table("login_sessions"):
            with engine.begin() as connection:
                connection.execute(text("DELETE FROM login_sessions"))
    finally:
        engine.dispose()


def _renew_epoch(target: Target) -> None:
    """A restored node starts a new epoch, so every harvester reads it again from 0 even
    after new changes pass the cursor it holds (federation/node/store.py)."""
    from federation.node.store import CatalogueStore

    store = CatalogueStore(target.url)
    try:
        store.renew_epoch()
    finally:
        store.dispose()


def _extract(
    archive: tarfile.TarFile, manifest: Manifest, work: Path, path: Path, progress: Progress
) -> dict[str, Path]:
    """Every member the manifest names, to files in ``work``, each checked by its hash."""
    wanted = dict(manifest.files)
    total = sum(int(f.get("size") or 0) for f in wanted.values()) or 1
    done = 0
    extracted: dict[str, Path] = {}
    for member in archive:
        facts = wanted.pop(member.name, None)
        if facts is None or not member.isfile():
            continue
        out = work / f"member-{len(extracted)}"
        digest = hashlib.sha256()
        stream = archive.extractfile(member)
        assert stream is not None
        with out.open("wb") as fh:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                fh.write(chunk)
                done += len(chunk)
                progress("Reading the backup", min(done, total), total)
        if digest.hexdigest() != facts["sha256"]:
            raise BackupError(f"{path} is damaged: {member.name} does not match its hash")
        extracted[member.name] = out
    if wanted:
        raise BackupError(f"{path} is damaged: it lacks {', '.join(sorted(wanted))}")
    return extracted


def _check_sqlite_copy(copy: Path, manifest: Manifest, target: Target, path: Path) -> None:
    try:
        connection = sqlite3.connect(copy.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA integrity_check").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is damaged: its database does not open ({exc})") from None
    if not result or result[0] != "ok":
        raise BackupError(f"{path} is damaged: its database fails SQLite's integrity check")
    facts = _sqlite_facts(copy, target)
    if facts.revision != sorted(manifest.revision) or not facts.has_marker:
        raise BackupError(f"{path} is damaged: its database is not what its manifest says")


def _check_schema(manifest: Manifest, target: Target, path: Path) -> None:
    engine = database_engine(target.url)
    try:
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    finally:
        engine.dispose()
    if manifest.schema != schema:
        raise BackupError(
            f"{path} holds schema {manifest.schema!r}; the {target.kind}'s database uses "
            f"{schema!r}: restore it into a database whose search_path is {manifest.schema!r}"
        )


def _peek(target: Target) -> Facts | None:
    """What the target holds now, for the report; None when it is empty or missing."""
    if target.dialect == "sqlite" and not target.sqlite_path().is_file():
        return None
    engine = database_engine(target.url)
    try:
        with engine.connect() as connection:
            facts = _facts(connection, target)
    finally:
        engine.dispose()
    return facts if facts.has_marker else None


def _restore_attachments(manifest: Manifest, extracted: Mapping[str, Path], target: Target) -> int:
    """Put the portal's attachment files back (before the database that names them); a file
    already there with the same content is kept, and none is deleted."""
    written = 0
    for name, source in extracted.items():
        if not name.startswith(ATTACHMENTS):
            continue
        stored = name[len(ATTACHMENTS) :]
        if not STORED_NAME.match(stored) or target.attachments is None:
            continue
        target.attachments.mkdir(parents=True, exist_ok=True, mode=0o700)
        destination = target.attachments / stored
        if destination.is_file() and _file_facts(destination) == manifest.files[name]:
            continue
        partial = target.attachments / f".{stored}.restoring"
        shutil.copyfile(source, partial)
        os.chmod(partial, 0o600)
        os.replace(partial, destination)
        written += 1
    return written


# -- for the command line ------------------------------------------------------------------
class ProgressBars:
    """A click progress bar per step, on stderr: pass as ``progress``; ``close()`` at the end."""

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file or sys.stderr
        self.step: str | None = None
        self.done = 0
        self.bar: Any = None

    def __call__(self, step: str, done: int, total: int) -> None:
        import click

        if step != self.step:
            self.close()
            self.step, self.done = step, 0
            self.bar = click.progressbar(length=max(total, 1), label=step, file=self.file)
            self.bar.__enter__()
        if total and self.bar.length != total:
            self.bar.length = total
        self.bar.update(max(done - self.done, 0))
        self.done = max(done, self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def run_backup(target: Target, out: Path) -> None:
    """``cellfed node|portal backup``: the backup, with progress, then what it holds."""
    import click

    bars = ProgressBars()
    try:
        manifest = backup(target, out, bars)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bars.close()
    click.echo(f"{out}: {manifest.summary()}")
    if manifest.missing_attachments:
        click.echo(
            f"warning: {len(manifest.missing_attachments)} attachment files named by requests "
            "were not found and are not in the backup",
            err=True,
        )


def run_restore(target: Target, path: Path, force: bool, yes: bool) -> None:
    """``cellfed node|portal restore-backup``: check, ask, restore, report."""
    import click

    try:
        manifest = read_manifest(path)
        check(manifest, target, path, force)
        current = _peek(target)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}: {manifest.summary()}")
    if current is not None and not yes:
        now = f"revision {', '.join(current.revision) or 'none'}"
        if current.latest_seq is not None:
            now += f", latest change {current.latest_seq}"
        click.confirm(
            f"Replace the {target.kind} database {_shown(target.url)} ({now}) with it?",
            abort=True,
        )
    bars = ProgressBars()
    try:
        report = restore(target, path, bars, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bars.close()
    for line in report.lines():
        click.echo(line)
