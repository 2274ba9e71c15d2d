"""Login with the alliance's identity provider, for the portal and the member nodes.

Authorization code flow with PKCE (S256), ``state`` and ``nonce``, through authlib's Flask
client. The ID token it returns is verified again by :mod:`federation.trust` (algorithm
allow-list, exact issuer, our client id as audience), and the RFC 9207 ``iss`` parameter of
the authorization response is checked against the issuer (mix-up defence). The user is kept
in the signed session cookie, which is HttpOnly, SameSite=Lax, and Secure whenever the
app's public URL is https.
"""

from __future__ import annotations

import functools
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
    redirect,
    request,
    session,
    url_for,
)

from federation.trust import IssuerUnavailable, TokenError, TokenVerifier, claim_at, string_set

SESSION_USER = "user"
KEEP_ON_LOGIN = ("cart",)  # session keys that survive the session reset at login


@dataclass(frozen=True)
class User:
    iss: str
    sub: str
    name: str
    email: str | None
    roles: frozenset[str]
    biobanks: frozenset[str]  # "<node id>:<biobank id>"

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def biobanks_at(self, node_id: str) -> frozenset[str]:
        """The biobanks this user administers at one node (needs the biobank-admin role)."""
        if "biobank-admin" not in self.roles:
            return frozenset()
        prefix = f"{node_id}:"
        return frozenset(b[len(prefix) :] for b in self.biobanks if b.startswith(prefix))

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
        return cls(
            str(claims["iss"]),
            str(claims["sub"]),
            str(name),
            claims.get("email"),
            string_set(claim_at(claims, roles_claim)),
            string_set(claim_at(claims, biobanks_claim)),
        )


def current_user() -> User | None:
    if "current_user" not in g:
        data = session.get(SESSION_USER)
        g.current_user = User.from_session(data) if data else None
    return g.current_user


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


def secure_session(app: Flask, public_url: str, cookie_name: str) -> None:
    """Cookie settings for a session that carries a login."""
    app.config.update(
        SESSION_COOKIE_NAME=cookie_name,  # apps share 127.0.0.1 in the demo: one cookie each
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # the login callback is a top-level GET from the IdP
        SESSION_COOKIE_SECURE=urlparse(public_url).scheme == "https",
        PERMANENT_SESSION_LIFETIME=8 * 3600,
    )


def init_login(app: Flask, client_id: str, *, home_endpoint: str) -> None:
    """Register the login routes (``/login``, ``/auth/callback``, ``/logout``) on ``app``;
    logging out ends the provider's session too, then returns to ``home_endpoint``."""
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
    app.extensions["cellfed.login"] = {
        "oauth": oauth,
        "client_id": client_id,
        "issuer": issuer,
        "verifier": TokenVerifier.from_config(config, audience=client_id),
        "home": home_endpoint,
    }
    app.register_blueprint(_auth_blueprint())

    @app.context_processor
    def _user() -> dict[str, Any]:
        return {"current_user": current_user()}


def _auth_blueprint() -> Blueprint:
    bp = Blueprint("auth", __name__)

    def ext() -> dict[str, Any]:
        return current_app.extensions["cellfed.login"]

    @bp.get("/login")
    def login():
        if not current_app.config.get("OIDC_CLIENT_SECRET"):
            abort(503, "Login is not configured here (OIDC_CLIENT_SECRET is not set).")
        session["login_next"] = safe_next(request.args.get("next"))
        try:
            return ext()["oauth"].alliance.authorize_redirect(
                url_for("auth.callback", _external=True)
            )
        except (OSError, AuthlibBaseError, ValueError) as exc:
            abort(503, f"The identity provider cannot be reached: {exc}")

    @bp.get("/auth/callback")
    def callback():
        if request.args.get("error"):
            reason = request.args.get("error_description") or request.args["error"]
            abort(400, f"Login was not completed: {reason}.")
        if "iss" in request.args and request.args["iss"] != ext()["issuer"]:
            abort(400, "The login answer came from another identity provider; refused.")
        try:
            token = ext()["oauth"].alliance.authorize_access_token()
        except (AuthlibBaseError, KeyError, TypeError) as exc:
            abort(400, f"The login answer is not valid ({exc}). Please log in again.")
        except OSError as exc:
            abort(503, f"The identity provider cannot be reached: {exc}")
        try:
            claims = ext()["verifier"].verify(token.get("id_token", ""), id_token=True)
        except IssuerUnavailable as exc:
            abort(503, str(exc))
        except TokenError as exc:
            abort(400, f"The identity token is not trusted: {exc}")
        config = current_app.config
        user = User.from_claims(claims, config["OIDC_ROLES_CLAIM"], config["OIDC_BIOBANKS_CLAIM"])
        kept = {k: session[k] for k in KEEP_ON_LOGIN if k in session}
        target = session.get("login_next", "/")
        session.clear()  # a fresh session at login: no fixation, no leftover state
        session.update(kept)
        session[SESSION_USER] = user.as_session()
        session["id_token"] = token.get("id_token")
        return redirect(safe_next(target))

    @bp.post("/logout")
    def logout():
        id_token = session.get("id_token")
        session.clear()  # the cart too: the next person at this browser starts afresh
        # The provider sends the browser back with a ``state``; a landing page of our own
        # takes it, so no other page has to know about it.
        back = url_for("auth.logged_out", _external=True)
        try:
            end = ext()["oauth"].alliance.load_server_metadata().get("end_session_endpoint")
        except (OSError, AuthlibBaseError, ValueError):
            end = None
        if not end or not id_token:
            return redirect(back)
        return ext()["oauth"].alliance.logout_redirect(
            post_logout_redirect_uri=back,
            id_token_hint=id_token,
            client_id=ext()["client_id"],
        )

    @bp.get("/auth/logged-out")
    def logged_out():
        flash("You are logged out.")
        return redirect(url_for(ext()["home"]))

    return bp
