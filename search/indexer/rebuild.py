"""Zero-downtime full rebuild: harvest every node into a new index, then swap the alias.

The live index keeps answering searches and keeps being synced meanwhile. The new index is
created without replicas and with refresh off, filled from the nodes (the source of truth,
so a rebuild also repairs anything the old index lost), caught up, given its replicas and
refresh back, and swapped in with one atomic alias call. Cursors are per index, so the
live sync continues on the new index exactly where the rebuild left it. On any failure the
new index is deleted and the old one stays. Push-mode nodes cannot be read: they are
carried over from the live index instead (search/indexer/push_carry.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from federation.registry import Member
from search.aliases import (
    MAPPING_VERSION,
    create_catalogue_index,
    finish_bulk_load,
    swap_alias,
    write_index,
)
from search.indexer.ingest import push_state_id
from search.indexer.push_carry import Carried, carry_push_nodes, settle_push_nodes
from search.indexer.sync import Indexer, SyncError, SyncReport


class RebuildError(RuntimeError):
    """The rebuild could not complete; the live index is unchanged."""


@dataclass
class RebuildReport:
    index: str
    replaced: list[str] = field(default_factory=list)
    reports: list[SyncReport] = field(default_factory=list)
    carried: list[Carried] = field(default_factory=list)  # the push-mode nodes
    documents: int = 0
    seconds: float = 0.0


def rebuild(
    indexer: Indexer,
    version: str = MAPPING_VERSION,
    grace: float = 30,
    workers: int = 1,
    *,
    before_swap: Callable[[str], None] | None = None,
) -> RebuildReport:
    """Build, fill, check and swap in a new index; ``workers`` nodes are harvested at once.
    ``before_swap`` is a test hook, not for production: called with the new index once it is
    complete, just before the push-mode nodes are checked again and the alias swapped."""
    started = time.monotonic()
    engine = indexer.engine
    indexer.prepare()
    new = create_catalogue_index(engine, indexer.prefix, version, bulk_load=True)
    report = RebuildReport(new)
    # Push-mode nodes cannot be read: they are carried over from the live index instead
    # (search/indexer/push_carry.py), just before the swap, so that few pushes come after.
    pulled = [m for m in indexer.members if not m.pushes]
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            report.reports = _harvest(pool, indexer, pulled, new)
            _harvest(pool, indexer, pulled, new)  # catch up on what came during the harvest
            try:
                report.carried = carry_push_nodes(indexer, write_index(engine, indexer.prefix), new)
            except (SyncError, engine.errors.TransportError) as exc:
                raise RebuildError(f"the new index could not be completed: {exc}") from None
            if report.carried:  # a long carry: once more what pull-mode nodes changed meanwhile
                _harvest(pool, indexer, pulled, new)
        try:
            finish_bulk_load(engine, new, indexer.replicas)
            if before_swap is not None:
                before_swap(new)
            settle_push_nodes(indexer, new, report.carried)  # what they pushed meanwhile
        except (SyncError, engine.errors.TransportError) as exc:
            raise RebuildError(f"the new index could not be completed: {exc}") from None
        report.documents = engine.count(new)
        report.replaced = swap_alias(engine, indexer.prefix, new)
    except BaseException:
        _drop(indexer, new)
        raise
    time.sleep(grace)  # let a sync that resolved the old index before the swap finish
    for old in report.replaced:
        _drop(indexer, old)
    report.seconds = time.monotonic() - started
    return report


def _harvest(
    pool: ThreadPoolExecutor, indexer: Indexer, pulled: list[Member], new: str
) -> list[SyncReport]:
    """Every pull-mode node synced into ``new`` from its cursor there (0 at first)."""
    results = list(pool.map(lambda m: indexer.sync_node(m, index=new), pulled))
    for member, result in zip(pulled, results, strict=True):
        if not result.ok:
            raise RebuildError(f"node {member.id} could not be harvested: {result.error}")
    return results


def _drop(indexer: Indexer, index: str) -> None:
    indexer.engine.delete_index(index)
    for member in indexer.members:
        indexer.engine.client.delete(
            index=indexer.state_index, id=f"cursor:{index}:{member.id}", ignore=[404]
        )
        if member.pushes:  # its snapshot marker in that index, if it has one
            indexer.engine.client.delete(
                index=indexer.state_index, id=push_state_id(index, member.id), ignore=[404]
            )


def rebuild_if_outdated(indexer: Indexer, grace: float = 30) -> RebuildReport | None:
    """Rebuild (with no downtime) when the live index has an older mapping version than this
    code's, e.g. after an upgrade; None when it is current or there is none yet."""
    live = write_index(indexer.engine, indexer.prefix)
    if live is None or f"-{MAPPING_VERSION}-" in live:
        return None
    return rebuild(indexer, MAPPING_VERSION, grace)
