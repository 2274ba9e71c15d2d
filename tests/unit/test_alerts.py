"""Saved searches and their alerts without an engine: the pure request builders, the alert
rule over a scripted index (new, available again, merely changed, reset nodes, new members),
daily batching of e-mails, the pages (CSRF, labels, someone else's search is 404), the
private Atom feed and unsubscribing without login."""

from __future__ import annotations

import datetime as dt
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from flask import render_template
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from federation.mail import SmtpSender
from federation.web.login import SESSION_ID, User, open_session
from portal.access.context import access_of
from portal.access.models import Notification, PortalOutbox
from portal.alerts import feeds
from portal.alerts.jobs import AlertJob, Links
from portal.alerts.models import AlertLine, SavedSearch, SavedSearchHit
from portal.alerts.service import AlertService, SaveRefused, canonical
from portal.app import create_app
from portal.service import SearchUnavailable
from search.queries import (
    build_alert_matches,
    build_catalogue_values,
    build_changed_lines,
    parse_params,
    read_catalogue_values,
)

ISSUER = "https://idp.example/realms/alliance"
TODAY = dt.date(2026, 11, 26)
ATOM = "{http://www.w3.org/2005/Atom}"
URN_UUID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# -- the request builders (pure) ------------------------------------------------------------
def test_the_ledger_reads_one_node_in_sequence_order_within_its_window():
    body = build_changed_lines("berlin", 10, 42, 500)
    assert body["query"]["bool"]["filter"] == [
        {"term": {"kind": "cell_line"}},
        {"term": {"node_id": "berlin"}},
        {"range": {"seq": {"gt": 10, "lte": 42}}},
    ]
    assert body["sort"] == [{"seq": "asc"}, {"uid": "asc"}] and body["size"] == 500
    assert "search_after" not in body
    assert build_changed_lines("berlin", 10, 42, 500, [17, "x"])["search_after"] == [17, "x"]


def test_alert_matches_apply_the_saved_words_and_filters_to_the_lines_with_events():
    params = parse_params(MultiDict([("q", "parkinson"), ("country", "DE")]))
    body = build_alert_matches(params, TODAY, ["b:cell_line:L1", "b:cell_line:L2"])
    query = body["query"]["bool"]
    assert query["filter"][0] == {"term": {"kind": "cell_line"}}
    assert {"terms": {"country": ["DE"]}} in query["filter"]
    assert query["filter"][-1] == {"terms": {"uid": ["b:cell_line:L1", "b:cell_line:L2"]}}
    words = query["must"][0]["bool"]["should"]  # the search page's own text query
    assert {"match_phrase": {"name": {"query": "parkinson", "boost": 5}}} in words
    assert body["size"] == 2 and "collapse" not in body  # every record, not one per line


def test_catalogue_values_are_counted_over_the_admins_own_biobanks():
    body = build_catalogue_values([("berlin", "bb-1"), ("london", "bb-2")], TODAY)
    owned = body["query"]["bool"]["filter"][1]["bool"]
    assert owned["minimum_should_match"] == 1
    assert owned["should"][1] == {
        "bool": {"filter": [{"term": {"node_id": "london"}}, {"term": {"biobank_id": "bb-2"}}]}
    }
    aggs = body["aggs"]
    assert aggs["country"] == {"terms": {"field": "country", "size": 1000}}
    assert aggs["disease"] == {"terms": {"field": "disease_nodes", "size": 1000}}
    assert aggs["accredited"] == {
        "filter": {"range": {"iso20387_valid_until": {"gte": TODAY.isoformat()}}}
    }
    assert "age" not in aggs and "vials" not in aggs  # ranges hold no values
    with pytest.raises(ValueError):
        build_catalogue_values([], TODAY)


def test_catalogue_values_are_read_per_facet():
    held = read_catalogue_values(
        {
            "country": {"buckets": [{"key": "DE", "doc_count": 3}]},
            "modified": {"doc_count": 2},
            "commercial": {"doc_count": 0},
        }
    )
    assert held == {"country": {"DE"}, "modified": {"true"}}


# -- saving: the canonical search --------------------------------------------------------
def test_a_saved_search_is_its_canonical_query_and_other_kinds_are_refused():
    params, query = canonical("?page=3&country=GB&q=H9&country=DE&kind=cell_line")
    assert query == "q=H9&kind=cell_line&country=DE&country=GB"  # no page, stable order
    assert params.q == "H9"
    with pytest.raises(SaveRefused, match="unknown parameter 'colour'"):
        canonical("q=H9&colour=red")
    with pytest.raises(SaveRefused, match="Only searches for cell lines"):
        canonical("q=H9&kind=biobank")


# -- an app on SQLite, an engine that is not there -----------------------------------------
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
            "PORTAL_URL": "https://portal.example",
            "SMTP_HOST": "127.0.0.1",  # an e-mail sender is registered; nothing is sent here
            "SMTP_PORT": closed_port,
            "SAVED_SEARCH_MAX": 3,
        }
    )


def user(sub: str = "alice", email: str | None = "alice@example.org", roles=("researcher",)):
    return User(ISSUER, sub, sub.title(), email, frozenset(roles), frozenset())


def signed_in(app, who: User | None = None):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_csrf"] = "token"
        if who is not None:
            session[SESSION_ID] = open_session(app, who)
    return client


def post(client, path: str, **form: str):
    return client.post(path, data={"csrf_token": "token", **form})


def save(client, query: str = "q=iPSC&kind=cell_line", name: str = "iPSC lines") -> str:
    resp = post(client, "/searches", query=query, name=name)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return resp.headers["Location"].rsplit("/", 1)[-1]


def saved(app, search_id: str) -> SavedSearch:
    with access_of(app).sessions() as session:
        return session.get(SavedSearch, search_id)


# -- the pages ----------------------------------------------------------------------------
def test_the_save_form_on_the_search_page_works_without_javascript(app):
    params = parse_params(MultiDict([("q", "parkinson"), ("page", "2")]))
    result = {"selected": [], "total": 0}
    with app.test_request_context("/?q=parkinson&page=2"):
        html = render_template("alerts/save_search.html", params=params, result=result, error=None)
        assert "Log in</a> to save this search" in html  # not signed in
        html = render_template(
            "alerts/save_search.html", params=params, result=result, error=None, current_user=user()
        )
    assert '<form method="post" action="/searches">' in html
    assert 'name="csrf_token"' in html
    assert 'name="query" value="q=parkinson&amp;kind=cell_line"' in html  # no page
    assert '<label for="save-search-name">' in html and 'id="save-search-name"' in html
    assert '<button type="submit">Save this search</button>' in html
    with app.test_request_context("/"):
        other = parse_params(MultiDict([("kind", "biobank")]))
        assert "form" not in render_template(
            "alerts/save_search.html", params=other, result=result, error=None
        )


def test_saving_needs_a_login_and_the_forms_token(app):
    anonymous = signed_in(app)
    assert post(anonymous, "/searches", query="q=H9").status_code == 401
    resp = anonymous.get("/searches")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    client = signed_in(app, user())
    refused = client.post("/searches", data={"query": "q=H9"})  # no CSRF token
    assert refused.status_code == 400 and "not sent from this site" in refused.get_data(True)
    with access_of(app).sessions() as session:
        assert session.execute(select(SavedSearch)).first() is None


def test_a_search_is_saved_listed_and_saved_only_once(app):
    client = signed_in(app, user())
    search_id = save(client, "q=iPSC&kind=cell_line&page=4")
    page = client.get(f"/searches/{search_id}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "iPSC lines" in text and "Saved “iPSC lines”" in text
    assert "https://portal.example/feeds/" not in text  # the feed link is the request's host
    assert re.search(r'href="http://localhost/feeds/[A-Za-z0-9_-]{43}\.atom"', text)
    assert (
        post(client, "/searches", query="kind=cell_line&q=iPSC")
        .headers["Location"]
        .endswith(search_id)
    )
    listing = client.get("/searches").get_data(as_text=True)
    assert listing.count("/searches/") == 1 and "iPSC lines" in listing
    found = saved(app, search_id)
    assert found.query == "q=iPSC&kind=cell_line" and found.owner_email == "alice@example.org"
    assert found.watermarks is None  # engine down and no ledger yet: the job will baseline it


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"query": "q=H9&nope=1"}, "unknown parameter"),
        ({"query": "q=H9&kind=collection"}, "Only searches for cell lines"),
        ({"query": "q=H9&sex=ALIEN"}, "has no value"),
        ({"query": "q=H9", "name": "x" * 101}, "longer than 100"),
        ({"query": "q=H9", "name": "bad\u202ename"}, "control or formatting"),
        ({"query": "x=" + "y" * 5000}, "longer than 4000"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(app, form, message):
    client = signed_in(app, user())
    resp = post(client, "/searches", **form)
    assert resp.status_code == 400 and message in resp.get_data(as_text=True)


def test_one_account_keeps_at_most_the_configured_number_of_searches(app):
    client = signed_in(app, user())
    for q in ("a", "b", "c"):
        save(client, f"q={q}")
    resp = post(client, "/searches", query="q=d")
    assert resp.status_code == 400 and "the most one account may keep" in resp.get_data(True)


def test_someone_elses_saved_search_is_not_found_for_every_route(app):
    alice = signed_in(app, user("alice"))
    search_id = save(alice)
    bob = signed_in(app, user("bob", "bob@example.org"))
    assert bob.get(f"/searches/{search_id}").status_code == 404
    for action, form in (
        ("name", {"name": "mine now"}),
        ("email", {"email": "off"}),
        ("feed", {}),
        ("delete", {}),
    ):
        assert post(bob, f"/searches/{search_id}/{action}", **form).status_code == 404, action
    assert bob.get("/searches/" + "0" * 32).status_code == 404  # exactly like an unknown one
    still = saved(app, search_id)
    assert (still.name, still.email_alerts) == ("iPSC lines", True)
    assert "iPSC lines" not in bob.get("/searches").get_data(as_text=True)


def test_rename_email_switch_feed_rotation_and_delete(app):
    client = signed_in(app, user())
    search_id = save(client)
    first = saved(app, search_id).feed_token
    assert client.get(f"/feeds/{first}.atom").status_code == 200

    assert post(client, f"/searches/{search_id}/name", name="  Kolf   lines ").status_code == 302
    assert post(client, f"/searches/{search_id}/name", name=" ").status_code == 400
    assert post(client, f"/searches/{search_id}/email", email="maybe").status_code == 400
    assert post(client, f"/searches/{search_id}/email", email="off").status_code == 302
    assert post(client, f"/searches/{search_id}/feed").status_code == 302
    after = saved(app, search_id)
    assert (after.name, after.email_alerts) == ("Kolf lines", False)
    assert after.feed_token != first and after.feed_uuid == saved(app, search_id).feed_uuid
    assert client.get(f"/feeds/{first}.atom").status_code == 404  # revoked
    assert client.get(f"/feeds/{after.feed_token}.atom").status_code == 200

    assert post(client, f"/searches/{search_id}/delete").status_code == 302
    assert client.get(f"/searches/{search_id}").status_code == 404
    assert client.get(f"/feeds/{after.feed_token}.atom").status_code == 404


# -- the alert job over a scripted index ----------------------------------------------------
class ScriptedIndex:
    """The index as the job sees it: documents, each node's sync cursor, and matching."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.seqs: dict[str, int] = {}
        self.down = False

    def put(self, node: str, local_id: str, availability: str = "available", **extra) -> str:
        seq = self.seqs[node] = self.seqs.get(node, 0) + 1
        uid = f"{node}:cell_line:{local_id}"
        self.docs[uid] = {
            "uid": uid,
            "node_id": node,
            "local_id": local_id,
            "name": extra.pop("name", local_id),
            "seq": seq,
            "availability": availability,
            "biobank_name": f"{node.title()} Bank",
            "country": "DE",
            "cell_type": extra.pop("cell_type", "hiPSC"),
        }
        return uid

    def other_change(self, node: str) -> None:
        """A change that is not a cell line (a biobank, a deletion): the cursor moves."""
        self.seqs[node] += 1

    def cursors(self) -> dict[str, int]:
        return dict(self.seqs)

    def changed(self, node, after, upto):
        docs = sorted(
            (d for d in self.docs.values() if d["node_id"] == node and after < d["seq"] <= upto),
            key=lambda d: d["seq"],
        )
        for start in range(0, len(docs), 2):  # pages of two
            yield [dict(d) for d in docs[start : start + 2]]

    def matching(self, params, today, uids):
        if self.down:
            raise SearchUnavailable("the search engine is not reachable right now")
        cell_types = params.selections.get("cell_type")
        return [
            dict(self.docs[u])
            for u in uids
            if u in self.docs
            and params.q.lower() in self.docs[u]["name"].lower()
            and (cell_types is None or self.docs[u]["cell_type"] in cell_types.values)
        ]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def world(app):
    index, clock = ScriptedIndex(), Clock()
    access = access_of(app)
    job = AlertJob(access.sessions, index, access.outbox, Links(app), app.config, clock=clock)
    service = AlertService(access.sessions, app.config)
    return index, clock, job, service


def hits_of(app, search_id: str) -> list[SavedSearchHit]:
    with access_of(app).sessions() as session:
        return list(
            session.execute(
                select(SavedSearchHit)
                .where(SavedSearchHit.search_id == search_id)
                .order_by(SavedSearchHit.id)
            ).scalars()
        )


def emails(app) -> list[dict[str, Any]]:
    with access_of(app).sessions() as session:
        rows = session.execute(select(PortalOutbox).where(PortalOutbox.kind == "email"))
        return [m.payload for m in rows.scalars()]


def notes(app, sub: str = "alice") -> list[str]:
    with access_of(app).sessions() as session:
        rows = session.execute(select(Notification).where(Notification.user_sub == sub))
        return [n.text for n in rows.scalars()]


def test_new_lines_and_lines_available_again_are_announced_and_changes_are_not(app, world):
    index, clock, job, service = world
    index.put("berlin", "iPSC-1")
    index.put("berlin", "iPSC-2", availability="recalled")
    index.put("berlin", "MSC-1", cell_type="MSC")
    job.run()  # the worker was running before anyone saved a search
    search, _ = service.save(user(), "q=ipsc&cell_type=hiPSC", "iPSC", index.cursors())

    new = index.put("berlin", "iPSC-3")
    back = index.put("berlin", "iPSC-2", availability="available")
    index.put("berlin", "iPSC-1", availability="expand_to_order")  # a change, still obtainable
    index.other_change("berlin")  # e.g. the biobank renamed
    index.put("berlin", "iPSC-MSC", cell_type="MSC")  # new, but not a match
    report = job.run()

    found = hits_of(app, search.id)
    assert [(h.uid, h.reason) for h in found] == [(back, "available"), (new, "new")]
    assert report.announced == 2 and report.emails == 1
    [note] = notes(app)
    assert note.startswith("Your saved search “iPSC”: 1 new cell line and 1 available again:")
    [mail] = emails(app)
    assert mail["to"] == "alice@example.org"
    assert "https://portal.example/records/berlin:cell_line:iPSC-3" in mail["body"]
    token = saved(app, search.id).unsubscribe_token
    assert f"https://portal.example/alerts/unsubscribe/{token}" in mail["body"]
    assert mail["headers"] == {
        "List-Unsubscribe": f"<https://portal.example/api/v1/alerts/unsubscribe/{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert saved(app, search.id).watermarks == {"berlin": index.seqs["berlin"]}

    assert job.run().announced == 0  # nothing new: nothing announced twice
    assert len(hits_of(app, search.id)) == 2


def test_e_mails_are_batched_at_most_daily_and_the_portal_hears_at_once(app, world):
    index, clock, job, service = world
    job.run()
    search, _ = service.save(user(), "q=line", "Lines", index.cursors())
    index.put("berlin", "line-1")
    job.run()
    assert len(emails(app)) == 1  # the first news goes out at once

    clock.now += dt.timedelta(hours=2)
    index.put("berlin", "line-2")
    job.run()
    clock.now += dt.timedelta(hours=3)
    index.put("berlin", "line-3")
    job.run()
    assert len(notes(app)) == 3  # the portal is told every time
    assert len(emails(app)) == 1  # but the e-mail waits

    clock.now = saved(app, search.id).emailed_at.replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    job.run()
    mails = emails(app)
    assert len(mails) == 2
    assert "line-2" in mails[1]["body"] and "line-3" in mails[1]["body"]
    assert "line-1" not in mails[1]["body"]
    assert mails[1]["subject"] == "CellFed: 2 new cell lines for “Lines”"
    assert all(h.mailed for h in hits_of(app, search.id))


def test_no_e_mail_when_unsubscribed_or_without_a_verified_address(app, world):
    index, clock, job, service = world
    job.run()
    quiet, _ = service.save(user(), "q=line", "Quiet", index.cursors())
    service.unsubscribe(saved(app, quiet.id).unsubscribe_token)
    blind, _ = service.save(user("carol", None), "q=line", "No address", index.cursors())
    index.put("berlin", "line-1")
    job.run()
    assert emails(app) == []
    assert len(hits_of(app, quiet.id)) == len(hits_of(app, blind.id)) == 1  # still announced
    assert all(h.mailed for h in hits_of(app, quiet.id) + hits_of(app, blind.id))


def test_a_search_saved_blind_starts_at_the_next_pass_without_announcing(app, world):
    index, clock, job, service = world
    index.put("berlin", "line-1")
    search, _ = service.save(user(), "q=line", "Blind", None)  # no index, no ledger
    assert saved(app, search.id).watermarks is None
    job.run()
    assert hits_of(app, search.id) == [] and saved(app, search.id).watermarks == {"berlin": 1}
    index.put("berlin", "line-2")
    job.run()
    assert [h.name for h in hits_of(app, search.id)] == ["line-2"]


def test_a_member_that_joins_later_brings_new_lines(app, world):
    index, clock, job, service = world
    index.put("berlin", "line-1")
    job.run()
    search, _ = service.save(user(), "q=line", "Lines", index.cursors())
    index.put("london", "line-L1")
    index.put("london", "line-L2", availability="not_available")
    job.run()
    assert {h.name for h in hits_of(app, search.id)} == {"line-L1", "line-L2"}


def test_a_node_whose_sequences_restart_is_read_again_and_only_news_is_announced(app, world):
    index, clock, job, service = world
    for n in range(5):
        index.put("berlin", f"line-{n}", availability="not_available" if n == 4 else "available")
    job.run()
    search, _ = service.save(user(), "q=line", "Lines", index.cursors())
    # Restored from an older backup: fewer changes, the same lines, one new, one back.
    index.docs.clear()
    index.seqs["berlin"] = 0
    index.put("berlin", "line-0")
    index.put("berlin", "line-4", availability="available")
    index.put("berlin", "line-new")
    report = job.run()
    assert report.reread == ["berlin"]
    found = {(h.name, h.reason) for h in hits_of(app, search.id)}
    assert found == {("line-4", "available"), ("line-new", "new")}


def test_an_engine_failure_changes_nothing_and_the_next_pass_catches_up(app, world):
    index, clock, job, service = world
    job.run()
    search, _ = service.save(user(), "q=line", "Lines", index.cursors())
    index.put("berlin", "line-1")
    index.down = True
    with pytest.raises(SearchUnavailable):
        job.run()
    assert hits_of(app, search.id) == [] and saved(app, search.id).watermarks == {}
    index.down = False
    job.run()
    assert [h.name for h in hits_of(app, search.id)] == ["line-1"]


def test_a_saved_query_that_no_longer_parses_is_reported_not_dropped(app, world):
    index, clock, job, service = world
    job.run()
    search, _ = service.save(user(), "q=line", "Lines", index.cursors())
    with access_of(app).sessions.begin() as session:
        session.get(SavedSearch, search.id).query = "q=line&retired_facet=1"
    index.put("berlin", "line-1")
    job.run()
    problem = saved(app, search.id).problem
    assert "can no longer run" in problem and "retired_facet" in problem
    page = signed_in(app, user()).get(f"/searches/{search.id}").get_data(as_text=True)
    assert "can no longer run" in page


def test_the_ledger_keeps_one_row_per_line_and_hits_are_pruned(app, world, monkeypatch):
    index, clock, job, service = world
    job.run()
    search, _ = service.save(user(), "q=line", "Lines", index.cursors())
    monkeypatch.setattr("portal.alerts.jobs.HITS_KEPT", 3)
    for n in range(5):
        index.put("berlin", f"line-{n}")
    job.run()
    assert [h.name for h in hits_of(app, search.id)] == ["line-2", "line-3", "line-4"]
    with access_of(app).sessions() as session:
        assert len(session.execute(select(AlertLine)).all()) == 5


# -- the feed -----------------------------------------------------------------------------
def parse_feed(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    return root


def test_the_feed_is_valid_atom_listing_each_announced_line(app, world):
    index, clock, job, service = world
    job.run()
    search, _ = service.save(user(), "q=line", "Lines <&>", index.cursors())
    index.put("berlin", "line-1", name="line-1 <b>&amp;</b>\x01")  # not XML: dropped
    index.put("berlin", "line-2", availability="recalled")
    job.run()
    index.put("berlin", "line-2", availability="available")
    job.run()

    token = saved(app, search.id).feed_token
    resp = app.test_client().get(f"/feeds/{token}.atom")  # no login
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert resp.headers["X-Robots-Tag"] == "noindex"
    assert resp.data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = parse_feed(resp.data)
    assert URN_UUID.match(root.findtext(f"{ATOM}id"))
    assert RFC3339.match(root.findtext(f"{ATOM}updated"))
    assert root.findtext(f"{ATOM}title") == "CellFed: Lines <&>"  # escaped by the serialiser
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links["self"] == f"http://localhost/feeds/{token}.atom"
    assert links["alternate"] == "http://localhost/?q=line&kind=cell_line"
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "line-2 (available again)",  # newest first
        "line-2",
        "line-1 <b>&amp;</b>",
    ]
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert all(URN_UUID.match(i) for i in ids) and len(set(ids)) == 3
    assert all(RFC3339.match(e.findtext(f"{ATOM}updated")) for e in entries)
    hrefs = [e.find(f"{ATOM}link").get("href") for e in entries]
    assert hrefs[0] == "http://localhost/records/berlin:cell_line:line-2"
    assert [e.find(f"{ATOM}category").get("term") for e in entries] == ["available", "new", "new"]


def test_feed_ids_are_stable_and_the_feed_keeps_its_id_when_its_url_changes():
    feed_uuid = "9b2c3f36-4a34-4f6e-9d2b-7d1c4f0a1e55"
    one = feeds.entry_id(feed_uuid, "b:cell_line:L1", "new", 7)
    assert one == feeds.entry_id(feed_uuid, "b:cell_line:L1", "new", 7)
    assert one != feeds.entry_id(feed_uuid, "b:cell_line:L1", "available", 9)
    assert feeds.rfc3339(dt.datetime(2026, 2, 3, 4, 5, 6)) == "2026-02-03T04:05:06Z"
    plus_one = dt.timezone(dt.timedelta(hours=1))
    assert feeds.rfc3339(dt.datetime(2026, 2, 3, 4, 5, 6, tzinfo=plus_one)) == (
        "2026-02-03T03:05:06Z"
    )


@pytest.mark.parametrize("token", ["short", "x" * 43, "a/b", "%00" * 15])
def test_unknown_and_malformed_feed_tokens_are_not_found(app, token):
    assert app.test_client().get(f"/feeds/{token}.atom").status_code == 404


# -- unsubscribing --------------------------------------------------------------------------
def test_unsubscribe_takes_one_click_and_no_login(app):
    search_id = save(signed_in(app, user()))
    token = saved(app, search_id).unsubscribe_token
    anonymous = signed_in(app)
    page = anonymous.get(f"/alerts/unsubscribe/{token}")
    assert page.status_code == 200 and "Stop e-mails for “iPSC lines”?" in page.get_data(True)
    done = post(anonymous, f"/alerts/unsubscribe/{token}")
    assert done.status_code == 200 and "Unsubscribed" in done.get_data(as_text=True)
    assert saved(app, search_id).email_alerts is False
    assert anonymous.post(f"/alerts/unsubscribe/{token}").status_code == 400  # the form: CSRF


def test_the_rfc_8058_one_click_post_needs_only_the_token(app):
    search_id = save(signed_in(app, user()))
    token = saved(app, search_id).unsubscribe_token
    client = app.test_client()  # a mail client: no cookie, no CSRF token
    resp = client.post(
        f"/api/v1/alerts/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
    )
    assert resp.status_code == 200 and resp.json == {"unsubscribed": True}
    assert saved(app, search_id).email_alerts is False
    wrong = client.post("/api/v1/alerts/unsubscribe/" + "A" * 43)
    assert wrong.status_code == 404 and wrong.is_json
    assert client.get(f"/api/v1/alerts/unsubscribe/{token}").status_code == 405


def test_the_unsubscribe_headers_reach_the_message():
    from types import SimpleNamespace

    from federation.mail import email_payload

    payload = email_payload(
        "a@example.org",
        "s",
        "b",
        {"List-Unsubscribe": "<https://p.example/u>\r\nBcc: x@y", "X-Other": "dropped"},
    )
    assert payload["headers"] == {"List-Unsubscribe": "<https://p.example/u> Bcc: x@y"}
    config = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": 1, "SMTP_STARTTLS": False}
    mail = SmtpSender({**config, "SMTP_FROM": "c@example.org"}).build(
        SimpleNamespace(id=1, payload=payload)
    )
    assert mail["List-Unsubscribe"] == "<https://p.example/u> Bcc: x@y"
    assert mail["Bcc"] is None and mail["X-Other"] is None


def test_the_one_click_route_is_in_the_openapi_document_and_the_nav_links_the_pages(app):
    from portal.openapi import spec

    assert "post" in spec()["paths"]["/api/v1/alerts/unsubscribe/{token}"]
    client = signed_in(app, user())
    nav = client.get("/searches").get_data(as_text=True)
    assert 'href="/searches">Saved searches</a>' in nav and "Unmet demand" not in nav
    operator = signed_in(app, user("op", roles=("alliance-admin",)))
    assert 'href="/demand">Unmet demand</a>' in operator.get("/searches").get_data(as_text=True)
