"""A hostile member node cannot make the indexer read other services, exhaust its memory, or
put its own words on the public health pages (finding H2), end to end: real OpenSearch, the
indexer, the portal's /federation, /api/v1/nodes and /api/v1/metrics."""

from __future__ import annotations

import json
import zlib

import pytest
from werkzeug.wrappers import Request, Response

from cellfed.serve import serve_in_thread
from federation.protocol import content_hash
from federation.registry import Member
from portal.app import create_app as create_portal_app
from search.health import node_health
from search.indexer.sync import Indexer
from tests.builders import cell_line
from tests.builders.alliance import lot

pytestmark = pytest.mark.engine

SECRET = "<script>secret-internal-answer</script>"
PUBLIC_PAGES = ("/api/v1/nodes", "/federation", "/api/v1/metrics")


@pytest.fixture
def serve():
    running = []

    def start(answer) -> tuple[str, list[str]]:
        seen: list[str] = []

        def app(environ, start_response):
            seen.append(Request(environ).full_path)
            return answer(Request(environ))(environ, start_response)

        server = serve_in_thread(app)
        running.append(server)
        return server.url, seen

    yield start
    for server in running:
        server.stop()


def sync(search_engine, prefix: str, url: str, **kw):
    indexer = Indexer(search_engine, [Member("evil", "Evil", url)], prefix, timeout=5, **kw)
    [report] = indexer.sync_all()
    return report, node_health(search_engine, prefix)["evil"]


def published(engine_url: str, prefix: str) -> str:
    portal = create_portal_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix}).test_client()
    pages = []
    for path in PUBLIC_PAGES:
        resp = portal.get(path)
        assert resp.status_code == 200, path
        pages.append(resp.get_data(as_text=True))
    return "\n".join(pages)


@pytest.mark.parametrize("status", [302, 307, 308])
def test_a_redirecting_feed_is_not_followed_and_only_our_words_are_published(
    serve, search_engine, index_prefix, engine_url, status
):
    other, asked = serve(lambda r: Response(f"health status index {SECRET}", 200))
    node, _ = serve(lambda r: Response("", status, {"Location": f"{other}/_cat/indices?v"}))
    report, health = sync(search_engine, index_prefix, node)
    assert not report.ok and asked == []
    assert health["last_error"] == (
        f"{node}/api/v1/feed answered HTTP {status}, a redirect; redirects are not followed"
    )
    pages = published(engine_url, index_prefix)
    assert "redirects are not followed" in pages
    assert "secret" not in pages and "health status" not in pages


def test_the_engine_itself_is_out_of_reach(serve, search_engine, index_prefix, engine_url):
    # The exploit of the review: the feed sends the indexer to the engine's own API.
    node, _ = serve(lambda r: Response("", 302, {"Location": f"{engine_url}/_cat/indices?v"}))
    report, health = sync(search_engine, index_prefix, node)
    assert "redirects are not followed" in health["last_error"]
    assert index_prefix not in health["last_error"] and "green" not in health["last_error"]
    assert "health status index" not in published(engine_url, index_prefix)


def test_a_nodes_error_page_never_reaches_the_health(
    serve, search_engine, index_prefix, engine_url
):
    node, _ = serve(lambda r: Response(SECRET, 500, mimetype="text/html"))
    report, health = sync(search_engine, index_prefix, node)
    assert "answered HTTP 500 (Internal Server Error)" in health["last_error"]
    assert "text/html" in health["last_error"]
    assert "secret" not in published(engine_url, index_prefix)


def test_a_gzip_bomb_is_refused_at_the_cap(serve, search_engine, index_prefix):
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(packer.compress(bytes(1 << 20)) for _ in range(100)) + packer.flush()
    node, _ = serve(lambda r: Response(bomb, headers={"Content-Encoding": "gzip"}))
    report, health = sync(search_engine, index_prefix, node, max_bytes=4 << 20)
    assert not report.ok and "more than 4,194,304 bytes" in health["last_error"]


def test_quarantine_reasons_published_are_ours(serve, search_engine, index_prefix, engine_url):
    record = {
        "id": "L1",
        "biobank": "b",
        "name": "n",
        "cell_type": SECRET,
        "availability": "available",
        "donor": {"sex": "MALE", SECRET: 1},
    }
    entries = [
        {
            "seq": 1,
            "kind": "cell_line",
            "id": "L1",
            "op": "upsert",
            "schema_version": "2",
            "hash": content_hash(record),
            "modified": "2026-12-01T00:00:00+00:00",
            "record": record,
        },
        {"seq": 2, "kind": SECRET, "id": SECRET, "op": "upsert"},
    ]
    page = {
        "node_id": "evil",
        "after": 0,
        "next_cursor": 2,
        "latest_seq": 2,
        "has_more": False,
        "entries": entries,
    }
    node, _ = serve(lambda r: Response(json.dumps(page), mimetype="application/json"))
    report, health = sync(search_engine, index_prefix, node)
    assert report.ok and len(health["quarantined"]) == 2
    first, second = health["quarantined"]
    assert first["id"] == "L1" and "cell_type: '…' is not a cell type" in first["reason"]
    assert second["kind"] is None and second["id"] is None
    pages = published(engine_url, index_prefix)
    assert "is not a cell type" in pages and "secret" not in pages


def test_a_record_the_engine_cannot_hold_is_quarantined_and_the_rest_indexed(
    serve, search_engine, index_prefix
):
    # An integer beyond 64 bits passes the schemas (JSON has no bound) but not the engine's
    # mapping: before, the engine's refusal stopped the node's harvest at its first page.
    huge = cell_line("L-huge", lots=[lot("lot-1", 10**400)])
    fine = cell_line("L-fine")
    entries = [
        {
            "seq": seq,
            "kind": "cell_line",
            "id": record["id"],
            "op": "upsert",
            "schema_version": "2",
            "hash": content_hash(record),
            "modified": "2026-12-01T00:00:00+00:00",
            "record": record,
        }
        for seq, record in ((1, huge), (2, fine))
    ]
    page = {"node_id": "evil", "after": 0, "next_cursor": 2, "latest_seq": 2, "has_more": False}
    body = json.dumps({**page, "entries": entries})
    node, _ = serve(lambda r: Response(body, mimetype="application/json"))
    report, health = sync(search_engine, index_prefix, node)
    assert report.ok, health.get("last_error")
    assert (report.indexed, report.cursor_after) == (1, 2)
    [refused] = health["quarantined"]
    assert (refused["kind"], refused["id"], refused["seq"]) == ("cell_line", "L-huge", 1)
    assert refused["reason"].startswith("the search engine cannot hold the record (")
    search_engine.refresh(f"{index_prefix}catalogue")
    assert search_engine.get(f"{index_prefix}catalogue", "evil:cell_line:L-fine") is not None
    assert search_engine.get(f"{index_prefix}catalogue", "evil:cell_line:L-huge") is None
