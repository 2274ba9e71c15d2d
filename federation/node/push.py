"""Push mode at the node: send the change feed to the indexer, so nobody connects to us.

The worker's ``push`` job (cellfed/worker.py) runs :meth:`Pusher.push_pass` every
``PUSH_INTERVAL`` seconds. A pass asks the indexer where it stands (its durable cursor and
the store epoch it belongs to), then sends the feed pages after that cursor, exactly as the
publish API would serve them, each with the node's client-credentials token. The node keeps
no cursor of its own on disk: it moves its record of the pushed cursor only on the
indexer's answer, and asks again after any failure, so a lost answer costs a resend that
external versions make harmless. A "gap" or "resync required" answer says where to resend
from; a cursor the store cannot serve exactly (its deletions purged, or a restored store's
new epoch) makes the node send everything again from 0, marked as a snapshot, and the
indexer reconciles at its end.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from federation import http
from federation.node.feed_body import feed_page_body
from federation.node.privacy import FactsPolicy, policy_of
from federation.node.store import CatalogueStore
from federation.tokens import TokenUnavailable

log = logging.getLogger(__name__)

Headers = Callable[[bool], dict[str, str]]
"""The Authorization header of the node's own token; True asks for a fresh one (a 401)."""


class PushError(RuntimeError):
    """The indexer did not take what was sent; the message is ours (status, error code)."""


@dataclass
class PushReport:
    pages: int = 0
    entries: int = 0
    cursor: int = 0
    snapshot: bool = False


def start_from(store: CatalogueStore, cursor: int, epoch: int | None) -> tuple[int, bool]:
    """(after, snapshot): where to push from, given the indexer's cursor and epoch. From 0
    as a snapshot when the cursor cannot be served exactly."""
    mine = store.epoch()
    if cursor == 0 or (None not in (epoch, mine) and epoch != mine):
        return 0, True
    if cursor > store.latest_seq() or cursor < store.horizon():
        return 0, True  # reset or restored; or deletions after the cursor were purged
    return cursor, False


class Pusher:
    def __init__(
        self,
        store: CatalogueStore,
        node_id: str,
        indexer_url: str,
        headers: Headers,
        page_size: int = 500,
        timeout: float = 10,
        max_bytes: int = http.ANSWER_MAX_BYTES,
        policy: FactsPolicy | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or FactsPolicy()  # the facts policy: as strict as the feed's
        self.node_id = node_id
        self.url = f"{indexer_url.rstrip('/')}/api/v1/push/{node_id}"
        self.headers = headers
        self.page_size = page_size
        self.timeout = timeout
        self.max_bytes = max_bytes

    def _call(
        self, method: str, params: dict | None = None, body: bytes | None = None
    ) -> tuple[int, Any]:
        """``body``: a serialised feed page (federation/node/feed_body.py)."""
        for fresh in (False, True):
            headers = self.headers(fresh)
            if body is not None:
                headers = {**headers, "Content-Type": "application/json"}
            try:
                resp = http.request(
                    method,
                    self.url,
                    params=params,
                    data=body,
                    headers=headers,
                    timeout=self.timeout,
                    max_bytes=self.max_bytes,
                )
            except TokenUnavailable as exc:  # its message is ours
                raise PushError(f"no token to push with: {exc}") from None
            except requests.RequestException as exc:
                raise PushError(f"{self.url} is unreachable: {exc.__class__.__name__}") from None
            if resp.status_code == 401 and not fresh:
                continue  # one fresh token, then give up
            if resp.status_code in (200, 409):
                try:
                    return resp.status_code, http.json_body(resp)
                except http.UnsafeAnswer as exc:
                    raise PushError(f"{self.url} {exc}") from None
            raise PushError(f"{self.url} answered {http.describe(resp)}")
        raise PushError(f"{self.url} refused the node's token")

    def where(self) -> tuple[int, int | None]:
        """The indexer's durable cursor for this node, and the epoch it belongs to."""
        _, body = self._call("GET")
        cursor, epoch = body.get("cursor"), body.get("epoch")
        if type(cursor) is not int or cursor < 0:
            raise PushError(f"{self.url} answered no cursor")
        return cursor, epoch if type(epoch) is int else None

    def push_pass(self, max_pages: int = 10_000) -> PushReport:
        """Push until the indexer has every change there is now."""
        after, snapshot = start_from(self.store, *self.where())
        report = PushReport(cursor=after, snapshot=snapshot)
        refusals = 0
        for _ in range(max_pages):
            page = feed_page_body(self.store, self.node_id, after, self.page_size, self.policy)
            if not page.entries and not snapshot:
                return report  # the indexer has everything
            params = {"snapshot": "true"} if snapshot else None
            status, body = self._call("POST", params, page.body)
            if status == 409:
                refusals += 1
                expected = body.get("expected_after")
                if type(expected) is not int or refusals > 3:
                    raise PushError(f"{self.url} keeps refusing the pages ({body.get('error')})")
                after, snapshot = start_from(self.store, expected, None)
                continue
            cursor = body.get("cursor")
            if type(cursor) is not int:
                raise PushError(f"{self.url} answered no cursor")
            report.pages += 1
            report.entries += page.entries
            report.cursor = after = cursor  # moved only on the indexer's word
            refusals = 0
            if not page.has_more or page.next_cursor == page.after:
                return report  # the end of the feed as it stands (latest_seq may be purged)
        return report


def run_pusher(pusher: Pusher, stop: threading.Event, interval: float, max_backoff: float):
    """Push every ``interval`` seconds until ``stop``; failures back off, with jitter."""
    failures = 0
    while not stop.is_set():
        try:
            pusher.push_pass()
            failures = 0
        except PushError as exc:
            failures += 1
            log.warning("push to the indexer failed (%s); trying again", exc)
        except Exception:  # a bug must not end the job for good
            failures += 1
            log.exception("push pass crashed")
        wait = interval
        if failures:
            backoff = min(max_backoff, interval * 2**failures)
            wait = random.uniform(backoff / 2, backoff)
        stop.wait(wait)


def pusher_for(app: Any) -> Pusher | None:
    """The node app's pusher, or None in pull mode. Its token is the node's own (default
    scope: the alliance API's audience, as for pokes), which the indexer checks."""
    from federation.node.identity import identity_of
    from federation.node.store import store_of

    config = app.config
    if config["NODE_MODE"] != "push":
        return None
    url = config.get("PUSH_INDEXER_URL") or config.get("INDEXER_POKE_URL")
    if not url:
        raise PushError("push mode needs PUSH_INDEXER_URL (or INDEXER_POKE_URL)")
    credentials = identity_of(app).credentials
    if credentials is None:
        raise PushError("push mode needs the node's OIDC_CLIENT_SECRET: pushes carry its token")

    def headers(fresh: bool) -> dict[str, str]:
        if fresh:
            credentials.invalidate()
        return {"Authorization": f"Bearer {credentials.token()}"}

    return Pusher(
        store_of(app),
        config["NODE_ID"],
        url,
        headers,
        page_size=int(config["PUSH_PAGE_SIZE"]),
        timeout=float(config["SYNC_TIMEOUT"]),
        max_bytes=int(config.get("FEDERATION_MAX_BYTES") or http.ANSWER_MAX_BYTES),
        policy=policy_of(app),
    )
