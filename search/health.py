"""Federation health: what each node's sync looks like, as data and as Prometheus metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

from search.aliases import state_index
from search.engine import SearchEngine


def node_health(engine: SearchEngine, prefix: str) -> dict[str, dict[str, Any]]:
    """Each node's health document, with lag (changes not yet indexed) added."""
    try:
        resp = engine.search(
            state_index(prefix), {"size": 1000, "query": {"term": {"type": "node"}}}
        )
    except engine.errors.NotFoundError:
        return {}
    nodes = {}
    for hit in resp["hits"]["hits"]:
        doc = hit["_source"]
        doc["lag"] = max(0, int(doc.get("latest_seq", 0)) - int(doc.get("cursor", 0)))
        nodes[doc["node_id"]] = doc
    return nodes


def _seconds_since(stamp: str | None, now: dt.datetime) -> float | None:
    if not stamp:
        return None
    return (now - dt.datetime.fromisoformat(stamp)).total_seconds()


def prometheus_text(nodes: dict[str, dict[str, Any]], now: dt.datetime | None = None) -> str:
    """The health as Prometheus text exposition format (version 0.0.4)."""
    now = now or dt.datetime.now(dt.UTC)
    metrics = [
        (
            "cellfed_node_up",
            "gauge",
            "1 if the last sync of the node succeeded",
            lambda n: 0 if n.get("last_error") else 1,
        ),
        (
            "cellfed_node_cursor",
            "gauge",
            "Last change of the node that is indexed",
            lambda n: n.get("cursor", 0),
        ),
        (
            "cellfed_node_latest_seq",
            "gauge",
            "Latest change the node reported",
            lambda n: n.get("latest_seq", 0),
        ),
        (
            "cellfed_node_lag_changes",
            "gauge",
            "Changes at the node not yet indexed",
            lambda n: n["lag"],
        ),
        (
            "cellfed_node_consecutive_failures",
            "gauge",
            "Failed syncs in a row",
            lambda n: n.get("failures", 0),
        ),
        (
            "cellfed_node_quarantined_records",
            "gauge",
            "Records quarantined (last 200 kept)",
            lambda n: len(n.get("quarantined", [])),
        ),
        (
            "cellfed_node_data_age_seconds",
            "gauge",
            "Seconds since the last successful sync",
            lambda n: _seconds_since(n.get("data_as_of"), now),
        ),
    ]
    lines: list[str] = []
    for name, kind, help_text, value in metrics:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for node_id, node in sorted(nodes.items()):
            v = value(node)
            if v is not None:
                lines.append(f'{name}{{node="{node_id}"}} {float(v):g}')
    return "\n".join(lines) + "\n"
