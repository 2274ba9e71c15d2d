"""Push mode at the node, the access half: fetch what the portal has for us, so nobody
connects to us (the catalogue half is push.py).

The worker's ``mailbox`` job (cellfed/worker.py) long-polls the portal's mailbox
(``GET /api/v1/nodes/<node>/mailbox?after=&wait=``, portal/access/mailbox_api.py) with the
node's client-credentials token, applies each message through the code the node's access
API uses (inbox/portal_messages.py), and acknowledges it (``POST .../mailbox/ack``) only
after its transaction committed, with the events it made, or why it refuses it for good.
An ack that gets lost makes the portal hand the message out again; applying it again
changes nothing (a part by its content hash, an action by its event id, a list replaced).
Every poll asks from ``after=0``: the portal hands out open (unacknowledged) messages only,
and this client acknowledges all it got before it polls again, so nothing is fetched twice
on the happy path, while a cursor could skip a message whose id was taken before, but
committed after, a later one's (PostgreSQL sequences do not follow commit order).
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
from federation.tokens import TokenUnavailable

log = logging.getLogger(__name__)

Headers = Callable[[bool], dict[str, str]]  # the node's token header; True: a fresh one
Apply = Callable[[str, str, Any], Any]  # (kind, part_id, body) -> portal_messages.Outcome


class MailboxError(RuntimeError):
    """The portal could not be reached or did not answer as it should; the message says how."""


@dataclass
class PollReport:
    received: int = 0
    applied: int = 0
    refused: int = 0
    cursor: int = 0


def ack_of(message: dict[str, Any], outcome: Any) -> dict[str, Any]:
    """The acknowledgement of one applied (or refused) message, as the portal reads it."""
    if outcome.applied:
        return {"id": message["id"], "events": outcome.events}
    detail = outcome.body.get("detail") or outcome.body.get("error") or "refused"
    return {"id": message["id"], "refused": f"{outcome.status}: {detail}"}


def backoff_seconds(failures: int, interval: float, max_backoff: float) -> float:
    """How long to wait after ``failures`` failed polls in a row: doubling, capped, jittered
    (several nodes that lost the portal together do not come back in step)."""
    if failures <= 0:
        return interval
    ceiling = min(max_backoff, max(interval, 1.0) * 2**failures)
    return random.uniform(ceiling / 2, ceiling)


class MailboxClient:
    def __init__(
        self,
        portal_url: str,
        node_id: str,
        headers: Headers,
        apply: Apply,
        wait: float = 20,
        timeout: float = 10,
        max_bytes: int = http.ANSWER_MAX_BYTES,
    ) -> None:
        self.url = f"{portal_url.rstrip('/')}/api/v1/nodes/{node_id}/mailbox"
        self.headers = headers
        self.apply = apply
        self.wait = wait
        self.timeout = timeout
        self.max_bytes = max_bytes

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        # the read timeout covers the poll's wait: the answer's headers come when it ends
        timeout = (self.timeout, self.timeout + self.wait)
        for fresh in (False, True):
            try:
                resp = http.request(
                    method,
                    url,
                    headers=self.headers(fresh),
                    timeout=timeout,
                    max_bytes=self.max_bytes,
                    **kwargs,
                )
            except TokenUnavailable as exc:
                raise MailboxError(f"no token for the portal: {exc}") from None
            except requests.RequestException as exc:
                raise MailboxError(f"{url} is unreachable: {exc.__class__.__name__}") from None
            if resp.status_code == 401 and not fresh:
                continue  # one fresh token, then give up
            if resp.status_code != 200:
                raise MailboxError(f"{url} answered {http.describe(resp)}")
            try:
                return http.json_body(resp)
            except http.UnsafeAnswer as exc:
                raise MailboxError(f"{url} {exc}") from None
        raise MailboxError(f"{url} refused the node's token")

    def poll_once(self) -> PollReport:
        """One long poll: apply what came, acknowledge it. Raises MailboxError."""
        params = {"after": "0", "wait": str(self.wait)}  # see the module's docstring
        try:
            body = self._call("GET", self.url, params=params)
            messages = body["messages"]
            if not isinstance(messages, list):
                raise TypeError("messages")
        except (KeyError, TypeError):
            raise MailboxError(f"{self.url} answered no message list") from None
        report = PollReport(received=len(messages))
        if not messages:
            return report
        acks = []
        for message in messages:  # in the portal's order: a part before its actions
            outcome = self.apply(message["kind"], message["part_id"], message["body"])
            acks.append(ack_of(message, outcome))
            report.applied += 1 if outcome.applied else 0
            report.refused += 0 if outcome.applied else 1
        # Lost, the portal hands them out again, and applying them again changes nothing.
        self._call("POST", f"{self.url}/ack", json={"acks": acks})
        report.cursor = max(m["id"] for m in messages)
        return report


def run_mailbox(client: MailboxClient, stop: threading.Event, max_backoff: float) -> None:
    """Poll until ``stop``; while the portal is away, back off with jitter."""
    failures = 0
    while not stop.is_set():
        try:
            client.poll_once()
            failures = 0
        except MailboxError as exc:
            failures += 1
            log.warning("mailbox poll failed (%s); trying again", exc)
        except Exception:  # a bug must not end the job for good
            failures += 1
            log.exception("mailbox poll crashed")
        if failures:
            stop.wait(backoff_seconds(failures, 1.0, max_backoff))


def mailbox_client_for(app: Any) -> MailboxClient | None:
    """The node app's mailbox client, or None in pull mode (the portal calls the node)."""
    from federation.node.identity import identity_of
    from federation.node.inbox.portal_messages import apply_message
    from federation.node.inbox.service import inbox_of

    config = app.config
    if config["NODE_MODE"] != "push":
        return None
    credentials = identity_of(app).credentials
    if credentials is None:
        raise MailboxError("push mode needs the node's OIDC_CLIENT_SECRET: polls carry its token")
    inbox = inbox_of(app)

    def headers(fresh: bool) -> dict[str, str]:
        if fresh:
            credentials.invalidate()
        return {"Authorization": f"Bearer {credentials.token()}"}

    def apply(kind: str, part_id: str, body: Any) -> Any:
        with app.app_context():  # the inbox's hooks log through the app
            return apply_message(inbox, kind, part_id, body)

    return MailboxClient(
        config["PORTAL_URL"],
        config["NODE_ID"],
        headers,
        apply,
        wait=float(config["MAILBOX_WAIT"]),
        timeout=float(config["SYNC_TIMEOUT"]),
        max_bytes=int(config.get("FEDERATION_MAX_BYTES") or http.ANSWER_MAX_BYTES),
    )
