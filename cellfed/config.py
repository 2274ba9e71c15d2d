"""Configuration as data.

Every app and command loads its settings in one order, each step overriding the last:

1. ``DEFAULTS`` below;
2. the instance file: the TOML file named by ``CELLFED_CONFIG``, else ``instance/cellfed.toml``
   in the working directory when it exists; its keys are case-insensitive
   (``sync_timeout = 10``);
3. environment variables with the prefix ``CELLFED_`` (``CELLFED_SEARCH_URL=...``);
4. overrides given by the caller (the tests, the demo launcher, the command line's options).

Steps 2 and 3 are checked, and a problem stops the app with a :class:`ConfigError` that names
the setting, where it came from and what was wrong:

* a key that is not in ``DEFAULTS`` is refused, with the nearest setting as a suggestion
  (``CELLFED_SYNC_TIMOUT``: did you mean ``CELLFED_SYNC_TIMEOUT``?). ``CELLFED_CONFIG``,
  ``CELLFED_HOME``, ``CELLFED_CHROMIUM`` and ``CELLFED_TEST_*`` (the test session's own
  variables) are not settings and are let through;
* a value must suit its setting, which takes the type of its default unless ``_KINDS`` says
  more. A value is read from its text, from the environment or from a TOML string alike:

  - true/false settings take ``true`` or ``false`` in any case, or ``1`` or ``0``; anything
    else (``no``, ``off``, ``yes``) is refused rather than guessed;
  - whole numbers take ``7`` (``7.0`` too); durations in seconds also take ``2.5``;
  - lists take JSON (``["RS256", "ES256"]``) or comma-separated names (``RS256,ES256``);
  - URLs must be ``http://`` or ``https://`` with a host; ``SEARCH_URL`` may hold several,
    comma-separated; database URLs must look like ``dialect[+driver]://...``;
  - text is taken as it is, or unquoted when written as a JSON string, quotes and all;
  - a setting whose default is None also takes ``null`` or nothing (``CELLFED_SMTP_HOST=``)
    for None.

Overrides (step 4) come from code and are taken as given.

**Production mode.** ``CELLFED_ENV=production`` (the ``ENV`` setting; ``development`` by
default, which the demo and the tests use) makes every app check, after step 4, the settings
it uses (``PRODUCTION_CHECKS``: ``load_config(..., role="portal")`` in the portal's factory,
``"node"`` in the node's, ``"indexer"`` in the indexer's commands, ``"idp"`` for the local
Keycloak). It refuses to start, with one message that lists every problem and names each
setting and its fix, with a missing, short or placeholder ``SECRET_KEY``, a demo client secret
(``<client>-demo-secret``), the default ``PSEUDONYM_KEY``, the development ``OIDC_ISSUER``,
plain ``http://`` off loopback (the issuer, ``PORTAL_URL``, ``NODE_URL``, ``SEARCH_URL``,
``INDEXER_POKE_URL``, the member registry's URLs), ``NODE_ADMIN_OPEN`` on,
``FEED_REQUIRE_TOKEN`` off, an SMTP login without STARTTLS, or ``IDP_ADMIN_PASSWORD`` "admin".
Keycloak in production mode (``cellfed idp start --production``, implied by production) also
needs, whatever ``ENV`` says, its database, hostname and TLS files and no demo credentials
(:func:`idp_server_problems`).

Defaults that name files of the source checkout (``HOME_FILES``: the member registry, the
engines' folder, the Keycloak realm) are looked for in the CellFed home, which is

1. the folder named by ``CELLFED_HOME``, when set;
2. else the working directory, when it holds that file or folder (``config/members.toml``);
3. else the source checkout this module sits in (``PROJECT_ROOT``),

so the demo and the tests work from a checkout, and an installed CellFed works from a folder
of its own. Setting the key itself (``CELLFED_MEMBERS_FILE``) always wins.

Nothing is read at import time: call :func:`load_config`.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "CELLFED_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Environment variables with the prefix that are not settings: the instance file, the
# CellFed home, and the test session's own (tests/conftest.py, tests/browser/conftest.py).
ENV_NOT_SETTINGS = frozenset({"CONFIG", "HOME", "CHROMIUM"})
ENV_NOT_SETTINGS_PREFIX = "TEST_"

# Defaults that name a file or folder of the checkout, relative to the CellFed home.
HOME_FILES = {
    "MEMBERS_FILE": "config/members.toml",
    "ENGINE_HOME": ".engines",
    "IDP_REALM_FILE": "config/keycloak/alliance-realm.json",
    "RESPONSE_TARGETS_FILE": "config/response-targets.toml",
}

DEFAULTS: dict[str, Any] = {
    # The deployment: "development" (the demo, the tests, a laptop) or "production", where
    # every app refuses to start with a demo secret, a default key, an open switch or plain
    # http off loopback (see production_problems), serves with gunicorn, and logs JSON.
    "ENV": "development",
    # Logs: "text" leaves logging as Python sets it up; "json" writes one JSON object per
    # line (federation/web/logging.py). None: json in production, text otherwise.
    "LOG_FORMAT": None,
    "LOG_LEVEL": "INFO",  # DEBUG, INFO, WARNING or ERROR: for the JSON logs
    "WEB_WORKERS": 4,  # gunicorn worker processes of `cellfed portal|node serve` in production
    "READY_TIMEOUT": 3,  # seconds each readiness check of /readyz may take
    "LOGIN_LIFETIME": 28800,  # seconds a researcher's login lasts (server-side session)
    "LOGIN_ADMIN_LIFETIME": 3600,  # seconds an administrator's login lasts
    "LOGIN_RECHECK": 300,  # seconds between re-reads of an administrator's roles (token refresh)
    # Behind a reverse proxy: how many proxies' X-Forwarded-For/-Proto to trust (0: none, so
    # HSTS and per-IP limits see the proxy itself; set it to 1 behind one nginx).
    "PROXY_HOPS": 0,
    "BODY_MAX_BYTES": 1024 * 1024,  # request bodies everywhere but imports and attachments
    # Rate limits (Flask-Limiter syntax; "" switches one off), per signed-in user, else per IP.
    "RATE_LIMIT_ENABLED": True,
    # memory:// counts per process; give a shared store (e.g. redis://host:6379) to gunicorn.
    "RATE_LIMIT_STORAGE_URI": "memory://",
    "RATE_LIMIT_API": "300/minute",  # each public JSON API route
    "RATE_LIMIT_EXPORT": "60/minute;600/hour",  # CSV and JSON exports share one budget
    "RATE_LIMIT_LOGIN": "60/minute",  # /login and /auth/callback together
    "RATE_LIMIT_REQUESTS": "10/hour;50/day",  # access requests created, per researcher
    "RATE_LIMIT_INVITATIONS": "30/hour;100/day",  # co-applicants added, per researcher
    # Search engine: an existing cluster's URL (several, comma-separated), or the one
    # `cellfed engine start` runs.
    "SEARCH_URL": "http://127.0.0.1:9251",
    "SEARCH_ENGINE": "opensearch",  # or "elasticsearch7"
    "SEARCH_TIMEOUT": 30,
    # Seconds the portal keeps the nodes' sync states (each line's "data as of"); a new cursor
    # there also empties its cache of the biobanks holding each line (portal/line_sources.py).
    "SEARCH_STATE_TTL": 5,
    "SEARCH_SOURCES_TTL": 60,  # seconds at most the portal keeps which biobanks hold a line
    "INDEX_PREFIX": "cellfed-",
    "INDEX_REPLICAS": 0,  # 1 or more on a multi-node cluster
    "REINDEX_GRACE": 30,  # seconds an old index lingers after a swap, for in-flight writes
    # The alliance member registry: node ids and feed URLs.
    "MEMBERS_FILE": str(PROJECT_ROOT / HOME_FILES["MEMBERS_FILE"]),
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
    # Where admin-page uploads wait between dry run and confirm; None: under the system's temp
    # folder. Read by federation/node/admin.py, whose error message asks operators to set it.
    "IMPORT_STAGING_DIR": None,
    # Key for the pseudonyms that replace personal e-mail addresses in Directory imports;
    # set a secret of your own, and keep it, so re-imports give the same pseudonyms.
    "PSEUDONYM_KEY": "cellfed-directory-contacts",
    # Count privacy of collection facts (federation/node/privacy.py), applied at every exit
    # of the node: a count below FACTS_MIN_COUNT (k) is left out ("hide") or published as
    # "< k" ("show_lt"); others are rounded to a multiple of FACTS_ROUNDING (0, 5 or 10).
    "FACTS_MIN_COUNT": 10,
    "FACTS_BELOW": "show_lt",
    "FACTS_ROUNDING": 0,
    # Indexer.
    "SYNC_TIMEOUT": 10,
    "SYNC_PAGE_SIZE": 1000,
    # Largest answer (decoded bytes) read from a node's feed or descriptor; more is refused.
    "SYNC_MAX_BYTES": 64 * 1024 * 1024,
    # Largest answer to any other federation call (tokens, access APIs, pokes).
    "FEDERATION_MAX_BYTES": 1024 * 1024,
    "SYNC_INTERVAL": 5,
    "INDEXER_POKE_URL": None,
    # With a secret, the indexer reads feeds with its own tokens (client "indexer", scope
    # node-<id>) and accepts pokes only with the poking node's token.
    "INDEXER_CLIENT_ID": "indexer",
    "INDEXER_CLIENT_SECRET": None,  # a node pokes <url>/api/v1/poke/<node id> after each change
    # Push mode (federation/node/push.py): the node's worker sends its feed pages to the
    # indexer (PUSH_INDEXER_URL, default INDEXER_POKE_URL) with its own token, every
    # PUSH_INTERVAL seconds, PUSH_PAGE_SIZE changes a page, backing off up to
    # PUSH_MAX_BACKOFF seconds while the indexer is away. "pull": the indexer reads the feed.
    "NODE_MODE": "pull",
    "PUSH_INDEXER_URL": None,
    "PUSH_INTERVAL": 2,
    "PUSH_PAGE_SIZE": 500,
    "PUSH_MAX_BACKOFF": 60,
    # The portal's mailbox for push-mode nodes (portal/access/mailbox.py): a node's poll
    # waits up to MAILBOX_MAX_WAIT seconds, re-reading every MAILBOX_POLL_INTERVAL (messages
    # written by another portal process); the node's mailbox job asks for MAILBOX_WAIT.
    "MAILBOX_MAX_WAIT": 25,
    "MAILBOX_POLL_INTERVAL": 1,
    "MAILBOX_WAIT": 20,
    # Local engine launcher (`cellfed engine ...`).
    "ENGINE_HOME": str(PROJECT_ROOT / HOME_FILES["ENGINE_HOME"]),
    "ENGINE_HTTP_PORT": 9251,
    "ENGINE_HEAP": "1g",
    "ENGINE_JAVA": None,  # None: find a Java 21+ runtime
    # Flask.
    "SECRET_KEY": None,  # None: a random key per process
    "PORTAL_PAGE_SIZE": 20,
    "DEMO_INDEXER_PORT": 5050,
    "DEMO_PUSH_NODE": "cn-nsccr",  # the demo node in push mode ("" : every node pulled)
    "EXPORT_MAX_ROWS": 10_000,  # rows one CSV or JSON export of search results may hold
    # The STR search (portal/str_search.py): candidate lines one engine request fetches, and
    # the most matches one answer may list (CLASTR's own REST default is 200; 50 unless asked).
    "STR_CANDIDATES": 400,
    "STR_RESULTS_MAX": 200,
    # Identity: the alliance's OIDC provider. Apps know only these (see federation/trust.py).
    "OIDC_ISSUER": "http://127.0.0.1:8180/realms/alliance",
    "OIDC_CLIENT_ID": None,  # None: "portal" for the portal, NODE_ID for a node
    "OIDC_CLIENT_SECRET": None,  # required for login and machine tokens; the demo sets its own
    "OIDC_AUDIENCE": "alliance-api",  # what central APIs accept; a node also wants its id
    "OIDC_ROLES_CLAIM": "roles",  # a dotted path such as "realm_access.roles" works too
    # Realm roles only service accounts hold; machine APIs refuse tokens without one.
    "OIDC_MACHINE_ROLES": ["alliance-service", "member-node"],
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
    "IDP_REALM_FILE": str(PROJECT_ROOT / HOME_FILES["IDP_REALM_FILE"]),
    "IDP_ADMIN_PASSWORD": "admin",  # the local Keycloak's bootstrap admin (loopback only)
    # `cellfed idp start --production` (implied by ENV production): Keycloak on PostgreSQL,
    # serving HTTPS itself under a fixed public name; checked by idp_server_problems.
    "IDP_DATABASE_URL": None,  # postgresql://keycloak:<password>@<host>:5432/keycloak
    "IDP_HOSTNAME": None,  # the public name (idp.example.org) or URL (https://idp.example.org)
    "IDP_TLS_CERT": None,  # PEM certificate chain
    "IDP_TLS_KEY": None,  # its unencrypted PEM private key
    "IDP_TLS_CA": None,  # the CA the launcher checks Keycloak's certificate with; None: system's
    "IDP_HTTPS_PORT": 8443,  # 443 drops the port from the issuer
    "IDP_MANAGEMENT_PORT": 9000,  # /health/ready over HTTPS: keep it closed to the outside
    "IDP_BIND_HOST": "127.0.0.1",  # 0.0.0.0 to serve other machines
    # TOML, mode 0600: [clients] <client id> = "<secret>", [users] <user name> = "<password>";
    # these replace the realm file's values at the import. None: the realm file's own.
    "IDP_SECRETS_FILE": None,
    # Access requests: the portal's own database, attachments, broker and notifications.
    "PORTAL_URL": "http://127.0.0.1:5000",  # public base URL; https makes cookies Secure
    "PORTAL_DATABASE_URL": "sqlite:///portal.sqlite3",
    # Whether the node and the portal migrate their databases when they start. None: yes,
    # except in production, where `cellfed node migrate` / `cellfed portal migrate` do it
    # (after `cellfed node backup` / `cellfed portal backup`). federation/migrate.py.
    "AUTO_MIGRATE": None,
    "NODE_URL": None,  # a node's public base URL; None: its entry in MEMBERS_FILE
    # A node's certificates of analysis (PDFs named by lots' certificate_of_analysis.file);
    # None: the node serves none (certificates given as links still work).
    "COA_DIR": None,
    "ATTACHMENTS_DIR": "instance/attachments",  # outside the web root; random file names
    "ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,
    "ATTACHMENT_MAX_COUNT": 5,
    "COLLABORATORS_MAX": 10,  # co-applicants one request may have (membership.py)
    # Retention (portal/access/retention.py): a request's files are deleted, their names,
    # types, sizes and hashes kept, this many days after its last part reached a final state
    # (rejected, withdrawn, fulfilled); None keeps them for good.
    "ATTACHMENT_RETENTION_DAYS": 365,
    # ... and this many days after the broker gave up delivering a part that never reached
    # its node (failed, and no operator retry since); None: only the rule above.
    "ATTACHMENT_RETENTION_UNDELIVERED_DAYS": 30,
    "ATTACHMENT_RETENTION_INTERVAL": 3600,  # seconds between the portal worker's passes
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
    "CONSENT_OVERRIDE_ALLOWED": False,  # may a node's admins approve incompatible items
    # Lot holds (federation/node/inbox/holds.py): seconds between the node worker's passes
    # that end holds past their date, and how many days ahead a hold may end at most.
    "HOLD_EXPIRY_INTERVAL": 60,
    "HOLD_MAX_DAYS": 90,
    # Saved searches (portal/alerts/): seconds between the worker's alert passes (news shows
    # in the portal and the feeds within one pass), at most one e-mail per saved search per
    # ALERT_EMAIL_EVERY seconds (later news waits for the next), searches one account keeps.
    "ALERT_INTERVAL": 60,
    "ALERT_EMAIL_EVERY": 86400,
    "SAVED_SEARCH_MAX": 50,
    # Unmet demand (portal/alerts/demand.py): searches finding at most DEMAND_FEW lines are
    # counted per ISO week, never who made them; a row shows once it counts DEMAND_MIN_COUNT
    # searches (k, at least 2). Web processes write their counts every DEMAND_FLUSH_INTERVAL
    # seconds; the alert job deletes weeks older than DEMAND_KEEP_WEEKS.
    "DEMAND_FEW": 3,
    "DEMAND_MIN_COUNT": 5,
    "DEMAND_FLUSH_INTERVAL": 30,
    "DEMAND_KEEP_WEEKS": 104,
    # Beacon v2 at the portal (portal/beacon/, under /api/beacon): who it says it is, and how
    # much each caller sees: "boolean" (exists), "count" or "record". Anonymous callers never
    # get records, whatever is set; signed-in users with one of BEACON_MEMBER_ROLES (any
    # signed-in user when empty) get up to BEACON_GRANULARITY_MEMBERS.
    "BEACON_ID": "cellfed.beacon",  # a reversed domain of your own, e.g. org.example.beacon
    "BEACON_NAME": "CellFed Beacon",
    "BEACON_ORGANIZATION": "CellFed alliance",
    "BEACON_GRANULARITY_ANONYMOUS": "count",  # also the default granularity of an answer
    "BEACON_GRANULARITY_MEMBERS": "record",
    "BEACON_MEMBER_ROLES": ["researcher", "biobank-admin", "alliance-admin"],
    "BEACON_MAX_LIMIT": 100,  # records in one answer at most (a page)
    "BEACON_UNFILTERED_RECORD_MAX": 1000,  # a record query without filters over more: refused
    # Requests that never stall (schemas/clocks.py): each biobank's response targets and the
    # escalation ladder, as data read by nodes and portal alike; seconds between the workers'
    # passes; who the alliance's operators are by e-mail (the portal tells them); the node's
    # admins' mailbox for reminders (None: NODE_CONTACT_EMAIL); the bearer token a Prometheus
    # scraper shows for the request figures (None: only a signed-in alliance operator).
    "RESPONSE_TARGETS_FILE": str(PROJECT_ROOT / HOME_FILES["RESPONSE_TARGETS_FILE"]),
    "ESCALATION_INTERVAL": 3600,
    "ALLIANCE_OPERATOR_EMAILS": [],
    "NODE_ADMINS_EMAIL": None,
    "FIGURES_METRICS_TOKEN": None,
}


class ConfigError(ValueError):
    """A setting that is unknown or has a value it cannot take; the message says which."""


class _Invalid(ValueError):
    """A value a kind refuses; the argument says what the kind expects."""


Kind = Callable[[Any], Any]


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0"):
        return False
    raise _Invalid("true or false (or 1 or 0)")


def _number(value: Any) -> int | float:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                raise _Invalid("a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid("a number")
    return value


def _whole(value: Any) -> int:
    try:
        number = _number(value)
    except _Invalid:
        raise _Invalid("a whole number") from None
    if isinstance(number, float) and not number.is_integer():
        raise _Invalid("a whole number")
    return int(number)


def _days(value: Any) -> int:
    try:
        days = _whole(value)
    except _Invalid:
        days = -1
    if days < 0:
        raise _Invalid("a whole number of days, 0 or more (or nothing: keep for good)")
    return days


def _seconds(value: Any) -> int | float:
    try:
        return _number(value)
    except _Invalid:
        raise _Invalid("a number of seconds") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("text")
    return value


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            try:
                value = json.loads(value)
            except ValueError:
                raise _Invalid("a JSON list of names, or names separated by commas") from None
        else:
            value = [name.strip() for name in value.split(",") if name.strip()]
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise _Invalid("a list of names, or names separated by commas")
    return value


def _is_http_url(text: str) -> bool:
    parts = urlsplit(text.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _url(value: Any) -> str:
    if not isinstance(value, str) or not _is_http_url(value):
        raise _Invalid("an http:// or https:// URL with a host")
    return value


def _urls(value: Any) -> str:
    urls = [u for u in value.split(",") if u.strip()] if isinstance(value, str) else []
    if not urls or not all(_is_http_url(u) for u in urls):
        raise _Invalid("an http:// or https:// URL, or several separated by commas")
    return value


def _database_url(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"[A-Za-z][\w+.-]*://", value):
        raise _Invalid("a database URL such as sqlite:///node.sqlite3")
    return value


def _one_of(*choices: str) -> Kind:
    def kind(value: Any) -> str:
        if value not in choices:
            raise _Invalid("one of " + ", ".join(choices))
        return value

    return kind


def _optional(kind: Kind) -> Kind:
    def optional(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip() in ("", "null")):
            return None
        return kind(value)

    return optional


_SECONDS = (
    "SEARCH_TIMEOUT",
    "SEARCH_STATE_TTL",
    "SEARCH_SOURCES_TTL",
    "REINDEX_GRACE",
    "SYNC_TIMEOUT",
    "SYNC_INTERVAL",
    "OIDC_LEEWAY",
    "OIDC_JWKS_TTL",
    "OIDC_JWKS_COOLDOWN",
    "OIDC_TIMEOUT",
    "DELIVERY_INTERVAL",
    "DELIVERY_TIMEOUT",
    "DELIVERY_MAX_BACKOFF",
    "PUSH_INTERVAL",
    "PUSH_MAX_BACKOFF",
    "MAILBOX_MAX_WAIT",
    "MAILBOX_POLL_INTERVAL",
    "MAILBOX_WAIT",
    "READY_TIMEOUT",
    "ATTACHMENT_RETENTION_INTERVAL",
    "ESCALATION_INTERVAL",
    "HOLD_EXPIRY_INTERVAL",
    "LOGIN_LIFETIME",
    "LOGIN_ADMIN_LIFETIME",
    "LOGIN_RECHECK",
)

# Settings whose default's type does not say it all: URLs, durations, and those that
# default to None. Every other setting takes the type of its default (see _kind).
_KINDS: dict[str, Kind] = {
    "ENV": _one_of("development", "production"),
    "LOG_FORMAT": _optional(_one_of("text", "json")),
    "LOG_LEVEL": _one_of("DEBUG", "INFO", "WARNING", "ERROR"),
    "SEARCH_URL": _urls,
    "SEARCH_ENGINE": _one_of("opensearch", "elasticsearch7"),
    "DATABASE_URL": _database_url,
    "AUTO_MIGRATE": _optional(_boolean),
    "PORTAL_DATABASE_URL": _database_url,
    "IDP_DATABASE_URL": _optional(_database_url),
    "OIDC_ISSUER": _url,
    "PORTAL_URL": _url,
    "INDEXER_POKE_URL": _optional(_url),
    "PUSH_INDEXER_URL": _optional(_url),
    "NODE_MODE": _one_of("pull", "push"),
    "NODE_URL": _optional(_url),
    "BEACON_GRANULARITY_ANONYMOUS": _one_of("boolean", "count"),
    "BEACON_GRANULARITY_MEMBERS": _one_of("boolean", "count", "record"),
    "ATTACHMENT_RETENTION_DAYS": _optional(_days),
    "ATTACHMENT_RETENTION_UNDELIVERED_DAYS": _optional(_days),
    **{key: _seconds for key in _SECONDS},
}


def _kind(key: str) -> Kind:
    if key in _KINDS:
        return _KINDS[key]
    default = DEFAULTS[key]
    if default is None:
        return _optional(_text)
    if isinstance(default, bool):
        return _boolean
    if isinstance(default, int):
        return _whole
    if isinstance(default, float):
        return _seconds
    if isinstance(default, list):
        return _names
    return _text


def _from_env(raw: str) -> str:
    """An environment value, unquoted when it is written as a JSON string."""
    if raw.startswith('"'):
        try:
            decoded = json.loads(raw)
        except ValueError:
            return raw
        if isinstance(decoded, str):
            return decoded
    return raw


def _suggestion(key: str, prefix: str) -> str:
    near = difflib.get_close_matches(key.upper(), list(DEFAULTS), n=1, cutoff=0.6)
    return f"; did you mean {prefix}{near[0]}?" if near else ""


def _checked(
    settings: Mapping[str, Any], where: str, prefix: str, problems: list[str]
) -> dict[str, Any]:
    """The known settings among these, typed; a line in problems for each bad one."""
    config: dict[str, Any] = {}
    for key, value in settings.items():
        named = f"{prefix}{key}"
        if key not in DEFAULTS:
            problems.append(f"{named} ({where}) is not a CellFed setting{_suggestion(key, prefix)}")
            continue
        try:
            config[key] = _kind(key)(value)
        except _Invalid as exc:
            problems.append(f"{named} ({where}) is {value!r}: expected {exc}")
    return config


def cellfed_home(env: Mapping[str, str]) -> Path | None:
    """The folder named by CELLFED_HOME, if set."""
    named = env.get(ENV_PREFIX + "HOME")
    if not named:
        return None
    path = Path(named).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"{ENV_PREFIX}HOME names {path}, which is not a folder")
    return path


def home_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """The HOME_FILES defaults, resolved by the rule in the module docstring."""
    home = cellfed_home(env)
    resolved = {}
    for key, relative in HOME_FILES.items():
        if home is not None:
            resolved[key] = str(home / relative)
        elif (Path.cwd() / relative).exists():
            resolved[key] = str(Path.cwd() / relative)
        else:
            resolved[key] = DEFAULTS[key]
    return resolved


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


def _env_settings(env: Mapping[str, str]) -> dict[str, str]:
    settings = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :]
        if key in ENV_NOT_SETTINGS or key.startswith(ENV_NOT_SETTINGS_PREFIX):
            continue
        settings[key] = _from_env(raw)
    return settings


def load_config(
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    """Settings in the documented order: defaults, instance file, environment, overrides.

    Raises ConfigError, naming every unknown or ill-typed setting, if the instance file or
    the environment holds any; and, with a ``role`` (``portal``, ``node``, ``indexer``,
    ``idp``) in production, naming every setting that role may not run with
    (:func:`check_production`).
    """
    env = os.environ if env is None else env
    config = dict(DEFAULTS)
    config.update(home_defaults(env))
    problems: list[str] = []
    path = instance_file(env)
    if path is not None:
        with path.open("rb") as fh:
            from_file = {key.upper(): value for key, value in tomllib.load(fh).items()}
        config.update(_checked(from_file, f"in {path}", "", problems))
    config.update(_checked(_env_settings(env), "from the environment", ENV_PREFIX, problems))
    if problems:
        raise ConfigError("\n".join(problems))
    if overrides:
        config.update(overrides)
    if role is not None:
        check_production(config, role)
    return config


# -- production mode -------------------------------------------------------------------
SECRET_MIN_BYTES = 32
DEMO_SECRET_SUFFIX = "-demo-secret"  # the demo realm's client secrets (cellfed/demo.py)
PLACEHOLDER = re.compile(r"change.?me|placeholder|insecure|your.?secret", re.IGNORECASE)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
NEW_SECRET = "python3 -c 'import secrets; print(secrets.token_hex(32))'"

Check = Callable[[Mapping[str, Any]], list[str]]


def is_production(config: Mapping[str, Any]) -> bool:
    return config.get("ENV") == "production"


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or localhost: a host no other machine reaches."""
    if not host:
        return False
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _shown(url: str) -> str:
    """A URL without its user name and password, for messages."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _plain_http(name: str, url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return (
            f"{name} is {_shown(url)}: plain http off loopback; use https:// (http is "
            "allowed only to 127.0.0.1, ::1 or localhost)"
        )
    return None


def _https(name: str) -> Check:
    """Every URL in the setting (SEARCH_URL may hold several) is https unless on loopback."""

    def check(config: Mapping[str, Any]) -> list[str]:
        urls = [u for u in str(config.get(name) or "").split(",") if u.strip()]
        return [p for p in (_plain_http(name, u) for u in urls) if p]

    return check


def _secret_key(config: Mapping[str, Any]) -> list[str]:
    key = config.get("SECRET_KEY")
    fix = (
        f"set SECRET_KEY to a random value of at least {SECRET_MIN_BYTES} bytes, the same in "
        f"every process of this app and different from every other app's ({NEW_SECRET})"
    )
    if not key:
        return [
            "SECRET_KEY is not set: each process would make up its own, so gunicorn's "
            f"workers would refuse each other's sessions and sign-ins; {fix}"
        ]
    key = str(key)
    problems = []
    if len(key.encode()) < SECRET_MIN_BYTES:
        problems.append(f"SECRET_KEY is {len(key.encode())} bytes long: {fix}")
    elif key.endswith(DEMO_SECRET_SUFFIX) or PLACEHOLDER.search(key) or len(set(key)) < 8:
        problems.append(f"SECRET_KEY is a demo or placeholder value: {fix}")
    for other in ("OIDC_CLIENT_SECRET", "INDEXER_CLIENT_SECRET", "PSEUDONYM_KEY", "SMTP_PASSWORD"):
        if config.get(other) == key:
            problems.append(f"SECRET_KEY is the same as {other}: give each its own value")
    return problems


def _client_secret(name: str, required: str | None = None) -> Check:
    """Not the demo realm's ``<client>-demo-secret``; with ``required``, set (it says why)."""

    def check(config: Mapping[str, Any]) -> list[str]:
        value = config.get(name)
        if not value:
            return [f"{name} is not set: {required}"] if required else []
        if str(value).endswith(DEMO_SECRET_SUFFIX):
            return [
                f"{name} is the demo realm's client secret (…{DEMO_SECRET_SUFFIX}): set the "
                "secret of this app's own client at the identity provider"
            ]
        return []

    return check


def _pseudonym_key(config: Mapping[str, Any]) -> list[str]:
    key = str(config.get("PSEUDONYM_KEY") or "")
    fix = (
        f"set PSEUDONYM_KEY to a random secret of at least {SECRET_MIN_BYTES} bytes ({NEW_SECRET})"
        " and keep it: a new key gives every Directory contact a new pseudonym"
    )
    if key == DEFAULTS["PSEUDONYM_KEY"]:
        return [
            "PSEUDONYM_KEY is the published default, so anyone can turn the pseudonyms of "
            f"Directory contacts back into their Directory ids; {fix}"
        ]
    if len(key.encode()) < SECRET_MIN_BYTES:
        return [f"PSEUDONYM_KEY is {len(key.encode())} bytes long: {fix}"]
    return []


def _issuer(config: Mapping[str, Any]) -> list[str]:
    if config.get("OIDC_ISSUER") == DEFAULTS["OIDC_ISSUER"]:
        return [
            f"OIDC_ISSUER is the development default ({DEFAULTS['OIDC_ISSUER']}), which trusts "
            "whatever answers on that local port: set the alliance's identity provider"
        ]
    return _https("OIDC_ISSUER")(config)


def _registry_urls(config: Mapping[str, Any]) -> tuple[dict[str, str], str | None]:
    """{member id: url} of MEMBERS_FILE, and why it could not be read (the registry's own
    loader, federation/registry.py, reports malformed entries when the app reads it)."""
    path = Path(str(config.get("MEMBERS_FILE")))
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return {}, f"MEMBERS_FILE {path} cannot be read ({type(exc).__name__})"
    entries = data.get("member")
    members = entries if isinstance(entries, list) else []
    return {
        str(m.get("id")): m["url"]
        for m in members
        if isinstance(m, dict) and isinstance(m.get("url"), str)
    }, None


def _registry(config: Mapping[str, Any]) -> list[str]:
    """The portal delivers to, and the indexer reads from, every member's URL."""
    urls, error = _registry_urls(config)
    if error:
        return [f"{error}: the alliance's member registry is needed"]
    found = (_plain_http(f"MEMBERS_FILE (member {i})", url) for i, url in urls.items())
    return [p for p in found if p]


def _node_url(config: Mapping[str, Any]) -> list[str]:
    """The node's public URL: NODE_URL, else its entry in the registry; it must be known."""
    if config.get("NODE_URL"):
        return _https("NODE_URL")(config)
    urls, _ = _registry_urls(config)
    url = urls.get(str(config.get("NODE_ID")))
    if url is None:
        return [
            f"NODE_URL is not set and MEMBERS_FILE lists no member {config.get('NODE_ID')!r}: "
            "set NODE_URL to this node's public https:// URL"
        ]
    problem = _plain_http(f"MEMBERS_FILE (member {config.get('NODE_ID')}, NODE_URL unset)", url)
    return [problem] if problem else []


def _switch(name: str, wanted: bool, why: str) -> Check:
    def check(config: Mapping[str, Any]) -> list[str]:
        if bool(config.get(name)) != wanted:
            return [f"{name} is {str(not wanted).lower()}: {why}; set it to {str(wanted).lower()}"]
        return []

    return check


def _smtp(config: Mapping[str, Any]) -> list[str]:
    host = config.get("SMTP_HOST")
    login = bool(config.get("SMTP_USER"))
    if host and login and not config.get("SMTP_STARTTLS") and not is_loopback(str(host)):
        return [
            "SMTP_STARTTLS is false while SMTP_USER is set: the SMTP password would cross "
            "the network in clear; set SMTP_STARTTLS to true (or use a relay without login)"
        ]
    return []


def _idp_admin(config: Mapping[str, Any]) -> list[str]:
    if str(config.get("IDP_ADMIN_PASSWORD") or "") in ("", "admin"):
        return ["IDP_ADMIN_PASSWORD is 'admin' or empty: set a strong password of your own"]
    return []


_ADMIN_OPEN = "the admin pages would let in anyone who can reach the node"
_FEED_OPEN = "anyone could read the publish API; only the indexer's token should"
_NO_INDEXER_SECRET = (
    "nodes in production answer their feeds only to the indexer's token, and pokes would be "
    "taken from anyone; set the secret of the indexer's client"
)


def _metrics_token(config: Mapping[str, Any]) -> list[str]:
    """The figures' scraper token unlocks every biobank's request figures: a real secret."""
    token = str(config.get("FIGURES_METRICS_TOKEN") or "")
    if token and (len(token.encode()) < SECRET_MIN_BYTES or "demo" in token.lower()):
        return [
            f"FIGURES_METRICS_TOKEN is short or a placeholder: set it to a random value of at "
            f"least {SECRET_MIN_BYTES} bytes ({NEW_SECRET}), or leave it empty to allow only "
            "signed-in operators"
        ]
    return []


def _push_target(config: Mapping[str, Any]) -> list[str]:
    """A push-mode node with nowhere to push would never reach the index, silently."""
    if config.get("NODE_MODE") == "push" and not (
        config.get("PUSH_INDEXER_URL") or config.get("INDEXER_POKE_URL")
    ):
        return [
            "NODE_MODE is push but neither PUSH_INDEXER_URL nor INDEXER_POKE_URL is set: the "
            "node would never reach the index; set PUSH_INDEXER_URL to the indexer's https URL"
        ]
    return []


PRODUCTION_CHECKS: dict[str, tuple[Check, ...]] = {
    "portal": (
        _secret_key,
        _client_secret("OIDC_CLIENT_SECRET"),
        _issuer,
        _https("PORTAL_URL"),
        _https("SEARCH_URL"),
        _registry,
        _smtp,
        _metrics_token,
    ),
    "node": (
        _secret_key,
        _client_secret("OIDC_CLIENT_SECRET"),
        _pseudonym_key,
        _issuer,
        _https("PORTAL_URL"),
        _node_url,
        _https("INDEXER_POKE_URL"),
        _https("PUSH_INDEXER_URL"),
        _push_target,
        _switch("NODE_ADMIN_OPEN", False, _ADMIN_OPEN),
        _switch("FEED_REQUIRE_TOKEN", True, _FEED_OPEN),
        _smtp,
    ),
    "indexer": (
        _client_secret("INDEXER_CLIENT_SECRET", _NO_INDEXER_SECRET),
        _issuer,
        _https("SEARCH_URL"),
        _registry,
    ),
    "idp": (_idp_admin,),
}
"""What each app checks before it starts in production: the settings it uses."""


def production_problems(config: Mapping[str, Any], role: str) -> list[str]:
    """Every setting ``role`` may not run with in production, each naming the fix."""
    if role not in PRODUCTION_CHECKS:
        raise ValueError(f"role must be one of {', '.join(PRODUCTION_CHECKS)}, not {role!r}")
    return [problem for check in PRODUCTION_CHECKS[role] for problem in check(config)]


def check_production(config: Mapping[str, Any], role: str) -> None:
    """In production (``ENV``, ``CELLFED_ENV=production``), raise ConfigError listing every
    problem of :func:`production_problems`; in development, do nothing."""
    if not is_production(config):
        return
    problems = production_problems(config, role)
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(
            f"CELLFED_ENV is production, and the {role} will not start until these settings "
            f"are fixed:\n{listed}"
        )


# -- Keycloak in production mode (`cellfed idp start --production`) ----------------------
def idp_secrets(config: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """``(client secrets, user passwords)`` of ``IDP_SECRETS_FILE`` (both empty when unset).

    The file is TOML with two tables, ``[clients]`` (client id = secret) and ``[users]``
    (user name = password), readable by its owner only. Raises ConfigError, naming the
    setting, when it cannot be read, is open to others or holds anything else.
    """
    named = config.get("IDP_SECRETS_FILE")
    if not named:
        return {}, {}
    path = Path(str(named))
    try:
        mode = path.stat().st_mode & 0o777
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(
            f"IDP_SECRETS_FILE {path} cannot be read ({type(exc).__name__})"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"IDP_SECRETS_FILE {path} is not TOML: {exc}") from None
    if mode & 0o077:
        raise ConfigError(
            f"IDP_SECRETS_FILE {path} is open to others than its owner (mode {mode:04o}): "
            f"it holds secrets; chmod 600 {path}"
        )
    unknown = sorted(set(data) - {"clients", "users"})
    tables = [data.get("clients", {}), data.get("users", {})]
    if unknown or not all(
        isinstance(t, dict) and all(isinstance(v, str) and v for v in t.values()) for t in tables
    ):
        raise ConfigError(
            f'IDP_SECRETS_FILE {path} must hold only [clients] (client id = "secret") and '
            '[users] (user name = "password"), each value non-empty text'
            + (f"; not {', '.join(unknown)}" if unknown else "")
        )
    return dict(tables[0]), dict(tables[1])


def _idp_database(config: Mapping[str, Any]) -> list[str]:
    url = str(config.get("IDP_DATABASE_URL") or "")
    fix = "set postgresql://keycloak:<password>@<host>:5432/keycloak"
    if not url:
        return [f"IDP_DATABASE_URL is not set: Keycloak keeps its realm in PostgreSQL; {fix}"]
    if url.split("://", 1)[0].split("+", 1)[0] not in ("postgresql", "postgres"):
        return [f"IDP_DATABASE_URL is {_shown(url)}: not PostgreSQL; {fix}"]
    return []


def _idp_hostname(config: Mapping[str, Any]) -> list[str]:
    name = str(config.get("IDP_HOSTNAME") or "").strip()
    fix = (
        "set the public name (idp.example.org; the port is IDP_HTTPS_PORT) or URL "
        "(https://idp.example.org)"
    )
    if not name:
        return [f"IDP_HOSTNAME is not set: it is the issuer of every token; {fix}"]
    parts = urlsplit(name) if "://" in name else None
    if (parts is not None and (parts.scheme != "https" or not parts.hostname)) or (
        parts is None and any(c in name for c in ":/ ")
    ):
        return [f"IDP_HOSTNAME is {name!r}: {fix}"]
    return []


def _idp_tls(config: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, what in (("IDP_TLS_CERT", "certificate chain"), ("IDP_TLS_KEY", "private key")):
        value = config.get(name)
        if not value:
            problems.append(
                f"{name} is not set: Keycloak serves HTTPS itself; set its PEM {what} file"
            )
        elif not Path(str(value)).is_file():
            problems.append(f"{name} names {value}, which is not a file")
    key = config.get("IDP_TLS_KEY")
    if key and Path(str(key)).is_file() and Path(str(key)).stat().st_mode & 0o004:
        problems.append(f"IDP_TLS_KEY {key} is readable by everyone: chmod o-r it")
    ca = config.get("IDP_TLS_CA")
    if ca and not Path(str(ca)).is_file():
        problems.append(f"IDP_TLS_CA names {ca}, which is not a file")
    return problems


def _idp_credentials(config: Mapping[str, Any]) -> list[str]:
    """No demo credentials reach the realm: neither IDP_SECRETS_FILE's nor, where the file
    gives none, IDP_REALM_FILE's (``<client>-demo-secret``, a password equal to its user)."""
    try:
        clients, users = idp_secrets(config)
    except ConfigError as exc:
        return [str(exc)]
    problems = []
    demo = [f"client {c}" for c, s in clients.items() if s.endswith(DEMO_SECRET_SUFFIX)]
    demo += [f"user {u}" for u, p in users.items() if p == u]
    if demo:
        problems.append(
            f"IDP_SECRETS_FILE gives demo credentials ({', '.join(demo)}): use new ones"
        )
    path = Path(str(config.get("IDP_REALM_FILE")))
    try:
        realm = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return [*problems, f"IDP_REALM_FILE {path} cannot be read ({type(exc).__name__})"]
    in_realm = {c.get("clientId"): c for c in realm.get("clients", [])}
    people = {u.get("username"): u for u in realm.get("users", [])}
    unknown = sorted(set(clients) - set(in_realm)) + sorted(set(users) - set(people))
    if unknown:
        problems.append(f"IDP_SECRETS_FILE names what IDP_REALM_FILE has not: {', '.join(unknown)}")
    left = [
        f"client {c}"
        for c, client in in_realm.items()
        if c not in clients and str(client.get("secret", "")).endswith(DEMO_SECRET_SUFFIX)
    ] + [
        f"user {u}"
        for u, user in people.items()
        if u not in users
        and any(
            c.get("type") == "password" and c.get("value") == u for c in user.get("credentials", [])
        )
    ]
    if left:
        problems.append(
            f"IDP_REALM_FILE would import demo credentials ({', '.join(left)}): give each its "
            "own in IDP_SECRETS_FILE, or import a realm without them"
        )
    return problems


IDP_SERVER_CHECKS: tuple[Check, ...] = (_idp_database, _idp_hostname, _idp_tls, _idp_credentials)
"""What Keycloak in production mode needs besides the ``idp`` role's checks. Not a role of
PRODUCTION_CHECKS: other commands of the idp role (the admin API) need none of it."""


def idp_server_problems(config: Mapping[str, Any]) -> list[str]:
    """Every setting Keycloak in production mode may not start with (whatever ``ENV`` is)."""
    return production_problems(config, "idp") + [
        problem for check in IDP_SERVER_CHECKS for problem in check(config)
    ]


def check_idp_server(config: Mapping[str, Any]) -> None:
    """Raise ConfigError listing every problem of :func:`idp_server_problems`."""
    problems = idp_server_problems(config)
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(
            f"Keycloak will not start in production mode until these settings are fixed:\n{listed}"
        )
