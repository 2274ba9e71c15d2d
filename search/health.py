"""Federation health: what each node's sync looks like, as data and as Prometheus metrics.

Published anonymously (the portal's /federation and /api/v1/nodes, the indexer's
/api/v1/health, both /metrics), so :func:`node_health` passes on only the fields below, each
checked for its type. The indexer writes error texts of its own words only (see
search/indexer/sync.py) and marks such documents with ``error_format``; a document without
that mark (written by an older indexer, which copied node answers into ``last_error``, or
not written by the indexer at all) has its texts withheld.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from federation.http import identifier
from schemas import KINDS
from search.aliases import state_index
from search.engine import SearchEngine

ERROR_FORMAT = 2
"""``error_format`` of health documents whose ``last_error`` and quarantine reasons are ours."""

TEXT_MAX = 500
QUARANTINE_SHOWN = 200
WITHHELD_ERROR = "the last sync failed (its message is from an older indexer and is not shown)"
WITHHELD_REASON = "not valid (the reason is from an older indexer and is not shown)"

_TIMES = ("last_attempt", "last_success", "data_as_of", "last_resync", "last_push")
_COUNTS = ("cursor", "latest_seq", "failures")


def _text(value: Any) -> str:
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def _time(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        aware = dt.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return None
    return value if aware else None


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def _quarantined(entry: Any, ours: bool) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return None
    kind, seq = entry.get("kind"), entry.get("seq")
    return {
        "kind": kind if isinstance(kind, str) and kind in KINDS else None,
        "id": identifier(entry.get("id"), 255),
        "seq": seq if type(seq) is int else None,
        "reason": _text(entry.get("reason") or "") if ours else WITHHELD_REASON,
    }


def public_health(doc: dict[str, Any]) -> dict[str, Any] | None:
    """What may be published of one node's health document; None if it names no node."""
    node_id = identifier(doc.get("node_id"))
    if node_id is None:
        return None
    ours = doc.get("error_format") == ERROR_FORMAT
    out: dict[str, Any] = {
        "type": "node",
        "node_id": node_id,
        "index": identifier(doc.get("index")),
    }
    out.update({key: _time(doc.get(key)) for key in _TIMES})
    out.update({key: _count(doc.get(key)) for key in _COUNTS})
    error = doc.get("last_error")
    out["last_error"] = (_text(error) if ours else WITHHELD_ERROR) if error else None
    entries = doc.get("quarantined")
    entries = entries[:QUARANTINE_SHOWN] if isinstance(entries, list) else []
    out["quarantined"] = [q for q in (_quarantined(e, ours) for e in entries) if q is not None]
    out["lag"] = max(0, out["latest_seq"] - out["cursor"])
    out["mode"] = "push" if doc.get("mode") == "push" else "pull"  # push: the node sends
    return out


def node_health(engine: SearchEngine, prefix: str) -> dict[str, dict[str, Any]]:
    """Each node's health (see :func:`public_health`), with lag (changes not yet indexed)."""
    try:
        resp = engine.search(
            state_index(prefix), {"size": 1000, "query": {"term": {"type": "node"}}}
        )
    except engine.errors.NotFoundError:
        return {}
    nodes = {}
    for hit in resp["hits"]["hits"]:
        doc = public_health(hit.get("_source") or {})
        if doc is not None:
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
