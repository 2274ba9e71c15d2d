"""Index lifecycle: versioned mappings behind aliases.

Readers and writers only ever use the alias ``<prefix>catalogue``; the concrete index is
``<prefix>catalogue-v<N>-<timestamp>``, so a reindex can build a new one and swap atomically.
"""

from __future__ import annotations

import json
import time
from functools import cache
from importlib import resources
from typing import Any

from search.engine import SearchEngine

MAPPING_VERSION = "v2"

STATE_BODY: dict[str, Any] = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {"dynamic": True, "properties": {"record": {"type": "object", "enabled": False}}},
}


@cache
def mapping(version: str = MAPPING_VERSION) -> dict[str, Any]:
    """The settings and mappings of a version, from search/mappings/catalogue-<version>.json."""
    text = resources.files("search.mappings").joinpath(f"catalogue-{version}.json").read_text()
    return json.loads(text)


def catalogue_alias(prefix: str) -> str:
    return f"{prefix}catalogue"


def state_index(prefix: str) -> str:
    """Where the indexer keeps each node's cursor and health, beside the data it describes."""
    return f"{prefix}sync-state"


def ensure_indices(engine: SearchEngine, prefix: str) -> str:
    """Create the catalogue index behind its alias and the state index if missing."""
    alias = catalogue_alias(prefix)
    if not engine.alias_targets(alias):
        name = f"{alias}-{MAPPING_VERSION}-{time.strftime('%Y%m%d%H%M%S')}"
        engine.create_index(name, mapping())
        engine.update_aliases([{"add": {"index": name, "alias": alias, "is_write_index": True}}])
    if not engine.index_exists(state_index(prefix)):
        engine.create_index(state_index(prefix), STATE_BODY)
    return alias


def drop_indices(engine: SearchEngine, prefix: str) -> None:
    """Remove the catalogue (every index behind the alias) and the sync state."""
    for name in engine.alias_targets(catalogue_alias(prefix)):
        engine.delete_index(name)
    engine.delete_index(state_index(prefix))
