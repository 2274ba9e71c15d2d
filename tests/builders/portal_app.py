"""A portal app on SQLite for the access tests that drive it in-process, and the node events
they feed it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from federation.database import new_id
from federation.registry import Member
from federation.web.csrf import SESSION_KEY
from federation.web.login import SESSION_ID, User, open_session
from portal.access.context import access_of
from portal.access.service import AccessService
from portal.app import create_app as create_portal_app
from search.aliases import drop_indices
from search.engine import SearchEngine


def search_client(engine_url: str, prefix: str, workdir: Path) -> Iterator[FlaskClient]:
    """A test client of the portal over the indices of ``prefix`` (its database in
    ``workdir``), for a fixture to ``yield from``; the indices are dropped after."""
    app = create_portal_app(
        {
            "SEARCH_URL": engine_url,
            "INDEX_PREFIX": prefix,
            "PORTAL_DATABASE_URL": f"sqlite:///{workdir / 'portal.sqlite3'}",
        }
    )
    yield app.test_client()
    drop_indices(SearchEngine(engine_url), prefix)


CSRF_TOKEN = "a-csrf-token-of-this-session"
MEMBERS = [Member("n1", "Node one", "https://n1.example.org")]
# Line L1 of biobank bb1 at node n1, as the index holds it (what the portal's lookup returns).
LINE_ONE = {
    "kind": "cell_line",
    "name": "Line one",
    "local_id": "L1",
    "node_id": "n1",
    "biobank_id": "bb1",
    "biobank_name": "Biobank one",
}


class SqlitePortal:
    """The portal on SQLite whose member list is ``members`` and whose catalogue is ``docs``
    (uid → index document); nothing is delivered by it here."""

    def __init__(
        self, tmp_path: Path, members: list[Member], docs: dict[str, Any], **config: Any
    ) -> None:
        self.app = create_portal_app(
            {
                "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
                "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
                **config,
            }
        )
        self.access = access_of(self.app)
        self.access.members = lambda: members
        self.service: AccessService = self.access.service
        self.service.members = lambda: members
        self.service.lookup = docs.get

    def client(self, user: User) -> FlaskClient:
        """A test client logged in as ``user``, with the session's CSRF token set."""
        client = self.app.test_client()
        with client.session_transaction() as session:
            session[SESSION_ID] = open_session(self.app, user)  # a login kept server-side
            session[SESSION_KEY] = CSRF_TOKEN
        return client


def node_event(
    part_id: str, event: str, actor: str, state: str, seq: int, **extra: Any
) -> dict[str, Any]:
    """An event as a node reports it (``schemas.access.EventSchema``), by its admin Bea."""
    return {
        "id": new_id(),
        "part_id": part_id,
        "seq": seq,
        "type": event,
        "actor": actor,
        "actor_name": "Bea Biobank",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "state": state,
        **extra,
    }
