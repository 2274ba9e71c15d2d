"""Web hardening of the portal and the member nodes: security headers on every response, pages
that a strict CSP does not break, output encoding of search highlights, JSON-LD and CSV cells,
rate limits that trip, and request bodies capped per route."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from federation.node.app import create_app as create_node_app
from federation.web.headers import API_CSP, init_headers, page_csp
from federation.web.login import SESSION_ID, User, open_session
from portal.app import RATE_RULES
from portal.app import create_app as create_portal_app
from portal.export import csv_chunks, safe_cell
from portal.jsonld import script_json
from portal.views import highlight

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [
    ROOT / "portal" / "templates",
    ROOT / "portal" / "access" / "templates",
    ROOT / "federation" / "node" / "templates",
    ROOT / "federation" / "node" / "inbox" / "templates",
]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections (the engine is not needed here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def portal(tmp_path, closed_port, **config):
    return create_portal_app(
        {
            "SEARCH_URL": f"http://127.0.0.1:{closed_port}",
            "SEARCH_TIMEOUT": 2,
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
            **config,
        }
    )


def node(tmp_path, **config):
    return create_node_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'node.sqlite3'}", "NODE_ID": "n1", **config}
    )


def sign_in(client, sub: str = "alice", roles=("researcher",)) -> None:
    user = User(
        "https://idp.example/realms/a", sub, sub.title(), None, frozenset(roles), frozenset()
    )
    with client.session_transaction() as session:
        session[SESSION_ID] = open_session(client.application, user)  # kept server-side


# -- L2: security headers --------------------------------------------------------------
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self' https://idp.example"
)


def assert_secure_headers(resp, csp: str = CSP) -> None:
    assert resp.headers["Content-Security-Policy"] == csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


@pytest.mark.parametrize(
    "path", ["/api/v1/openapi.json", "/static/portal.css", "/cart", "/no/such/page", "/api/v1/x"]
)
def test_every_portal_response_carries_the_security_headers(tmp_path, closed_port, path):
    app = portal(tmp_path, closed_port, OIDC_ISSUER="https://idp.example/realms/alliance")
    with app.test_client().get(path) as resp:  # a static file is streamed: close it
        assert_secure_headers(resp)
        assert "Strict-Transport-Security" not in resp.headers  # plain http


def test_an_engine_error_page_carries_them_too(tmp_path, closed_port):
    app = portal(tmp_path, closed_port, OIDC_ISSUER="https://idp.example/realms/alliance")
    resp = app.test_client().get("/?q=H9")
    assert resp.status_code == 503
    assert_secure_headers(resp)


@pytest.mark.parametrize("path", ["/", "/api/v1/node", "/static/inbox.css", "/inbox", "/nope"])
def test_every_node_response_carries_the_security_headers(tmp_path, path):
    app = node(tmp_path, OIDC_ISSUER="https://idp.example/realms/alliance")
    with app.test_client().get(path) as resp:
        assert resp.status_code in (200, 302, 404)
        assert_secure_headers(resp)


def test_hsts_only_over_https(tmp_path, closed_port):
    client = portal(tmp_path, closed_port).test_client()
    secure = client.get("/api/v1/openapi.json", base_url="https://portal.example")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    # A forwarded scheme counts only when the app is told it is behind a proxy.
    forwarded = client.get("/api/v1/openapi.json", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forwarded.headers
    behind = portal(tmp_path, closed_port, PROXY_HOPS=1).test_client()
    forwarded = behind.get("/api/v1/openapi.json", headers={"X-Forwarded-Proto": "https"})
    assert forwarded.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_a_header_the_view_set_is_kept():
    from flask import Flask

    app = Flask(__name__)
    init_headers(app, csp=API_CSP)

    @app.get("/")
    def own():
        return "x", 200, {"Referrer-Policy": "no-referrer"}

    resp = app.test_client().get("/")
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Content-Security-Policy"] == API_CSP


def test_the_form_targets_are_origins_only():
    assert page_csp(["https://user:pw@idp.example:8443/realms/a?x=1", None, "ftp://x"]).endswith(
        "form-action 'self' https://idp.example:8443"
    )


INLINE = [
    (re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/ld\+json\")", re.I), "script"),
    (re.compile(r"<style\b", re.I), "<style>"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


@pytest.mark.parametrize("template", [p for d in TEMPLATE_DIRS for p in sorted(d.rglob("*.html"))])
def test_no_template_needs_unsafe_inline(template):
    """The CSP has no 'unsafe-inline': a page with inline script or style would break."""
    text = template.read_text()
    for pattern, what in INLINE:
        assert not pattern.search(text), f"{template.relative_to(ROOT)}: inline {what}"


# -- L3: highlights --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fragment", "html"),
    [
        ("<mark>Parkinson</mark>&#x27;s disease", "<mark>Parkinson</mark>&#39;s disease"),
        # Raw markup, inside and around the marks, is text.
        (
            "<img src=x onerror=alert(1)> <mark>kolf</mark>",
            "&lt;img src=x onerror=alert(1)&gt; <mark>kolf</mark>",
        ),
        (
            "<mark><img src=x onerror=alert(1)></mark>",
            "<mark>&lt;img src=x onerror=alert(1)&gt;</mark>",
        ),
        ("<mark onmouseover=alert(1)>x</mark>", "&lt;mark onmouseover=alert(1)&gt;x"),
        # What the engine's html encoder sends is decoded once, never escaped twice.
        (
            "&lt;img src=x onerror=alert(1)&gt; <mark>zebraxss</mark>",
            "&lt;img src=x onerror=alert(1)&gt; <mark>zebraxss</mark>",
        ),
        ("&lt;mark&gt;not a mark&lt;/mark&gt;", "&lt;mark&gt;not a mark&lt;/mark&gt;"),
        (
            "<MARK>x</MARK><script>alert(1)</script>",
            "&lt;MARK&gt;x&lt;/MARK&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
        ),
        # Marks stay balanced.
        ("</mark>a<mark>b", "a<mark>b</mark>"),
        (None, ""),
    ],
)
def test_highlights_are_escaped_but_their_marks_kept(fragment, html):
    assert str(highlight(fragment)) == html


def test_the_search_page_uses_the_filter_for_every_highlight(tmp_path, closed_port):
    app = portal(tmp_path, closed_port)
    source = (ROOT / "portal" / "templates" / "search.html").read_text()
    assert "|safe" not in source and source.count('highlight")') + source.count("|highlight") == 2
    template = app.jinja_env.from_string('{{ syn|map("highlight")|join(", ") }}')
    out = template.render(syn=["<mark>H9</mark>", "<img src=x onerror=alert(1)>"])
    assert out == "<mark>H9</mark>, &lt;img src=x onerror=alert(1)&gt;"


# -- L4: JSON-LD -----------------------------------------------------------------------
def test_jsonld_cannot_end_its_script_block_or_open_a_comment():
    data = {"description": "zebraxss <img src=x onerror=alert(1)> <!--<script> </script> & more"}
    text = str(script_json(data))
    assert not set(text) & set("<>&")
    assert "\\u003c!--\\u003cscript\\u003e" in text and "\\u003c/script\\u003e" in text
    assert json.loads(text) == data


# -- L5: CSV ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("kolf;=1+1", "kolf;'=1+1"),
        ("x;=cmd|' /C calc'!A0", "x;'=cmd|' /C calc'!A0"),
        ("a, +b|@c", "a, '+b|'@c"),
        ("line\n=HYPERLINK(1)", "line\n'=HYPERLINK(1)"),
        ("\t=1", "'\t=1"),
        ("-80 °C; -196 °C", "'-80 °C; '-196 °C"),
        ("-12", "-12"),
        ("-inf", "'-inf"),
        ("20-24; 25-29", "20-24; 25-29"),
        ("", ""),
    ],
)
def test_formula_starts_are_defused_after_every_delimiter(value, cell):
    assert safe_cell(value) == cell


def test_every_csv_field_is_quoted():
    docs = [{"uid": "n:cell_line:x", "name": "kolf;=1+1", "node_id": "n", "record": {}}]
    text = "".join(csv_chunks("cell_line", docs, lambda uid: f"https://p.example/{uid}"))
    header, row = text.splitlines()
    assert header.startswith('"uid","name","node"')
    assert row.startswith('"n:cell_line:x","kolf;\'=1+1","n",')
    assert next(csv.reader(io.StringIO(row)))[1] == "kolf;'=1+1"


# -- L13: rate limits ------------------------------------------------------------------
def test_the_public_api_is_limited_per_client_with_a_json_429(tmp_path, closed_port):
    client = portal(tmp_path, closed_port, RATE_LIMIT_API="3/minute").test_client()
    assert [client.get("/api/v1/openapi.json").status_code for _ in range(3)] == [200] * 3
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
    assert resp.json["error"] == "Too Many Requests" and "3 per 1 minute" in resp.json["detail"]
    assert_secure_headers(resp, resp.headers["Content-Security-Policy"])
    # Another client address has its own budget.
    other = client.get("/api/v1/openapi.json", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200
    assert "Cookie" not in other.headers.get("Vary", "")  # counting opened no session


def test_exports_share_one_budget(tmp_path, closed_port):
    client = portal(tmp_path, closed_port, RATE_LIMIT_EXPORT="2/minute").test_client()
    assert client.get("/api/v1/export.csv?q=H9").status_code == 503  # the engine is down
    assert client.get("/api/v1/export.json?q=H9").status_code == 503
    assert client.get("/api/v1/export.csv?q=H9").status_code == 429
    assert client.get("/api/v1/search?q=H9").status_code == 503  # searching is counted apart


def test_login_is_limited_with_an_error_page(tmp_path, closed_port):
    client = portal(tmp_path, closed_port, RATE_LIMIT_LOGIN="2/minute").test_client()
    assert client.get("/login").status_code == 503  # no OIDC_CLIENT_SECRET here
    assert client.get("/auth/callback?error=access_denied").status_code == 400
    page = client.get("/login")
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert b"Too many requests" in page.data


def test_submitting_requests_is_limited_per_user_before_the_form_is_read(tmp_path, closed_port):
    app = portal(tmp_path, closed_port, RATE_LIMIT_REQUESTS="2/hour")
    alice, bob = app.test_client(), app.test_client()
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    # No CSRF token: refused (400), but counted, since the limit is checked first.
    assert [alice.post("/requests").status_code for _ in range(2)] == [400, 400]
    assert alice.post("/requests").status_code == 429
    assert bob.post("/requests").status_code == 400  # same address, another user


def test_the_routes_a_private_token_opens_share_one_budget(tmp_path, closed_port):
    client = portal(tmp_path, closed_port, RATE_LIMIT_API="3/minute").test_client()
    answers = [
        client.get("/feeds/not-a-token.atom").status_code,
        client.get("/alerts/unsubscribe/not-a-token").status_code,
        client.post("/api/v1/alerts/unsubscribe/not-a-token").status_code,
        client.get("/feeds/another-one.atom").status_code,
    ]
    assert 429 not in answers[:3] and answers[3] == 429


def test_limits_can_be_switched_off(tmp_path, closed_port):
    app = portal(tmp_path, closed_port, RATE_LIMIT_ENABLED=False, RATE_LIMIT_API="1/minute")
    client = app.test_client()
    assert {client.get("/api/v1/openapi.json").status_code for _ in range(3)} == {200}
    one = portal(tmp_path, closed_port, RATE_LIMIT_API="", RATE_LIMIT_EXPORT="1/minute")
    client = one.test_client()
    assert {client.get("/api/v1/openapi.json").status_code for _ in range(3)} == {200}


def test_the_default_limits_are_generous():
    """A person, and the test suites (which send everything from 127.0.0.1 within seconds),
    stay well below them: tests/integration/test_discovery.py sends ~115 searches and ~25
    exports to one app in half a minute."""
    from limits import parse

    from cellfed.config import DEFAULTS

    defaults = {rule.setting: DEFAULTS[rule.setting] for rule in RATE_RULES}
    per_minute = {key: parse(value.split(";")[0]).amount for key, value in defaults.items()}
    assert per_minute["RATE_LIMIT_API"] >= 300 and per_minute["RATE_LIMIT_EXPORT"] >= 60
    assert per_minute["RATE_LIMIT_LOGIN"] >= 60


# -- L7: body limits -------------------------------------------------------------------
def test_node_bodies_are_small_except_on_the_import(tmp_path):
    client = node(tmp_path, BODY_MAX_BYTES=1000).test_client()
    body = {"record": "x" * 2000}
    assert client.post("/admin/edit/cell_line/x", data=body).status_code == 413
    assert client.post("/inbox/p1/approve", data=body).status_code == 413
    assert client.post("/no/such/route", data=body).status_code == 413
    assert client.put("/api/v1/access/parts/p1", json=body).status_code == 413
    # The import takes IMPORT_MAX_MB, from an admin of this node (anyone else's body is
    # refused unread: see test_review_security's L7 tests).
    assert client.post("/admin/import", data=lines_csv(5000)).status_code == 401
    admin = User("https://idp.example/realms/a", "bob", "Bob", None,
                 frozenset({"biobank-admin"}), frozenset({"n1:bank"}))  # fmt: skip
    with client.session_transaction() as session:
        session[SESSION_ID] = open_session(client.application, admin)
        session["_csrf"] = "the-sessions-token"
    response = client.post(
        "/admin/import", data={**lines_csv(5000), "csrf_token": "the-sessions-token"}
    )
    assert response.status_code == 422, response.status_code  # read, and its problems listed


def lines_csv(size: int) -> dict:
    return {"files": (io.BytesIO(b"x" * size), "lines.csv")}


def test_node_import_keeps_its_own_limit(tmp_path):
    client = node(tmp_path, IMPORT_MAX_MB=1).test_client()
    assert client.post("/admin/import", **multipart(1024 * 1024 + 10)).status_code == 413


def multipart(size: int) -> dict:
    """A form upload of ``size`` bytes, as raw bytes (the test client spools a built one to a
    temporary file that a request refused unread never closes)."""
    return {"data": b"x" * size, "content_type": "multipart/form-data; boundary=b"}


def test_portal_bodies_are_small_except_where_attachments_are_sent(tmp_path, closed_port):
    app = portal(tmp_path, closed_port, BODY_MAX_BYTES=1000, ATTACHMENT_MAX_BYTES=2000)
    client = app.test_client()
    sign_in(client)
    assert client.post("/cart/add", data={"uid": "x" * 2000}).status_code == 413
    # A node's event may carry an agreement document: it has the attachments' budget, so a
    # body over BODY_MAX_BYTES is read (and refused for want of a node token) ...
    assert client.post("/api/v1/access/events", json={"x": "y" * 2000}).status_code == 401
    # ... and one over that budget is not.
    big = 5 * 2000 + 1024 * 1024 + 10
    assert client.post("/api/v1/access/events", json={"x": "y" * big}).status_code == 413
    upload = {"attachments": (io.BytesIO(b"%PDF-" + b"x" * 5000), "ethics.pdf")}
    assert client.post("/requests", data=upload).status_code == 400  # read; no CSRF token
    # Up to ATTACHMENT_MAX_COUNT attachments and 1 MB of form (portal/access): no more.
    assert client.post("/requests", **multipart(5 * 2000 + 1024 * 1024 + 10)).status_code == 413
