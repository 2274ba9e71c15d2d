"""The indexer as a service: one sync loop per node, woken by pokes, polling as fallback.

Each node has its own thread, so a slow or dead node costs only its own freshness. A node
that keeps failing is retried with exponential backoff and jitter; a poke (a node saying
"I changed") wakes its loop at once.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from search.indexer.sync import Indexer, SyncReport

log = logging.getLogger(__name__)


class SyncDaemon:
    def __init__(
        self,
        indexer: Indexer,
        interval: float,
        max_backoff: float = 300.0,
        on_report: Callable[[SyncReport], None] = lambda report: None,
    ) -> None:
        self.indexer = indexer
        self.interval = interval
        self.max_backoff = max_backoff
        self.on_report = on_report
        self._wake = {m.id: threading.Event() for m in indexer.members}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def poke(self, node_id: str) -> bool:
        """Ask for an immediate pull of a node; False if the node is not a member."""
        event = self._wake.get(node_id)
        if event is None:
            return False
        event.set()
        return True

    def start(self) -> None:
        self.indexer.prepare()
        for member in self.indexer.members:
            if member.pushes:
                continue  # it sends its pages (search/indexer/ingest.py); nobody calls it
            thread = threading.Thread(
                target=self._loop, args=(member,), name=f"sync-{member.id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        for event in self._wake.values():
            event.set()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self, member) -> None:
        failures = 0
        wake = self._wake[member.id]
        while not self._stop.is_set():
            wake.clear()
            try:
                report = self.indexer.sync_node(member)
                self.on_report(report)
                ok = report.ok
            except Exception:  # a bug must not end this node's loop for good
                log.exception("sync of %s crashed", member.id)
                ok = False
            failures = 0 if ok else failures + 1
            wait = self.interval
            if failures:
                backoff = min(self.max_backoff, self.interval * 2**failures)
                wait = random.uniform(backoff / 2, backoff)
            wake.wait(wait)
