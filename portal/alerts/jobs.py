"""The alert job: find new and newly available lines for every saved search, announce them
in the portal at once and by e-mail at most once a day per search. The portal's worker
runs a pass every ``ALERT_INTERVAL`` seconds (the ``alerts`` job, cellfed/worker.py).

**The rule.** A cell line is announced to a saved search when

1. an *event* happened to it after the search's watermark for the line's node: the line
   was seen for the first time (``new``), or it was seen becoming available again
   (``available``: its availability went from not_available or recalled to available,
   expand_to_order or restricted_distribution), and
2. it matches the saved search's words and filters *now* (the engine runs the saved
   parameters, narrowed to the lines with events: ``build_alert_matches``).

A line that merely changed (new QC results, its biobank renamed, which re-sequences every
line of that biobank) is not announced; nor is one that starts to match only because it
was edited, or one withdrawn and published again.

**Where events come from.** Each pass first brings the *ledger* up to date: for each node,
the cell-line records whose sequence is above the ledger's cursor and at most the node's
sync cursor in the index (the indexer saves it after the page is acknowledged and the
index refreshed, so every record up to there is searchable), in sequence order
(``build_changed_lines``). The ledger keeps per line its last sequence and availability,
and its latest event. Then each saved search takes the events in (its watermark, the
node's cursor] and moves its watermark to the cursor, in one transaction with the lines it
announces, its notification and its e-mail; a failed pass changes nothing and is repeated.

A node whose sync cursor fell below the ledger's (its store was restored from an older
backup or reset, so its sequences restarted) is read again from 0: the lines known before
count as old (no events), so only lines new to the ledger, or seen becoming available
again, are announced. A member that joins later has no watermark in older saved searches:
its lines are new to them. A search saved while neither the index nor the ledger could
say where things stood starts at the first pass, announcing nothing.

**E-mail.** Announced lines wait as unmailed hits; a search's first e-mail goes out at the
first pass after them, later ones no sooner than ``ALERT_EMAIL_EVERY`` seconds (a day)
after the previous one, carrying everything that waited. Every e-mail has an unsubscribe
link (no login) and the RFC 8058 one-click headers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import url_for
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from federation.database import utcnow
from federation.mail import email_payload
from federation.outbox import Outbox
from portal.access.models import Notification
from portal.alerts.demand import prune_demand
from portal.alerts.models import (
    UID_MAX,
    AlertCursor,
    AlertLine,
    SavedSearch,
    SavedSearchHit,
)
from portal.alerts.service import engine_search, hits, saved_params
from portal.service import SEARCH_KEY, CatalogueSearch, SearchUnavailable
from search.health import node_health
from search.queries import (
    InvalidQuery,
    SearchParams,
    build_alert_matches,
    build_changed_lines,
)
from search.vocab import AVAILABILITY_LABELS

log = logging.getLogger(__name__)

AVAILABLE = frozenset({"available", "expand_to_order", "restricted_distribution"})
"""Availabilities a researcher can obtain a line under; the others are not_available and
recalled. A line going from those to one of these is "available again"."""
PAGE = 500  # records per ledger page (and uids per SQL IN list)
MATCH_CHUNK = 500  # uids per matching request
HITS_KEPT = 200  # announced lines kept per search (its page and feed show the latest 50)
NAMES_SHOWN = 5  # lines named in a notification
MAILED_MAX = 50  # lines listed in an e-mail


class Catalogue(Protocol):
    """What the job asks of the index (EngineCatalogue; the unit tests give a fake)."""

    def cursors(self) -> dict[str, int]:
        """Node -> the sequence up to which its records are indexed and searchable."""
        ...

    def changed(self, node: str, after: int, upto: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of the node's cell lines with sequence in (after, upto], in order."""
        ...

    def matching(
        self, params: SearchParams, today: dt.date, uids: list[str]
    ) -> list[dict[str, Any]]:
        """Those of ``uids`` that match ``params`` now (ALERT_FIELDS of each)."""
        ...


class EngineCatalogue:
    def __init__(self, search: CatalogueSearch, page: int = PAGE) -> None:
        self.search = search
        self.page = page

    def cursors(self) -> dict[str, int]:
        try:
            health = node_health(self.search.engine, self.search.prefix)
        except self.search.engine.errors.TransportError as exc:
            raise SearchUnavailable("the search engine is not reachable right now") from exc
        return {node: int(state["cursor"]) for node, state in health.items()}

    def changed(self, node: str, after: int, upto: int) -> Iterator[list[dict[str, Any]]]:
        last: list[Any] | None = None
        while True:
            answer = engine_search(
                self.search, build_changed_lines(node, after, upto, self.page, last)
            )
            found = answer.get("hits", {}).get("hits", [])
            if found:
                yield [h["_source"] for h in found]
            if len(found) < self.page:
                return
            last = found[-1]["sort"]

    def matching(
        self, params: SearchParams, today: dt.date, uids: list[str]
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(uids), MATCH_CHUNK):
            chunk = uids[start : start + MATCH_CHUNK]
            out += hits(engine_search(self.search, build_alert_matches(params, today, chunk)))
        return out


class Links:
    """Absolute URLs under PORTAL_URL, spelled by the routes themselves."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.base = str(app.config["PORTAL_URL"]).rstrip("/")

    def __call__(self, endpoint: str, **values: Any) -> str:
        with self.app.test_request_context("/", base_url=self.base):
            return url_for(endpoint, _external=True, **values)

    def search(self, query: str) -> str:
        return f"{self('views.search_page')}?{query}" if query else self("views.search_page")


@dataclass
class AlertReport:
    lines_read: int = 0
    searches: int = 0
    announced: int = 0
    emails: int = 0
    reread: list[str] = field(default_factory=list)  # nodes read again from 0

    def summary(self) -> str:
        again = f", read again: {', '.join(self.reread)}" if self.reread else ""
        return (
            f"alerts: {self.lines_read} line records read, {self.searches} searches checked, "
            f"{self.announced} lines announced, {self.emails} e-mails{again}"
        )


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives back naive datetimes; every one stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class AlertJob:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        catalogue: Catalogue,
        outbox: Outbox,
        links: Links,
        config: Mapping[str, Any],
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.catalogue = catalogue
        self.outbox = outbox
        self.links = links
        self.clock = clock
        self.every = dt.timedelta(seconds=float(config.get("ALERT_EMAIL_EVERY", 86400)))
        self.page_size = int(config.get("PORTAL_PAGE_SIZE", 20))
        self.keep_weeks = int(config.get("DEMAND_KEEP_WEEKS", 104))

    @property
    def mails(self) -> bool:
        return "email" in self.outbox.senders

    def run(self) -> AlertReport:
        """One pass: the ledger, every saved search, the e-mails due, pruning."""
        report = AlertReport()
        cursors = self.read_ledger(report)
        with self.sessions() as session:
            ids = list(session.execute(select(SavedSearch.id).order_by(SavedSearch.id)).scalars())
        for search_id in ids:
            self.check(search_id, cursors, report)
        self.send_due(report)
        self.prune()
        return report

    # -- the ledger ----------------------------------------------------------------------
    def read_ledger(self, report: AlertReport) -> dict[str, int]:
        """Bring the ledger up to each node's sync cursor; node -> cursor."""
        indexed = self.catalogue.cursors()
        with self.sessions() as session:
            known = {c.node_id: c.seq for c in session.execute(select(AlertCursor)).scalars()}
        for node, upto in sorted(indexed.items()):
            start = known.get(node, 0)
            if upto < start:
                self._read_again(node)
                report.reread.append(node)
                start = 0
            if upto > start or node not in known:
                report.lines_read += self._read_node(node, start, upto)
        return {**known, **indexed}

    def _read_node(self, node: str, start: int, upto: int) -> int:
        read = 0
        for page in self.catalogue.changed(node, start, upto):
            with self.sessions.begin() as session:
                _observe(session, node, page)
                _set_cursor(session, node, int(page[-1]["seq"]), self.clock())
            read += len(page)
        with self.sessions.begin() as session:
            _set_cursor(session, node, upto, self.clock())
        return read

    def _read_again(self, node: str) -> None:
        """The node's sequences restarted: what the ledger knows of it counts as old."""
        log.warning("alerts: the sync cursor of %s went back; reading it again from 0", node)
        with self.sessions.begin() as session:
            session.execute(
                update(AlertLine).where(AlertLine.node_id == node).values(seq=0, event_seq=0)
            )
            session.execute(delete(AlertCursor).where(AlertCursor.node_id == node))
            for saved in session.execute(select(SavedSearch)).scalars():
                if saved.watermarks and node in saved.watermarks:
                    saved.watermarks = {**saved.watermarks, node: 0}

    # -- each saved search ---------------------------------------------------------------
    def check(self, search_id: str, cursors: Mapping[str, int], report: AlertReport) -> None:
        with self.sessions.begin() as session:
            saved = session.get(SavedSearch, search_id)
            if saved is None:  # deleted meanwhile
                return
            found = self._announce(session, saved, cursors)
            if found:
                session.add(
                    Notification(
                        user_iss=saved.owner_iss,
                        user_sub=saved.owner_sub,
                        text=notification_text(saved.name, found),
                        request_id=None,
                    )
                )
            report.searches += 1
            report.announced += len(found)

    def _announce(
        self, session: Session, saved: SavedSearch, cursors: Mapping[str, int]
    ) -> list[SavedSearchHit]:
        now = self.clock()
        saved.checked_at = now
        if saved.watermarks is None:  # saved blind: start here, announcing nothing
            saved.watermarks = dict(cursors)
            return []
        marks = {node: int(seq) for node, seq in saved.watermarks.items()}
        windows = {n: (marks.get(n, 0), c) for n, c in cursors.items() if c > marks.get(n, 0)}
        if not windows:
            return []
        saved.watermarks = {**marks, **{n: c for n, (_, c) in windows.items()}}
        try:
            params = saved_params(saved.query, self.page_size)
        except InvalidQuery as exc:
            saved.problem = f"this search can no longer run ({exc}); save it again from a search"
            return []
        saved.problem = None
        events = _events(session, windows)
        if not events:
            return []
        docs = self.catalogue.matching(params, now.date(), sorted(events))
        settled = not (self.mails and saved.email_alerts and saved.owner_email)
        made = (_hit(saved.id, doc, events.get(str(doc.get("uid"))), now, settled) for doc in docs)
        found = [hit for hit in made if hit is not None]
        session.add_all(found)
        return found

    # -- e-mail --------------------------------------------------------------------------
    def send_due(self, report: AlertReport) -> None:
        """One e-mail per search with unmailed lines whose last e-mail is old enough."""
        with self.sessions() as session:
            waiting = list(
                session.execute(
                    select(SavedSearchHit.search_id)
                    .where(SavedSearchHit.mailed.is_(False))
                    .distinct()
                ).scalars()
            )
        now = self.clock()
        for search_id in waiting:
            with self.sessions.begin() as session:
                saved = session.get(SavedSearch, search_id)
                if saved is None:
                    continue
                if not (self.mails and saved.email_alerts and saved.owner_email):
                    _settle_all(session, search_id)
                    continue
                if saved.emailed_at is not None and now - _aware(saved.emailed_at) < self.every:
                    continue  # batched into the next one
                pending = list(
                    session.execute(
                        select(SavedSearchHit)
                        .where(
                            SavedSearchHit.search_id == search_id,
                            SavedSearchHit.mailed.is_(False),
                        )
                        .order_by(SavedSearchHit.id)
                    ).scalars()
                )
                payload = alert_email(saved, pending, self.links)
                self.outbox.enqueue(session, "email", saved.owner_email, payload)
                for hit in pending:
                    hit.mailed = True
                saved.emailed_at = now
                report.emails += 1
        if report.emails:
            self.outbox.wake()

    def prune(self) -> None:
        """Keep the newest HITS_KEPT lines of each search (and every unmailed one), and
        unmet-demand counts of the last DEMAND_KEEP_WEEKS weeks."""
        with self.sessions.begin() as session:
            crowded = session.execute(
                select(SavedSearchHit.search_id)
                .group_by(SavedSearchHit.search_id)
                .having(func.count() > HITS_KEPT)
            ).scalars()
            for search_id in list(crowded):
                cutoff = session.execute(
                    select(SavedSearchHit.id)
                    .where(SavedSearchHit.search_id == search_id)
                    .order_by(SavedSearchHit.id.desc())
                    .offset(HITS_KEPT)
                    .limit(1)
                ).scalar()
                session.execute(
                    delete(SavedSearchHit).where(
                        SavedSearchHit.search_id == search_id,
                        SavedSearchHit.id <= cutoff,
                        SavedSearchHit.mailed.is_(True),
                    )
                )
            prune_demand(session, self.clock().date(), self.keep_weeks)


# -- the ledger's rows ---------------------------------------------------------------------
def _observe(session: Session, node: str, docs: list[dict[str, Any]]) -> None:
    """Record one page of a node's line records (in sequence order) and their events."""
    docs = [d for d in docs if isinstance(d.get("uid"), str) and len(d["uid"]) <= UID_MAX]
    rows = {
        row.uid: row
        for row in session.execute(
            select(AlertLine).where(AlertLine.uid.in_([d["uid"] for d in docs]))
        ).scalars()
    }
    for doc in docs:
        uid, seq = doc["uid"], int(doc["seq"])
        available = doc.get("availability") in AVAILABLE
        row = rows.get(uid)
        if row is None:
            rows[uid] = AlertLine(
                uid=uid, node_id=node, seq=seq, available=available, event="new", event_seq=seq
            )
            session.add(rows[uid])
        elif seq > row.seq:
            if available and not row.available:
                row.event, row.event_seq = "available", seq
            row.seq, row.available = seq, available


def _set_cursor(session: Session, node: str, seq: int, now: dt.datetime) -> None:
    cursor = session.get(AlertCursor, node)
    if cursor is None:
        session.add(AlertCursor(node_id=node, seq=seq, updated_at=now))
    elif seq > cursor.seq:
        cursor.seq, cursor.updated_at = seq, now


def _events(session: Session, windows: Mapping[str, tuple[int, int]]) -> dict[str, AlertLine]:
    """Lines with an event in (low, high] of their node's window, by uid."""
    inside = [
        and_(AlertLine.node_id == node, AlertLine.event_seq > low, AlertLine.event_seq <= high)
        for node, (low, high) in windows.items()
    ]
    return {
        row.uid: row for row in session.execute(select(AlertLine).where(or_(*inside))).scalars()
    }


def _hit(
    search_id: str, doc: dict[str, Any], event: AlertLine | None, now: dt.datetime, settled: bool
) -> SavedSearchHit | None:
    if event is None:  # not one of the uids asked for
        return None

    def text(key: str, limit: int) -> str | None:
        value = doc.get(key)
        return str(value)[:limit] if value not in (None, "") else None

    return SavedSearchHit(
        search_id=search_id,
        uid=doc["uid"],
        reason=event.event,
        event_seq=event.event_seq,
        name=text("name", 300) or doc["uid"],
        node_id=text("node_id", 100) or event.node_id,
        biobank_name=text("biobank_name", 300),
        country=text("country", 8),
        availability=text("availability", 32),
        found_at=now,
        mailed=settled,
    )


def _settle_all(session: Session, search_id: str) -> None:
    session.execute(
        update(SavedSearchHit)
        .where(SavedSearchHit.search_id == search_id, SavedSearchHit.mailed.is_(False))
        .values(mailed=True)
    )


# -- what people read ----------------------------------------------------------------------
def line_label(hit: SavedSearchHit) -> str:
    where = f"{hit.biobank_name} ({hit.country})" if hit.country else hit.biobank_name
    return f"{hit.name} at {where}" if where else hit.name


def _counted(hits_: list[SavedSearchHit]) -> str:
    new = sum(1 for h in hits_ if h.reason == "new")
    back = len(hits_) - new
    parts = []
    if new:
        parts.append(f"{new} new cell line{'' if new == 1 else 's'}")
    if back:
        parts.append(f"{back} available again")
    return " and ".join(parts)


def notification_text(name: str, found: list[SavedSearchHit]) -> str:
    shown = ", ".join(line_label(h) for h in found[:NAMES_SHOWN])
    more = f" and {len(found) - NAMES_SHOWN} more" if len(found) > NAMES_SHOWN else ""
    return f"Your saved search “{name}”: {_counted(found)}: {shown}{more}."


def alert_email(saved: SavedSearch, pending: list[SavedSearchHit], links: Links) -> dict[str, Any]:
    """The e-mail for a search's waiting lines, with its unsubscribe link and headers."""
    lines = [f"Your saved search “{saved.name}” at CellFed has {_counted(pending)}:", ""]
    for reason, heading in (("new", "New cell lines"), ("available", "Available again")):
        group = [h for h in pending if h.reason == reason]
        if not group:
            continue
        lines.append(f"{heading}:")
        for hit in group[:MAILED_MAX]:
            state = AVAILABILITY_LABELS.get(hit.availability or "", hit.availability or "")
            lines.append(f"  * {line_label(hit)}{', ' + state.lower() if state else ''}")
            lines.append(f"    {links('views.record_page', uid=hit.uid)}")
        if len(group) > MAILED_MAX:
            lines.append(f"  … and {len(group) - MAILED_MAX} more on your saved search's page")
        lines.append("")
    search_url = links.search(saved.query)
    unsubscribe = links("alerts.unsubscribe_page", token=saved.unsubscribe_token)
    lines += [
        f"Everything that matches now: {search_url}",
        f"Your saved search: {links('alerts.search_page', search_id=saved.id)}",
        "",
        "You get this e-mail because you saved this search and asked for alerts. At most one",
        "e-mail a day is sent per saved search; the portal shows news at once.",
        f"Stop these e-mails (one click, no login needed): {unsubscribe}",
    ]
    one_click = links("alerts.one_click_unsubscribe", token=saved.unsubscribe_token)
    headers = {
        "List-Unsubscribe": f"<{one_click}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    subject = f"CellFed: {_counted(pending)} for “{saved.name}”"
    return email_payload(saved.owner_email or "", subject, "\n".join(lines), headers)


# -- the worker's entry point ----------------------------------------------------------------
def alert_pass(app: Any) -> AlertReport:
    """One pass of the ``alerts`` job for the portal ``app`` (cellfed/worker.py)."""
    from portal.access.context import access_of

    access = access_of(app)
    catalogue = EngineCatalogue(app.extensions[SEARCH_KEY])
    job = AlertJob(access.sessions, catalogue, access.outbox, Links(app), app.config)
    with app.app_context():
        report = job.run()
    if report.lines_read or report.announced or report.emails or report.reread:
        log.info("%s", report.summary())
    return report
