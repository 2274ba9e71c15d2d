"""Attachment retention: researchers' files (ethics approvals, project descriptions) are not
kept for good (security review L13). The rule is data, in the settings:

* ``ATTACHMENT_RETENTION_DAYS`` (365) after a part reached a final state of the lifecycle
  (schemas/lifecycle.py ``FINAL``: rejected, withdrawn, fulfilled), as the portal recorded it;
* ``ATTACHMENT_RETENTION_UNDELIVERED_DAYS`` (30) after the broker gave up delivering a part
  that never reached its node (its delivery failed, and no operator asked for a retry since);
* a request's files go once *every* one of its parts is past its own time: while any part is
  still open (or on its way), its biobank may still need them. None for a setting: that
  rule never lets files go.

A pass (the portal worker's ``attachment-retention`` job, every
``ATTACHMENT_RETENTION_INTERVAL`` seconds) first marks the due attachments' rows removed,
each request in its own transaction and with a conditional UPDATE (a row is marked once,
however many passes run); then it deletes the files of removed rows that are still on disk.
Deleting after marking means a removed attachment is never offered again, and a pass that
stops between the two is finished by the next one. The rows keep the name, type, size and
hash, and ``removed_at``: the pages say "removed under the retention rule on DATE", and
nodes asking for the file get 410 Gone.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from federation.outbox import as_aware
from portal.access.models import AccessRequest, Attachment, PortalOutbox, RequestPart
from portal.access.service import AccessService
from schemas.lifecycle import FINAL

log = logging.getLogger(__name__)

FINAL_STATES = tuple(sorted(s.value for s in FINAL))
REMOVED = "removed under the retention rule on {date}"
SWEEP_BATCH = 500  # stored names per query when looking for files to delete


@dataclass(frozen=True)
class RetentionRule:
    """Days a request's files are kept after each part is done; None: kept for good."""

    final_days: int | None = 365
    undelivered_days: int | None = 30

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetentionRule:
        return cls(
            config["ATTACHMENT_RETENTION_DAYS"], config["ATTACHMENT_RETENTION_UNDELIVERED_DAYS"]
        )

    def part_due(self, part: RequestPart, gave_up_at: dt.datetime | None) -> dt.datetime | None:
        """When this part stops needing its request's files; None while it may need them.
        ``gave_up_at``: when the broker gave up delivering it, if it did and still has."""
        if part.state in FINAL_STATES:
            days, since = self.final_days, as_aware(part.updated_at)
        elif part.delivery == "failed" and gave_up_at is not None:
            days, since = self.undelivered_days, as_aware(gave_up_at)
        else:
            return None
        if days is None or since is None:
            return None
        return since + dt.timedelta(days=days)

    def due(
        self, parts: Iterable[RequestPart], gave_up: Mapping[str, dt.datetime]
    ) -> dt.datetime | None:
        """When a request's files go: once every part is past its own time."""
        dues = [self.part_due(p, gave_up.get(p.id)) for p in parts]
        if not dues or any(d is None for d in dues):
            return None
        return max(d for d in dues if d is not None)


@dataclass
class RetentionPass:
    """What one pass did."""

    removed: int = 0  # attachment rows marked removed
    requests: int = 0  # requests they belong to
    files_deleted: int = 0  # files deleted (also those an earlier pass marked)


def removed_notice(attachment: Attachment) -> str | None:
    """The notice for a removed attachment ("removed under the retention rule on
    2027-12-01"), or None for one that is kept."""
    removed_at = as_aware(attachment.removed_at)
    if removed_at is None:
        return None
    return REMOVED.format(date=removed_at.astimezone(dt.UTC).date().isoformat())


def _candidates(session: Session) -> list[str]:
    """Requests that still keep a file and have no part that is open: each part is final or
    its delivery failed (whether its time has come is decided per request)."""
    kept = select(Attachment.id).where(
        Attachment.request_id == AccessRequest.id, Attachment.removed_at.is_(None)
    )
    open_part = select(RequestPart.id).where(
        RequestPart.request_id == AccessRequest.id,
        RequestPart.state.not_in(FINAL_STATES),
        RequestPart.delivery != "failed",
    )
    query = select(AccessRequest.id).where(exists(kept), ~exists(open_part))
    return list(session.scalars(query.order_by(AccessRequest.created_at)))


def _gave_up(session: Session, part_ids: list[str]) -> dict[str, dt.datetime]:
    """Part id -> when the broker gave up delivering it, for parts it has given up on (an
    operator's retry clears ``failed_at``: such a part is on its way again)."""
    rows = session.execute(
        select(PortalOutbox.key, PortalOutbox.failed_at).where(
            PortalOutbox.kind == "deliver_part",
            PortalOutbox.key.in_(part_ids),
            PortalOutbox.delivered_at.is_(None),
            PortalOutbox.failed_at.is_not(None),
        )
    )
    return {key: at for key, at in rows if key is not None and at is not None}


def _mark(service: AccessService, rule: RetentionRule, request_id: str, now: dt.datetime) -> int:
    """Mark the request's attachments removed if its time has come; how many were marked
    (0 when another pass marked them first)."""
    with service.sessions.begin() as session:
        parts = list(
            session.scalars(select(RequestPart).where(RequestPart.request_id == request_id))
        )
        due = rule.due(parts, _gave_up(session, [p.id for p in parts]))
        if due is None or due > now:
            return 0
        result = session.execute(
            update(Attachment)
            .where(Attachment.request_id == request_id, Attachment.removed_at.is_(None))
            .values(removed_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _sweep(service: AccessService) -> int:
    """Delete the files of removed attachments that are still on disk."""
    names = list(service.files.names())
    deleted = 0
    for start in range(0, len(names), SWEEP_BATCH):
        batch = names[start : start + SWEEP_BATCH]
        with service.sessions() as session:
            gone = list(
                session.scalars(
                    select(Attachment.stored_name).where(
                        Attachment.stored_name.in_(batch), Attachment.removed_at.is_not(None)
                    )
                )
            )
        for name in gone:
            service.files.delete(name)
            deleted += 1
    return deleted


def remove_expired(service: AccessService, rule: RetentionRule, now: dt.datetime) -> RetentionPass:
    """One pass of the rule at ``now`` (an aware datetime): mark, then delete. Idempotent,
    and safe beside another pass."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(dt.UTC)  # SQLite keeps the clock reading, not the zone
    done = RetentionPass()
    if rule.final_days is not None or rule.undelivered_days is not None:
        with service.sessions() as session:
            candidates = _candidates(session)
        for request_id in candidates:
            marked = _mark(service, rule, request_id, now)
            if marked:
                done.removed += marked
                done.requests += 1
    done.files_deleted = _sweep(service)
    if done.removed or done.files_deleted:
        log.info(
            "attachment retention: %d attachment(s) of %d request(s) removed, %d file(s) deleted",
            done.removed,
            done.requests,
            done.files_deleted,
        )
    return done


def retention_pass(app: Any, now: dt.datetime | None = None) -> RetentionPass:
    """The worker's pass for the portal ``app`` (cellfed/worker.py ``attachment-retention``)."""
    from portal.access.context import access_of

    return remove_expired(
        access_of(app).service,
        RetentionRule.from_config(app.config),
        now or dt.datetime.now(dt.UTC),
    )
