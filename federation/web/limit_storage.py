"""The rate limiter's in-process counters, without a thread per request.

limits' ``MemoryStorage`` drops expired counters from a Timer thread that it starts again
whenever the last one has ended; under steady traffic that is a new thread for nearly every
request, most of what the limiter cost a search (bench/README.md, "Profile"). Counters
expire when read anyway; this store drops the expired ones itself, on the request that
finds a second has passed since it last did. ``memory://`` means this store
(federation/web/limits.py).
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import MemoryStorage

SCHEME = "cellfed-memory"
SWEEP_EVERY = 1.0  # seconds between two sweeps of the expired counters


class SweptMemoryStorage(MemoryStorage):
    STORAGE_SCHEME = [SCHEME]  # registers the scheme with limits

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._swept = time.monotonic()

    # The base class calls this (name-mangled) before each change of a counter.
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._swept >= SWEEP_EVERY:
            self._swept = now
            self.sweep()

    def sweep(self) -> None:
        """Drop what has expired: the base class's sweep, safe against a request reading or
        dropping the same counter meanwhile (it runs on a request's thread now)."""
        now = time.time()
        for key, at in list(self.expirations.items()):
            if at <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)
        for key in list(self.events):  # the moving window's entries
            with self.locks[key]:
                events = self.events.get(key) or []
                kept = [e for e in events if e.expiry > now]
                if kept:
                    self.events[key] = kept
                else:
                    self.events.pop(key, None)
                    self.locks.pop(key, None)


def storage_uri(configured: str) -> str:
    """The limiter's storage: ours for ``memory://``, anything else as configured."""
    scheme, sep, rest = configured.partition("://")
    return f"{SCHEME}://{rest}" if sep and scheme == "memory" else configured
