"""Login with the alliance's identity provider, for the portal and the member nodes.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``, through authlib's Flask
client. The ID token it returns is verified again by :mod:`federation.trust` (algorithm
allow-list, exact issuer, our client id as audience), and the RFC 9207 ``iss`` parameter of
the authorization response is checked against the issuer (mix-up defence).

Who the user is comes from the ID token as the provider issued it: the issuer and subject
are the identity key, the name is the provider's (users cannot edit their names or e-mail
in the realm), and the e-mail only when the provider says it is verified.

The session cookie (HttpOnly, SameSite=Lax, Secure whenever the app's public URL is https)
carries only a random session id; the identity is kept on the server
(:mod:`federation.web.sessions`), so logout ends the session for good, the provider can end
it (back-channel logout, ``POST /api/v1/auth/backchannel-logout``), and administrators'
sessions are short, with their roles re-read from a refreshed token every few minutes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)

from federation.trust import IssuerUnavailable, TokenError, TokenVerifier, claim_at, string_set
from federation.web.sessions import SESSION_ID, LoginSessionMixin, LoginSessions

log = logging.getLogger(__name__)

LOGIN_KEY = "cellfed.login"
"""The app extension that holds the app's Login."""
KEEP_ON_LOGIN = ("cart",)  # session keys that survive the session reset at login
ADMIN_ROLES = frozenset({"biobank-admin", "alliance-admin", "node-operator"})
"""Roles that make a session an administrator's: short, and re-checked with the provider."""
LIFETIME = 8 * 3600  # LOGIN_LIFETIME: seconds a researcher's session lasts
ADMIN_LIFETIME = 3600  # LOGIN_ADMIN_LIFETIME: seconds an administrator's session lasts
RECHECK = 300  # LOGIN_RECHECK: seconds between re-reads of an administrator's roles


@dataclass(frozen=True)
class User:
    iss: str
    sub: str
    name: str
    email: str | None  # only an address the provider verified
    roles: frozenset[str]
    biobanks: frozenset[str]  # "<node id>:<biobank id>"

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)

    def biobanks_at(self, node_id: str) -> frozenset[str]:
        """The biobanks this user administers at one node (needs the biobank-admin role).
        ``<node id>:*`` is no biobank: it marks a node its operator runs
        (federation/node/authz.py)."""
        if "biobank-admin" not in self.roles:
            return frozenset()
        prefix = f"{node_id}:"
        return frozenset(
            b[len(prefix) :] for b in self.biobanks if b.startswith(prefix) and b != f"{prefix}*"
        )

    def as_session(self) -> dict[str, Any]:
        return {
            "iss": self.iss,
            "sub": self.sub,
            "name": self.name,
            "email": self.email,
            "roles": sorted(self.roles),
            "biobanks": sorted(self.biobanks),
        }

    @classmethod
    def from_session(cls, data: Mapping[str, Any]) -> User:
        return cls(
            data["iss"],
            data["sub"],
            data["name"],
            data.get("email"),
            frozenset(data.get("roles", ())),
            frozenset(data.get("biobanks", ())),
        )

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], roles_claim: str, biobanks_claim: str) -> User:
        name = (
            claims.get("name")
            or " ".join(filter(None, (claims.get("given_name"), claims.get("family_name"))))
            or claims.get("preferred_username")
            or claims["sub"]
        )
        email = claims.get("email") if claims.get("email_verified") is True else None
        return cls(
            str(claims["iss"]),
            str(claims["sub"]),
            str(name),
            str(email) if email else None,
            string_set(claim_at(claims, roles_claim)),
            string_set(claim_at(claims, biobanks_claim)),
        )


@dataclass(frozen=True)
class Login:
    """What the login routes need, built once per app by :func:`init_login`."""

    oauth: OAuth
    client_id: str
    issuer: str
    verifier: TokenVerifier
    home: str  # the endpoint to land on after logout
    sessions: LoginSessions
    roles_claim: str
    biobanks_claim: str
    lifetime: float
    admin_lifetime: float
    recheck: float

    @property
    def provider(self) -> Any:
        """authlib's client for the alliance's provider."""
        return self.oauth.alliance

    def user_from(self, claims: Mapping[str, Any]) -> User:
        return User.from_claims(claims, self.roles_claim, self.biobanks_claim)


def login_of(app: Flask) -> Login:
    return app.extensions[LOGIN_KEY]


def current_login() -> Login:
    return login_of(current_app)


# -- who is logged in ------------------------------------------------------------------
def current_user() -> User | None:
    if "current_user" not in g:
        g.current_user = _session_user()
    return g.current_user


def signed_in_user() -> User:
    """The user of a view behind :func:`login_required` (or :func:`role_required`), which
    has turned away everyone else; 401 should it be called where no one is logged in."""
    user = current_user()
    if user is None:
        abort(401, "Please log in first.")
    return user


def _session_user() -> User | None:
    raw = session.get(SESSION_ID)
    if not raw:
        return None
    login = current_login()
    row = login.sessions.active(raw)
    if row is None:
        session.pop(SESSION_ID, None)  # revoked or expired: the cookie forgets it too
        return None
    user = User.from_session(row.identity)
    if user.is_admin and login.sessions.claim_check(raw, login.recheck):
        return _recheck(login, raw, row, user)
    return user


def _recheck(login: Login, raw: str, row: LoginSessionMixin, user: User) -> User | None:
    """Re-read an administrator's roles from a refreshed token; end the session when the
    provider no longer refreshes it (logged out, disabled, idle). A provider that cannot be
    reached leaves the session as it is, until its (short) expiry."""
    if not row.refresh_token:
        return user
    try:
        token = login.provider.fetch_access_token(
            grant_type="refresh_token", refresh_token=row.refresh_token
        )
        claims = login.verifier.verify(token.get("id_token", ""), id_token=True)
    except (OSError, IssuerUnavailable):
        return user
    except (AuthlibBaseError, TokenError, KeyError, TypeError, ValueError) as exc:
        log.info("ended the session of %s: the provider did not refresh it (%s)", user.sub, exc)
        _end(login, raw)
        return None
    fresh = login.user_from(claims)
    if (fresh.iss, fresh.sub) != (user.iss, user.sub):
        _end(login, raw)
        return None
    login.sessions.renew(raw, fresh.as_session(), token.get("id_token"), token.get("refresh_token"))
    return fresh


def _end(login: Login, raw: str) -> None:
    login.sessions.revoke(raw)
    session.pop(SESSION_ID, None)


def open_session(
    app: Flask, user: User, token: Mapping[str, Any] | None = None, sid: str | None = None
) -> str:
    """Start a server-side session for ``user``; returns the session id to put in the
    cookie under ``SESSION_ID``. ``token``: the provider's answer (its ID token is the
    logout hint, its refresh token re-checks an administrator's roles); ``sid``: the
    provider's session, which its back-channel logout names."""
    return _open(login_of(app), user, token or {}, sid)


def _open(login: Login, user: User, token: Mapping[str, Any], sid: str | None) -> str:
    return login.sessions.open(
        user.as_session(),
        login.admin_lifetime if user.is_admin else login.lifetime,
        sid=sid,
        id_token=token.get("id_token"),
        refresh_token=token.get("refresh_token") if user.is_admin else None,
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: never let ``next`` send the user to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parsed = urlparse(target)
    return default if parsed.scheme or parsed.netloc else target


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        if current_user() is None:
            if request.method != "GET":
                abort(401, "Please log in first.")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def role_required(role: str, message: str) -> Callable[[Callable], Callable]:
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any):
            user = current_user()
            if user is None or not user.has_role(role):
                abort(403, message)
            return view(*args, **kwargs)

        return wrapper

    return decorate


# -- wiring ----------------------------------------------------------------------------
def secure_session(app: Flask, public_url: str, cookie_name: str) -> None:
    """Cookie settings for a session that carries a login."""
    app.config.update(
        SESSION_COOKIE_NAME=cookie_name,  # apps share 127.0.0.1 in the demo: one cookie each
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # the login callback is a top-level GET from the IdP
        SESSION_COOKIE_SECURE=urlparse(public_url).scheme == "https",
        PERMANENT_SESSION_LIFETIME=8 * 3600,
    )


def init_login(app: Flask, client_id: str, *, home_endpoint: str, sessions: LoginSessions) -> None:
    """Register the login routes (``/login``, ``/auth/callback``, ``/logout``, the
    back-channel logout) on ``app``, keeping sessions in ``sessions``; logging out ends the
    provider's session too, then returns to ``home_endpoint``."""
    config = app.config
    issuer = config["OIDC_ISSUER"].rstrip("/")
    oauth = OAuth(app)
    oauth.register(
        "alliance",
        client_id=client_id,
        client_secret=config.get("OIDC_CLIENT_SECRET"),
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid profile email",
            "code_challenge_method": "S256",
            "timeout": config["OIDC_TIMEOUT"],
        },
    )
    app.extensions[LOGIN_KEY] = Login(
        oauth,
        client_id,
        issuer,
        TokenVerifier.from_config(config, audience=client_id),
        home_endpoint,
        sessions,
        config["OIDC_ROLES_CLAIM"],
        config["OIDC_BIOBANKS_CLAIM"],
        float(config.get("LOGIN_LIFETIME", LIFETIME)),
        float(config.get("LOGIN_ADMIN_LIFETIME", ADMIN_LIFETIME)),
        float(config.get("LOGIN_RECHECK", RECHECK)),
    )
    app.register_blueprint(bp)
    app.context_processor(lambda: {"current_user": current_user()})


# -- the routes ------------------------------------------------------------------------
bp = Blueprint("auth", __name__)


@bp.get("/login")
def login():
    if not current_app.config.get("OIDC_CLIENT_SECRET"):
        abort(503, "Login is not configured here (OIDC_CLIENT_SECRET is not set).")
    session["login_next"] = safe_next(request.args.get("next"))
    try:
        return current_login().provider.authorize_redirect(url_for("auth.callback", _external=True))
    except (OSError, AuthlibBaseError, ValueError) as exc:
        abort(503, f"The identity provider cannot be reached: {exc}")


@bp.get("/auth/callback")
def callback():
    login = current_login()
    token = _authorization_answer(login)
    claims = _verified_id_token(login, token)
    kept = {k: session[k] for k in KEEP_ON_LOGIN if k in session}
    target = session.get("login_next", "/")
    session.clear()  # a fresh session at login: no fixation, no leftover state
    session.update(kept)
    user = login.user_from(claims)
    session[SESSION_ID] = _open(login, user, token, claims.get("sid"))
    return redirect(safe_next(target))


def _authorization_answer(login: Login) -> dict[str, Any]:
    """The provider's token answer for the authorization response this request carries."""
    if request.args.get("error"):
        reason = request.args.get("error_description") or request.args["error"]
        abort(400, f"Login was not completed: {reason}.")
    if "iss" in request.args and request.args["iss"] != login.issuer:
        abort(400, "The login answer came from another identity provider; refused.")
    try:
        return dict(login.provider.authorize_access_token())
    except (AuthlibBaseError, KeyError, TypeError) as exc:
        abort(400, f"The login answer is not valid ({exc}). Please log in again.")
    except OSError as exc:
        abort(503, f"The identity provider cannot be reached: {exc}")


def _verified_id_token(login: Login, token: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return login.verifier.verify(token.get("id_token", ""), id_token=True)
    except IssuerUnavailable as exc:
        abort(503, str(exc))
    except TokenError as exc:
        abort(400, f"The identity token is not trusted: {exc}")


@bp.post("/logout")
def logout():
    login = current_login()
    raw = session.get(SESSION_ID)
    id_token = login.sessions.id_token_of(raw) if raw else None
    if raw:
        login.sessions.revoke(raw)  # a copy of the cookie opens nothing any more
    session.clear()  # the cart too: the next person at this browser starts afresh
    # The provider sends the browser back with a ``state``; a landing page of our own
    # takes it, so no other page has to know about it.
    back = url_for("auth.logged_out", _external=True)
    try:
        end = login.provider.load_server_metadata().get("end_session_endpoint")
    except (OSError, AuthlibBaseError, ValueError):
        end = None
    if not end or not id_token:
        return redirect(back)
    return login.provider.logout_redirect(
        post_logout_redirect_uri=back, id_token_hint=id_token, client_id=login.client_id
    )


@bp.get("/auth/logged-out")
def logged_out():
    flash("You are logged out.")
    return redirect(url_for(current_login().home))


@bp.post("/api/v1/auth/backchannel-logout")
def backchannel_logout():
    """The provider ended a user's session (OIDC Back-Channel Logout): end ours too."""
    login = current_login()
    try:
        claims = login.verifier.verify(
            request.form.get("logout_token", ""), login.client_id, logout_token=True
        )
    except IssuerUnavailable:
        return _logout_answer({"error": "temporarily_unavailable"}, 503)
    except TokenError as exc:
        return _logout_answer({"error": "invalid_request", "error_description": str(exc)}, 400)
    ended = login.sessions.revoke_provider_session(
        claims["iss"], claims.get("sub"), claims.get("sid")
    )
    log.info("back-channel logout of %s: %d session(s) ended", claims.get("sub"), ended)
    return _logout_answer({}, 200)


def _logout_answer(body: dict[str, Any], status: int):
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp
