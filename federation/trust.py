"""Validate the alliance's access tokens: the one place that decides whether a JWT is trusted.

Used by the member nodes, the portal and the indexer alike (no web framework here). A token
is trusted when all of these hold (OIDC Core 3.1.3.7, RFC 8725, OWASP ASVS V9/V10):

* its ``alg`` is on the allow-list (RS256, ES256): never ``none``, never an HMAC that could
  be keyed with the public key;
* its signature verifies with a key from the issuer's own ``jwks_uri`` (from discovery; the
  token's ``jku``/``x5u``/``jwk`` headers are never followed), picked by ``kid``;
* ``iss`` equals the configured issuer exactly, ``aud`` contains the expected audience,
  ``exp`` is in the future and ``nbf``/``iat`` not in the future, with a small leeway.

Key rotation: an unknown ``kid`` refetches the key set once (at most once per cooldown, so
random kids cannot make us hammer the provider); the set is also refetched after its TTL.
A failed discovery is not retried within the cooldown either.

Discovery and key sets are fetched through :mod:`federation.http`: a redirect is refused,
answers are capped (``max_bytes``), and error messages hold our words, not the provider's.

Machine tokens: :func:`machine_problem` tells a client-credentials (service-account) token
from a token a person obtained through the same client; APIs that only machines call
refuse the latter (see federation/bearer.py).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from federation.http import ANSWER_MAX_BYTES, describe, json_body, safe_session

ALLOWED_ALGORITHMS = ("RS256", "ES256")
NOT_ACCESS_TOKENS = frozenset({"ID", "Refresh", "Logout"})
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MACHINE_ROLES = frozenset({"alliance-service", "member-node"})
"""Realm roles only service accounts hold (config/keycloak/alliance-realm.json): the portal's
and the indexer's ``alliance-service``, each member node's ``member-node``."""
SERVICE_ACCOUNT_PREFIX = "service-account-"  # Keycloak's user name for a client's account
USER_SESSION_CLAIMS = ("sid", "session_state")  # a person's login session (OIDC sid)


class TokenError(Exception):
    """A token is not trusted. ``reason`` is a short code; the message says what was wrong."""

    reason = "invalid_token"


class MalformedToken(TokenError):
    reason = "malformed"


class UntrustedAlgorithm(TokenError):
    reason = "algorithm"


class BadSignature(TokenError):
    reason = "signature"


class UnknownKey(TokenError):
    reason = "unknown_key"


class ExpiredToken(TokenError):
    reason = "expired"


class WrongIssuer(TokenError):
    reason = "issuer"


class WrongAudience(TokenError):
    reason = "audience"


class InvalidClaims(TokenError):
    reason = "claims"


class IssuerUnavailable(TokenError):
    """The provider's discovery document or keys cannot be fetched: not the caller's fault."""

    reason = "issuer_unavailable"


@dataclass(frozen=True)
class Principal:
    """Who a trusted token speaks for."""

    claims: Mapping[str, Any]
    roles: frozenset[str]

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def client_id(self) -> str | None:
        """The client the token was issued to (``azp``; ``client_id`` per RFC 9068)."""
        value = self.claims.get("azp") or self.claims.get("client_id")
        return str(value) if value else None

    def machine_problem(self, machine_roles: Iterable[str] = MACHINE_ROLES) -> str | None:
        """None if this is a client's own (client-credentials) token; else why not."""
        return machine_problem(self.claims, self.roles, machine_roles)


def machine_problem(
    claims: Mapping[str, Any],
    roles: Iterable[str],
    machine_roles: Iterable[str] = MACHINE_ROLES,
) -> str | None:
    """Why a token is not a client's own (client-credentials) token, or None if it is.

    A Keycloak client-credentials token is issued to the client's service account: it has
    no login session (no ``sid``), its ``preferred_username`` (when the profile scope adds
    one) is ``service-account-<client>``, a ``client_id`` claim (Keycloak's
    ``service_account`` scope) names the client itself, and the account holds one of the
    realm's machine roles. A person's token obtained through the same client (its ``azp``
    is the same) has a ``sid``, the person's user name and the person's roles. So a token
    is a machine's when nothing says "person" *and* something says "service account": the
    ``service-account-<azp>`` user name, a ``client_id`` equal to ``azp``, or a machine role.
    """
    client = claims.get("azp") or claims.get("client_id")
    if not isinstance(client, str) or not client:
        return "the token names no client (azp)"
    for claim in USER_SESSION_CLAIMS:
        if claims.get(claim):
            return f"the token belongs to a person's login session ({claim}), not to a client"
    username = claims.get("preferred_username")
    account = f"{SERVICE_ACCOUNT_PREFIX}{client}"
    if username is not None and (not isinstance(username, str) or username.lower() != account):
        return "the token was issued to a person, not to the client's service account"
    named = claims.get("client_id")
    if named is not None and named != client:
        return "the token's client_id and azp name different clients"
    if (
        username is not None
        or (named is not None and "azp" in claims)
        or set(roles) & set(machine_roles)
    ):
        return None
    return "the token is not a client-credentials token (no service-account sign)"


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at a dotted path (``roles``, ``realm_access.roles``), or None."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def string_set(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return frozenset(str(v) for v in value)
    return frozenset()


class KeyCache:
    """The issuer's signing keys, fetched from its ``jwks_uri`` and refreshed as described."""

    def __init__(
        self,
        fetch: Callable[[], Mapping[str, Any]],
        ttl: float = 600,
        cooldown: float = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.ttl = ttl
        self.cooldown = cooldown
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0

    def _refresh(self) -> KeySet:
        try:
            data = self._fetch()
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (IssuerUnavailable, requests.RequestException, ValueError, JoseError) as exc:
            if self._keys is not None:
                return self._keys  # keep serving the keys we have while the provider is down
            why = str(exc) if isinstance(exc, IssuerUnavailable) else exc.__class__.__name__
            raise IssuerUnavailable(f"cannot load the issuer's signing keys: {why}") from exc
        self._keys, self._fetched_at = keys, self._clock()
        self.fetches += 1
        return keys

    def key_set(self) -> KeySet:
        with self._lock:
            if self._keys is None or self._clock() - self._fetched_at > self.ttl:
                return self._refresh()
            return self._keys

    def key_for(self, kid: str | None, alg: str) -> Any:
        """The verification key for a token header; refetches once for an unknown kid."""
        params = {"alg": alg}
        try:
            return self.key_set().get_by_kid(kid, params)  # type: ignore[arg-type]
        except (InvalidKeyIdError, ValueError):
            pass
        with self._lock:
            if self._clock() - self._fetched_at >= self.cooldown:
                self._refresh()
            keys = self._keys
        try:
            return keys.get_by_kid(kid, params)  # type: ignore[union-attr, arg-type]
        except (InvalidKeyIdError, ValueError):
            raise UnknownKey(f"no signing key {kid!r} for {alg} in the issuer's key set") from None


class TokenVerifier:
    """Verifies bearer tokens of one issuer for one (default) audience."""

    def __init__(
        self,
        issuer: str,
        audience: str | Sequence[str],
        *,
        algorithms: Sequence[str] = ALLOWED_ALGORITHMS,
        leeway: int = 30,
        jwks_ttl: float = 600,
        jwks_cooldown: float = 10,
        timeout: float = 5,
        http: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], int] | None = None,
        max_bytes: int = ANSWER_MAX_BYTES,
    ) -> None:
        """``clock`` paces key refetches; ``now`` (epoch seconds) is the time tokens are
        judged at (both are parameters so tests can step time instead of waiting).
        ``http``: a session to share; it is made safe (see :func:`federation.http.safe_session`)."""
        unsafe = set(algorithms) - set(ALLOWED_ALGORITHMS)
        if unsafe:
            raise ValueError(f"algorithms {sorted(unsafe)} are not allowed; use RS256 or ES256")
        self.issuer = issuer.rstrip("/")
        self.audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self.timeout = timeout
        self.http = safe_session(http, timeout=timeout, max_bytes=max_bytes)
        self.now = now
        self.clock = clock
        self.cooldown = jwks_cooldown
        self._metadata: dict[str, Any] | None = None
        self._metadata_failure: tuple[float, IssuerUnavailable] | None = None
        self._metadata_lock = threading.Lock()
        self.keys = KeyCache(self._fetch_jwks, jwks_ttl, jwks_cooldown, clock)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], audience: str | Sequence[str] | None = None
    ) -> TokenVerifier:
        return cls(
            config["OIDC_ISSUER"],
            audience or config["OIDC_AUDIENCE"],
            algorithms=config["OIDC_ALGORITHMS"],
            leeway=config["OIDC_LEEWAY"],
            jwks_ttl=config["OIDC_JWKS_TTL"],
            jwks_cooldown=config["OIDC_JWKS_COOLDOWN"],
            timeout=config["OIDC_TIMEOUT"],
            max_bytes=config.get("FEDERATION_MAX_BYTES") or ANSWER_MAX_BYTES,
        )

    # -- the issuer's metadata ---------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The discovery document, fetched once; after a failure, the same failure is
        reported for the cooldown, so a provider that is down is not asked per request."""
        with self._metadata_lock:
            if self._metadata is None:
                failed = self._metadata_failure
                if failed is not None and self.clock() - failed[0] < self.cooldown:
                    raise failed[1]
                try:
                    self._metadata = discover(self.issuer, self.http, self.timeout)
                except IssuerUnavailable as exc:
                    self._metadata_failure = (self.clock(), exc)
                    raise
                self._metadata_failure = None
            return self._metadata

    def _fetch_jwks(self) -> Mapping[str, Any]:
        uri = self.metadata().get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise IssuerUnavailable("the issuer's discovery document names no jwks_uri")
        return _get_json(self.http, uri, self.timeout, "the issuer's key set")

    # -- verification ------------------------------------------------------------------
    def verify(
        self,
        raw: str,
        audience: str | Sequence[str] | None = None,
        *,
        id_token: bool = False,
        logout_token: bool = False,
    ) -> dict[str, Any]:
        """The claims of a trusted token; raises a :class:`TokenError` subclass otherwise.

        ``audience``: accept the token if its ``aud`` holds any of these (default: ours).
        ``id_token``: expect an OIDC ID token (audience: the client id) instead of an access
        token; each kind is refused where the other is expected.
        ``logout_token``: expect an OIDC back-channel logout token (audience: the client id;
        the logout event, no nonce), as the provider POSTs it at logout.
        """
        if not isinstance(raw, str) or raw.count(".") != 2:
            raise MalformedToken("not a compact JWS (three base64url parts)")
        self._expect_issuer(raw)

        def resolve(obj: Any) -> Any:
            header = obj.headers()
            alg = header.get("alg")
            if alg not in self.algorithms:
                raise UntrustedAlgorithm(f"alg {alg!r} is not one of {', '.join(self.algorithms)}")
            return self.keys.key_for(header.get("kid"), alg)

        try:
            token = jwt.decode(raw, resolve, algorithms=self.algorithms)
        except TokenError:
            raise
        except UnsupportedAlgorithmError as exc:
            raise UntrustedAlgorithm(f"algorithm not allowed: {exc}") from None
        except BadSignatureError:
            raise BadSignature("the signature does not verify with the issuer's key") from None
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise MalformedToken(f"cannot decode the token: {exc}") from None
        if token.header.get("alg") not in self.algorithms:  # belt and braces
            raise UntrustedAlgorithm(f"alg {token.header.get('alg')!r} is not allowed")
        claims = token.claims
        self._check_claims(claims, audience, id_token, logout_token)
        return claims

    def _expect_issuer(self, raw: str) -> None:
        """Name a foreign token for what it is before looking for its key (it is verified in
        full afterwards; this only gives the clearer refusal)."""
        try:
            payload = raw.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, UnicodeDecodeError):
            raise MalformedToken("the token's payload is not base64url JSON") from None
        if not isinstance(claims, dict):
            raise MalformedToken("the token's payload is not a JSON object")
        if claims.get("iss") != self.issuer:
            raise WrongIssuer(f"issuer {claims.get('iss')!r} is not {self.issuer!r}")

    def _check_claims(
        self,
        claims: dict[str, Any],
        audience: str | Sequence[str] | None,
        id_token: bool,
        logout_token: bool = False,
    ) -> None:
        if claims.get("iss") != self.issuer:
            raise WrongIssuer(f"issuer {claims.get('iss')!r} is not {self.issuer!r}")
        wanted = (
            self.audiences
            if audience is None
            else ((audience,) if isinstance(audience, str) else tuple(audience))
        )
        if not string_set(claims.get("aud")) & set(wanted):
            raise WrongAudience(f"audience {claims.get('aud')!r} does not include {wanted[0]!r}")
        typ = claims.get("typ")  # Keycloak marks its token kinds; other providers may not
        if logout_token:  # OIDC Back-Channel Logout 1.0, section 2.6
            events = claims.get("events")
            if typ not in (None, "Logout"):
                raise InvalidClaims(f"a {typ} token is not a logout token")
            if not isinstance(events, Mapping) or BACKCHANNEL_LOGOUT_EVENT not in events:
                raise InvalidClaims("a logout token names the back-channel logout event")
            if "nonce" in claims:
                raise InvalidClaims("a logout token carries no nonce")
        if id_token and typ not in (None, "ID"):
            raise InvalidClaims(f"a {typ} token is not an ID token")
        if not (id_token or logout_token) and typ in NOT_ACCESS_TOKENS:
            raise InvalidClaims(f"a {typ} token is not an access token")
        registry = JWTClaimsRegistry(
            now=self.now, leeway=self.leeway, exp={"essential": True}, sub={"essential": True}
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise ExpiredToken("the token has expired") from None
        except MissingClaimError as exc:
            raise InvalidClaims(f"missing claim: {exc}") from None
        except (InvalidClaimError, JoseError) as exc:
            raise InvalidClaims(f"claim check failed: {exc}") from None

    def principal(
        self,
        raw: str,
        audience: str | Sequence[str] | None = None,
        roles_claim: str = "roles",
    ) -> Principal:
        claims = self.verify(raw, audience)
        return Principal(claims, string_set(claim_at(claims, roles_claim)))


def _get_json(http: requests.Session, url: str, timeout: float, what: str) -> Any:
    """GET a JSON document from the provider, safely; IssuerUnavailable in our words."""
    try:
        resp = http.get(url, timeout=timeout)
        if resp.status_code != 200:
            raise IssuerUnavailable(f"cannot read {what} at {url}: it answered {describe(resp)}")
        return json_body(resp)
    except requests.RequestException as exc:  # its message is ours (federation/http.py)
        raise IssuerUnavailable(f"cannot read {what} at {url}: {exc}") from exc


def discover(
    issuer: str, http: requests.Session | None = None, timeout: float = 5
) -> dict[str, Any]:
    """The issuer's discovery document; its ``issuer`` must equal ours exactly (OIDC
    Discovery 4.3), else a look-alike provider could hand out its own keys. Fetched with no
    redirects and a capped body (a plain ``http`` session is made safe)."""
    issuer = issuer.rstrip("/")
    url = f"{issuer}/.well-known/openid-configuration"
    session = safe_session(http, timeout=timeout)
    try:
        data = _get_json(session, url, timeout, "the discovery document")
    finally:
        if http is None:
            session.close()
    if not isinstance(data, dict) or data.get("issuer") != issuer:
        raise IssuerUnavailable(f"{url} names an issuer other than {issuer!r}")
    return data


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
