"""What `cellfed index verify` can check of a push-mode node, and what it cannot.

For a pull-mode node verify reads the node's whole feed and compares ids and content hashes
with the index (search/indexer/audit.py). The indexer never connects to a push-mode node, and
a pushed page carries no count or digest of the node's records, only the node's latest
sequence number. So for a push-mode node verify checks what the indexer itself knows: that
the live index's cursor of the node has reached the latest sequence the node last
reported (or the node's last page ended its feed: that sequence may count a purged change),
that no snapshot of it is open, and how many of its documents the index holds. A record the
node changed after its last push, or a document the index lost while keeping its cursor,
is not seen here (nor repaired by a rebuild, which carries the node as the live index has it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from search.aliases import state_index, write_index
from search.engine import SearchEngine
from search.indexer.ingest import push_state_id, snapshot_open
from search.indexer.sync import cursor_id


@dataclass
class PushAuditReport:
    node_id: str
    in_index: int = 0
    cursor: int | None = None  # None: the node has not pushed into the live index
    latest_seq: int = 0  # the latest sequence the node reported with its last page
    snapshot_open: bool = False
    at_end: bool = False  # its last page ended its feed (latest_seq may count a purged change)
    # Never compared for a push-mode node (see the module docstring); kept so verify lists
    # every report alike.
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """As exact as the indexer can tell: caught up with what the node last reported."""
        if self.cursor is None or self.snapshot_open:
            return False
        return self.at_end or self.cursor >= self.latest_seq

    def summary(self) -> str:
        if self.cursor is None:
            state = "has not pushed into the live index"
        elif self.snapshot_open:
            state = "a snapshot is still being pushed"
        elif self.exact:
            state = "caught up with its last push"
        else:
            state = f"{self.latest_seq - self.cursor} changes behind its last push"
        return (
            f"{self.node_id} (push): {self.in_index} indexed, cursor {self.cursor or 0} of "
            f"{self.latest_seq}: {state}; ids and hashes not compared (the indexer cannot "
            "read a push-mode node)"
        )


def push_audit(engine: SearchEngine, prefix: str, node_id: str) -> PushAuditReport:
    report = PushAuditReport(node_id)
    live = write_index(engine, prefix)
    if live is None:
        return report
    engine.refresh(live)
    report.in_index = engine.count(live, {"query": {"term": {"node_id": node_id}}})
    saved = engine.get(state_index(prefix), cursor_id(live, node_id))
    if saved is not None:
        cursor, latest = saved.get("cursor"), saved.get("latest_seq")
        report.cursor = cursor if isinstance(cursor, int) else 0
        report.latest_seq = latest if isinstance(latest, int) else 0
        report.at_end = saved.get("at_end") is True
    marker = engine.get(state_index(prefix), push_state_id(live, node_id))
    report.snapshot_open = snapshot_open(marker)
    return report
