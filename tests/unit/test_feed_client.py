"""The feed client's failure handling, against a scripted node on a real loopback port."""

import json

import pytest
from werkzeug.wrappers import Request, Response

from cellfed.serve import serve_in_thread
from federation.client import FeedClient, FeedError, ResyncRequired, RetryPolicy
from federation.registry import Member

PAGE = {
    "node_id": "n",
    "after": 0,
    "next_cursor": 0,
    "latest_seq": 0,
    "has_more": False,
    "entries": [],
}


@pytest.fixture
def scripted():
    """A node that answers with the next scripted (status, headers, body) per request."""
    script, seen = [], []

    def app(environ, start_response):
        request = Request(environ)
        seen.append(request.headers.get("Authorization"))
        status, headers, body = script.pop(0)
        return Response(
            json.dumps(body), status=status, headers=headers, mimetype="application/json"
        )(environ, start_response)

    server = serve_in_thread(app)
    yield server.url, script, seen
    server.stop()


def client(url, **kw):
    import requests

    delays = []
    c = FeedClient(Member("n", "N", url), requests.Session(), timeout=5, sleep=delays.append, **kw)
    return c, delays


def test_busy_answers_are_retried_honouring_retry_after(scripted):
    url, script, _ = scripted
    script += [(503, {"Retry-After": "7"}, {}), (429, {"Retry-After": "2"}, {}), (200, {}, PAGE)]
    c, delays = client(url)
    assert c.page(0, 10).next_cursor == 0
    assert delays == [7.0, 2.0]


def test_retry_after_is_capped_and_attempts_are_bounded(scripted):
    url, script, _ = scripted
    script += [(503, {"Retry-After": "86400"}, {})] * 3
    c, delays = client(url, retry=RetryPolicy(attempts=3, max_retry_after=60))
    with pytest.raises(FeedError, match="HTTP 503 \\(after 3 attempts\\)"):
        c.page(0, 10)
    assert delays == [60.0, 60.0]


def test_backoff_without_retry_after_grows_with_full_jitter():
    policy = RetryPolicy(base_delay=0.5, max_delay=4)
    assert all(0 <= policy.delay(0, None) <= 0.5 for _ in range(50))
    assert all(0 <= policy.delay(5, None) <= 4 for _ in range(50))


def test_an_expired_token_is_renewed_once_and_never_in_a_loop(scripted):
    url, script, seen = scripted
    issued = iter(["new", "newer"])
    cache = {"token": "old"}

    def token(fresh: bool) -> str:  # like a client-credentials cache
        if fresh:
            cache["token"] = next(issued)
        return cache["token"]

    script += [(401, {}, {"error": "expired"}), (200, {}, PAGE)]
    c, _ = client(url, token=token)
    c.page(0, 10)
    assert seen == ["Bearer old", "Bearer new"]

    script += [(401, {}, {}), (401, {}, {})]
    with pytest.raises(FeedError, match="HTTP 401"):
        c.page(0, 10)
    assert seen[2:] == ["Bearer new", "Bearer newer"]  # one renewal, then it gives up


def test_resync_required_says_whether_the_node_was_reset(scripted):
    url, script, _ = scripted
    body = {"error": "resync_required", "detail": "...", "horizon": 0, "latest_seq": 3}
    script += [(410, {}, body)]
    c, _ = client(url)
    with pytest.raises(ResyncRequired) as caught:
        c.page(9, 10)
    assert caught.value.reset is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**PAGE, "node_id": "impostor"}, "says it is node 'impostor'"),
        ({**PAGE, "after": 4}, "cursor went backwards or was ignored"),
        ({"entries": "x"}, "not a feed page"),
    ],
)
def test_pages_that_are_not_what_was_asked_for_are_refused(scripted, body, message):
    url, script, _ = scripted
    script.append((200, {}, body))
    with pytest.raises(FeedError, match=message):
        client(url)[0].page(0, 10)
