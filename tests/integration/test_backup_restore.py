"""A node restored from a backup, on the real engine: the indexer notices that the node's
change sequence went back, reads it again from 0, and the index ends equal to the node."""

import pytest

from cellfed.backup import Target, backup, restore
from federation.node.importer import import_catalogue
from search.indexer.audit import audit, index_snapshot
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line

pytestmark = pytest.mark.engine


def assert_index_equals_node(engine, prefix, node):
    [report] = audit(engine, prefix, [node.member])
    assert report.exact, report.summary()
    return index_snapshot(engine, prefix, node.member.id)


def test_a_node_restored_from_its_backup_is_resynced_and_the_index_ends_equal_to_it(
    start_node, search_engine, index_prefix, tmp_path
):
    lines = [cell_line("L1"), cell_line("L2"), cell_line("L3")]
    node = start_node("restored", catalogue(*lines))
    target = Target("node", node.store.engine.url.render_as_string(), node_id="restored")
    indexer = Indexer(search_engine, [node.member], index_prefix, page_size=2, timeout=5)
    [first] = indexer.sync_all()
    assert first.ok and not first.resynced, first.summary()
    at_backup = assert_index_equals_node(search_engine, index_prefix, node)

    manifest = backup(target, tmp_path / "restored.tar.gz")  # while the node serves
    assert manifest.latest_seq == node.store.latest_seq()

    # After the backup: new lines, a changed one and a withdrawal, all indexed.
    changed = catalogue(*lines, cell_line("L4"), cell_line("L5"))
    changed["cell_lines"][1]["availability"] = "not_available"
    assert import_catalogue(node.store, changed, "later.json").ok
    node.store.withdraw("cell_line", "L1")
    [after] = indexer.sync_all()
    assert after.ok and not after.resynced, after.summary()
    later = assert_index_equals_node(search_engine, index_prefix, node)
    assert later != at_backup and len(later) == len(at_backup) + 1  # +L4, +L5, -L1

    # The restore puts the node back: its change sequence goes back to the backup's.
    report = restore(target, tmp_path / "restored.tar.gz")
    assert node.store.latest_seq() == manifest.latest_seq < report.replaced_seq

    [resync] = indexer.sync_all()
    assert resync.ok and resync.resynced, resync.summary()
    assert resync.reconciled == 2  # L4 and L5, which the backup never had
    assert assert_index_equals_node(search_engine, index_prefix, node) == at_backup

    # A change made after the restore, with a sequence number lower than before, still wins.
    node.store.write([("cell_line", cell_line("L2", availability="not_available"))])
    [next_change] = indexer.sync_all()
    assert next_change.ok and next_change.indexed == 1 and next_change.stale == 0
    assert_index_equals_node(search_engine, index_prefix, node)


def test_changes_made_right_after_a_restore_do_not_hide_it_from_the_indexer(
    start_node, search_engine, index_prefix, tmp_path
):
    """The restored store has a new epoch, so the indexer reads it again from 0 even when
    new changes have already carried its sequence past the indexer's cursor."""
    node = start_node("epoch", catalogue(cell_line("L1"), cell_line("L2")))
    target = Target("node", node.store.engine.url.render_as_string(), node_id="epoch")
    indexer = Indexer(search_engine, [node.member], index_prefix, page_size=2, timeout=5)
    epoch = node.store.epoch()
    assert epoch is not None
    backup(target, tmp_path / "epoch.tar.gz")
    assert import_catalogue(
        node.store, catalogue(*(cell_line(f"L{i}") for i in range(1, 5))), "more.json"
    ).ok
    [before] = indexer.sync_all()
    assert before.ok, before.summary()

    restore(target, tmp_path / "epoch.tar.gz")
    assert node.store.epoch() not in (None, epoch)
    # Enough new changes to pass the indexer's cursor before it syncs again.
    many = catalogue(*(cell_line(f"N{i}") for i in range(1, 8)))
    assert import_catalogue(node.store, many, "after-restore.json").ok
    cursor, _ = indexer.cursor(before.index, "epoch")
    assert node.store.latest_seq() > cursor  # the cursor alone would not tell

    [resync] = indexer.sync_all()
    assert resync.ok and resync.resynced, resync.summary()
    assert resync.reconciled == 2  # L3 and L4, which the restored store never had
    assert_index_equals_node(search_engine, index_prefix, node)
