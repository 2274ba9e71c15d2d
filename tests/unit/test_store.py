"""The store on SQLite and PostgreSQL: migrations, withdrawal and restore, withdrawn imports,
and withdrawals that stick until a restore."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from federation.node.migrate import current, heads
from federation.node.models import load_models
from federation.node.store import (
    CatalogueStore,
    InUse,
    MissingReference,
    RecordNotFound,
    StillWithdrawn,
)
from schemas import schema_for
from tests.builders import BIOBANK, COLLECTION, cell_line


def records(*lines):
    raw = [("biobank", BIOBANK), ("collection", COLLECTION)] + [("cell_line", x) for x in lines]
    return [(kind, schema_for(kind).load(record)) for kind, record in raw]


def test_migrations_build_exactly_what_the_models_declare(store):
    assert current(store.engine) == heads()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), load_models().metadata)
    assert diff == []


def test_a_database_made_before_migrations_is_upgraded_in_place(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the foundation's create_all schema, with one record
        conn.exec_driver_sql(
            "CREATE TABLE records (pk INTEGER PRIMARY KEY, kind VARCHAR(32) NOT NULL, "
            "local_id VARCHAR(128) NOT NULL, payload JSON, content_hash VARCHAR(64) NOT NULL, "
            "seq INTEGER NOT NULL, deleted BOOLEAN NOT NULL, schema_version VARCHAR(16) NOT "
            "NULL, modified DATETIME NOT NULL, UNIQUE (kind, local_id))"
        )
        conn.exec_driver_sql("CREATE UNIQUE INDEX ix_records_seq ON records (seq)")
        conn.exec_driver_sql(
            "CREATE TABLE counters (name VARCHAR(32) PRIMARY KEY, value INTEGER NOT NULL)"
        )
        conn.exec_driver_sql("INSERT INTO counters VALUES ('changes', 1)")
        conn.exec_driver_sql(
            "INSERT INTO records VALUES (1, 'biobank', 'b1', '{\"id\": \"b1\"}', 'h', 1, 0, "
            "'1', '2026-01-01 00:00:00')"
        )
    engine.dispose()
    store = CatalogueStore(url)
    store.create_schema()
    assert current(store.engine) == heads()
    assert store.get("biobank", "b1") == {"id": "b1"} and store.latest_seq() == 1
    store.dispose()


def test_withdraw_then_restore_brings_the_record_back_with_new_sequences(store):
    store.write(records(cell_line("L1")))
    store.withdraw("cell_line", "L1")
    assert store.get("cell_line", "L1") is None
    assert store.withdrawn("cell_line", "L1")["name"] == "L1"
    assert store.changes(3, 10)[-1]["op"] == "delete"
    store.restore("cell_line", "L1")
    entry = store.changes(4, 10)[-1]
    assert (entry["op"], entry["seq"], entry["record"]["name"]) == ("upsert", 5, "L1")
    assert store.withdrawn("cell_line", "L1") is None


def test_restore_refuses_what_names_a_withdrawn_record(store):
    store.write(records(cell_line("L1")))
    with pytest.raises(InUse, match="still referenced by cell_line L1"):
        store.withdraw("collection", "ipsc-disease")
    store.withdraw("cell_line", "L1")
    store.withdraw("collection", "ipsc-disease")
    with pytest.raises(MissingReference, match="names collection 'ipsc-disease', which is not"):
        store.restore("cell_line", "L1")
    store.restore("collection", "ipsc-disease")
    store.restore("cell_line", "L1")
    with pytest.raises(RecordNotFound):
        store.restore("cell_line", "L1")  # live: nothing to restore


def test_restore_names_a_reference_that_is_missing_and_restores_nothing(store):
    line = schema_for("cell_line").load(cell_line("L9", collection="gone-collection"))
    store.write([*records(), ("cell_line", line)], withdrawn={("cell_line", "L9")})
    seq = store.latest_seq()
    with pytest.raises(MissingReference) as refused:
        store.restore("cell_line", "L9")
    assert str(refused.value) == (
        "cell_line 'L9' names collection 'gone-collection', which is not in the catalogue: "
        "restore or import that first"
    )
    assert not isinstance(refused.value, InUse)  # InUse means "still referenced"
    assert store.get("cell_line", "L9") is None and store.latest_seq() == seq


def test_withdraw_and_restore_say_when_there_is_no_such_record(store):
    store.write(records())
    with pytest.raises(RecordNotFound, match="no cell_line with id 'L404'"):
        store.withdraw("cell_line", "L404")
    with pytest.raises(RecordNotFound, match="no withdrawn biobank with id 'bb-berlin'"):
        store.restore("biobank", "bb-berlin")


def test_records_can_be_stored_withdrawn_and_reimported_without_change(store):
    data = records(cell_line("L1"), cell_line("L2"))
    summary = store.write(data, withdrawn={("cell_line", "L2")})
    assert (summary.created, summary.withdrawn) == (3, 1)
    assert store.counts()["cell_line"] == 1 and store.withdrawn_counts()["cell_line"] == 1
    assert [e["op"] for e in store.changes(0, 10)] == ["upsert"] * 3 + ["delete"]
    again = store.write(data, withdrawn={("cell_line", "L2")})
    assert (again.unchanged, again.created, again.withdrawn) == (4, 0, 0)
    assert store.latest_seq() == 4
    with pytest.raises(StillWithdrawn, match="cell_line 'L2': withdrawn at this node; restore"):
        store.write(data)  # no longer withdrawn at the source: only a restore brings it back
    assert store.get("cell_line", "L2") is None and store.latest_seq() == 4
    store.restore("cell_line", "L2")
    assert store.get("cell_line", "L2")["name"] == "L2"


def feed(store):
    return store.changes(0, 1000)


def test_a_new_record_reusing_a_withdrawn_id_is_refused_and_the_kept_content_stays(store):
    store.write(records(cell_line("L1"), cell_line("L2")))
    store.withdraw("cell_line", "L1")
    before, kept = feed(store), store.withdrawn("cell_line", "L1")
    reused = schema_for("cell_line").load(cell_line("L1", name="Someone else's line"))
    other = schema_for("cell_line").load(cell_line("L3"))
    with pytest.raises(StillWithdrawn) as refused:
        store.write([("cell_line", other), ("cell_line", reused)])
    assert refused.value.keys == [("cell_line", "L1")]
    assert isinstance(refused.value, ValueError)
    assert store.get("cell_line", "L1") is None and store.get("cell_line", "L3") is None
    assert store.withdrawn("cell_line", "L1") == kept and kept["name"] == "L1"
    assert feed(store) == before  # all or nothing: the other line was not written either


def test_withdrawn_again_with_other_content_stays_as_it_was(store):
    line = schema_for("cell_line").load(cell_line("L1"))
    store.write([*records(), ("cell_line", line)], withdrawn={("cell_line", "L1")})
    before = feed(store)
    changed = schema_for("cell_line").load(cell_line("L1", name="Renamed at the source"))
    summary = store.write([("cell_line", changed)], withdrawn={("cell_line", "L1")})
    assert (summary.unchanged, summary.withdrawn, summary.updated) == (1, 0, 0)
    assert store.withdrawn("cell_line", "L1")["name"] == "L1"
    assert feed(store) == before


def test_a_write_that_withdraws_a_referenced_collection_is_refused(store):
    store.write(records(cell_line("L1"), cell_line("L2")))
    before = feed(store)
    collection = dict(records()[1][1])
    key = ("collection", "ipsc-disease")
    with pytest.raises(InUse, match="'ipsc-disease' is still referenced by cell_line L1, cell"):
        store.write([("collection", collection)], withdrawn={key})
    line = schema_for("cell_line").load(cell_line("L1"))
    with pytest.raises(InUse, match="still referenced by cell_line L2$"):  # L1 goes with it
        store.write(
            [("collection", collection), ("cell_line", line)], withdrawn={key, line_key("L1")}
        )
    assert feed(store) == before and store.get("collection", "ipsc-disease")
    lines = [("cell_line", schema_for("cell_line").load(cell_line(i))) for i in ("L1", "L2")]
    summary = store.write(
        [("collection", collection), *lines], withdrawn={key, line_key("L1"), line_key("L2")}
    )
    assert summary.withdrawn == 3 and store.counts()["cell_line"] == 0
    assert store.withdrawn("collection", "ipsc-disease")["name"] == "Disease iPSC lines"


def test_a_write_that_withdraws_a_biobank_checks_its_collections_and_lines(store):
    store.write(records(cell_line("L1")))
    biobank = dict(records()[0][1])
    with pytest.raises(InUse, match="'bb-berlin' is still referenced by cell_line L1, collection"):
        store.write([("biobank", biobank)], withdrawn={("biobank", "bb-berlin")})
    assert store.get("biobank", "bb-berlin") is not None


def line_key(local_id):
    return ("cell_line", local_id)


def test_feed_entries_carry_the_schema_version_of_their_record(store):
    from schemas import SCHEMA_VERSION

    store.write(records(cell_line("L1")))
    store.withdraw("cell_line", "L1")
    assert {e["schema_version"] for e in store.changes(0, 10)} == {SCHEMA_VERSION} == {"2"}
