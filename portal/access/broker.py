"""The request broker: outbox senders that carry parts and researchers' actions to the nodes.

Each call uses the portal's client-credentials token for the target node's audience (a
token one node receives is worthless at another). What the node answers is mirrored at once;
the node's later decisions arrive through the portal's events API.
"""

from __future__ import annotations

from collections.abc import Callable

import requests
from marshmallow import ValidationError

from federation.http import UnsafeAnswer, json_body, response_detail, schema_problems
from federation.outbox import OutboxMixin, Refused, Retry
from federation.registry import Member
from federation.tokens import ClientCredentials, TokenUnavailable
from portal.access.service import AccessService, ForgedEvent, RequestNotFound
from schemas.access import EventSchema

PERMANENT = (400, 404, 409, 410, 422)


class NodeClient:
    """Calls to member nodes' access APIs, with a token minted for each node."""

    def __init__(
        self,
        credentials: ClientCredentials | None,
        members: Callable[[], list[Member]],
        scope_template: str | None = "node-{node_id}",
    ) -> None:
        self.credentials = credentials
        self.members = members
        self.scope_template = scope_template

    def call(self, method: str, node_id: str, path: str, body: dict) -> requests.Response:
        member = next((m for m in self.members() if m.id == node_id), None)
        if member is None:
            raise Refused(f"node {node_id!r} is no longer in the member registry")
        if self.credentials is None:
            raise Retry("OIDC_CLIENT_SECRET is not set: the portal cannot get tokens")
        scope = self.scope_template.format(node_id=node_id) if self.scope_template else None
        url = f"{member.url.rstrip('/')}/api/v1/access{path}"
        try:
            resp = self.credentials.request(method, url, scope=scope, json=body)
        except TokenUnavailable as exc:
            raise Retry(str(exc)) from exc
        except (
            UnsafeAnswer
        ) as exc:  # a redirect (never followed), an oversized or undecodable answer
            raise Retry(f"node {node_id} {exc}") from exc
        except requests.RequestException as exc:
            raise Retry(f"node {node_id} is not reachable: {exc.__class__.__name__}") from exc
        if resp.status_code in PERMANENT:
            raise Refused(
                f"node {node_id} refused it ({resp.status_code}): {response_detail(resp)}"
            )
        if resp.status_code not in (200, 201):
            raise Retry(f"node {node_id} answered {resp.status_code}: {response_detail(resp)}")
        return resp


def _events(resp: requests.Response, key: str) -> list[dict]:
    try:
        body = json_body(resp)
        raw = body[key] if isinstance(body[key], list) else [body[key]]
        return [EventSchema().load(e) for e in raw]
    except UnsafeAnswer as exc:
        raise Retry(f"the node {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise Retry(f"the node's answer is not readable: no '{key}' event list") from exc
    except ValidationError as exc:
        problems = "; ".join(schema_problems(exc.messages, EventSchema()))
        raise Retry(f"the node's answer is not valid: {problems}") from exc


class PartDeliverer:
    def __init__(self, nodes: NodeClient, service: AccessService) -> None:
        self.nodes = nodes
        self.service = service

    def __call__(self, message: OutboxMixin) -> None:
        part = message.payload
        resp = self.nodes.call("PUT", message.target, f"/parts/{part['id']}", part)
        try:
            self.service.apply_events(message.target, part["id"], _events(resp, "events"))
        except (RequestNotFound, ForgedEvent) as exc:
            raise Refused(str(exc)) from exc


class ActionRelayer:
    def __init__(self, nodes: NodeClient, service: AccessService) -> None:
        self.nodes = nodes
        self.service = service

    def __call__(self, message: OutboxMixin) -> None:
        part_id = message.payload["part_id"]
        resp = self.nodes.call(
            "POST", message.target, f"/parts/{part_id}/actions", message.payload["action"]
        )
        try:
            self.service.apply_events(message.target, part_id, _events(resp, "event"))
        except (RequestNotFound, ForgedEvent) as exc:
            raise Refused(str(exc)) from exc
