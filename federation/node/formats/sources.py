"""What an import reads: named files, from paths (files, folders, zip archives) or uploads."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from federation.node.formats.report import Problem

Files = dict[str, bytes]
"""File name (a relative path inside a folder or archive) -> content."""

MAX_UNPACKED = 256 * 1024 * 1024
"""An archive may unpack to this much at most (a guard against zip bombs)."""


def expand(name: str, data: bytes) -> tuple[Files, list[Problem]]:
    """A file as given, or the files inside it when it is a zip archive (not an XLSX)."""
    if not name.lower().endswith(".zip"):
        return {name: data}, []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir() and _wanted(m.filename)]
        if sum(m.file_size for m in members) > MAX_UNPACKED:
            return {}, [Problem(name, "", f"unpacks to more than {MAX_UNPACKED >> 20} MB")]
        return {m.filename: archive.read(m) for m in members}, []
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, OSError) as exc:
        return {}, [Problem(name, "", f"not a readable zip archive ({exc})")]


def _wanted(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return not any(p.startswith(".") or p == "__MACOSX" for p in parts)


def read_paths(paths: Iterable[Path]) -> tuple[Files, list[Problem]]:
    """Read files, every file under folders (names relative to the folder), and archives."""
    files: Files = {}
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = child.relative_to(path).as_posix()
                if _wanted(rel):
                    files[rel] = child.read_bytes()
        elif path.is_file():
            found, trouble = expand(path.name, path.read_bytes())
            files.update(found)
            problems += trouble
        else:
            problems.append(Problem(str(path), "", "file does not exist"))
    return files, problems


def basename(name: str) -> str:
    return PurePosixPath(name).name
