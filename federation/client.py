"""The harvesting side of the protocol: pull one node's feed, page by page, never trusting it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from marshmallow import ValidationError

from federation.registry import Member
from schemas import FeedPageSchema, NodeDescriptorSchema, format_errors


class FeedError(RuntimeError):
    """The node could not be read: down, slow, or answering something that is not a feed."""


@dataclass
class FeedPage:
    node_id: str
    after: int
    next_cursor: int
    latest_seq: int
    has_more: bool
    entries: list[Any]


class FeedClient:
    def __init__(self, member: Member, session: requests.Session, timeout: float = 10) -> None:
        self.member = member
        self.session = session
        self.timeout = timeout

    def _get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        try:
            resp = self.session.get(url, params=params, timeout=self.timeout)
        except requests.Timeout:
            raise FeedError(f"{url} did not answer within {self.timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise FeedError(f"{url} is unreachable: {exc.__class__.__name__}") from None
        if resp.status_code != 200:
            raise FeedError(f"{url} answered HTTP {resp.status_code}: {resp.text[:200]}")
        try:
            return resp.json()
        except ValueError:
            raise FeedError(f"{url} answered malformed JSON: {resp.text[:120]!r}") from None

    def descriptor(self) -> dict[str, Any]:
        data = self._get_json(self.member.descriptor_url)
        try:
            return NodeDescriptorSchema().load(data)
        except ValidationError as exc:
            problems = "; ".join(format_errors(exc.messages))
            raise FeedError(f"{self.member.descriptor_url}: {problems}") from None

    def page(self, after: int, limit: int) -> FeedPage:
        data = self._get_json(self.member.feed_url, {"after": after, "limit": limit})
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
        """Pages from ``after`` to the end of the feed as it stands."""
        while True:
            page = self.page(after, limit)
            yield page
            if not page.has_more or page.next_cursor == after:
                return
            after = page.next_cursor
