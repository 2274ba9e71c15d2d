"""What both ends of the sync agree on, beyond the wire schemas in schemas/feed.py."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON (sorted keys, no spaces, UTF-8).

    The node sends it with each entry; the indexer recomputes it to catch records damaged
    on the way, and keeps it so the index can be compared with the nodes exactly.
    """
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def tombstone_hash(kind: str, local_id: str) -> str:
    return hashlib.sha256(f"deleted:{kind}:{local_id}".encode()).hexdigest()
