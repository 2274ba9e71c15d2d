"""Attachments (ethics approvals, project descriptions): checked, then kept outside the web root.

The type is decided from the file's first bytes, never from the name or the browser's claim;
the file is stored under a random name with owner-only permissions, and is only ever sent
back as a download (Content-Disposition: attachment, nosniff). Files are not kept for good:
portal/access/retention.py deletes them under the retention rule and keeps their rows.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

ALLOWED_TYPES = {
    "application/pdf": "PDF",
    "image/png": "PNG image",
    "image/jpeg": "JPEG image",
    "text/plain": "plain text",
}
EXTENSIONS = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "text/plain": (".txt", ".text", ""),
}
STORED_NAME = re.compile(r"^[0-9a-f]{32}$")


class AttachmentRejected(ValueError):
    """An upload that is refused; the message names the file and the reason."""


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def sniff(data: bytes) -> str | None:
    """The content type by magic bytes, or None when it is none we accept."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "text/plain"
    return None


def clean_filename(name: str | None) -> str:
    """A display name: no directories, no control characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip(" .")
    return name[:200] or "attachment"


def check_upload(stream: IO[bytes], filename: str | None, max_bytes: int) -> CheckedFile:
    """Read an upload (at most ``max_bytes`` + 1 bytes) and check its size and type."""
    shown = clean_filename(filename)
    data = stream.read(max_bytes + 1)
    if not data:
        raise AttachmentRejected(f"{shown}: the file is empty")
    if len(data) > max_bytes:
        raise AttachmentRejected(
            f"{shown}: larger than the limit of {max_bytes / 1024 / 1024:.0f} MB"
        )
    content_type = sniff(data)
    if content_type is None:
        accepted = ", ".join(ALLOWED_TYPES.values())
        raise AttachmentRejected(f"{shown}: only {accepted} files are accepted")
    extension = os.path.splitext(shown)[1].lower()
    if extension not in EXTENSIONS[content_type]:
        raise AttachmentRejected(
            f"{shown}: the content is {ALLOWED_TYPES[content_type]}, which does not match "
            f"its name; only {', '.join(ALLOWED_TYPES.values())} files are accepted"
        )
    return CheckedFile(shown, content_type, data)


class AttachmentStore:
    """Files under one directory, named by random ids; the database keeps the real names."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def save(self, data: bytes) -> str:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = secrets.token_hex(16)
        fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return name

    def path(self, stored_name: str) -> Path:
        if not STORED_NAME.match(stored_name):
            raise ValueError(f"not a stored attachment name: {stored_name!r}")
        return self.directory / stored_name

    def open(self, stored_name: str) -> BinaryIO | None:
        """The file for reading, or None when it is not there (deleted meanwhile)."""
        try:
            return self.path(stored_name).open("rb")
        except FileNotFoundError:
            return None

    def delete(self, stored_name: str) -> None:
        self.path(stored_name).unlink(missing_ok=True)

    def names(self) -> Iterator[str]:
        """The stored names of the files kept now (anything else in the directory is not ours)."""
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return
        for entry in entries:
            if STORED_NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
                yield entry.name
