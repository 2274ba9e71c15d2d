"""Registering a new member node: its machine client at the identity provider and its entry
in the member registry, in that order (`cellfed alliance add-member`, run by an alliance
operator).

At the identity provider (Keycloak's admin REST API, as an administrator of the realm), in
the shape the realm file gives the demo nodes (config/keycloak/alliance-realm.json):

1. the client scope ``node-<id>`` (``NODE_TOKEN_SCOPE``), whose audience mapper puts the
   node in a token's audience: a token minted with it is for that node only;
2. the node's confidential client ``<id>``: the code flow with PKCE for people logging in
   at the node (redirects to ``<url>/auth/callback`` only), and a service account holding
   the realm role ``member-node`` for the node's own calls (pokes, reports to the portal),
   and the back-channel logout to ``<url>/api/v1/auth/backchannel-logout``;
3. the scope granted, as an optional scope, to the central clients (``indexer``,
   ``portal``): the indexer reads the node's feed and the portal delivers request parts to
   it with tokens minted for that scope;
4. a client secret, which the operator gets once (or has written into the node's instance
   file, cellfed/instance.py).

Then the member is appended to the registry file, validated by federation/registry.py as a
whole before it replaces the old file atomically. The indexer and the portal read the
registry when they start: restart them to take the new member in.

A member the registry already lists is refused, and nothing is changed. Everything at the
identity provider is made only if missing, so a registration that stopped half-way (the
provider went away, the registry file could not be written) can simply be run again; it
refuses a client of that id that is not a member node's (``portal``, ``admin-cli``, ...).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from cellfed.config import is_loopback
from cellfed.instance import toml_value
from federation.registry import Member, RegistryError, load_members, parse_members

NODE_ROLE = "member-node"  # the realm role of every member node's service account
NODE_CLIENT_NAME = "Member node {node_id}"
REGISTRY_HEADER = (
    "# The alliance member registry: one [[member]] per node, with the URL of its publish API.\n"
    "# `cellfed alliance add-member` appends to it.\n"
)


class RegistrationError(RuntimeError):
    """The member cannot be registered as asked; the message says why and what was done."""


class MemberExists(RegistrationError):
    """The registry already lists the member: nothing was changed."""


class AdminError(RegistrationError):
    """The identity provider's admin API refused or failed a call."""


# -- what is made at the identity provider ----------------------------------------------
def _mapper(name: str, kind: str, **config: str) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": "openid-connect",
        "protocolMapper": kind,
        "consentRequired": False,
        "config": config,
    }


def _user_claims(**config: str) -> dict[str, str]:
    return {
        **config,
        "multivalued": "true",
        "jsonType.label": "String",
        "access.token.claim": "true",
        "id.token.claim": "true",
        "userinfo.token.claim": "true",
        "introspection.token.claim": "true",
    }


def _audience(audience: str) -> dict[str, str]:
    return {
        "included.custom.audience": audience,
        "access.token.claim": "true",
        "id.token.claim": "false",
        "introspection.token.claim": "true",
    }


def node_scope(node_id: str, scope: str) -> dict[str, Any]:
    """The client scope that adds the node to a token's audience."""
    return {
        "name": scope,
        "protocol": "openid-connect",
        "description": f"Access to member node {node_id}: adds it to the token's audience",
        "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "false"},
        "protocolMappers": [
            _mapper(f"audience {node_id}", "oidc-audience-mapper", **_audience(node_id))
        ],
    }


def node_client(member: Member, audience: str = "alliance-api") -> dict[str, Any]:
    """The node's confidential client (without its secret, which the provider makes)."""
    base = member.url.rstrip("/")
    return {
        "clientId": member.id,
        "name": NODE_CLIENT_NAME.format(node_id=member.id),
        "description": member.name,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": True,
        "frontchannelLogout": False,
        "rootUrl": base,
        "adminUrl": "",  # the nodes take no back-channel calls from the provider
        "baseUrl": "/",
        "redirectUris": [f"{base}/auth/callback"],
        "webOrigins": [],
        "attributes": {
            "pkce.code.challenge.method": "S256",
            "post.logout.redirect.uris": f"{base}/auth/logged-out",
            # Keycloak tells the node when a person's provider session ends (login.py)
            "backchannel.logout.url": f"{base}/api/v1/auth/backchannel-logout",
            "backchannel.logout.session.required": "true",
            "backchannel.logout.revoke.offline.tokens": "false",
        },
        "defaultClientScopes": ["basic", "profile", "email"],
        "optionalClientScopes": [],
        "protocolMappers": [
            _mapper(
                "realm roles",
                "oidc-usermodel-realm-role-mapper",
                **_user_claims(**{"claim.name": "roles"}),
            ),
            _mapper(
                "administered biobanks",
                "oidc-usermodel-attribute-mapper",
                **_user_claims(**{"user.attribute": "biobanks", "claim.name": "biobanks"}),
            ),
            _mapper(f"audience {audience}", "oidc-audience-mapper", **_audience(audience)),
        ],
    }


# -- the admin REST API ----------------------------------------------------------------
def split_issuer(issuer: str) -> tuple[str, str]:
    """``(base URL, realm)`` of a Keycloak issuer ``<base>/realms/<realm>``."""
    base, sep, realm = issuer.rstrip("/").rpartition("/realms/")
    if not sep or not base or not realm or "/" in realm:
        raise RegistrationError(f"{issuer} is not a Keycloak issuer (<base>/realms/<realm>)")
    return base, realm


class IdpAdmin:
    """Keycloak's admin REST API for the realm of ``issuer``, with an administrator's token.

    ``token(fresh)`` gives a bearer token (a fresh one after a 401). ``base`` is where the
    admin API answers when that is not the issuer's host (a deployment that keeps
    ``/admin/`` off its public proxy: ``http://127.0.0.1:8180`` on the provider's machine).
    ``verify`` is what ``requests`` verifies the provider's TLS with (a CA bundle, or the
    system's store)."""

    def __init__(
        self,
        issuer: str,
        token: Callable[[bool], str],
        verify: str | bool = True,
        timeout: float = 30,
        base: str | None = None,
    ) -> None:
        public, self.realm = split_issuer(issuer)
        self.base = (base or public).rstrip("/")
        self.api = f"{self.base}/admin/realms/{quote(self.realm)}"
        self._token = token
        self.http = requests.Session()
        self.verify = verify  # given on each call: REQUESTS_CA_BUNDLE would win over a session's
        self.timeout = timeout

    @classmethod
    def with_password(
        cls,
        issuer: str,
        username: str,
        password: str,
        admin_realm: str = "master",
        verify: str | bool = True,
        timeout: float = 30,
        base: str | None = None,
    ) -> IdpAdmin:
        """As a user of ``admin_realm`` (Keycloak's bootstrap admin in ``master``), through
        the ``admin-cli`` client's password grant."""
        root = (base or split_issuer(issuer)[0]).rstrip("/")
        url = f"{root}/realms/{quote(admin_realm)}/protocol/openid-connect/token"
        held: dict[str, str] = {}

        def token(fresh: bool) -> str:
            if fresh or "token" not in held:
                resp = requests.post(
                    url,
                    data={
                        "grant_type": "password",
                        "client_id": "admin-cli",
                        "username": username,
                        "password": password,
                    },
                    timeout=timeout,
                    verify=verify,
                    allow_redirects=False,
                )
                if resp.status_code != 200:
                    raise AdminError(
                        f"the identity provider refused the administrator {username!r} of realm "
                        f"{admin_realm!r} ({_described(resp)}): check IDP_ADMIN_PASSWORD"
                    )
                held["token"] = resp.json()["access_token"]
            return held["token"]

        return cls(issuer, token, verify, timeout, base)

    def call(self, method: str, path: str, ok: Sequence[int] = (200,), **kw: Any):
        """One admin API call; the answer, or AdminError naming the call and the status."""
        for fresh in (False, True):
            try:
                resp = self.http.request(
                    method,
                    f"{self.api}{path}",
                    headers={"Authorization": f"Bearer {self._token(fresh)}"},
                    timeout=self.timeout,
                    verify=self.verify,
                    allow_redirects=False,
                    **kw,
                )
            except requests.RequestException as exc:
                raise AdminError(
                    f"the identity provider at {self.base} cannot be reached "
                    f"({exc.__class__.__name__}) for {method} {path}"
                ) from None
            if resp.status_code != 401:
                break
        if resp.status_code not in ok:
            raise AdminError(f"the identity provider answered {method} {path} {_described(resp)}")
        return resp

    def find_client(self, client_id: str) -> dict[str, Any] | None:
        found = self.call("GET", "/clients", params={"clientId": client_id}).json()
        return next((c for c in found if c.get("clientId") == client_id), None)

    def client(self, client_id: str) -> dict[str, Any]:
        found = self.find_client(client_id)
        if found is None:
            raise AdminError(f"realm {self.realm!r} has no client {client_id!r}")
        return found

    def find_scope(self, name: str) -> dict[str, Any] | None:
        scopes = self.call("GET", "/client-scopes").json()
        return next((s for s in scopes if s.get("name") == name), None)

    def create(self, path: str, representation: dict[str, Any]) -> str:
        """POST a new object; its id, from the Location the provider answers with."""
        resp = self.call("POST", path, ok=(201,), json=representation)
        return resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    def realm_roles_of_service_account(self, client_uuid: str) -> set[str]:
        user = self.call("GET", f"/clients/{client_uuid}/service-account-user").json()
        roles = self.call("GET", f"/users/{user['id']}/role-mappings/realm").json()
        return {r["name"] for r in roles}

    def grant_realm_role(self, client_uuid: str, role: str) -> bool:
        """Give the client's service account a realm role; False if it held it already."""
        if role in self.realm_roles_of_service_account(client_uuid):
            return False
        user = self.call("GET", f"/clients/{client_uuid}/service-account-user").json()
        found = self.call("GET", f"/roles/{quote(role)}").json()
        self.call("POST", f"/users/{user['id']}/role-mappings/realm", ok=(204,), json=[found])
        return True

    def add_optional_scope(self, client_uuid: str, scope_id: str) -> bool:
        """Grant a client scope as an optional one; False if the client had it already."""
        held = self.call("GET", f"/clients/{client_uuid}/optional-client-scopes").json()
        if any(s.get("id") == scope_id for s in held):
            return False
        self.call("PUT", f"/clients/{client_uuid}/optional-client-scopes/{scope_id}", ok=(204,))
        return True

    def secret(self, client_uuid: str, new: bool) -> str:
        """The client's secret; with ``new``, a new one (the old one stops working)."""
        resp = self.call("POST" if new else "GET", f"/clients/{client_uuid}/client-secret")
        return resp.json()["value"]


def _described(resp: requests.Response) -> str:
    detail = ""
    try:
        body = resp.json()
        if isinstance(body, dict):
            detail = str(body.get("errorMessage") or body.get("error_description") or "")
    except ValueError:
        pass
    return f"{resp.status_code}{': ' + detail[:200] if detail else ''}"


# -- the registry file ------------------------------------------------------------------
def member_entry(member: Member) -> str:
    return (
        f"\n[[member]]\nid = {toml_value(member.id)}\nname = {toml_value(member.name)}\n"
        f"url = {toml_value(member.url)}\n"
    )


def append_member(path: Path, member: Member) -> list[Member]:
    """Append ``member`` to the registry file (created if missing), comments and all; the
    whole new file is validated before it atomically replaces the old. Returns the members."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else REGISTRY_HEADER
    text = text.rstrip("\n") + "\n" + member_entry(member)
    try:
        members = parse_members(tomllib.loads(text), str(path))
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: not valid TOML: {exc}") from None
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, staged = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(staged, path)
    finally:
        Path(staged).unlink(missing_ok=True)
    return members


def registry_members(path: Path) -> list[Member]:
    """The registry's members: none for a missing file or one without any [[member]] yet
    (a new alliance's); RegistryError for a file the registry's loader refuses."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        empty = "member" not in tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError:
        empty = False  # load_members says what is wrong
    return [] if empty else load_members(path)


@contextmanager
def _registry_lock(path: Path) -> Iterator[None]:
    """One registration at a time per registry file (a lock file beside it)."""
    lock = Path(path).parent / f".{Path(path).name}.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- the registration -------------------------------------------------------------------
@dataclass
class Registration:
    member: Member
    client_secret: str
    members: list[Member]  # the registry after the registration
    done: list[str] = field(default_factory=list)  # what was made or changed, in words


def _check_new(
    path: Path, member: Member, central: Sequence[str], production: bool
) -> list[Member]:
    """The registry's members; refuses a member that is listed, reserved or ill-formed."""
    members = registry_members(path)
    if any(m.id == member.id for m in members):
        raise MemberExists(f"{path} already lists member {member.id!r}: nothing was changed")
    if member.id in central:
        raise RegistrationError(f"{member.id!r} is a central client's id, not a node's")
    parse_members({"member": [{"id": member.id, "name": member.name, "url": member.url}]})
    parts = urlsplit(member.url)
    if production and parts.scheme != "https" and not is_loopback(parts.hostname):
        raise RegistrationError(
            f"{member.url} is plain http off loopback: in production the indexer and the "
            "portal refuse such a registry; give the node's https:// URL"
        )
    return members


def _ensure_scope(admin: IdpAdmin, member: Member, scope: str, done: list[str]) -> str:
    wanted = node_scope(member.id, scope)
    found = admin.find_scope(scope)
    if found is None:
        done.append(f"client scope {scope} created")
        return admin.create("/client-scopes", wanted)
    mappers = found.get("protocolMappers", [])
    audiences = {m.get("config", {}).get("included.custom.audience") for m in mappers}
    if member.id not in audiences:
        path = f"/client-scopes/{found['id']}/protocol-mappers/models"
        admin.call("POST", path, ok=(201,), json=wanted["protocolMappers"][0])
        done.append(f"client scope {scope}: audience mapper added")
    return found["id"]


def _ensure_client(
    admin: IdpAdmin, member: Member, audience: str, done: list[str]
) -> tuple[str, bool]:
    """The node client's id, and whether it was made now."""
    wanted = node_client(member, audience)
    found = admin.find_client(member.id)
    if found is None:
        done.append(f"client {member.id} created")
        return admin.create("/clients", wanted), True
    # A node client: ours by its name (an earlier run that stopped before the role), or one
    # whose service account holds the node role (a node of the realm file, made by hand).
    node_like = found.get("serviceAccountsEnabled") and (
        found.get("name") == wanted["name"]
        or NODE_ROLE in admin.realm_roles_of_service_account(found["id"])
    )
    if not node_like:
        raise RegistrationError(
            f"the identity provider has a client {member.id!r} that is not a member node's: "
            "nothing was changed; choose another node id"
        )
    update = {k: v for k, v in wanted.items() if k != "protocolMappers"}
    admin.call("PUT", f"/clients/{found['id']}", ok=(204,), json={**found, **update})
    done.append(f"client {member.id} (left by an earlier registration) brought up to date")
    return found["id"], False


def register_member(
    admin: IdpAdmin,
    members_file: Path,
    member: Member,
    *,
    scope_pattern: str = "node-{node_id}",
    audience: str = "alliance-api",
    central_clients: Sequence[str] = ("indexer", "portal"),
    production: bool = False,
) -> Registration:
    """Register ``member``: at the identity provider, then in the registry (module doc)."""
    members_file = Path(members_file)
    _check_new(members_file, member, central_clients, production)
    members_file.parent.mkdir(parents=True, exist_ok=True)
    with _registry_lock(members_file):
        _check_new(members_file, member, central_clients, production)  # under the lock
        done: list[str] = []
        scope = scope_pattern.format(node_id=member.id)
        scope_id = _ensure_scope(admin, member, scope, done)
        client_uuid, created = _ensure_client(admin, member, audience, done)
        if admin.grant_realm_role(client_uuid, NODE_ROLE):
            done.append(f"service account of {member.id} given the realm role {NODE_ROLE}")
        for central in central_clients:
            if admin.add_optional_scope(admin.client(central)["id"], scope_id):
                done.append(f"client {central} may ask for scope {scope}")
        secret = admin.secret(client_uuid, new=not created)
        if not created:
            done.append(f"client {member.id} given a new secret")
        members = append_member(members_file, member)
        done.append(f"{members_file}: member {member.id} added ({len(members)} members)")
    return Registration(member, secret, members, done)
