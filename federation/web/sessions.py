"""Login sessions kept on the server, so that a login can end before its cookie does.

The browser's signed session cookie carries only a random session id (``SESSION_ID``); who
is logged in, with which roles, until when, is a row of the app's own database (the node's
store, the portal's database): a table ``login_sessions`` declared with
:class:`LoginSessionMixin` on each app's models and created by each app's migrations. The
row is found by the SHA-256 of the id, so the table alone opens no session.

A session ends when its row says so, for every worker at once: at logout (revoked), when
the identity provider ends the user's session (back-channel logout, federation/web/login.py),
or when it expires. Sessions of administrators expire sooner, and have their roles re-read
from a refreshed token in between (:meth:`LoginSessions.claim_check` makes sure only one
worker refreshes a session at a time: the provider rotates refresh tokens, and a reused one
ends the provider's session).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    CursorResult,
    DateTime,
    String,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Result
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from federation.database import utcnow

SESSION_ID = "login"
"""The key of the session id in the (signed) session cookie."""
KEEP_REVOKED = dt.timedelta(days=1)  # revoked and expired rows are deleted after this


class LoginSessionMixin:
    """The columns of a login session; declare ``class X(LoginSessionMixin, Base)`` with
    ``__tablename__ = "login_sessions"``."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's id
    iss: Mapped[str] = mapped_column(String(500))
    sub: Mapped[str] = mapped_column(String(255), index=True)
    sid: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)  # the IdP's
    identity: Mapped[dict] = mapped_column(JSON)  # User.as_session()
    id_token: Mapped[str | None] = mapped_column(Text, nullable=True)  # the logout hint
    refresh_token: Mapped[str | None] = mapped_column(Text, nullable=True)  # admins only
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    if TYPE_CHECKING:
        # The declarative base the mixin is combined with gives the keyword constructor.
        def __init__(self, **kw: Any) -> None: ...


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE matched. ``Session.execute`` is typed as returning a ``Result``;
    for an UPDATE it is the ``CursorResult`` that has the count."""
    return cast(CursorResult[Any], result).rowcount or 0


class LoginSessions:
    """One app's login sessions. ``sessions`` returns the app's sessionmaker when first
    needed (the portal migrates its database on first use)."""

    def __init__(
        self, sessions: Callable[[], sessionmaker[Session]], model: type[LoginSessionMixin]
    ) -> None:
        self._sessions = sessions
        self.model = model

    def _begin(self) -> AbstractContextManager[Session]:
        return self._sessions().begin()

    def open(
        self,
        user: Mapping[str, Any],
        lifetime: float,
        *,
        sid: str | None = None,
        id_token: str | None = None,
        refresh_token: str | None = None,
        now: dt.datetime | None = None,
    ) -> str:
        """Start a session; returns the id for the cookie (never stored as such)."""
        now = now or utcnow()
        raw = secrets.token_urlsafe(32)
        with self._begin() as session:
            session.execute(delete(self.model).where(self.model.expires_at < now - KEEP_REVOKED))
            session.add(
                self.model(
                    id=digest(raw),
                    iss=user["iss"],
                    sub=user["sub"],
                    sid=sid,
                    identity=dict(user),
                    id_token=id_token,
                    refresh_token=refresh_token,
                    created_at=now,
                    expires_at=now + dt.timedelta(seconds=lifetime),
                    checked_at=now,
                )
            )
        return raw

    def active(self, raw: str, now: dt.datetime | None = None) -> LoginSessionMixin | None:
        """The session's row if it is neither revoked nor expired, else None."""
        model = self.model
        with self._begin() as session:
            return session.scalar(
                select(model).where(
                    model.id == digest(raw),
                    model.revoked_at.is_(None),
                    model.expires_at > (now or utcnow()),
                )
            )

    def id_token_of(self, raw: str) -> str | None:
        """The ID token a session was opened with, whatever its state (the logout hint)."""
        with self._begin() as session:
            return session.scalar(select(self.model.id_token).where(self.model.id == digest(raw)))

    def revoke(self, raw: str, now: dt.datetime | None = None) -> None:
        self._revoke(self.model.id == digest(raw), now)

    def revoke_provider_session(
        self, iss: str, sub: str | None, sid: str | None, now: dt.datetime | None = None
    ) -> int:
        """End what the provider ended: its session ``sid``, else every session of ``sub``."""
        model = self.model
        if sid:
            return self._revoke((model.iss == iss) & (model.sid == sid), now)
        if sub:
            return self._revoke((model.iss == iss) & (model.sub == sub), now)
        return 0

    def _revoke(self, which: ColumnElement[bool], now: dt.datetime | None) -> int:
        model = self.model
        with self._begin() as session:
            result = session.execute(
                update(model)
                .where(which, model.revoked_at.is_(None))
                .values(revoked_at=now or utcnow(), refresh_token=None)
            )
            return _rowcount(result)

    def claim_check(self, raw: str, interval: float, now: dt.datetime | None = None) -> bool:
        """True for the one caller that may re-check the session now (it was last checked
        ``interval`` seconds ago or more); everyone else goes on with the session as is."""
        now = now or utcnow()
        model = self.model
        with self._begin() as session:
            result = session.execute(
                update(model)
                .where(
                    model.id == digest(raw),
                    model.revoked_at.is_(None),
                    model.checked_at <= now - dt.timedelta(seconds=interval),
                )
                .values(checked_at=now)
            )
            return bool(_rowcount(result))

    def renew(
        self, raw: str, user: Mapping[str, Any], id_token: str | None, refresh_token: str | None
    ) -> None:
        """Keep what a refreshed token says (the expiry stays as it was)."""
        model = self.model
        with self._begin() as session:
            session.execute(
                update(model)
                .where(model.id == digest(raw), model.revoked_at.is_(None))
                .values(identity=dict(user), id_token=id_token, refresh_token=refresh_token)
            )
