"""Index lifecycle: versioned mappings behind an alias, additive in-place changes, swaps.

Readers only ever use the alias ``<prefix>catalogue``; the concrete index is
``<prefix>catalogue-<version>-<timestamp>``. A rebuild fills a new index while the old one
keeps answering, then swaps the alias atomically (search/rebuild.py).
"""

from __future__ import annotations

import copy
import json
import time
from functools import cache
from importlib import resources
from typing import Any

from search.engine import SearchEngine

MAPPING_VERSION = "v2"

STATE_BODY: dict[str, Any] = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {
        "dynamic": True,
        "properties": {
            "type": {"type": "keyword"},
            "node_id": {"type": "keyword"},
            "index": {"type": "keyword"},
            "quarantined": {"type": "object", "enabled": False},
        },
    },
}


class MappingChangeNotAdditive(ValueError):
    """The new mapping changes or removes a field: build a new index instead."""


@cache
def mapping(version: str = MAPPING_VERSION) -> dict[str, Any]:
    """The settings and mappings of a version, from search/mappings/catalogue-<version>.json."""
    text = resources.files("search.mappings").joinpath(f"catalogue-{version}.json").read_text()
    return json.loads(text)


def catalogue_alias(prefix: str) -> str:
    return f"{prefix}catalogue"


def state_index(prefix: str) -> str:
    """Where the indexer keeps cursors and node health, beside the data they describe."""
    return f"{prefix}sync-state"


def new_index_name(prefix: str, version: str = MAPPING_VERSION) -> str:
    # Microseconds too: a failed rebuild may be retried within the same second.
    stamp = f"{time.strftime('%Y%m%d%H%M%S')}{time.time_ns() // 1000 % 10**6:06d}"
    return f"{catalogue_alias(prefix)}-{version}-{stamp}"


def create_catalogue_index(
    engine: SearchEngine,
    prefix: str,
    version: str = MAPPING_VERSION,
    bulk_load: bool = False,
    replicas: int = 0,
) -> str:
    """A new concrete index of a mapping version; for a bulk load without replicas or refresh."""
    name = new_index_name(prefix, version)
    body = copy.deepcopy(mapping(version))
    body["settings"]["number_of_replicas"] = replicas
    if bulk_load:
        body["settings"]["number_of_replicas"] = 0
        body["settings"]["refresh_interval"] = "-1"
    engine.create_index(name, body)
    return name


def write_index(engine: SearchEngine, prefix: str) -> str | None:
    """The concrete index the alias points at (None before the first sync)."""
    targets = engine.alias_targets(catalogue_alias(prefix))
    return targets[-1] if targets else None


def ensure_indices(engine: SearchEngine, prefix: str, replicas: int = 0) -> str:
    """Create the catalogue index behind its alias and the state index if missing."""
    alias = catalogue_alias(prefix)
    if not engine.alias_targets(alias):
        name = create_catalogue_index(engine, prefix, replicas=replicas)
        engine.update_aliases([{"add": {"index": name, "alias": alias}}])
    if not engine.index_exists(state_index(prefix)):
        body = copy.deepcopy(STATE_BODY)
        body["settings"]["number_of_replicas"] = replicas
        engine.create_index(state_index(prefix), body)
    return alias


def swap_alias(engine: SearchEngine, prefix: str, new_index: str) -> list[str]:
    """Point the alias at ``new_index`` in one atomic call; returns the indices it left."""
    alias = catalogue_alias(prefix)
    old = engine.alias_targets(alias)
    actions = [{"remove": {"index": name, "alias": alias}} for name in old]
    engine.update_aliases([*actions, {"add": {"index": new_index, "alias": alias}}])
    return old


def additive_changes(current: dict[str, Any], wanted: dict[str, Any], path: str = "") -> dict:
    """The properties in ``wanted`` that ``current`` lacks; raises if any existing one differs."""
    added: dict[str, Any] = {}
    for name, spec in wanted.get("properties", {}).items():
        where = f"{path}{name}"
        if name not in current.get("properties", {}):
            added[name] = spec
            continue
        have = current["properties"][name]
        if "properties" in spec:
            sub = additive_changes(have, spec, f"{where}.")
            if sub:
                added[name] = {"properties": sub}
        elif _settings(have) != _settings(spec) or not set(have.get("fields", {})) <= set(
            spec.get("fields", {})
        ):
            raise MappingChangeNotAdditive(f"field {where!r} changes from {have} to {spec}")
    return added


def _settings(spec: dict[str, Any]) -> dict[str, Any]:
    """A field's settings as the engine reports them (copy_to always a list), sans subfields."""
    out = {k: v for k, v in spec.items() if k != "fields"}
    if isinstance(out.get("copy_to"), str):
        out["copy_to"] = [out["copy_to"]]
    return out


def update_mapping_in_place(engine: SearchEngine, prefix: str, version: str) -> list[str]:
    """Add new fields of ``version`` to the live index; refuse anything but additions."""
    index = write_index(engine, prefix)
    if index is None:
        raise LookupError(f"no index behind {catalogue_alias(prefix)} yet")
    current = engine.client.indices.get_mapping(index=index)[index]["mappings"]
    added = additive_changes(current, mapping(version)["mappings"])
    if added:
        engine.client.indices.put_mapping(index=index, body={"properties": added})
    return sorted(added)


def finish_bulk_load(engine: SearchEngine, index: str, replicas: int) -> None:
    """After a bulk load: replicas back, refresh back on, and everything visible."""
    engine.client.indices.put_settings(
        index=index, body={"index": {"number_of_replicas": replicas, "refresh_interval": "1s"}}
    )
    engine.refresh(index)


def drop_indices(engine: SearchEngine, prefix: str) -> None:
    """Remove the catalogue (every index behind the alias) and the sync state."""
    for name in engine.alias_targets(catalogue_alias(prefix)):
        engine.delete_index(name)
    engine.delete_index(state_index(prefix))
