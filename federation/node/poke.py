"""Tell the indexer "this node changed", so the change is searchable within seconds.

Fire and forget, from a background thread, coalescing bursts: a failed poke costs only
freshness, because the indexer polls every node anyway. Sent through federation.http: no
redirect is followed (a poke carries the node's token), the answer is capped and not kept.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests

from federation import http

POKE_ANSWER_MAX_BYTES = 64 * 1024  # the indexer answers a few bytes of JSON

log = logging.getLogger(__name__)


class Poker:
    def __init__(
        self,
        indexer_url: str,
        node_id: str,
        headers: Callable[[], dict[str, str]] = dict,
        timeout: float = 2.0,
    ) -> None:
        self.url = f"{indexer_url.rstrip('/')}/api/v1/poke/{node_id}"
        self.headers = headers
        self.timeout = timeout
        self._lock = threading.Lock()
        self._running = False
        self._again = False

    def __call__(self) -> None:
        with self._lock:
            if self._running:
                self._again = True  # one more poke after the one in flight covers this change
                return
            self._running = True
        threading.Thread(target=self._send, name="poke", daemon=True).start()

    def _send(self) -> None:
        while True:
            try:
                http.request(
                    "POST",
                    self.url,
                    headers=self.headers(),
                    timeout=self.timeout,
                    max_bytes=POKE_ANSWER_MAX_BYTES,
                ).close()
            except requests.RequestException as exc:
                log.info(
                    "poke to %s failed (%s); the indexer's polling will catch up",
                    self.url,
                    exc.__class__.__name__,
                )
            with self._lock:
                if not self._again:
                    self._running = False
                    return
                self._again = False
