"""Machine tokens: the OAuth 2.0 client-credentials client, in one place.

The portal uses it to deliver access-request parts to nodes, a node to report decisions back
to the portal (and the indexer, later, to read feeds). A token is fetched with authlib's
``OAuth2Session`` the first time it is needed for a scope, reused until shortly before it
expires, and dropped when a resource server refuses it (the next call fetches a new one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749 import OAuth2Error

from federation.trust import IssuerUnavailable, discover


class TokenUnavailable(RuntimeError):
    """No token could be obtained: the provider is down or refused our credentials."""


class ClientCredentials:
    """Tokens of one confidential client. Give ``token_endpoint``, or ``issuer`` to look it
    up by discovery on first use (the provider may start after the app)."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        token_endpoint: str | None = None,
        issuer: str | None = None,
        timeout: float = 10,
        leeway: float = 30,
    ) -> None:
        if not (token_endpoint or issuer):
            raise ValueError("give the token endpoint or the issuer")
        self.client_id = client_id
        self.client_secret = client_secret
        self.issuer = issuer
        self.timeout = timeout
        self.leeway = leeway
        self._endpoint = token_endpoint
        self._tokens: dict[str | None, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], client_id: str) -> ClientCredentials:
        secret = config.get("OIDC_CLIENT_SECRET")
        if not secret:
            raise TokenUnavailable(f"OIDC_CLIENT_SECRET is not set for client {client_id!r}")
        return cls(
            client_id,
            secret,
            issuer=config["OIDC_ISSUER"],
            timeout=config.get("DELIVERY_TIMEOUT", 10),
        )

    @property
    def token_endpoint(self) -> str:
        if self._endpoint is None:
            try:
                self._endpoint = discover(self.issuer or "", timeout=self.timeout)["token_endpoint"]
            except (IssuerUnavailable, KeyError) as exc:
                raise TokenUnavailable(f"cannot find the token endpoint: {exc}") from exc
        return self._endpoint

    def token(self, scope: str | None = None) -> str:
        """A valid access token for ``scope`` (None: the client's default scopes)."""
        with self._lock:
            cached = self._tokens.get(scope)
            if cached and cached["expires_at"] - self.leeway > time.time():
                return cached["access_token"]
            client = OAuth2Session(
                self.client_id,
                self.client_secret,
                scope=scope,
                token_endpoint_auth_method="client_secret_basic",
            )
            try:
                token = client.fetch_token(
                    self.token_endpoint, grant_type="client_credentials", timeout=self.timeout
                )
            except (requests.RequestException, OAuth2Error, ValueError) as exc:
                raise TokenUnavailable(f"cannot get a token for {self.client_id}: {exc}") from exc
            finally:
                client.close()
            token = dict(token)
            token.setdefault("expires_at", time.time() + float(token.get("expires_in", 60)))
            self._tokens[scope] = token
            return token["access_token"]

    def invalidate(self, scope: str | None = None) -> None:
        with self._lock:
            self._tokens.pop(scope, None)

    def request(
        self,
        method: str,
        url: str,
        *,
        scope: str | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """An HTTP request with our bearer token; after a 401, one retry with a fresh token."""
        kwargs.setdefault("timeout", self.timeout)
        for attempt in (1, 2):
            auth = {"Authorization": f"Bearer {self.token(scope)}"}
            resp = requests.request(method, url, headers={**(headers or {}), **auth}, **kwargs)
            if resp.status_code != 401 or attempt == 2:
                break
            self.invalidate(scope)
        return resp
