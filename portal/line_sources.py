"""The biobanks that hold each line of a search page, kept between searches.

Every grouped search lists, under each line, every record of that line at any biobank
(matched by any registry id). Asking the engine for them was a second round trip per search;
most pages show lines an earlier search already showed, so their sources are kept here, per
registry id, until the index changes: any change of a node's sync state (``node_states``,
read every SEARCH_STATE_TTL seconds: a sync that ran, failed or started over) empties the
cache, and nothing is kept longer than ``ttl`` seconds (SEARCH_SOURCES_TTL), which bounds a
change indexed while the states were being read.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Source = dict[str, Any]


VERSION_FIELDS = ("cursor", "data_as_of", "failures", "last_resync")
"""What a node's sync state says that changes whenever anything of it may have been indexed:
a sync that succeeds (its cursor and its time, even with nothing new), one that fails after
indexing some pages, a resync from scratch."""


def index_version(states: Mapping[str, Mapping[str, Any]]) -> tuple[tuple[Any, ...], ...]:
    """The index's version as the nodes' sync states tell it."""
    return tuple(
        sorted((node, *(state.get(f) for f in VERSION_FIELDS)) for node, state in states.items())
    )


class LineSources:
    """Registry id -> the source records holding a line with that id (at most ``size`` ids)."""

    def __init__(self, ttl: float = 60.0, size: int = 20_000) -> None:
        self.ttl = ttl
        self.size = size
        self._lock = threading.Lock()
        self._by_id: OrderedDict[str, list[Source]] = OrderedDict()
        self._version: tuple[tuple[Any, ...], ...] | None = None
        self._since = 0.0

    def lookup(
        self,
        ids: Iterable[str],
        version: tuple[tuple[Any, ...], ...],
        fetch: Callable[[list[str]], list[Source]],
    ) -> dict[str, list[Source]]:
        """The sources of each id; the ones not kept are fetched (one request) and kept."""
        wanted = sorted(set(ids))
        now = time.monotonic()
        with self._lock:
            if version != self._version or now - self._since > self.ttl:
                self._by_id.clear()
                self._version, self._since = version, now
            found = {i: self._by_id[i] for i in wanted if i in self._by_id}
        missing = [i for i in wanted if i not in found]
        if missing:
            fetched = fetch(missing)
            for i in missing:
                found[i] = [s for s in fetched if i in s.get("line_ids", ())]
            with self._lock:
                if version == self._version:  # not emptied meanwhile by a newer version
                    self._by_id.update((i, found[i]) for i in missing)
                    while len(self._by_id) > self.size:
                        self._by_id.popitem(last=False)
        return found
