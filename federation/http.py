"""HTTP helpers every federation client shares (senders to nodes and to the portal)."""

from __future__ import annotations

import requests


def response_detail(resp: requests.Response) -> str:
    """What a refusing peer said, short: its JSON ``detail`` or ``error``, else the status."""
    try:
        body = resp.json()
        return str(body.get("detail") or body.get("error") or body)[:300]
    except (ValueError, AttributeError):
        return resp.text[:300] or resp.reason
