"""Attachments (ethics approvals, project descriptions): checked, then kept outside the web root.

The type is decided from the file's first bytes, never from the name or the browser's claim;
the file is stored under a random name with owner-only permissions, and is only ever sent
back as a download (Content-Disposition: attachment, nosniff). Files are not kept for good:
portal/access/retention.py deletes them under the retention rule and keeps their rows.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from federation.uploads import (  # noqa: F401  (the portal's names for them)
    ALLOWED_TYPES,
    EXTENSIONS,
    AttachmentRejected,
    CheckedFile,
    check_upload,
    clean_filename,
    sniff,
)

STORED_NAME = re.compile(r"^[0-9a-f]{32}$")


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
