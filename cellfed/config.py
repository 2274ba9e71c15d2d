"""Configuration as data.

Every app and command loads its settings in one order, each step overriding the last:

1. ``DEFAULTS`` below;
2. the instance file: the TOML file named by ``CELLFED_CONFIG``, else ``instance/cellfed.toml``
   in the working directory when it exists;
3. environment variables with the prefix ``CELLFED_`` (``CELLFED_SEARCH_URL=...``); a value that
   parses as JSON is taken as JSON (numbers, booleans, lists), anything else as a string;
4. overrides given by the caller (the tests, the demo launcher).

Nothing is read at import time: call :func:`load_config`.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "CELLFED_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # Search engine: an existing cluster's URL, or None to use the one `cellfed engine start` runs.
    "SEARCH_URL": "http://127.0.0.1:9251",
    "SEARCH_ENGINE": "opensearch",  # or "elasticsearch7"
    "SEARCH_TIMEOUT": 30,
    "INDEX_PREFIX": "cellfed-",
    "INDEX_REPLICAS": 0,  # 1 or more on a multi-node cluster
    "REINDEX_GRACE": 30,  # seconds an old index lingers after a swap, for in-flight writes
    # The alliance member registry: node ids and feed URLs.
    "MEMBERS_FILE": str(PROJECT_ROOT / "config" / "members.toml"),
    # Member node.
    "NODE_ID": "node",
    "NODE_NAME": "Member node",
    "DATABASE_URL": "sqlite:///node.sqlite3",
    "FEED_PAGE_SIZE": 500,
    # Only tokens for this node, from these clients, may read the publish API (when required).
    "FEED_REQUIRE_TOKEN": False,
    "FEED_CLIENTS": ["indexer"],
    "FEED_MAX_PAGE_SIZE": 5000,
    # Node admin pages: closed unless an admin check lets people in. Until OIDC is wired
    # (federation/node/admin.py, require_admin), True opens them to anyone who can reach
    # the node: only for a node on loopback or behind an authenticating proxy.
    "NODE_ADMIN_OPEN": False,
    "IMPORT_MAX_MB": 64,  # largest upload the admin pages accept
    # Key for the pseudonyms that replace personal e-mail addresses in Directory imports;
    # set a secret of your own, and keep it, so re-imports give the same pseudonyms.
    "PSEUDONYM_KEY": "cellfed-directory-contacts",
    # Indexer.
    "SYNC_TIMEOUT": 10,
    "SYNC_PAGE_SIZE": 1000,
    "SYNC_INTERVAL": 5,
    "INDEXER_POKE_URL": None,
    # With a secret, the indexer reads feeds with its own tokens (client "indexer", scope
    # node-<id>) and accepts pokes only with the poking node's token.
    "INDEXER_CLIENT_ID": "indexer",
    "INDEXER_CLIENT_SECRET": None,  # a node pokes <url>/api/v1/poke/<node id> after each change
    # Local engine launcher (`cellfed engine ...`).
    "ENGINE_HOME": str(PROJECT_ROOT / ".engines"),
    "ENGINE_HTTP_PORT": 9251,
    "ENGINE_HEAP": "1g",
    "ENGINE_JAVA": None,  # None: find a Java 21+ runtime
    # Flask.
    "SECRET_KEY": None,  # None: a random key per process
    "PORTAL_PAGE_SIZE": 20,
    "DEMO_INDEXER_PORT": 5050,
    "EXPORT_MAX_ROWS": 10_000,  # rows one CSV or JSON export of search results may hold
    # Identity: the alliance's OIDC provider. Apps know only these (see federation/trust.py).
    "OIDC_ISSUER": "http://127.0.0.1:8180/realms/alliance",
    "OIDC_CLIENT_ID": None,  # None: "portal" for the portal, NODE_ID for a node
    "OIDC_CLIENT_SECRET": None,  # required for login and machine tokens; the demo sets its own
    "OIDC_AUDIENCE": "alliance-api",  # what central APIs accept; a node also wants its id
    "OIDC_ROLES_CLAIM": "roles",  # a dotted path such as "realm_access.roles" works too
    "OIDC_BIOBANKS_CLAIM": "biobanks",  # "<node id>:<biobank id>" values a biobank-admin has
    "OIDC_ALGORITHMS": ["RS256", "ES256"],
    "OIDC_LEEWAY": 30,  # seconds of clock skew allowed on exp/nbf/iat
    "OIDC_JWKS_TTL": 600,  # seconds a fetched key set is trusted before a refetch
    "OIDC_JWKS_COOLDOWN": 10,  # at least this many seconds between refetches for unknown kids
    "OIDC_TIMEOUT": 5,
    "PORTAL_CLIENT_ID": "portal",  # the client a node takes access-request parts from
    "NODE_TOKEN_SCOPE": "node-{node_id}",  # scope that puts a node in a token's audience
    # Local identity provider launcher (`cellfed idp ...`): Keycloak from Maven Central.
    "IDP_HTTP_PORT": 8180,
    "IDP_HEAP": "512m",
    "IDP_REALM_FILE": str(PROJECT_ROOT / "config" / "keycloak" / "alliance-realm.json"),
    "IDP_ADMIN_PASSWORD": "admin",  # the local Keycloak's bootstrap admin (loopback only)
    # Access requests: the portal's own database, attachments, broker and notifications.
    "PORTAL_URL": "http://127.0.0.1:5000",  # public base URL; https makes cookies Secure
    "PORTAL_DATABASE_URL": "sqlite:///portal.sqlite3",
    "NODE_URL": None,  # a node's public base URL; None: its entry in MEMBERS_FILE
    "ATTACHMENTS_DIR": "instance/attachments",  # outside the web root; random file names
    "ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,
    "ATTACHMENT_MAX_COUNT": 5,
    "CART_MAX_ITEMS": 50,
    "DELIVERY_INTERVAL": 2,  # seconds between outbox passes
    "DELIVERY_TIMEOUT": 10,
    "DELIVERY_MAX_BACKOFF": 300,  # seconds; retries back off exponentially up to this
    "SMTP_HOST": None,  # None: no e-mail, in-app notifications only
    "SMTP_PORT": 25,
    "SMTP_STARTTLS": False,
    "SMTP_USER": None,  # None: unauthenticated relay
    "SMTP_PASSWORD": None,
    "SMTP_FROM": "CellFed <cellfed@localhost>",
    "NODE_CONTACT_EMAIL": None,  # where a node sends news of incoming requests
}


def _parse_env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def instance_file(env: Mapping[str, str]) -> Path | None:
    """The instance TOML file to read, if any."""
    named = env.get(ENV_PREFIX + "CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"{ENV_PREFIX}CONFIG names {path}, which does not exist")
        return path
    default = Path("instance") / "cellfed.toml"
    return default if default.is_file() else None


def load_config(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Settings in the documented order: defaults, instance file, environment, overrides."""
    env = os.environ if env is None else env
    config = dict(DEFAULTS)
    path = instance_file(env)
    if path is not None:
        with path.open("rb") as fh:
            config.update({key.upper(): value for key, value in tomllib.load(fh).items()})
    for key, raw in env.items():
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG":
            config[key[len(ENV_PREFIX) :]] = _parse_env_value(raw)
    if overrides:
        config.update(overrides)
    return config
