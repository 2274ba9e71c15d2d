"""Saved searches: save, list, rename, delete, the e-mail switch and the two tokens; and the
engine call the alert job and the demand page share.

Every call that names a saved search takes the signed-in user and finds the search among
that user's own: another user's search is "not found", exactly like one that never existed
(the views answer 404), so ids reveal nothing.

A search is stored as its canonical query string (``SearchParams.args()``: no page, stable
order), checked by the same parser as the search page; a saved query the parser no longer
takes (a facet value dropped from a vocabulary) is kept and reported as the search's
``problem`` by the job, not silently changed.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import MultiDict

from federation.database import new_id, utcnow
from federation.web.login import User
from portal.alerts.models import NAME_MAX, QUERY_MAX, AlertCursor, SavedSearch, SavedSearchHit
from portal.service import CatalogueSearch, SearchUnavailable
from search.queries import InvalidQuery, SearchParams, parse_params

log = logging.getLogger(__name__)

TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")  # what secrets.token_urlsafe(32) gives
ALERT_KINDS = ("cell_line",)  # alerts announce lines


class SearchNotFound(LookupError):
    """No saved search of this user has that id (or that token)."""


class SaveRefused(ValueError):
    """The search cannot be saved as sent; the message says why, for the person."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def saved_params(query: str, page_size: int = 20) -> SearchParams:
    """The search a saved query string stands for; InvalidQuery if the parser refuses it."""
    if len(query) > QUERY_MAX:
        raise InvalidQuery(f"the search is longer than {QUERY_MAX} characters")
    return parse_params(MultiDict(parse_qsl(query, keep_blank_values=False)), page_size)


def canonical(query: str, page_size: int = 20) -> tuple[SearchParams, str]:
    """The parameters and the canonical query string of a search someone asks to save."""
    try:
        params = saved_params(query.lstrip("?"), page_size)
    except InvalidQuery as exc:
        raise SaveRefused(f"This search cannot be saved: {exc}.") from None
    if params.kind not in ALERT_KINDS:
        raise SaveRefused(
            "Only searches for cell lines can be saved: alerts announce new cell lines, and "
            "lines that become available again."
        )
    return params, urlencode(params.args())


def clean_name(name: str, fallback: str) -> str:
    """A saved search's name: trimmed, one line, at most NAME_MAX characters."""
    name = " ".join((name or "").split())
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in name):
        raise SaveRefused("The name may not contain control or formatting characters.")
    if len(name) > NAME_MAX:
        raise SaveRefused(f"The name is longer than {NAME_MAX} characters.")
    return name or fallback


def default_name(params: SearchParams) -> str:
    words = params.q or ", ".join(params.selections) or "all cell lines"
    text = f"Cell lines: {words}"
    return text if len(text) <= NAME_MAX else text[: NAME_MAX - 1] + "…"


@dataclass(frozen=True)
class SearchView:
    """A saved search with what its list row shows."""

    search: SavedSearch
    hits: int  # announced and still kept

    @property
    def id(self) -> str:
        return self.search.id


class AlertService:
    def __init__(self, sessions: sessionmaker[Session], config: Mapping[str, Any]) -> None:
        self.sessions = sessions
        self.max_per_user = int(config.get("SAVED_SEARCH_MAX", 50))
        self.page_size = int(config.get("PORTAL_PAGE_SIZE", 20))

    # -- saving ------------------------------------------------------------------------
    def save(
        self, user: User, query: str, name: str, index_cursors: Mapping[str, int] | None
    ) -> tuple[SavedSearch, bool]:
        """Save a search for ``user``; (the search, whether it is new). The same search saved
        again is the one saved before. ``index_cursors`` (node -> sequence indexed, from the
        sync health) and the ledger's own cursors set where its alerts start; with neither,
        the job sets them at its next pass, without announcing anything."""
        params, query = canonical(query, self.page_size)
        name = clean_name(name, default_name(params))
        with self.sessions.begin() as session:
            mine = select(SavedSearch).where(*_owned_by(user))
            same = session.execute(mine.where(SavedSearch.query == query)).scalars().first()
            if same is not None:
                return same, False
            count = session.execute(select(func.count()).select_from(mine.subquery())).scalar()
            if (count or 0) >= self.max_per_user:
                raise SaveRefused(
                    f"You have {count} saved searches, the most one account may keep. "
                    "Delete one you no longer need, then save this one."
                )
            saved = SavedSearch(
                id=new_id(),
                owner_iss=user.iss,
                owner_sub=user.sub,
                owner_email=user.email,
                name=name,
                query=query,
                feed_token=new_token(),
                unsubscribe_token=new_token(),
                feed_uuid=str(uuid.uuid4()),
                watermarks=self._start(session, index_cursors),
            )
            session.add(saved)
        return saved, True

    @staticmethod
    def _start(session: Session, index_cursors: Mapping[str, int] | None) -> dict | None:
        ledger = {c.node_id: c.seq for c in session.execute(select(AlertCursor)).scalars()}
        if index_cursors is None and not ledger:
            return None
        start = dict(ledger)
        for node, seq in (index_cursors or {}).items():
            start[node] = max(seq, start.get(node, 0))
        return start

    # -- the owner's --------------------------------------------------------------------
    def searches_of(self, user: User) -> list[SearchView]:
        with self.sessions() as session:
            counts = dict(
                session.execute(
                    select(SavedSearchHit.search_id, func.count())
                    .join(SavedSearch, SavedSearch.id == SavedSearchHit.search_id)
                    .where(*_owned_by(user))
                    .group_by(SavedSearchHit.search_id)
                ).all()
            )
            rows = session.execute(
                select(SavedSearch).where(*_owned_by(user)).order_by(SavedSearch.created_at)
            ).scalars()
            return [SearchView(s, counts.get(s.id, 0)) for s in rows]

    def search_of(self, user: User, search_id: str) -> SavedSearch:
        with self.sessions() as session:
            return self._own(session, user, search_id)

    @staticmethod
    def _own(session: Session, user: User, search_id: str) -> SavedSearch:
        found = session.get(SavedSearch, search_id) if len(search_id) <= 32 else None
        if found is None or (found.owner_iss, found.owner_sub) != (user.iss, user.sub):
            raise SearchNotFound(f"You have no saved search {search_id!r}.")
        return found

    def hits_of(self, search_id: str, limit: int = 50) -> list[SavedSearchHit]:
        """The latest lines announced to a search, newest first (callers checked the owner
        or the feed token)."""
        with self.sessions() as session:
            return list(
                session.execute(
                    select(SavedSearchHit)
                    .where(SavedSearchHit.search_id == search_id)
                    .order_by(SavedSearchHit.id.desc())
                    .limit(limit)
                ).scalars()
            )

    def rename(self, user: User, search_id: str, name: str) -> SavedSearch:
        with self.sessions.begin() as session:
            found = self._own(session, user, search_id)
            new = clean_name(name, "")
            if not new:
                raise SaveRefused("Give the search a name.")
            found.name, found.updated_at = new, utcnow()
            return found

    def set_email(self, user: User, search_id: str, on: bool) -> SavedSearch:
        with self.sessions.begin() as session:
            found = self._own(session, user, search_id)
            found.email_alerts, found.updated_at = on, utcnow()
            if user.email:
                found.owner_email = user.email
            if not on:  # nothing waits for an e-mail that will not be sent
                _settle(session, found.id)
            return found

    def rotate_feed(self, user: User, search_id: str) -> SavedSearch:
        """A new private feed URL; the old one answers 404 from now on."""
        with self.sessions.begin() as session:
            found = self._own(session, user, search_id)
            found.feed_token, found.updated_at = new_token(), utcnow()
            return found

    def delete(self, user: User, search_id: str) -> str:
        with self.sessions.begin() as session:
            found = self._own(session, user, search_id)
            name = found.name
            session.execute(delete(SavedSearchHit).where(SavedSearchHit.search_id == found.id))
            session.delete(found)
            return name

    def refresh_email(self, user: User) -> None:
        """Alerts go to the address the provider verified at the owner's latest visit."""
        if not user.email:
            return
        with self.sessions.begin() as session:
            for found in session.execute(select(SavedSearch).where(*_owned_by(user))).scalars():
                if found.owner_email != user.email:
                    found.owner_email = user.email

    # -- by token (no login) ------------------------------------------------------------
    def by_feed_token(self, token: str) -> SavedSearch:
        return self._by(SavedSearch.feed_token, token)

    def by_unsubscribe_token(self, token: str) -> SavedSearch:
        return self._by(SavedSearch.unsubscribe_token, token)

    def _by(self, column: Any, token: str) -> SavedSearch:
        if not TOKEN.match(token or ""):
            raise SearchNotFound("There is no such link.")
        with self.sessions() as session:
            found = session.execute(select(SavedSearch).where(column == token)).scalars().first()
        if found is None:
            raise SearchNotFound("There is no such link: it may have been replaced or deleted.")
        return found

    def unsubscribe(self, token: str) -> SavedSearch:
        """Stop the e-mails of the search this unsubscribe token belongs to (idempotent)."""
        found = self.by_unsubscribe_token(token)
        with self.sessions.begin() as session:
            row = session.get(SavedSearch, found.id)
            if row is None:
                raise SearchNotFound("There is no such link: it may have been deleted.")
            row.email_alerts, row.updated_at = False, utcnow()
            _settle(session, row.id)
            return row


def _owned_by(user: User) -> tuple[Any, Any]:
    return SavedSearch.owner_iss == user.iss, SavedSearch.owner_sub == user.sub


def _settle(session: Session, search_id: str) -> None:
    session.execute(
        update(SavedSearchHit)
        .where(SavedSearchHit.search_id == search_id, SavedSearchHit.mailed.is_(False))
        .values(mailed=True)
    )


# -- the engine --------------------------------------------------------------------------
def engine_search(search: CatalogueSearch, body: dict[str, Any]) -> dict[str, Any]:
    """Run one request against the catalogue alias; an empty answer when there is no index
    yet, SearchUnavailable when the engine fails (the app answers 503; the job logs it)."""
    errors = search.engine.errors
    try:
        return search.engine.search(search.alias, body)
    except errors.NotFoundError:
        return {}
    except errors.TransportError as exc:  # refusals too: our bodies are built, not typed
        log.warning("the engine failed an alerts request: %s", exc)
        raise SearchUnavailable("the search engine is not reachable right now") from exc


def hits(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [h["_source"] for h in answer.get("hits", {}).get("hits", [])]
