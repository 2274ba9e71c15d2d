"""Unmet demand: searches that found nothing or little, counted without who searched.

**What is counted.** A first page of search results (the page or the JSON API) with words
or filters that found at most ``DEMAND_FEW`` lines (records, for collections and biobanks)
adds one to its row: ISO week (``2026-W07``), record kind, the words normalised (Unicode
NFKC, case-folded, punctuation trimmed, duplicates dropped, sorted; a word that is an
e-mail address becomes ``[e-mail]``, one made of six digits or more becomes ``[number]``)
and the facet filters (their URL parameters, sorted). ``empty`` counts those of them that
found nothing. No user, session, address or time finer than the week is written.

**The threshold.** A row is shown, on the page and in the CSV, only once it counts at least
``DEMAND_MIN_COUNT`` (k, never below 2) searches in its week, so a search made by one person
once or twice is never shown to anyone. The same client repeating the same search within an
hour (reloads, the back button, an API script polling) is counted once: a keyed digest of
who and what, held in the web process's memory only, never written, forgotten at the hour.
Someone who repeats a search k times over hours can still lift their own row over k; what
it shows is the search, not who made it.

**Who sees what.** Alliance operators (``alliance-admin``) see every row over the threshold.
A biobank admin (``biobank-admin``, with ``<node>:<biobank>`` values in the biobanks claim)
sees the rows whose filters *touch their catalogue*: at least one selected facet value is a
value their own biobanks' cell lines or collections hold in the index now (a disease node,
a country, a gene, a flag any of their records has, their biobank's name, ...). Rows with
words only, or only ranges (age, vials), touch no catalogue: they are for operators.

**The hot path.** ``record_demand`` only adds to a counter in memory under a lock (no I/O);
every ``DEMAND_FLUSH_INTERVAL`` seconds, or at 2,000 rows, the request that notices it
registers a flush that runs after its response is sent (``call_on_close``), writing every
row in one transaction with one upsert each. Web processes run no threads of their own
(cellfed/worker.py), so this is the way to write without making a search wait; a crash loses
at most the counts of one interval, which statistics can bear; while writes fail, at most
4,000 rows are held. Any error is logged, never raised into the search.
"""

from __future__ import annotations

import atexit
import csv
import datetime as dt
import hashlib
import hmac
import io
import logging
import re
import secrets
import threading
import time
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Flask, after_this_request, current_app, request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from federation.web.login import User, current_user
from portal.alerts.models import UnmetDemand
from portal.export import safe_cell
from search.facets import FACETS, FACETS_BY_NAME
from search.queries import SearchParams

log = logging.getLogger(__name__)

DEMAND_KEY = "cellfed.demand"
NOT_FILTERS = frozenset({"q", "kind", "sort", "size", "page"})
FACET_OF_PARAM = {param: facet.name for facet in FACETS for param in facet.params}
PUNCTUATION = "\"'`´‘’“”«»‹›()[]{}<>,.;:!?¿¡…"
NUMBER = re.compile(r"[+(]?\d[\d ().\-/]*")
FILTERS_MAX = 2000  # longer filter sets are not counted: rare, and telling
MAX_ROWS = 2000  # rows held in memory before a flush is due regardless of the interval
REPEAT_SECONDS = 3600.0  # a client's same search within this is counted once
REPEATS_HELD = 50_000  # digests held for that; beyond, the oldest are forgotten


# -- what a row is -------------------------------------------------------------------------
def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def normalise_words(q: str) -> str:
    words = set()
    for raw in unicodedata.normalize("NFKC", q).casefold().split():
        word = raw.strip(PUNCTUATION)
        if not word:
            continue
        if "@" in word:
            word = "[e-mail]"
        elif NUMBER.fullmatch(word) and sum(c.isdigit() for c in word) >= 6:
            word = "[number]"
        words.add(word)
    return " ".join(sorted(words))


def filters_of(params: SearchParams) -> str:
    return urlencode(sorted(p for p in params.args() if p[0] not in NOT_FILTERS))


def row_key(week: str, kind: str, words: str, filters: str) -> str:
    return hashlib.sha256("\x1f".join((week, kind, words, filters)).encode()).hexdigest()


@dataclass(frozen=True)
class Row:
    week: str
    kind: str
    words: str
    filters: str

    @property
    def key(self) -> str:
        return row_key(self.week, self.kind, self.words, self.filters)


def unmet(params: SearchParams, found: int, few: int, today: dt.date) -> Row | None:
    """The row a search adds to, or None: not a first page, nothing asked, enough found."""
    if params.page != 1 or not (params.q or params.selections) or found > few:
        return None
    filters = filters_of(params)
    if len(filters) > FILTERS_MAX:
        return None
    return Row(iso_week(today), params.kind, normalise_words(params.q), filters)


# -- in memory ---------------------------------------------------------------------------
class DemandBuffer:
    """Counts held in memory until written by ``write`` (thread-safe)."""

    def __init__(
        self,
        write: Callable[[dict[Row, list[int]]], None],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[Row, list[int]] = {}
        self._repeats: dict[bytes, float] = {}
        self._salt = secrets.token_bytes(32)  # this process's only: digests mean nothing else
        self._last = clock()
        self._flushing = False
        self._claimed = 0.0  # when the current flush was handed to a request

    def add(self, row: Row, empty: bool, client: str) -> bool:
        """Count one search; True when a flush is due (and not already under way)."""
        now = self.clock()
        digest = hmac.new(self._salt, f"{client}\x1f{row.key}".encode(), "sha256").digest()
        with self._lock:
            if self._repeats.get(digest, 0.0) > now:
                return False
            self._remember(digest, now)
            if row not in self._counts and len(self._counts) >= 2 * MAX_ROWS:
                return False  # writes are failing: memory stays bounded, this one is lost
            counts = self._counts.setdefault(row, [0, 0])
            counts[0] += 1
            counts[1] += int(empty)
            due = len(self._counts) >= MAX_ROWS or now - self._last >= self.interval
            # A claimed flush that never ran (its response was never closed) expires.
            stale = now - self._claimed > max(60.0, 4 * self.interval)
            if due and (not self._flushing or stale):
                self._flushing, self._claimed = True, now
                return True
            return False

    def _remember(self, digest: bytes, now: float) -> None:
        if len(self._repeats) >= REPEATS_HELD:
            self._repeats = {d: t for d, t in self._repeats.items() if t > now}
            while len(self._repeats) >= REPEATS_HELD:  # still full: forget the oldest
                self._repeats.pop(next(iter(self._repeats)))
        self._repeats[digest] = now + REPEAT_SECONDS

    def pending(self) -> int:
        with self._lock:
            return sum(c[0] for c in self._counts.values())

    def flush(self) -> int:
        """Write what is held; returns the searches written. On failure the counts are put
        back (at most MAX_ROWS rows are kept) and the error logged."""
        with self._lock:
            counts, self._counts = self._counts, {}
            self._last = self.clock()
        try:
            if counts:
                self.write(counts)
            return sum(c[0] for c in counts.values())
        except Exception:
            log.warning("unmet demand: could not write %d rows", len(counts), exc_info=True)
            with self._lock:
                for row, (n, e) in counts.items():
                    if row in self._counts or len(self._counts) < MAX_ROWS:
                        held = self._counts.setdefault(row, [0, 0])
                        held[0] += n
                        held[1] += e
            return 0
        finally:
            with self._lock:
                self._flushing = False


def write_counts(sessions: sessionmaker[Session], counts: Mapping[Row, list[int]]) -> None:
    """Add the counts to their rows, in one transaction: an upsert each on SQLite and
    PostgreSQL (concurrent writers add up), a read-then-write elsewhere."""
    with sessions.begin() as session:
        dialect = session.get_bind().dialect.name
        for row, (searches, empty) in counts.items():
            values = {
                "key": row.key,
                "week": row.week,
                "kind": row.kind,
                "words": row.words,
                "filters": row.filters,
                "searches": searches,
                "empty": empty,
            }
            if dialect in ("sqlite", "postgresql"):
                session.execute(_upsert(dialect, values))
                continue
            found = session.execute(
                select(UnmetDemand).where(UnmetDemand.key == row.key)
            ).scalar_one_or_none()
            if found is None:
                session.add(UnmetDemand(**values))
            else:
                found.searches += searches
                found.empty += empty


def _upsert(dialect: str, values: dict[str, Any]) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt: Any = insert(UnmetDemand).values(**values)
    return stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "searches": UnmetDemand.searches + stmt.excluded.searches,
            "empty": UnmetDemand.empty + stmt.excluded.empty,
        },
    )


# -- the web app's side ----------------------------------------------------------------------
def init_demand(app: Flask) -> DemandBuffer:
    """Give ``app`` its buffer (written to the portal's database) and write what is left
    when the process exits."""

    def write(counts: dict[Row, list[int]]) -> None:
        from portal.access.context import access_of

        write_counts(access_of(app).sessions, counts)

    buffer = DemandBuffer(write, float(app.config.get("DEMAND_FLUSH_INTERVAL", 30)))
    app.extensions[DEMAND_KEY] = buffer
    held = weakref.ref(buffer)
    atexit.register(lambda: (b := held()) is not None and b.pending() and b.flush())
    return buffer


def _client() -> str:
    user = current_user()
    if user is not None:
        return f"user:{user.iss}|{user.sub}"
    return f"ip:{request.remote_addr or ''}"


def record_demand(params: SearchParams, found: int) -> None:
    """After a search answered: count it if it found at most DEMAND_FEW. Cheap (memory
    only), and never raises."""
    try:
        app = current_app
        buffer = app.extensions.get(DEMAND_KEY)
        if buffer is None:
            return
        row = unmet(params, found, int(app.config.get("DEMAND_FEW", 3)), dt.date.today())
        if row is None:
            return
        if buffer.add(row, found == 0, _client()):

            @after_this_request
            def _flush_later(response: Any) -> Any:
                response.call_on_close(buffer.flush)
                return response

    except Exception:
        log.warning("unmet demand: a search was not counted", exc_info=True)


def flush_demand(app: Flask) -> int:
    """Write ``app``'s held counts now (tests, and anyone who cannot wait)."""
    buffer = app.extensions.get(DEMAND_KEY)
    return buffer.flush() if buffer is not None else 0


# -- reading -------------------------------------------------------------------------------
def threshold(config: Mapping[str, Any]) -> int:
    """k: rows with fewer searches in their week are never shown (at least 2)."""
    return max(2, int(config.get("DEMAND_MIN_COUNT", 5)))


def selected(filters: str) -> list[tuple[str, str]]:
    """(facet, value) of each selected value in a row's filters (``_op`` and ranges
    excluded)."""
    out = []
    for param, value in parse_qsl(filters):
        facet = FACET_OF_PARAM.get(param)
        if facet == param:
            out.append((facet, value))
    return out


def touches(filters: str, held: Mapping[str, set[str]]) -> bool:
    """Does a row select a facet value that this catalogue holds?"""
    return any(value in held.get(facet, ()) for facet, value in selected(filters))


def describe(filters: str) -> str:
    """A row's filters in words: ``Donor sex: MALE; Donor age: 60–``."""
    parts = []
    for param, value in parse_qsl(filters):
        facet = FACET_OF_PARAM.get(param)
        label = FACETS_BY_NAME[facet].label if facet else param
        suffix = {"_min": " from", "_max": " up to", "_op": " combined with"}.get(
            param[len(facet or "") :], ""
        )
        parts.append(f"{label}{suffix}: {value}")
    return "; ".join(parts)


def administered(user: User) -> list[tuple[str, str]]:
    """(node, biobank id) of each biobank a biobank admin administers (a node operator's
    `<node>:*` names no biobank)."""
    if not user.has_role("biobank-admin"):
        return []
    pairs = [value.partition(":") for value in sorted(user.biobanks)]
    return [(node, bank) for node, sep, bank in pairs if sep and node and bank and bank != "*"]


def weeks_back(today: dt.date, weeks: int) -> str:
    """The first ISO week of the last ``weeks`` weeks (this one included)."""
    return iso_week(today - dt.timedelta(weeks=weeks - 1))


def demand_rows(
    sessions: sessionmaker[Session],
    user: User,
    weeks: int,
    k: int,
    held: Callable[[], Mapping[str, set[str]]],
    today: dt.date,
) -> list[UnmetDemand]:
    """The rows ``user`` may see of the last ``weeks`` weeks (see the module docstring):
    newest week first, most searched first. ``held`` gives the biobank admin's values."""
    with sessions() as session:
        rows = list(
            session.execute(
                select(UnmetDemand)
                .where(UnmetDemand.week >= weeks_back(today, weeks), UnmetDemand.searches >= k)
                .order_by(UnmetDemand.week.desc(), UnmetDemand.searches.desc(), UnmetDemand.words)
            ).scalars()
        )
    if user.has_role("alliance-admin"):
        return rows
    if not rows or not administered(user):
        return []
    values = held()
    return [row for row in rows if touches(row.filters, values)]


def prune_demand(session: Session, today: dt.date, keep_weeks: int) -> None:
    """Forget the counts of weeks before the last ``keep_weeks`` (the alert job does it)."""
    session.execute(delete(UnmetDemand).where(UnmetDemand.week < weeks_back(today, keep_weeks)))


CSV_COLUMNS = ("week", "kind", "words", "filters", "searches", "found_nothing")


def csv_lines(rows: Iterable[UnmetDemand]) -> Iterator[str]:
    """The rows as CSV, every cell quoted and defused against spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = (row.week, row.kind, row.words, describe(row.filters), row.searches, row.empty)
        writer.writerow([safe_cell(c) for c in cells])
    yield out.getvalue()
