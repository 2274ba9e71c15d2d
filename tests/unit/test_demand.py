"""Unmet demand without an engine: what a row is (normalised words, filters, ISO week), the
in-memory counting on the search path (no I/O, never fails a search, one count per client
and hour), the upsert on SQLite and PostgreSQL, the k threshold, who sees which rows, the
page and the CSV, and that nothing about who searched is stored."""

from __future__ import annotations

import csv
import datetime as dt
import io
import socket
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select
from sqlalchemy.orm import sessionmaker
from werkzeug.datastructures import MultiDict

from federation.database import database_engine
from federation.web.login import SESSION_ID, User, open_session
from portal import migrations as portal_migrations
from portal.access.context import access_of
from portal.alerts import demand
from portal.alerts.demand import (
    DEMAND_KEY,
    DemandBuffer,
    Row,
    demand_rows,
    filters_of,
    flush_demand,
    iso_week,
    normalise_words,
    threshold,
    touches,
    unmet,
    write_counts,
)
from portal.alerts.models import UnmetDemand
from portal.app import create_app
from portal.service import SEARCH_KEY
from search.queries import parse_params

ISSUER = "https://idp.example/realms/alliance"
TODAY = dt.date.today()
WEEK = iso_week(TODAY)


def params(*pairs):
    return parse_params(MultiDict(list(pairs)))


# -- what a row is ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("q", "words"),
    [
        ("Parkinson  iPSC parkinson", "ipsc parkinson"),  # case, duplicates, order
        ("“Kolf2”, (H9)!", "h9 kolf2"),  # punctuation at the ends
        ("ＷＡｅ009-A", "wae009-a"),  # NFKC: full-width letters
        ("SAMEA1234567 CVCL_9773", "cvcl_9773 samea1234567"),  # identifiers stay
        ("jane.doe@example.org H9", "[e-mail] h9"),
        ("0171-2345678 +49(30)1234567 12345", "12345 [number]"),
        ("", ""),
    ],
)
def test_words_are_normalised_and_personal_looking_ones_masked(q, words):
    assert normalise_words(q) == words


def test_a_row_is_the_week_kind_words_and_sorted_filters_of_an_unmet_first_page():
    p = params(("q", "HTT"), ("sex", "MALE"), ("country", "GB"), ("country", "DE"), ("size", "50"))
    assert filters_of(p) == "country=DE&country=GB&sex=MALE"  # no q, kind, size, sort, page
    row = unmet(p, 0, 3, dt.date(2026, 1, 1))
    assert row == Row("2026-W01", "cell_line", "htt", "country=DE&country=GB&sex=MALE")
    assert unmet(p, 3, 3, TODAY) is not None and unmet(p, 4, 3, TODAY) is None  # found enough
    assert unmet(params(("q", "HTT"), ("page", "2")), 0, 3, TODAY) is None  # paging on
    assert unmet(params(("kind", "biobank")), 0, 3, TODAY) is None  # nothing asked
    long = params(*[("gene", f"G{'x' * 150}{n}") for n in range(20)])
    assert unmet(long, 0, 3, TODAY) is None  # a rare and telling filter set: not counted


def test_iso_weeks_sort_as_they_run():
    assert iso_week(dt.date(2027, 1, 1)) == "2026-W53"
    assert iso_week(dt.date(2027, 1, 4)) == "2027-W01"
    assert "2026-W53" < "2027-W01" < "2027-W10"


# -- in memory ----------------------------------------------------------------------------
class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_buffer_counts_each_client_once_an_hour_and_says_when_to_flush():
    written: list[dict] = []
    ticks = Ticks()
    buffer = DemandBuffer(written.append, interval=30, clock=ticks)
    row = Row(WEEK, "cell_line", "unicorn", "")
    assert buffer.add(row, True, "ip:10.0.0.1") is False
    assert buffer.add(row, True, "ip:10.0.0.1") is False  # a reload: not counted again
    assert buffer.add(row, False, "user:iss|bob") is False
    assert buffer.pending() == 2
    ticks.now += 31
    assert buffer.add(row, True, "ip:10.0.0.2") is True  # due: this request flushes
    assert buffer.add(row, True, "ip:10.0.0.3") is False  # one flush at a time
    assert buffer.flush() == 4
    assert written == [{row: [4, 3]}] and buffer.pending() == 0
    ticks.now += 3601
    buffer.add(row, True, "ip:10.0.0.1")  # an hour later, the same client counts again
    assert buffer.pending() == 1


def test_a_failed_write_keeps_the_counts_for_the_next_flush():
    calls = []

    def write(counts):
        calls.append(dict(counts))
        if len(calls) == 1:
            raise OSError("database away")

    buffer = DemandBuffer(write, interval=30)
    row = Row(WEEK, "cell_line", "x", "")
    buffer.add(row, True, "a")
    assert buffer.flush() == 0  # logged, not raised
    buffer.add(row, False, "b")
    assert buffer.flush() == 2
    assert calls[-1] == {row: [2, 1]}


# -- the database ------------------------------------------------------------------------
@pytest.fixture
def sessions(database_url):
    engine = database_engine(database_url)
    portal_migrations.upgrade(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def test_counts_add_up_in_one_row_per_week_kind_words_and_filters(sessions):
    a = Row(WEEK, "cell_line", "unicorn", "")
    b = Row(WEEK, "cell_line", "unicorn", "country=DE")
    write_counts(sessions, {a: [2, 1], b: [1, 1]})
    write_counts(sessions, {a: [3, 0]})
    with sessions() as session:
        rows = {
            (r.words, r.filters): (r.searches, r.empty)
            for r in session.scalars(select(UnmetDemand))
        }
    assert rows == {("unicorn", ""): (5, 1), ("unicorn", "country=DE"): (1, 1)}


def test_old_weeks_are_pruned(sessions):
    old = Row(iso_week(TODAY - dt.timedelta(weeks=30)), "cell_line", "old", "")
    new = Row(WEEK, "cell_line", "new", "")
    write_counts(sessions, {old: [9, 9], new: [1, 1]})
    with sessions.begin() as session:
        demand.prune_demand(session, TODAY, 26)
    with sessions() as session:
        assert [r.words for r in session.scalars(select(UnmetDemand))] == ["new"]


# -- the portal app ------------------------------------------------------------------------
@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def app(tmp_path, closed_port):
    return create_app(
        {
            "SEARCH_URL": f"http://127.0.0.1:{closed_port}",
            "SEARCH_TIMEOUT": 2,
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
            "OIDC_ISSUER": ISSUER,
            "DEMAND_MIN_COUNT": 3,
        }
    )


EMPTY_RESULT = {
    "total": 0,
    "lines": 0,
    "page": 1,
    "size": 20,
    "pages": 1,
    "sort": "relevance",
    "hits": [],
    "facets": [],
    "selected": [],
    "help": None,
    "did_you_mean": None,
}


@pytest.fixture
def finds_nothing(app, monkeypatch):
    """The catalogue search answers every search with nothing (no engine needed)."""
    monkeypatch.setattr(app.extensions[SEARCH_KEY], "search", lambda p: dict(EMPTY_RESULT))
    return app


def client_of(app, sub=None, roles=("researcher",), biobanks=()):
    client = app.test_client()
    if sub:
        who = User(
            ISSUER, sub, sub.title(), f"{sub}@example.org", frozenset(roles), frozenset(biobanks)
        )
        with client.session_transaction() as session:
            session[SESSION_ID] = open_session(app, who)
    return client


def stored(app) -> list[UnmetDemand]:
    with access_of(app).sessions() as session:
        return list(session.scalars(select(UnmetDemand).order_by(UnmetDemand.words)))


def test_the_search_page_and_the_api_count_unmet_searches_and_store_no_identity(finds_nothing):
    app = finds_nothing
    alice = client_of(app, "alice")
    page = alice.get("/?q=Unicorn+iPSC&sex=MALE")
    assert page.status_code == 200
    assert "Save this search" in page.get_data(as_text=True)  # the form under the results
    assert client_of(app).get("/api/v1/search?q=unicorn%20ipsc&sex=MALE").status_code == 200
    assert client_of(app).get("/api/v1/search?q=unicorn+ipsc&sex=MALE&page=2").status_code == 200
    assert flush_demand(app) == 2
    [row] = stored(app)
    assert (row.week, row.kind, row.words, row.filters) == (
        WEEK,
        "cell_line",
        "ipsc unicorn",
        "sex=MALE",
    )
    assert (row.searches, row.empty) == (2, 2)
    columns = {c["name"] for c in sa.inspect(access_of(app).engine).get_columns("unmet_demand")}
    assert columns == {"id", "key", "week", "kind", "words", "filters", "searches", "empty"}
    values = " ".join(str(getattr(row, c)) for c in columns)
    assert "alice" not in values and "example.org" not in values and "127.0.0.1" not in values


def test_counting_does_no_io_on_the_search_path(finds_nothing):
    app = finds_nothing
    client = client_of(app)
    access_of(app)  # the database is migrated now, not during the search
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    engine = access_of(app).engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.get("/api/v1/search?q=unicorn").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements == []
    assert app.extensions[DEMAND_KEY].pending() == 1


def test_a_broken_counter_never_fails_a_search(finds_nothing, monkeypatch):
    app = finds_nothing

    def broken(*args, **kwargs):
        raise RuntimeError("counter broken")

    monkeypatch.setattr(app.extensions[DEMAND_KEY], "add", broken)
    assert client_of(app).get("/api/v1/search?q=unicorn").status_code == 200
    monkeypatch.setattr("portal.alerts.demand.unmet", broken)
    assert client_of(app).get("/?q=unicorn").status_code == 200


def test_a_due_flush_runs_after_the_response_is_sent(finds_nothing):
    app = finds_nothing
    buffer = app.extensions[DEMAND_KEY]
    buffer.interval = 0  # every search is due
    resp = client_of(app).get("/api/v1/search?q=unicorn")
    assert resp.status_code == 200
    resp.close()  # what the WSGI server does once the body is sent
    assert buffer.pending() == 0 and [r.words for r in stored(app)] == ["unicorn"]


# -- the threshold and who sees what -------------------------------------------------------
@pytest.fixture
def counted(app):
    old = iso_week(TODAY - dt.timedelta(weeks=20))
    write_counts(
        access_of(app).sessions,
        {
            Row(WEEK, "cell_line", "unicorn", ""): [3, 3],  # at k
            Row(WEEK, "cell_line", "rare disease name", ""): [2, 2],  # below k: never shown
            Row(WEEK, "cell_line", "", "country=DE&disease=ICD10:G20"): [5, 1],
            Row(WEEK, "cell_line", "=cmd|' /C calc'!A0", "gene=HTT"): [4, 4],
            Row(WEEK, "collection", "", "age_min=60&sex=FEMALE"): [6, 0],
            Row(old, "cell_line", "long ago", ""): [9, 9],
        },
    )
    return app


def shown(rows) -> list[str]:
    return sorted(f"{r.words}|{r.filters}" for r in rows)


def test_the_threshold_is_k_and_never_below_two():
    assert threshold({"DEMAND_MIN_COUNT": 5}) == 5
    assert threshold({"DEMAND_MIN_COUNT": 1}) == 2 and threshold({"DEMAND_MIN_COUNT": 0}) == 2


def test_operators_see_every_row_over_the_threshold(counted):
    operator = User(ISSUER, "op", "Op", None, frozenset({"alliance-admin"}), frozenset())
    rows = demand_rows(access_of(counted).sessions, operator, 12, 3, dict, TODAY)
    assert shown(rows) == [
        "=cmd|' /C calc'!A0|gene=HTT",
        "unicorn|",
        "|age_min=60&sex=FEMALE",
        "|country=DE&disease=ICD10:G20",
    ]
    assert [r.searches for r in rows][:1] == [6]  # most searched first


def test_biobank_admins_see_the_rows_that_touch_their_catalogue(counted):
    admin = User(ISSUER, "bb", "Bb", None, frozenset({"biobank-admin"}), frozenset({"london:bb-1"}))
    held = {"country": {"GB"}, "gene": {"HTT", "SNCA"}, "sex": {"MALE"}}
    rows = demand_rows(access_of(counted).sessions, admin, 12, 3, lambda: held, TODAY)
    assert shown(rows) == ["=cmd|' /C calc'!A0|gene=HTT"]
    assert touches("sex=FEMALE&age_min=60", {"sex": {"FEMALE"}})
    assert not touches("age_min=60", {"age": {"60"}})  # ranges touch no catalogue
    assert not touches("gene_op=and", {"gene": {"and"}})
    nobody = User(ISSUER, "r", "R", None, frozenset({"biobank-admin"}), frozenset())
    assert demand_rows(access_of(counted).sessions, nobody, 12, 3, lambda: held, TODAY) == []


def test_the_page_and_csv_for_an_operator(counted):
    client = client_of(counted, "op", roles=("alliance-admin",))
    page = client.get("/demand")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "unicorn" in text and "rare disease name" not in text and "long ago" not in text
    assert "at least 3 searches" in text
    assert "Donor disease (ICD-10, Orphanet): ICD10:G20" in text
    assert "long ago" in client.get("/demand?weeks=30").get_data(as_text=True)
    resp = client.get("/demand.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment;" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert rows[0] == ["week", "kind", "words", "filters", "searches", "found_nothing"]
    assert len(rows) == 5
    [formula] = [r for r in rows if "calc" in r[2]]
    assert formula[2].startswith("'=")  # a spreadsheet will not run it
    assert resp.get_data(as_text=True).startswith('"week","kind"')  # every cell quoted


def test_the_page_for_a_biobank_admin_asks_the_index_about_their_biobanks(counted, monkeypatch):
    asked = []

    def engine_search(search, body):
        asked.append(body)
        return {"aggregations": {"gene": {"buckets": [{"key": "HTT", "doc_count": 2}]}}}

    monkeypatch.setattr("portal.alerts.views.engine_search", engine_search)
    client = client_of(counted, "bb", roles=("biobank-admin",), biobanks=("london:bb-1",))
    text = client.get("/demand").get_data(as_text=True)
    assert "Modified gene: HTT" in text and "unicorn" not in text
    owned = asked[0]["query"]["bool"]["filter"][1]["bool"]["should"]
    assert owned == [
        {"bool": {"filter": [{"term": {"node_id": "london"}}, {"term": {"biobank_id": "bb-1"}}]}}
    ]


@pytest.mark.parametrize(
    ("who", "path", "status", "message"),
    [
        (None, "/demand", 302, ""),  # to the login
        ("researcher", "/demand", 403, "operators"),
        ("biobank-admin", "/demand", 403, "operators"),  # no biobanks in the token
        ("alliance-admin", "/demand?weeks=0", 400, "from 1 to 104"),
        ("alliance-admin", "/demand?weeks=ten", 400, "whole number"),
        ("alliance-admin", "/demand.csv?kind=x", 400, "unknown parameter"),
    ],
)
def test_who_may_see_unmet_demand_and_bad_input(counted, who, path, status, message):
    client = client_of(counted, who, roles=(who,)) if who else client_of(counted)
    resp = client.get(path)
    assert resp.status_code == status
    assert message in resp.get_data(as_text=True)


def test_a_flush_that_never_ran_is_claimed_again_and_memory_stays_bounded(monkeypatch):
    monkeypatch.setattr("portal.alerts.demand.MAX_ROWS", 2)
    ticks = Ticks()
    buffer = DemandBuffer(lambda counts: None, interval=30, clock=ticks)
    rows = [Row(WEEK, "cell_line", f"w{n}", "") for n in range(6)]
    assert buffer.add(rows[0], True, "a") is False
    assert buffer.add(rows[1], True, "a") is True  # two rows: due; this request flushes
    assert buffer.add(rows[2], True, "a") is False  # ... but its response never closed
    assert buffer.add(rows[3], True, "a") is False
    assert buffer.add(rows[4], True, "a") is False  # four rows held: the fifth is dropped
    assert buffer.pending() == 4
    ticks.now += 121
    assert buffer.add(rows[0], True, "b") is True  # the stale claim expired
    assert buffer.flush() == 5 and buffer.pending() == 0
