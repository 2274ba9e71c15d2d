"""The harvesting side of the protocol: pull one node's feed, page by page, never trusting it.

Transient failures (connection errors, timeouts, 429, 5xx) are retried with exponential
backoff and full jitter, honouring Retry-After; everything else fails at once with a
message that says what the node did wrong.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests
from marshmallow import ValidationError

from federation.registry import Member
from schemas import FeedPageSchema, NodeDescriptorSchema, format_errors

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


def _retry_after(resp: requests.Response) -> float | None:
    raw = resp.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


class FeedClient:
    def __init__(
        self,
        member: Member,
        session: requests.Session,
        timeout: float = 10,
        retry: RetryPolicy | None = None,
        token: TokenSource | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.member = member
        self.session = session
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
                resp = self.session.get(
                    url, params=params, timeout=self.timeout, headers=self._headers(fresh_token)
                )
            except requests.Timeout:
                problem, wait = f"{url} did not answer within {self.timeout:g}s", None
            except requests.ConnectionError as exc:
                problem, wait = f"{url} is unreachable: {exc.__class__.__name__}", None
            else:
                if resp.status_code == 200:
                    try:
                        return resp.json()
                    except ValueError:
                        raise FeedError(
                            f"{url} answered malformed JSON: {resp.text[:120]!r}"
                        ) from None
                if resp.status_code == 410 and _json_error(resp) == "resync_required":
                    body = resp.json()
                    after = (params or {}).get("after", 0)
                    reset = isinstance(body.get("latest_seq"), int) and after > body["latest_seq"]
                    raise ResyncRequired(f"{url}: {body.get('detail', 'resync required')}", reset)
                if resp.status_code == 401 and self.token and not fresh_token:
                    fresh_token = True  # one fresh token, then give up: no loop on bad tokens
                    continue
                if resp.status_code not in (429, 502, 503, 504):
                    raise FeedError(f"{url} answered HTTP {resp.status_code}: {resp.text[:200]}")
                problem, wait = f"{url} answered HTTP {resp.status_code}", _retry_after(resp)
            if last:
                break
            self.sleep(self.retry.delay(attempt, wait))
        raise FeedError(f"{problem} (after {self.retry.attempts} attempts)")

    def descriptor(self) -> dict[str, Any]:
        data = self._get_json(self.member.descriptor_url)
        try:
            return NodeDescriptorSchema().load(data)
        except ValidationError as exc:
            problems = "; ".join(format_errors(exc.messages))
            raise FeedError(f"{self.member.descriptor_url}: {problems}") from None

    def page(self, after: int, limit: int, snapshot: bool = False) -> FeedPage:
        params: dict[str, Any] = {"after": after, "limit": limit}
        if snapshot:
            params["snapshot"] = "true"
        data = self._get_json(self.member.feed_url, params)
        try:
            page = FeedPageSchema().load(data)
        except ValidationError as exc:
            raise FeedError(
                f"{self.member.feed_url}: not a feed page: {'; '.join(format_errors(exc.messages))}"
            ) from None
        if page["node_id"] != self.member.id:
            raise FeedError(
                f"{self.member.feed_url} says it is node {page['node_id']!r}, "
                f"but the registry lists it as {self.member.id!r}"
            )
        if page["after"] != after or page["next_cursor"] < after:
            raise FeedError(f"{self.member.feed_url}: cursor went backwards or was ignored")
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


def _json_error(resp: requests.Response) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
