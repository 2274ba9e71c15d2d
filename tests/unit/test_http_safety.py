"""Federation HTTP calls refuse redirects, cap bodies (gzip bombs included) and never repeat
what a peer said (federation/http.py and its users), against hostile servers on loopback."""

from __future__ import annotations

import gzip
import json
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests
from werkzeug.wrappers import Request, Response

from cellfed.serve import serve_in_thread
from federation import http
from federation.client import FeedClient, FeedError, RetryPolicy
from federation.node.poke import Poker
from federation.registry import Member
from federation.tokens import ClientCredentials, TokenUnavailable
from search.indexer.sync import Indexer

MIB = 1024 * 1024
# tracemalloc also counts what other threads of a long test session allocate meanwhile (up to
# 9.7 MB seen in the whole suite, under 8 alone); reading a bomb's body would be 100 MB.
PEAK_BOUND_MB = 16
SECRET = "<script>secret-internal-answer</script>"


@dataclass
class Server:
    """A loopback HTTP server answering each request with ``answer(request)``; it keeps what
    it was asked."""

    url: str = ""
    seen: list[tuple[str, str, bytes]] = field(default_factory=list)
    answer: object = None

    def hits(self) -> int:
        return len(self.seen)


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    running = []

    def start(answer=None) -> Server:
        state = Server(answer=answer)

        def app(environ, start_response):
            request = Request(environ)
            state.seen.append((request.method, request.full_path, request.get_data()))
            handler = state.answer or (lambda r: Response(SECRET, status=200))
            return handler(request)(environ, start_response)

        server = serve_in_thread(app)
        running.append(server)
        state.url = server.url
        return state

    yield start
    for server in running:
        server.stop()


def redirect_to(url: str, status: int):
    return lambda request: Response(SECRET, status=status, headers={"Location": url})


def feed_client(url: str, **kw) -> FeedClient:
    # A plain requests.Session, as callers passed before: the client makes it safe itself.
    return FeedClient(
        Member("n", "N", url), requests.Session(), timeout=5, sleep=lambda s: None, **kw
    )


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """100 MB of zeros, gzipped to about 100 KB."""
    out = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MIB)
    body = b"".join(out.compress(chunk) for _ in range(100)) + out.flush()
    assert len(body) < 200_000
    return body


def gzipped(body: bytes, **headers: str):
    return lambda request: Response(
        body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json", **headers}
    )


def peak_while(fn) -> tuple[float, BaseException | None]:
    """Peak traced memory (MB) while ``fn`` runs, beyond what one small request costs
    (requests itself peaks at about 10 MB per call), and what ``fn`` raised."""
    tracemalloc.start()
    raised = None
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 -- returned to the test
        raised = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return (peak - _baseline()) / MIB, raised


_BASELINE: list[int] = []


def _baseline() -> int:
    if not _BASELINE:
        server = serve_in_thread(lambda environ, start: Response(b"{}")(environ, start))
        try:
            http.request("GET", server.url)  # warm up imports and pools
            tracemalloc.stop()
            tracemalloc.start()
            http.request("GET", server.url)
            _BASELINE.append(tracemalloc.get_traced_memory()[1])
        finally:
            server.stop()
    return _BASELINE[0]


# -- redirects ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_feed_redirect_is_not_followed_and_its_target_never_asked(servers, status):
    target = servers()
    node = servers(redirect_to(f"{target.url}/_cat/indices?v", status))
    with pytest.raises(FeedError) as caught:
        feed_client(node.url).page(0, 10)
    message = str(caught.value)
    assert f"HTTP {status}" in message and "redirects are not followed" in message
    assert "secret" not in message and "_cat" not in message
    assert node.hits() == 1 and target.hits() == 0


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
@pytest.mark.parametrize("status", [302, 307, 308])
def test_no_method_follows_a_redirect(servers, method, status):
    target = servers()
    peer = servers(redirect_to(target.url + "/cellfed-sync-state/_doc/cursor", status))
    with pytest.raises(http.RedirectRefused) as caught:
        http.request(method, peer.url, json={"overwrite": "the cursor"})
    assert caught.value.status == status
    assert target.hits() == 0


def test_the_body_of_a_redirect_is_not_even_read(servers, bomb):
    # requests reads a 3xx body in full (decompressed) even with allow_redirects=False.
    peer = servers(lambda r: Response(bomb, 302, {"Location": "/x", "Content-Encoding": "gzip"}))
    peak, raised = peak_while(lambda: http.request("GET", peer.url, max_bytes=MIB))
    assert isinstance(raised, http.RedirectRefused)
    assert peak < PEAK_BOUND_MB, f"{peak:.1f} MB"


def test_a_poke_is_not_redirected(servers):
    target = servers()
    indexer = servers(redirect_to(target.url, 307))
    poker = Poker(indexer.url, "n", headers=lambda: {"Authorization": "Bearer node-token"})
    poker._running = True
    poker._send()  # what the poke thread runs; a failure is only logged
    assert indexer.hits() == 1 and target.hits() == 0


# -- body caps ---------------------------------------------------------------------------------
def test_an_answer_over_the_cap_is_refused(servers):
    declared = servers(lambda r: Response(b"x" * (MIB + 1)))
    with pytest.raises(http.AnswerTooLarge, match="more than 1,048,576 bytes"):
        http.request("GET", declared.url, max_bytes=MIB)

    def chunked(request):  # no Content-Length: refused while reading
        return Response((b"x" * 65536 for _ in range(64)), mimetype="application/json")

    streamed = servers(chunked)
    with pytest.raises(http.AnswerTooLarge):
        http.request("GET", streamed.url, max_bytes=MIB)
    with pytest.raises(http.AnswerTooLarge):
        b"".join(http.request("GET", streamed.url, max_bytes=MIB, stream=True).iter_content(1024))
    exact = servers(lambda r: Response(b"x" * MIB))
    assert len(http.request("GET", exact.url, max_bytes=MIB).content) == MIB


def test_a_gzip_bomb_is_stopped_at_the_cap_with_memory_bounded(servers, bomb):
    node = servers(gzipped(bomb))
    client = feed_client(node.url, max_bytes=MIB)
    peak, raised = peak_while(lambda: client.page(0, 10))
    assert isinstance(raised, FeedError), raised
    assert "more than 1,048,576 bytes" in str(raised)
    assert peak < PEAK_BOUND_MB, f"reading the bomb held {peak:.1f} MB"


def test_a_streamed_gzip_bomb_is_stopped_too(servers, bomb):
    node = servers(gzipped(bomb))
    resp = http.request("GET", node.url, max_bytes=MIB, stream=True)
    read = 0

    def drain():
        nonlocal read
        for chunk in resp.iter_content(65536):
            read += len(chunk)

    peak, raised = peak_while(drain)
    assert isinstance(raised, http.AnswerTooLarge)
    assert read <= MIB
    assert peak < PEAK_BOUND_MB, f"draining the bomb held {peak:.1f} MB"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("gzip", lambda b: gzip.compress(b[:7]) + gzip.compress(b[7:])),  # two members
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
        ("identity", lambda b: b),
    ],
)
def test_compressed_answers_still_read_right(servers, encoding, encode):
    body = json.dumps({"node_id": "n", "entries": list(range(1000))}).encode()
    peer = servers(lambda r: Response(encode(body), headers={"Content-Encoding": encoding}))
    assert http.request("GET", peer.url).json()["entries"][-1] == 999


def test_an_encoding_we_did_not_offer_is_refused(servers):
    peer = servers(lambda r: Response(b"\x00" * 10, headers={"Content-Encoding": "br"}))
    with pytest.raises(http.UnreadableAnswer):
        http.request("GET", peer.url)
    broken = servers(lambda r: Response(b"not gzip at all", headers={"Content-Encoding": "gzip"}))
    with pytest.raises(FeedError, match="does not decompress"):
        feed_client(broken.url).page(0, 10)


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_body_that_drips_is_cut_at_the_deadline(servers, framing):
    # Each byte comes well within the read timeout; only the whole body's deadline stops it.
    def drip(request):
        def body():
            for _ in range(40):
                time.sleep(0.1)
                yield b" "

        headers = {"Content-Length": "40"} if framing == "content-length" else {}
        return Response(body(), mimetype="application/json", headers=headers)

    peer = servers(drip)
    started = time.monotonic()
    with pytest.raises(http.AnswerTooSlow):
        http.request("GET", peer.url, timeout=2, body_seconds=0.5)
    assert time.monotonic() - started < 1.5
    with pytest.raises(FeedError, match="did not send its whole answer within 0.5s"):
        FeedClient(
            Member("n", "N", peer.url),
            http.SafeSession(timeout=2, body_seconds=0.5),
            retry=RetryPolicy(attempts=1),
        ).page(0, 10)


def test_absurdly_nested_json_is_malformed_not_a_crash(servers):
    peer = servers(lambda r: Response("[" * 200_000, mimetype="application/json"))
    with pytest.raises(FeedError, match="malformed JSON"):
        feed_client(peer.url).page(0, 10)


# -- what a peer said is never repeated ------------------------------------------------------
@pytest.mark.parametrize("status", [400, 404, 500])
def test_a_nodes_error_text_is_not_in_the_feed_error(servers, status):
    node = servers(lambda r: Response(SECRET, status=status, mimetype="text/html"))
    with pytest.raises(FeedError) as caught:
        feed_client(node.url).page(0, 10)
    message = str(caught.value)
    assert f"HTTP {status}" in message and "text/html" in message
    assert "secret" not in message and "<" not in message


def test_a_json_detail_is_not_repeated_but_a_short_error_code_is(servers):
    body = {"error": "part_conflict", "detail": SECRET}
    peer = servers(lambda r: Response(json.dumps(body), 409, mimetype="application/json"))
    resp = http.request("PUT", peer.url, json={})
    assert http.response_detail(resp) == "part_conflict"
    assert "secret" not in http.describe(resp)
    odd = servers(lambda r: Response(json.dumps({"error": SECRET}), 422, mimetype="text/x;<b>"))
    resp = http.request("PUT", odd.url, json={})
    assert http.response_detail(resp) == http.status_phrase(422)  # ours, from the stdlib
    assert "secret" not in http.describe(resp) and "<b>" not in http.describe(resp)


def test_a_resync_answer_is_told_in_our_words(servers):
    body = {"error": "resync_required", "detail": SECRET, "latest_seq": 3}
    node = servers(lambda r: Response(json.dumps(body), 410, mimetype="application/json"))
    with pytest.raises(FeedError) as caught:
        feed_client(node.url).page(9, 10)
    assert "secret" not in str(caught.value) and caught.value.reset is True


def test_schema_problems_name_only_known_fields_and_mask_values(servers):
    page = {
        "node_id": "n",
        "after": "<script>x</script>",
        "next_cursor": 0,
        "latest_seq": 0,
        "has_more": False,
        "entries": [],
    }
    node = servers(lambda r: Response(json.dumps(page), mimetype="application/json"))
    with pytest.raises(FeedError, match="after: Not a valid integer") as caught:
        feed_client(node.url).page(0, 10)
    assert "script" not in str(caught.value)
    impostor = {**page, "after": 0, "node_id": "x" * 200}
    node.answer = lambda r: Response(json.dumps(impostor), mimetype="application/json")
    with pytest.raises(FeedError, match="says it is another node") as caught:
        feed_client(node.url).page(0, 10)
    assert "xxxx" not in str(caught.value)


def test_quarantine_reasons_hold_no_text_of_the_node():
    indexer = Indexer(None, [], "t-")  # type: ignore[arg-type] -- no engine needed here
    record = {
        "id": "L1",
        "biobank": "b",
        "name": "n",
        "cell_type": SECRET,
        "availability": "available",
        "donor": {"sex": "MALE", "<script>evil": 1},
        "<img src=x onerror=alert(1)>": "x",
    }
    from federation.protocol import content_hash

    entry = {
        "seq": 1,
        "kind": "cell_line",
        "id": "L1",
        "op": "upsert",
        "schema_version": "2",
        "hash": content_hash(record),
        "modified": "2026-12-01T00:00:00+00:00",
        "record": record,
    }
    _, problem = indexer._check_entry(entry)
    assert problem is not None and problem.id == "L1" and problem.kind == "cell_line"
    assert "cell_type: '…' is not a cell type" in problem.reason
    assert "donor: 1 field this schema does not know" in problem.reason
    assert "1 field this schema does not know" in problem.reason
    for text in ("script", "secret", "img", "onerror"):
        assert text not in problem.reason

    _, problem = indexer._check_entry({"seq": 2, "kind": SECRET, "id": SECRET, "op": "x"})
    assert problem is not None and problem.kind is None and problem.id is None
    assert "secret" not in problem.reason
    _, problem = indexer._check_entry({**entry, "schema_version": SECRET})
    assert problem is not None and "secret" not in problem.reason


# -- tokens ------------------------------------------------------------------------------------
def token_answer(request):
    return Response(
        json.dumps({"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 300}),
        mimetype="application/json",
    )


def test_a_token_endpoint_redirect_is_refused_and_our_secret_stays_home(servers):
    target = servers(token_answer)
    idp = servers(redirect_to(f"{target.url}/token", 307))
    credentials = ClientCredentials("portal", "s3cret", token_endpoint=f"{idp.url}/token")
    with pytest.raises(TokenUnavailable, match="HTTP 307, a redirect") as caught:
        credentials.token("node-x")
    assert "secret" not in str(caught.value) and "s3cret" not in str(caught.value)
    assert idp.hits() == 1 and target.hits() == 0  # the grant (and our secret) went nowhere


def test_a_token_endpoints_error_text_is_not_repeated(servers):
    refusal = {"error": "invalid_client", "error_description": SECRET}
    idp = servers(lambda r: Response(json.dumps(refusal), 401, mimetype="application/json"))
    with pytest.raises(TokenUnavailable) as caught:
        ClientCredentials("portal", "s", token_endpoint=idp.url).token()
    assert "invalid_client" in str(caught.value) and "secret" not in str(caught.value)
    page = servers(lambda r: Response(SECRET, 502, mimetype="text/html"))
    with pytest.raises(TokenUnavailable, match="HTTP 502") as caught:
        ClientCredentials("portal", "s", token_endpoint=page.url).token()
    assert "secret" not in str(caught.value)
    bomb = servers(lambda r: Response(b"{" + b" " * (2 * MIB), mimetype="application/json"))
    with pytest.raises(TokenUnavailable, match="more than"):
        ClientCredentials("portal", "s", token_endpoint=bomb.url).token()


def test_calls_with_a_token_refuse_redirects_and_cap_answers(servers):
    idp = servers(token_answer)
    target = servers()
    node = servers(redirect_to(f"{target.url}/cellfed-sync-state/_doc/x", 307))
    credentials = ClientCredentials("portal", "s", token_endpoint=idp.url, max_bytes=MIB)
    with pytest.raises(http.RedirectRefused):
        credentials.request("PUT", f"{node.url}/api/v1/access/parts/p", json={"email": "a@b"})
    assert node.hits() == 1 and target.hits() == 0

    node.answer = lambda r: Response(b"x" * (2 * MIB), 201)
    with pytest.raises(http.AnswerTooLarge):
        credentials.request("PUT", f"{node.url}/api/v1/access/parts/p", json={})
    node.answer = lambda r: Response(b"x" * (2 * MIB), 200)  # an attachment, streamed
    streamed = credentials.request("GET", f"{node.url}/a", stream=True, max_bytes=3 * MIB)
    assert sum(len(c) for c in streamed.iter_content(65536)) == 2 * MIB


def test_the_safe_session_shares_a_plain_sessions_pools():
    plain = requests.Session()
    plain.headers["X-Test"] = "1"
    safe = http.safe_session(plain, timeout=3)
    assert safe.adapters is plain.adapters and safe.headers["X-Test"] == "1"
    assert safe.headers["Accept-Encoding"] == http.ACCEPT_ENCODING
    assert http.safe_session(safe) is safe


def test_concurrent_reads_share_one_session(servers):
    peer = servers(lambda r: Response(json.dumps({"ok": True}), mimetype="application/json"))
    session = http.SafeSession(timeout=5)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(session.get(peer.url).json()["ok"]))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8
