"""Uploaded files checked before anyone keeps them: the type from the file's first bytes, never
from the name or the browser's claim; a size limit; a display name without directories or
control characters. The portal (request attachments, signed copies) and the nodes (MTA
documents, countersignatures) check with the same rules."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass
from typing import IO

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
