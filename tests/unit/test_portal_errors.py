"""The portal answers engine errors once, for every view: an engine that is down is a 503 and
a search it refuses is a 400, as JSON under /api/ and as a page for people, never a 500."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from portal.app import create_app
from portal.service import SEARCH_KEY

DOWN = "the search engine is not reachable right now"
REFUSED = "the search engine could not run this search; try fewer words or filters"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, so nothing else takes it, but not
    listening."""
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
        }
    )


@pytest.fixture
def refusing(app, monkeypatch):
    """The portal on an engine that refuses every search as a bad request (too complex)."""
    engine = app.extensions[SEARCH_KEY].engine

    def refuse(*_args, **_kwargs):
        raise engine.errors.RequestError(400, "search_phase_execution_exception", {})

    monkeypatch.setattr(engine, "search", refuse)
    monkeypatch.setattr(
        engine, "msearch", lambda _index, bodies: [{"status": 400, "error": {}} for _ in bodies]
    )
    return app


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/search?q=H9",
        "/api/v1/export.csv?q=H9",
        "/api/v1/records/berlin:cell_line:WAe009-A",
        "/api/v1/nodes",
        "/api/v1/metrics",
    ],
)
def test_an_engine_that_is_down_is_a_503_in_json_on_the_api(app, path):
    resp = app.test_client().get(path)
    assert resp.status_code == 503
    assert resp.json == {"error": "Service Unavailable", "detail": DOWN}


@pytest.mark.parametrize("path", ["/?q=H9", "/records/berlin:cell_line:WAe009-A", "/federation"])
def test_an_engine_that_is_down_is_a_503_error_page_for_people(app, path):
    resp = app.test_client().get(path)
    assert resp.status_code == 503 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert 'role="alert"' in page and "503 · Service Unavailable" in page and DOWN in page


def test_a_search_the_engine_refuses_is_a_400_with_its_reason(refusing):
    client = refusing.test_client()
    for path in ("/api/v1/search?q=H9", "/api/v1/export.json?q=H9"):
        resp = client.get(path)
        assert resp.status_code == 400, path
        assert resp.json == {"error": "Bad Request", "detail": REFUSED}
    # People see it on the search form, to change the search there.
    page = client.get("/?q=H9")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert 'role="alert"' in html and "We could not run this search" in html
    assert REFUSED in html and 'name="q"' in html
