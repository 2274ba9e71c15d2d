"""What an import reads: named files, from paths (files, folders, zip archives) or uploads.

Everything read for one import shares one :class:`~federation.node.formats.limits.Budget`
(:func:`read_uploads` for an upload form, :func:`read_paths` for the command line), so the
limits hold for the import as a whole: many small archives cannot add up to more than one
import may unpack. :func:`sweep_staged` removes the copies the admin pages stage between a
dry run and its confirmation once nobody can confirm them any more.
"""

from __future__ import annotations

import os
import shutil
import time
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from federation.node.formats.limits import Budget, TooLarge, size_text
from federation.node.formats.report import Problem

Files = dict[str, bytes]
"""File name (a relative path inside a folder or archive) -> content."""


def expand(name: str, data: bytes, budget: Budget | None = None) -> tuple[Files, list[Problem]]:
    """A file as given, or the files inside it when it is a zip archive (not an XLSX),
    counted against ``budget`` (the import's; a budget of its own when not given). An
    archive is judged by what its directory declares before anything is unpacked."""
    budget = budget or Budget()
    if not name.lower().endswith(".zip"):
        problem = budget.take(name, len(data))
        return ({}, [problem]) if problem else ({name: data}, [])
    archive, problems = budget.archive(name, data, wanted=_wanted)
    if archive is None:
        return {}, problems
    try:
        return {m.filename: archive.read(m) for m in archive.members}, []
    except TooLarge as exc:
        return {}, [exc.problem]
    except zlib.error as exc:
        return {}, [Problem(name, "", f"not a readable zip archive ({exc})")]


def _wanted(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return not any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _over(budget: Budget) -> bool:
    limits = budget.limits
    return budget.unpacked > limits.unpacked_bytes or budget.files > limits.files


def read_uploads(
    uploads: Iterable[tuple[str, bytes]], budget: Budget | None = None
) -> tuple[Files, list[Problem]]:
    """The files of one import request, ``(name, content)`` each, archives unpacked, all
    under one budget: reading stops at the first file that goes over it. Give the contents
    lazily (a generator) so that an upload is read only when its turn comes."""
    budget = budget or Budget()
    files: Files = {}
    problems: list[Problem] = []
    for name, data in uploads:
        found, trouble = expand(name, data, budget)
        files.update(found)
        problems += trouble
        if _over(budget):
            break
    return files, problems


def read_paths(paths: Iterable[Path], budget: Budget | None = None) -> tuple[Files, list[Problem]]:
    """Read files, every file under folders (names relative to the folder), and archives,
    all under one budget; a file is judged by its size before it is read."""
    budget = budget or Budget()
    files: Files = {}
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = child.relative_to(path).as_posix()
                if not _wanted(rel):
                    continue
                problem = budget.take(rel, child.stat().st_size)
                if problem:
                    return files, [*problems, problem]
                files[rel] = child.read_bytes()
        elif path.is_file():
            limit = budget.limits.unpacked_bytes
            if path.stat().st_size > limit:  # not read: it cannot unpack to less
                too_large = f"is larger than the {size_text(limit)} one import may unpack"
                return files, [*problems, Problem(path.name, "", too_large)]
            found, trouble = expand(path.name, path.read_bytes(), budget)
            files.update(found)
            problems += trouble
            if _over(budget):
                return files, problems
        else:
            problems.append(Problem(str(path), "", "file does not exist"))
    return files, problems


def basename(name: str) -> str:
    return PurePosixPath(name).name


def sweep_staged(folder: Path, older_than: float, max_bytes: int | None = None) -> int:
    """Remove the staged imports in ``folder`` (each entry directly in it: a folder per dry
    run, or a stray file) last changed more than ``older_than`` seconds ago; then, while the
    rest take more than ``max_bytes``, the oldest of them. Returns how many were removed.
    Links are removed, never followed. Call it before staging a new import."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    found = []
    for entry in entries:
        try:
            changed = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        found.append((changed, _size(entry), entry))
    found.sort(key=lambda item: item[0])
    total = sum(size for _, size, _ in found)
    stale = time.time() - older_than
    removed = 0
    for changed, size, entry in found:
        if changed >= stale and (max_bytes is None or total <= max_bytes):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
        total -= size
        removed += 1
    return removed


def _size(entry: os.DirEntry) -> int:
    """Bytes under a directory entry, links not followed."""
    try:
        if not entry.is_dir(follow_symlinks=False):
            return entry.stat(follow_symlinks=False).st_size
        return sum(_size(child) for child in os.scandir(entry.path))
    except OSError:
        return 0
