"""Machine tokens: the OAuth 2.0 client-credentials client, in one place.

The portal uses it to deliver access-request parts to nodes, a node to report decisions back
to the portal (and the indexer, later, to read feeds). A token is fetched with authlib's
``OAuth2Session`` the first time it is needed for a scope, reused until shortly before it
expires, and dropped when a resource server refuses it (the next call fetches a new one).

Both the token request and :meth:`ClientCredentials.request` go through
:mod:`federation.http`: no redirect is followed (a 307 from a token endpoint or a node would
otherwise re-send our credentials or a researcher's request elsewhere), bodies are capped,
timeouts always apply, and :class:`TokenUnavailable` says what went wrong in our words.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from federation.http import (
    ANSWER_MAX_BYTES,
    FEED_MAX_BYTES,
    SafeSession,
    SafeSessionMixin,
    UnsafeAnswer,
    describe,
    identifier,
)
from federation.trust import IssuerUnavailable, discover


class TokenUnavailable(RuntimeError):
    """No token could be obtained: the provider is down or refused our credentials."""


class TokenSession(SafeSessionMixin, OAuth2Session):
    """authlib's ``OAuth2Session`` (a ``requests.Session``) made safe: the token endpoint's
    redirects are refused, its answer is capped, a timeout always applies."""

    def __init__(
        self,
        *args: Any,
        timeout: float = 10,
        max_bytes: int = ANSWER_MAX_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._make_safe(timeout, max_bytes, None)  # after: OAuth2Session resets the session


def _why(exc: BaseException) -> str:
    """What went wrong with a token request, in our words only."""
    if isinstance(exc, AuthlibBaseError):  # the provider's OAuth error answer
        code = identifier(getattr(exc, "error", None))
        return f"the provider refused ({code})" if code else "the provider refused"
    if isinstance(exc, UnsafeAnswer):
        return f"the token endpoint {exc}"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"the token endpoint answered {describe(exc.response)}"
    if isinstance(exc, requests.Timeout):
        return "the token endpoint did not answer in time"
    if isinstance(exc, requests.RequestException):
        return f"the token endpoint is unreachable ({exc.__class__.__name__})"
    return "the token endpoint's answer is not a token"


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
        max_bytes: int = ANSWER_MAX_BYTES,
        stream_max_bytes: int = FEED_MAX_BYTES,
    ) -> None:
        """``max_bytes``: the largest answer read, of the token endpoint and of calls made
        with :meth:`request` (unless a call gives its own); ``stream_max_bytes``: the same
        for calls with ``stream=True`` (an attachment)."""
        if not (token_endpoint or issuer):
            raise ValueError("give the token endpoint or the issuer")
        self.client_id = client_id
        self.client_secret = client_secret
        self.issuer = issuer
        self.timeout = timeout
        self.leeway = leeway
        self.max_bytes = max_bytes
        self.stream_max_bytes = stream_max_bytes
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
            max_bytes=config.get("FEDERATION_MAX_BYTES") or ANSWER_MAX_BYTES,
            stream_max_bytes=config.get("ATTACHMENT_MAX_BYTES") or FEED_MAX_BYTES,
        )

    @property
    def token_endpoint(self) -> str:
        if self._endpoint is None:
            try:
                endpoint = discover(self.issuer or "", timeout=self.timeout).get("token_endpoint")
            except IssuerUnavailable as exc:  # its message is ours
                raise TokenUnavailable(f"cannot find the token endpoint: {exc}") from exc
            if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
                raise TokenUnavailable("the issuer's discovery document names no token endpoint")
            self._endpoint = endpoint
        return self._endpoint

    def token(self, scope: str | None = None) -> str:
        """A valid access token for ``scope`` (None: the client's default scopes)."""
        with self._lock:
            cached = self._tokens.get(scope)
            if cached and cached["expires_at"] - self.leeway > time.time():
                return cached["access_token"]
            client = TokenSession(
                self.client_id,
                self.client_secret,
                scope=scope,
                token_endpoint_auth_method="client_secret_basic",
                timeout=self.timeout,
                max_bytes=self.max_bytes,
            )
            try:
                token = dict(
                    client.fetch_token(
                        self.token_endpoint, grant_type="client_credentials", timeout=self.timeout
                    )
                )
                if not isinstance(token.get("access_token"), str):
                    raise ValueError("no access_token")
                token["expires_at"] = float(
                    token.get("expires_at") or time.time() + float(token.get("expires_in", 60))
                )
            except (requests.RequestException, AuthlibBaseError, ValueError, TypeError) as exc:
                raise TokenUnavailable(
                    f"cannot get a token for {self.client_id}: {_why(exc)}"
                ) from exc
            finally:
                client.close()
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
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """An HTTP request with our bearer token; after a 401, one retry with a fresh token.

        Safe (see :mod:`federation.http`): a 3xx raises ``RedirectRefused``, the body is
        read under ``max_bytes`` (default: this client's), or with ``stream=True`` left
        unread, with ``iter_content()`` capped. Those errors are ``requests.RequestException``s
        whose messages are ours, as are :func:`federation.http.response_detail`'s."""
        kwargs.setdefault("timeout", self.timeout)
        cap = max_bytes or (self.stream_max_bytes if kwargs.get("stream") else self.max_bytes)
        for attempt in (1, 2):
            auth = {"Authorization": f"Bearer {self.token(scope)}"}
            session = SafeSession(self.timeout, cap)
            try:
                resp = session.request(
                    method, url, headers={**(headers or {}), **auth}, max_bytes=cap, **kwargs
                )
            finally:
                session.close()  # a streamed answer keeps its own connection
            if resp.status_code != 401 or attempt == 2:
                break
            resp.close()
            self.invalidate(scope)
        return resp
