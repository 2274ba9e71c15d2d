"""Alliance figures: the pure computation over crafted histories, and the page, JSON, CSV and
Prometheus text over a real (SQLite) portal database, with who may see which rows."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from federation.web.login import User
from portal.access.escalation import escalation_of
from portal.figures.compute import Happening, PartFacts, Period, alliance_figures
from portal.figures.formats import prometheus_text
from portal.figures.service import PeriodInvalid, parse_period
from tests.unit.test_retention import ALICE, Portal

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
NOVEMBER = Period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
ISS = "https://idp.example.org"


def part(request_id, bank, *events, state="under_review", at=T0, unresponsive=False, node="n1"):
    history = [Happening("submit", "researcher", at, "submitted")]
    history += [Happening(t, a, at + days * DAY, s) for t, a, days, s in events]
    return PartFacts(request_id, node, bank, bank.upper(), state, at, tuple(history), unresponsive)


def rows_by_bank(rows):
    return {r.biobank_id or "*": r for r in rows}


def test_figures_over_crafted_histories():
    parts = [
        part(
            "r1",
            "b1",
            ("receive", "node", 0, "under_review"),
            ("approve", "biobank", 4, "approved"),
            ("fulfil", "biobank", 10, "fulfilled"),
            state="fulfilled",
        ),
        part(
            "r2",
            "b1",
            ("request_info", "biobank", 2, "information_requested"),
            ("provide_info", "researcher", 3, "under_review"),
            ("reject", "biobank", 8, "rejected"),
            state="rejected",
        ),
        part("r2", "b2", ("receive", "node", 0, "under_review"), unresponsive=True),
        part("r3", "b2", ("withdraw", "researcher", 1, "withdrawn"), state="withdrawn"),
        part("old", "b1", ("approve", "biobank", 1, "approved"), at=T0 - 40 * DAY),
    ]
    rows = alliance_figures(parts, NOVEMBER)
    assert [r.biobank_id for r in rows] == ["b1", "b2", ""]  # by name, then the alliance
    got = rows_by_bank(rows)
    b1, b2, alliance = got["b1"], got["b2"], got["*"]
    assert (b1.requests_received, b1.median_days_first_answer, b1.median_days_decision) == (
        2,
        3.0,
        6.0,
    )
    assert (b1.approval_rate, b1.decided, b1.median_days_fulfilment, b1.fulfilled) == (
        0.5,
        2,
        10.0,
        1,
    )
    assert (b1.unanswered, b1.unresponsive) == (0, 0)
    # b2: one open part never answered (and marked), one withdrawn before any answer
    assert (b2.requests_received, b2.unanswered, b2.unresponsive) == (2, 1, 1)
    assert (b2.median_days_first_answer, b2.approval_rate, b2.median_days_decision) == (
        None,
        None,
        None,
    )
    # alliance-wide: distinct requests (r1, r2, r3), every part
    assert (alliance.requests_received, alliance.parts, alliance.decided) == (3, 4, 2)
    assert (alliance.unanswered, alliance.unresponsive, alliance.approval_rate) == (1, 1, 0.5)


def test_the_period_includes_both_days_and_is_checked():
    today = dt.date(2026, 12, 1)
    assert parse_period({}, today) == Period(dt.date(2026, 9, 3), today)
    assert parse_period({"from": "2026-11-01", "to": "2026-11-30"}, today) == NOVEMBER
    edge = part("r", "b", at=dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC))
    assert alliance_figures([edge], NOVEMBER)[0].requests_received == 1
    for args, message in [
        ({"from": "1 Nov"}, "'from' must be a date (YYYY-MM-DD), got '1 Nov'"),
        ({"to": "2026-13-01"}, "'to' must be a date"),
        ({"from": "2026-12-01", "to": "2026-11-01"}, "is after 'to'"),
        ({"from": "2000-01-01"}, "longer than"),
        ({"weeks": "2"}, "unknown parameter 'weeks'"),
    ]:
        with pytest.raises(PeriodInvalid, match=None) as caught:
            parse_period(args, today)
        assert message in str(caught.value)


def test_prometheus_text_has_biobank_labels_and_an_alliance_series():
    rows = alliance_figures([part("r1", 'b"1', ("approve", "biobank", 2, "approved"))], NOVEMBER)
    text = prometheus_text(rows)
    assert "# TYPE cellfed_requests_received gauge" in text
    assert 'cellfed_requests_received{scope="biobank",node="n1",biobank="b\\"1"} 1' in text
    assert 'cellfed_requests_received{scope="alliance"} 1' in text
    assert 'cellfed_request_decision_days_median{scope="alliance"} 2' in text
    assert "cellfed_request_fulfilment_days_median{" not in text  # nothing fulfilled: no sample


# -- over the portal --------------------------------------------------------------------------
CAROL = User(ISS, "carol", "Carol", "carol@example.org", frozenset({"alliance-admin"}), frozenset())
BOB = User(
    ISS, "bob", "Bob", "bob@example.org", frozenset({"biobank-admin"}), frozenset({"n1:bb1"})
)
DAVE = User(
    ISS, "dave", "Dave", "dave@example.org", frozenset({"biobank-admin"}), frozenset({"n2:bb9"})
)


@pytest.fixture
def portal(tmp_path):
    p = Portal(tmp_path, FIGURES_METRICS_TOKEN="a-scraper-token")
    first = p.submit(uids=("n1:cell_line:L1", "n1:cell_line:L2"), files=())
    parts = p.parts(first)
    p.decide(parts["bb1"].id, "receive", "approve", "fulfil")
    p.decide(parts["bb2"].id, "receive", "reject")
    second = p.submit(uids=("n1:cell_line:L2",), files=())
    escalation_of(p.app).run(dt.datetime.now(dt.UTC) + 90 * DAY)  # bb2's second: unresponsive
    p.unanswered = p.parts(second)["bb2"].id
    return p


def test_an_operator_sees_every_biobank_and_the_alliance(portal):
    client = portal.client(CAROL)
    answer = client.get("/api/v1/figures").get_json()
    banks = {r["biobank_id"]: r for r in answer["biobanks"]}
    assert set(banks) == {"bb1", "bb2"}
    assert (banks["bb1"]["approval_rate"], banks["bb1"]["fulfilled"]) == (1.0, 1)
    assert (banks["bb2"]["requests_received"], banks["bb2"]["approval_rate"]) == (2, 0.0)
    assert (banks["bb2"]["unanswered"], banks["bb2"]["unresponsive"]) == (1, 1)
    assert (answer["alliance"]["requests_received"], answer["alliance"]["parts"]) == (2, 3)
    page = client.get("/figures").get_data(as_text=True)
    assert "Biobank one" in page and "Biobank two" in page and "All biobanks" in page
    assert '<label for="from">From</label>' in page
    table = list(csv.reader(io.StringIO(client.get("/api/v1/figures.csv").get_data(as_text=True))))
    assert table[0][:4] == ["from", "to", "node_id", "biobank_id"]
    assert [row[3] for row in table[1:]] == ["bb1", "bb2", ""]
    metrics = client.get("/api/v1/figures/metrics").get_data(as_text=True)
    assert (
        'cellfed_request_parts_unresponsive{scope="biobank",node="n1",biobank="bb2"} 1' in metrics
    )


def test_a_biobank_admin_sees_only_their_own_biobank(portal):
    client = portal.client(BOB)
    answer = client.get("/api/v1/figures").get_json()
    assert [r["biobank_id"] for r in answer["biobanks"]] == ["bb1"] and answer["alliance"] is None
    page = client.get("/figures").get_data(as_text=True)
    assert "Biobank one" in page and "Biobank two" not in page and "All biobanks" not in page
    table = client.get("/api/v1/figures.csv").get_data(as_text=True)
    assert "bb1" in table and "bb2" not in table
    assert client.get("/api/v1/figures/metrics").status_code == 403


def test_another_biobanks_admin_sees_no_row_of_these(portal):
    client = portal.client(DAVE)
    answer = client.get("/api/v1/figures").get_json()
    assert answer["biobanks"] == [] and answer["alliance"] is None
    assert "bb1" not in client.get("/api/v1/figures.csv").get_data(as_text=True)


def test_a_researcher_and_a_stranger_see_no_figures(portal):
    client = portal.client(ALICE)
    for path in ("/figures", "/api/v1/figures", "/api/v1/figures.csv", "/api/v1/figures/metrics"):
        assert client.get(path).status_code == 403, path
    stranger = portal.app.test_client()
    assert stranger.get("/api/v1/figures").status_code == 401
    assert stranger.get("/api/v1/figures/metrics").status_code == 401
    wrong = stranger.get("/api/v1/figures/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_the_scraper_token_reads_the_metrics(portal):
    client = portal.app.test_client()
    answer = client.get(
        "/api/v1/figures/metrics", headers={"Authorization": "Bearer a-scraper-token"}
    )
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert 'cellfed_requests_received{scope="alliance"} 2' in answer.get_data(as_text=True)


def test_a_bad_period_is_a_400_naming_the_parameter(portal):
    client = portal.client(CAROL)
    answer = client.get("/api/v1/figures?from=yesterday")
    assert answer.status_code == 400 and "'from' must be a date" in answer.get_json()["detail"]
    page = client.get("/figures?to=2026-11-01&from=2026-12-01")
    assert page.status_code == 400 and "is after" in page.get_data(as_text=True)


def test_a_period_before_the_requests_is_empty(portal):
    answer = portal.client(CAROL).get("/api/v1/figures?from=2020-01-01&to=2020-12-31").get_json()
    assert answer["biobanks"] == [] and answer["alliance"]["requests_received"] == 0


def test_the_new_json_routes_are_in_the_portal_openapi_document(portal):
    spec = portal.app.test_client().get("/api/v1/openapi.json").get_json()
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    ours = set()
    for rule in portal.app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1/figures", "/api/v1/requests")):
            path = rule.rule.replace("<", "{").replace(">", "}")
            ours |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert len(ours) == 4 and ours <= documented
    stranger = portal.app.test_client()
    assert stranger.get("/api/v1/requests/x/waiting").status_code == 401


# bb1's id at another node: the rows go by (node, biobank), not by the biobank's id alone.
NAMESAKE = User(
    ISS, "nina", "Nina", "nina@example.org", frozenset({"biobank-admin"}), frozenset({"n2:bb1"})
)
# The biobanks claim without the biobank-admin role administers nothing.
ROLELESS = User(ISS, "rolf", "Rolf", "rolf@example.org", frozenset(), frozenset({"n1:bb1"}))


@pytest.mark.parametrize(
    ("user", "banks"),
    [(BOB, ["bb1"]), (DAVE, []), (NAMESAKE, [])],
    ids=["own biobank", "other biobank", "same id at another node"],
)
def test_a_biobank_admin_gets_only_their_rows_in_every_format(portal, user, banks):
    client = portal.client(user)
    answer = client.get("/api/v1/figures").get_json()
    assert [r["biobank_id"] for r in answer["biobanks"]] == banks and answer["alliance"] is None
    text = client.get("/api/v1/figures.csv").get_data(as_text=True)
    assert [row[3] for row in list(csv.reader(io.StringIO(text)))[1:]] == banks
    page = client.get("/figures").get_data(as_text=True)
    assert ("Biobank one" in page, "Biobank two" in page) == (banks == ["bb1"], False)
    assert client.get("/api/v1/figures/metrics").status_code == 403  # the operators' only


@pytest.mark.parametrize("user", [ALICE, ROLELESS], ids=["researcher", "claim without role"])
def test_no_format_shows_figures_to_someone_who_administers_nothing(portal, user):
    client = portal.client(user)
    for path in ("/figures", "/api/v1/figures", "/api/v1/figures.csv", "/api/v1/figures/metrics"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "bb1" not in answer.get_data(as_text=True), path


def test_no_format_shows_figures_without_a_login(portal):
    stranger = portal.app.test_client()
    page = stranger.get("/figures")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    for path in ("/api/v1/figures", "/api/v1/figures.csv", "/api/v1/figures/metrics"):
        assert stranger.get(path).status_code == 401, path
