"""Saved searches end to end on the real engine: a member node over HTTP, the indexer, the
portal and its alert job, a real SMTP server. A line added at the node reaches the saved
search's notification, its e-mail and its Atom feed; a line that became available again
does too; unsubscribing by the e-mail's one-click link stops the e-mails, not the feed.
And unmet demand is counted from real searches and shown once over the threshold."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from federation.web.login import SESSION_ID, User, open_session
from portal.access.context import access_of
from portal.access.models import Notification, PortalOutbox
from portal.alerts.demand import flush_demand
from portal.alerts.jobs import alert_pass
from portal.alerts.models import SavedSearch
from portal.app import create_app
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line

pytestmark = pytest.mark.engine

ISSUER = "https://idp.example/realms/alliance"
ATOM = "{http://www.w3.org/2005/Atom}"
MSC = {"cell_type": "MSC", "description": "Bone marrow stromal cells from a hip"}


@pytest.fixture
def alliance(start_node, search_engine, engine_url, index_prefix, tmp_path, smtp_sink):
    node = start_node(
        "berlin",
        catalogue(
            cell_line("BIH-1"),
            cell_line("BIH-2", availability="recalled"),
            cell_line("MSC-1", **MSC),
        ),
    )
    indexer = Indexer(search_engine, [node.member], index_prefix, page_size=50, timeout=5)
    assert all(r.ok for r in indexer.sync_all())
    app = create_app(
        {
            "SEARCH_URL": engine_url,
            "INDEX_PREFIX": index_prefix,
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
            "OIDC_ISSUER": ISSUER,
            "PORTAL_URL": "http://portal.test",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": smtp_sink.port,
            "SMTP_FROM": "CellFed <alerts@example.org>",
            "DEMAND_MIN_COUNT": 3,
        }
    )
    return node, indexer, app


def signed_in(app, sub: str, roles=("researcher",)):
    client = app.test_client()
    who = User(ISSUER, sub, sub.title(), f"{sub}@example.org", frozenset(roles), frozenset())
    with client.session_transaction() as session:
        session[SESSION_ID] = open_session(app, who)
        session["_csrf"] = "token"
    return client


def feed_entries(client, token: str) -> list[tuple[str, str]]:
    resp = client.get(f"/feeds/{token}.atom")
    assert resp.status_code == 200
    root = ET.fromstring(resp.data)
    return [
        (e.findtext(f"{ATOM}title"), e.find(f"{ATOM}link").get("href"))
        for e in root.findall(f"{ATOM}entry")
    ]


def test_a_line_added_at_a_node_reaches_the_alert_the_e_mail_and_the_feed(alliance, smtp_sink):
    node, indexer, app = alliance
    alert_pass(app)  # the worker runs: its ledger learns the lines there are
    alice = signed_in(app, "alice")
    page = alice.get("/?q=iPSC&cell_type=hiPSC&page=1")
    assert page.status_code == 200 and "Save this search" in page.get_data(as_text=True)
    saved = alice.post(
        "/searches",
        data={"csrf_token": "token", "query": "q=iPSC&cell_type=hiPSC", "name": "iPSC lines"},
    )
    assert saved.status_code == 302
    with access_of(app).sessions() as session:
        search = session.execute(select(SavedSearch)).scalar_one()
    assert search.watermarks == {"berlin": 5}  # a biobank, a collection, three lines

    node.store.write(
        [
            ("cell_line", cell_line("BIH-3")),  # new, and a match
            ("cell_line", cell_line("BIH-2", availability="available")),  # back
            ("cell_line", cell_line("BIH-1", lots=[{"lot_id": "L9", "vials_available": 4}])),
            ("cell_line", cell_line("MSC-2", **MSC)),  # new, not a match
        ]
    )
    assert all(r.ok for r in indexer.sync_all())
    report = alert_pass(app)
    assert report.announced == 2, report.summary()

    titles = [title for title, _ in feed_entries(app.test_client(), search.feed_token)]
    assert sorted(titles) == ["BIH-2 (available again)", "BIH-3"]
    links = dict(feed_entries(app.test_client(), search.feed_token))
    assert urlsplit(links["BIH-3"]).path == "/records/berlin:cell_line:BIH-3"
    assert app.test_client().get(urlsplit(links["BIH-3"]).path).status_code == 200
    with access_of(app).sessions() as session:
        [note] = session.execute(select(Notification)).scalars()
        [outgoing] = session.execute(select(PortalOutbox)).scalars()
    assert "1 new cell line and 1 available again" in note.text and note.user_sub == "alice"

    delivered = access_of(app).outbox.run_once()
    assert delivered.delivered == 1
    [mail] = smtp_sink.messages
    assert mail["to"] == ["alice@example.org"]
    assert "http://portal.test/records/berlin:cell_line:BIH-3" in mail["body"]
    assert f"http://portal.test/alerts/unsubscribe/{search.unsubscribe_token}" in mail["body"]

    # The mail client's one-click unsubscribe (RFC 8058), from the message's own header.
    one_click = outgoing.payload["headers"]["List-Unsubscribe"].strip("<>")
    resp = app.test_client().post(urlsplit(one_click).path, data="List-Unsubscribe=One-Click")
    assert resp.status_code == 200 and resp.json == {"unsubscribed": True}

    node.store.write([("cell_line", cell_line("BIH-4"))])
    assert all(r.ok for r in indexer.sync_all())
    assert alert_pass(app).announced == 1
    assert ("BIH-4", "http://localhost/records/berlin:cell_line:BIH-4") in feed_entries(
        app.test_client(), search.feed_token
    )
    assert access_of(app).outbox.run_once().delivered == 0  # unsubscribed: no more e-mail
    assert len(smtp_sink.messages) == 1


def test_unmet_demand_is_counted_from_real_searches_and_shown_over_the_threshold(alliance):
    node, indexer, app = alliance
    for n in range(3):  # three people find nothing
        resp = app.test_client().get(
            "/api/v1/search?q=unobtainium+fibroblast", environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}
        )
        assert resp.status_code == 200 and resp.json["total"] == 0
    found = app.test_client().get("/api/v1/search?q=BIH-1&size=50")
    assert found.status_code == 200 and 0 < found.json["lines"] <= 3  # little: counted
    app.test_client().get("/?q=BIH-1", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert flush_demand(app) == 5
    operator = signed_in(app, "op", roles=("alliance-admin",))
    text = operator.get("/demand").get_data(as_text=True)
    assert "fibroblast unobtainium" in text
    assert "bih-1" not in text  # 2 searches: below k = 3
