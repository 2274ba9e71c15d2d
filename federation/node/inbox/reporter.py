"""Outbox sender of the node: report a part's events to the portal (twin of the portal's broker)."""

from __future__ import annotations

import requests

from federation.http import UnsafeAnswer, response_detail
from federation.outbox import OutboxMixin, Refused, Retry
from federation.tokens import ClientCredentials, TokenUnavailable


class PortalReporter:
    """Report one event of a part to the portal, with the node's own token."""

    def __init__(self, portal_url: str, credentials: ClientCredentials | None) -> None:
        self.url = f"{portal_url.rstrip('/')}/api/v1/access/events"
        self.credentials = credentials

    def __call__(self, message: OutboxMixin) -> None:
        if self.credentials is None:
            raise Retry("OIDC_CLIENT_SECRET is not set: cannot get a token for the portal")
        try:
            resp = self.credentials.request("POST", self.url, json=message.payload)
        except TokenUnavailable as exc:
            raise Retry(str(exc)) from exc
        except UnsafeAnswer as exc:
            raise Retry(f"the portal {exc}") from exc
        except requests.RequestException as exc:
            raise Retry(f"the portal is not reachable: {exc.__class__.__name__}") from exc
        if resp.status_code in (200, 201):
            return
        detail = response_detail(resp)
        if resp.status_code in (400, 404, 409, 422):
            raise Refused(f"the portal refused the event ({resp.status_code}): {detail}")
        raise Retry(f"the portal answered {resp.status_code}: {detail}")
