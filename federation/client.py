"""The harvesting side of the protocol: pull one node's feed, page by page, never trusting it.

Transient failures (connection errors, timeouts, 429, 5xx) are retried with exponential
backoff and full jitter, honouring Retry-After; everything else fails at once with a
message that says what the node did wrong.

Every request goes through :mod:`federation.http`: a redirect is refused (never followed),
bodies are capped (``max_bytes``, decoded), timeouts always apply. A :class:`FeedError`'s
message is stored as the node's ``last_error`` and published on the health pages, so it is
made of our words and safe facts only (status, media type, sizes, schema paths our schemas
know), never of what the node sent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
from marshmallow import Schema, ValidationError

from federation.http import (
    FEED_MAX_BYTES,
    AnswerTooSlow,
    UnsafeAnswer,
    describe,
    error_code,
    identifier,
    json_body,
    safe_session,
    schema_problems,
)
from federation.registry import Member
from schemas import FeedPageSchema, NodeDescriptorSchema

TokenSource = Callable[[bool], str]
"""Returns a bearer token for the node; called with True to force a fresh one after a 401."""


class FeedError(RuntimeError):
    """The node could not be read: down, slow, or answering something that is not a feed."""


class ResyncRequired(FeedError):
    """The node cannot serve this cursor exactly: read again from 0 and reconcile.

    ``reset`` is true when the cursor is beyond the node's latest change: its store was
    restored or rebuilt, so its sequence numbers start again below ones already seen.
    """

    def __init__(self, message: str, reset: bool = False) -> None:
        super().__init__(message)
        self.reset = reset


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass
class FeedPage:
    node_id: str
    after: int
    next_cursor: int
    latest_seq: int
    has_more: bool
    entries: list[Any]
    epoch: int | None = None  # None from nodes that do not say


def _retry_after(resp: requests.Response) -> float | None:
    raw = resp.headers.get("Retry-After", "")
    try:
        value = float(raw)
    except ValueError:
        return None
    return max(0.0, value) if value == value else None  # NaN: as if absent


class FeedClient:
    """Reads one node's descriptor and feed pages.

    ``session``: a :class:`federation.http.SafeSession` to share (a plain requests session is
    wrapped in one that shares its connection pools; None: a new one). ``max_bytes``: the
    largest decoded answer read (a feed page of 5,000 records is a few MB)."""

    def __init__(
        self,
        member: Member,
        session: requests.Session | None = None,
        timeout: float = 10,
        retry: RetryPolicy | None = None,
        token: TokenSource | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_bytes: int = FEED_MAX_BYTES,
    ) -> None:
        self.member = member
        self.session = safe_session(session, timeout=timeout, max_bytes=max_bytes)
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.token = token
        self.sleep = sleep

    def _headers(self, fresh: bool) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(fresh)}"} if self.token else {}

    def _get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        fresh_token = False
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                resp = self.session.request(
                    "GET",
                    url,
                    params=params,
                    timeout=self.timeout,
                    headers=self._headers(fresh_token),
                    max_bytes=self.max_bytes,
                )
            except AnswerTooSlow as exc:
                problem, wait = f"{url} {exc}", None
            except UnsafeAnswer as exc:  # a redirect, too large, undecodable: not transient
                raise FeedError(f"{url} {exc}") from None
            except requests.Timeout:
                problem, wait = f"{url} did not answer within {self.timeout:g}s", None
            except requests.RequestException as exc:
                problem, wait = f"{url} is unreachable: {exc.__class__.__name__}", None
            else:
                if resp.status_code == 200:
                    try:
                        return json_body(resp)
                    except UnsafeAnswer as exc:
                        raise FeedError(f"{url} {exc}") from None
                if resp.status_code == 410 and error_code(resp) == "resync_required":
                    body = json_body(resp)
                    after = (params or {}).get("after", 0)
                    latest = body.get("latest_seq")
                    reset = isinstance(latest, int) and after > latest
                    raise ResyncRequired(
                        f"{url}: the node cannot serve changes after {after}; read it again from 0",
                        reset,
                    )
                if resp.status_code == 401 and self.token and not fresh_token:
                    fresh_token = True  # one fresh token, then give up: no loop on bad tokens
                    continue
                if resp.status_code not in (429, 502, 503, 504):
                    raise FeedError(f"{url} answered {describe(resp)}")
                problem, wait = f"{url} answered HTTP {resp.status_code}", _retry_after(resp)
            if last:
                break
            self.sleep(self.retry.delay(attempt, wait))
        raise FeedError(f"{problem} (after {self.retry.attempts} attempts)")

    def _load(self, schema: Schema, data: Any, url: str, what: str) -> dict[str, Any]:
        try:
            return schema.load(data)
        except ValidationError as exc:
            problems = "; ".join(schema_problems(exc.messages, schema))
            raise FeedError(f"{url}: {what}: {problems}") from None

    def descriptor(self) -> dict[str, Any]:
        url = self.member.descriptor_url
        return self._load(NodeDescriptorSchema(), self._get_json(url), url, "not a node descriptor")

    def page(self, after: int, limit: int, snapshot: bool = False) -> FeedPage:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if snapshot:
            params["snapshot"] = "true"
        url = self.member.feed_url
        page = self._load(FeedPageSchema(), self._get_json(url, params), url, "not a feed page")
        if page["node_id"] != self.member.id:
            claimed = identifier(page["node_id"])
            named = f"node {claimed!r}" if claimed else "another node"
            raise FeedError(
                f"{url} says it is {named}, but the registry lists it as {self.member.id!r}"
            )
        if page["after"] != after or page["next_cursor"] < after:
            raise FeedError(f"{url}: cursor went backwards or was ignored")
        return FeedPage(**page)

    def pages(self, after: int, limit: int) -> Iterator[FeedPage]:
        """Pages from ``after`` to the end of the feed as it stands. Reading from 0 is a
        snapshot: the caller reconciles at the end, so purged tombstones don't matter.

        The next page is fetched while the caller works on this one (at most two pages are
        held), so the node's work overlaps the engine's.
        """
        snapshot = after == 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
            pending = pool.submit(self.page, after, limit, snapshot)
            while True:
                page = pending.result()
                done = not page.has_more or page.next_cursor == after
                if not done:
                    after = page.next_cursor
                    pending = pool.submit(self.page, after, limit, snapshot)
                yield page
                if done:
                    return
