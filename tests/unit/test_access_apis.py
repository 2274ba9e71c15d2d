"""The access-request APIs are documented route for route, and refuse calls without a token."""

from __future__ import annotations

import pytest

from federation.node.app import create_app as create_node_app
from portal.app import create_app as create_portal_app


@pytest.fixture
def apps(tmp_path):
    node = create_node_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'n.sqlite3'}", "NODE_ID": "n1"})
    portal = create_portal_app({"PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"})
    return node, portal


def documented(app, spec_url: str) -> set[tuple[str, str]]:
    spec = app.test_client().get(spec_url).json
    return {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}


def routes(app, prefix: str) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(prefix):
            path = rule.rule.replace("<", "{").replace(">", "}")
            found |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def test_every_access_route_is_in_its_openapi_document(apps):
    node, portal = apps
    prefix = "/api/v1/access"
    assert routes(node, prefix) == documented(node, f"{prefix}/openapi.json")
    mailbox = routes(portal, "/api/v1/nodes/<node_id>/mailbox")  # push-mode nodes' mailbox
    assert routes(portal, prefix) | mailbox == documented(portal, f"{prefix}/openapi.json")


@pytest.mark.parametrize(
    ("which", "method", "path"),
    [
        ("node", "put", "/api/v1/access/parts/" + "a" * 32),
        ("node", "post", "/api/v1/access/parts/" + "a" * 32 + "/actions"),
        ("portal", "post", "/api/v1/access/events"),
        ("portal", "get", "/api/v1/access/parts/" + "a" * 32 + "/attachments/" + "b" * 32),
    ],
)
def test_machine_endpoints_want_a_bearer_token(apps, which, method, path):
    app = apps[0] if which == "node" else apps[1]
    resp = getattr(app.test_client(), method)(path, json={})
    assert resp.status_code == 401
    assert resp.json["error"] == "missing_token"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    bad = getattr(app.test_client(), method)(path, json={}, headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401 and bad.json["error"] == "malformed"


def test_pages_refuse_a_form_without_the_csrf_token(apps):
    node, portal = apps
    resp = portal.test_client().post("/cart/add", data={"uid": "n1:cell_line:L1"})
    assert resp.status_code == 400 and b"Nothing was changed" in resp.data
    assert node.test_client().post("/logout").status_code == 400


def test_the_cart_takes_only_requestable_records(apps):
    _, portal = apps
    client = portal.test_client()
    token = "a-csrf-token-of-this-session"
    with client.session_transaction() as session:
        session["_csrf"] = token
    ok = client.post("/cart/add", data={"uid": "n1:cell_line:L1", "csrf_token": token})
    assert ok.status_code == 302
    for uid, why in [
        ("n1:biobank:B1", b"only cell lines and collections"),
        ("not a uid", b"is not a catalogue record id"),
    ]:
        resp = client.post("/cart/add", data={"uid": uid, "csrf_token": token})
        assert resp.status_code == 400 and why in resp.data
    with client.session_transaction() as session:
        assert session["cart"] == ["n1:cell_line:L1"]


def test_login_without_a_client_secret_says_so(apps):
    _, portal = apps
    resp = portal.test_client().get("/login")
    assert resp.status_code == 503 and b"OIDC_CLIENT_SECRET" in resp.data


def test_next_after_login_stays_on_this_site():
    from federation.web.login import safe_next

    assert safe_next("/requests/abc?x=1") == "/requests/abc?x=1"
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil", "javascript:alert(1)"):
        assert safe_next(evil) == "/"
