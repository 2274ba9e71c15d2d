"""Migrations of the node's and the portal's databases (SQLite and PostgreSQL): the portal's
tree builds exactly its models, create_all databases are adopted, production does not
migrate on start, and downgrades that would drop data refuse."""

import logging
import secrets

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from cellfed.cli import main
from cellfed.config import load_config
from federation.database import database_engine
from federation.migrate import (
    MigrationError,
    MigrationRefused,
    auto_migrate_allowed,
    downgrade,
)
from federation.node import migrate as node_migrate
from federation.node.app import create_app as create_node_app
from federation.node.store import CatalogueStore, store_of
from portal import migrations as portal_migrations
from portal.access.context import AccessContext
from portal.access.models import PortalBase
from schemas import schema_for
from tests.builders import BIOBANK, COLLECTION, cell_line

PRODUCTION = {"ENV": "production"}
HEADS = ", ".join(sorted(node_migrate.heads()))
NODE_IN_PRODUCTION = {  # what a node needs to start in production (cellfed/config.py)
    **PRODUCTION,
    "NODE_ID": "prod",
    "SECRET_KEY": secrets.token_hex(32),
    "PSEUDONYM_KEY": secrets.token_hex(32),
    "OIDC_ISSUER": "https://idp.example.org/realms/alliance",
    "NODE_URL": "https://node.example.org",
    "FEED_REQUIRE_TOKEN": True,
}


@pytest.fixture
def portal_engine(database_url):
    engine = database_engine(database_url)
    yield engine
    engine.dispose()


def _records(*lines):
    raw = [("biobank", BIOBANK), ("collection", COLLECTION)] + [("cell_line", x) for x in lines]
    return [(kind, schema_for(kind).load(record)) for kind, record in raw]


def _revisions(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return node_migrate.current(engine)
    finally:
        engine.dispose()


def _start_node(config) -> None:
    store_of(create_node_app(config)).dispose()


def _node_at(url: str, revision: str) -> None:
    """A node database migrated only up to ``revision`` (as older code left it)."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        command.upgrade(node_migrate.alembic_config(connection), revision)
    engine.dispose()


# -- the portal's tree ------------------------------------------------------------------
def test_portal_migrations_build_exactly_what_the_models_declare(portal_engine):
    change = portal_migrations.upgrade(portal_engine)
    assert change.before == () and set(change.after) == portal_migrations.TREE.heads()
    with portal_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), PortalBase.metadata
        )
    assert diff == []


def _portal_made_by_create_all(engine) -> None:
    """What ``PortalBase.metadata.create_all`` made before the portal had migrations: the
    tables of the first revision, without the columns later revisions add to them."""
    with engine.begin() as conn:
        command.upgrade(portal_migrations.TREE.config(conn), portal_migrations.BASELINE)
        conn.execute(sa.text("DROP TABLE alembic_version"))


def test_a_portal_database_made_by_create_all_is_stamped_and_keeps_its_rows(portal_engine):
    _portal_made_by_create_all(portal_engine)
    with portal_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO access_notifications (user_iss, user_sub, text, created_at, read) "
                "VALUES ('iss', 'sub', 'kept', CURRENT_TIMESTAMP, false)"
            )
        )
    change = portal_migrations.upgrade(portal_engine)
    assert change.adopted and change.before == (portal_migrations.BASELINE,)
    assert portal_migrations.TREE.current(portal_engine) == portal_migrations.TREE.heads()
    with portal_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT text FROM access_notifications")).scalar() == "kept"
        diff = compare_metadata(MigrationContext.configure(conn), PortalBase.metadata)
    assert diff == []


def test_a_create_all_portal_database_that_differs_from_the_first_revision_is_refused(
    portal_engine,
):
    _portal_made_by_create_all(portal_engine)
    with portal_engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE access_notifications ADD COLUMN extra INTEGER"))
    with pytest.raises(MigrationError, match="an unknown column access_notifications.extra"):
        portal_migrations.upgrade(portal_engine)
    assert "alembic_version" not in sa.inspect(portal_engine).get_table_names()


def test_the_portal_access_context_migrates_its_database_on_first_use(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    config = load_config({"PORTAL_DATABASE_URL": url, "ATTACHMENTS_DIR": str(tmp_path)})
    context = AccessContext(config, lambda uid: None)
    assert not (tmp_path / "portal.sqlite3").exists()  # nothing written before first use
    context.ready()
    assert portal_migrations.TREE.current(context.engine) == portal_migrations.TREE.heads()
    context.engine.dispose()


def test_the_portal_refuses_a_database_behind_its_code_in_production(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    engine = database_engine(url)
    portal_migrations.upgrade(engine)
    engine.dispose()
    # A future revision the database does not have yet: the code is now "ahead".
    monkeypatch.setattr(portal_migrations.TREE.__class__, "heads", lambda self: {"0002_next"})
    config = load_config({"PORTAL_DATABASE_URL": url, "ATTACHMENTS_DIR": str(tmp_path)})
    context = AccessContext({**config, **PRODUCTION}, lambda uid: None)
    with pytest.raises(MigrationRefused, match="cellfed portal migrate"):
        context.ready()
    context.engine.dispose()


# -- when migrations run ----------------------------------------------------------------
def test_auto_migrate_is_on_except_in_production_unless_the_setting_says_so():
    assert auto_migrate_allowed({})
    assert not auto_migrate_allowed(PRODUCTION)
    assert auto_migrate_allowed({**PRODUCTION, "AUTO_MIGRATE": True})
    assert not auto_migrate_allowed({"AUTO_MIGRATE": False})
    assert load_config(env={"CELLFED_AUTO_MIGRATE": "true"})["AUTO_MIGRATE"] is True
    assert load_config(env={"CELLFED_AUTO_MIGRATE": ""})["AUTO_MIGRATE"] is None


def test_a_node_in_production_refuses_to_start_on_an_old_database_until_migrated(
    database_url,
):
    _node_at(database_url, "0002_catalogue_v2")
    config = {"DATABASE_URL": database_url, **NODE_IN_PRODUCTION}
    with pytest.raises(MigrationRefused, match=r"0002_catalogue_v2 .*`cellfed node migrate`"):
        _start_node(config)
    assert _revisions(database_url) == {"0002_catalogue_v2"}

    result = CliRunner().invoke(main, ["node", "migrate", "--db", database_url])
    assert result.exit_code == 0, result.output
    assert f"migrated from 0002_catalogue_v2 to {HEADS}" in result.output
    _start_node(config)  # now at the code's revision: starts

    allowed = CliRunner().invoke(main, ["node", "migrate", "--db", database_url])
    assert f"already at {HEADS}" in allowed.output


def test_a_node_in_production_may_migrate_on_start_when_the_setting_allows_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'node.sqlite3'}"
    _node_at(url, "0002_catalogue_v2")
    _start_node({"DATABASE_URL": url, **NODE_IN_PRODUCTION, "AUTO_MIGRATE": True})
    assert _revisions(url) == node_migrate.heads()


def test_a_new_database_is_created_even_in_production(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    _start_node({"DATABASE_URL": url, **NODE_IN_PRODUCTION})  # nothing there to lose
    assert _revisions(url) == node_migrate.heads()


def test_every_change_of_revision_is_logged(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'node.sqlite3'}"
    _node_at(url, "0001_foundation")
    engine = sa.create_engine(url)
    with caplog.at_level(logging.INFO, logger="federation.migrate"):
        node_migrate.upgrade(engine)
        node_migrate.upgrade(engine)  # at the heads: nothing to log
    assert [r.getMessage() for r in caplog.records if r.name == "federation.migrate"] == [
        f"migrated the node database from revision 0001_foundation to {HEADS}"
    ]
    engine.dispose()


def test_a_database_at_a_revision_the_code_does_not_know_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'node.sqlite3'}"
    store = CatalogueStore(url)
    store.create_schema()
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    with pytest.raises(MigrationError, match="0099_from_the_future, which this code does not"):
        node_migrate.upgrade(store.engine)
    store.dispose()


# -- downgrades that would drop data ----------------------------------------------------
def test_the_catalogue_v2_downgrade_refuses_to_drop_withdrawn_content_and_changes_nothing(
    store,
):
    store.write(_records(cell_line("L1")))
    store.withdraw("cell_line", "L1")
    with pytest.raises(MigrationError, match="content kept for withdrawn records"):
        downgrade(store.engine, node_migrate.TREE, "0001_foundation")
    # The later steps before it ran in the same transaction, and were rolled back with it.
    assert node_migrate.current(store.engine) == node_migrate.heads()
    assert {"access_parts", "access_outbox"} <= set(sa.inspect(store.engine).get_table_names())
    assert store.withdrawn("cell_line", "L1")["name"] == "L1"


def test_a_downgrade_drops_data_only_when_asked(store):
    store.write(_records(cell_line("L1")))
    store.withdraw("cell_line", "L1")
    change = downgrade(store.engine, node_migrate.TREE, "0001_foundation", lose_data=True)
    assert change.after == ("0001_foundation",)
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns("records")}
    assert "withdrawn_payload" not in columns


def test_downgrades_without_data_to_lose_run(portal_engine):
    portal_migrations.upgrade(portal_engine)
    downgrade(portal_engine, portal_migrations.TREE, "base")
    assert set(sa.inspect(portal_engine).get_table_names()) <= {"alembic_version"}


def test_the_0008_backfill_fills_more_rows_than_one_batch_with_their_canonical_texts(store):
    import importlib

    from federation.node.models import Record
    from federation.protocol import canonical_hash, canonical_json

    batch = importlib.import_module("federation.node.migrations.versions.0008_canonical_text")
    lines = [cell_line(f"L{i}") for i in range(2 * batch.BATCH + 7)]
    store.write(_records(*lines))
    store.withdraw("cell_line", "L1500")  # a tombstone between two batches
    with store.sessions.begin() as session:  # a row whose stored hash is not of its payload
        session.execute(
            sa.update(Record).where(Record.local_id == "L999").values(content_hash="0" * 64)
        )
    downgrade(store.engine, node_migrate.TREE, "0007_co_applicants")
    node_migrate.upgrade(store.engine)
    with store.sessions() as session:
        rows = {r.local_id: (r.canonical, r.payload, r.content_hash) for r in session.query(Record)}
    assert len(rows) == len(lines) + 2
    assert rows["L1500"][0] is None and rows["L999"][0] is None
    filled = {k: v for k, v in rows.items() if k not in ("L1500", "L999")}
    for local_id, (text, payload, digest) in filled.items():
        assert text is not None, local_id
        assert text.encode() == canonical_json(payload), local_id
        assert canonical_hash(text.encode()) == digest, local_id
