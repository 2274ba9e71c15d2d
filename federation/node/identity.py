"""The node's machine identity: the client credentials it sends and the verifier of the tokens
it receives (the indexer's on the feed, the portal's on the inbox API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from federation.tokens import ClientCredentials
from federation.trust import TokenVerifier

IDENTITY_KEY = "cellfed.node_identity"
"""The app extension that holds the node's NodeIdentity."""


@dataclass(frozen=True)
class NodeIdentity:
    client_id: str
    credentials: ClientCredentials | None  # None without OIDC_CLIENT_SECRET
    verifier: TokenVerifier

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NodeIdentity:
        client_id = config.get("OIDC_CLIENT_ID") or config["NODE_ID"]
        credentials = (
            ClientCredentials.from_config(config, client_id)
            if config.get("OIDC_CLIENT_SECRET")
            else None
        )
        return cls(client_id, credentials, TokenVerifier.from_config(config))


def identity_of(app: Flask) -> NodeIdentity:
    return app.extensions[IDENTITY_KEY]


def current_identity() -> NodeIdentity:
    return identity_of(current_app)
