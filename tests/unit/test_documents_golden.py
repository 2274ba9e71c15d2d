"""The search documents the indexer writes, byte for byte what they were.

The indexer's per-record work was made cheaper (memoised trees, single passes, a generated
loader); what it sends the engine must not change by a byte. The golden file holds, per
document, the SHA-256 of the exact JSON the engine client sends (search/json_codec.py:
orjson, key order kept) for a varied catalogue: the harvest benchmark's synthetic lines, the
demo catalogues, the real hPSCreg records and the real BBMRI-ERIC Directory snapshot (only
digests are stored, never the shared data). Each record goes the indexer's own way: the
node's canonical JSON, the feed entry checked (`Indexer._check_entry`: validation and hash),
then `to_document` with its biobank and collection.

When a change to the documents is intended, write the file again and review the diff of the
documents it names::

    .venv/bin/python -m tests.unit.test_documents_golden --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.harvest import node_records
from cellfed.config import PROJECT_ROOT
from federation.node.formats.sources import read_paths
from federation.node.importer import import_catalogue, import_files
from federation.node.store import CatalogueStore
from federation.protocol import canonical_form
from schemas import SCHEMA_VERSION, schema_for
from search.indexer.documents import to_document, uid
from search.indexer.sync import Indexer
from tests.builders.data_files import EBISC_PLACE, hpscreg_records, shared

GOLDEN = Path(__file__).parent / "golden" / "document_digests.json"
Records = list[tuple[str, dict[str, Any]]]


def _synthetic() -> Iterator[tuple[str, Records]]:
    for node in range(3):  # 3 x 300 lines, 2 biobanks and 10 collections each
        yield f"bench{node}", node_records(node, 300, seed=5)
    for path in sorted((PROJECT_ROOT / "config" / "demo").glob("*.json")):
        demo = json.loads(path.read_text())
        kinds = ("network", "biobank", "collection", "cell_line")
        yield f"demo-{path.stem}", [(k, r) for k in kinds for r in demo.get(f"{k}s", [])]


def _stored(store: CatalogueStore) -> Records:
    kinds = ("network", "biobank", "collection", "cell_line")
    return [(k, r) for k in kinds for r in sorted(store.records(k), key=lambda r: r["id"])]


def _real(tmp: Path) -> Iterator[tuple[str, Records]]:
    hpscreg = CatalogueStore(f"sqlite:///{tmp / 'hpscreg.sqlite3'}")
    hpscreg.create_schema()
    assert import_catalogue(hpscreg, EBISC_PLACE, "place.json").ok
    assert import_files(hpscreg, hpscreg_records()).ok
    yield "hpscreg", _stored(hpscreg)
    hpscreg.dispose()
    directory = CatalogueStore(f"sqlite:///{tmp / 'directory.sqlite3'}")
    directory.create_schema()
    files, problems = read_paths([shared("bbmri-eric-directory-2023")])
    assert not problems
    assert import_files(directory, files).ok
    yield "directory", _stored(directory)
    directory.dispose()


def _entry(seq: int, kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """The feed entry a node sends for a record (its canonical JSON, parsed as the indexer
    parses a page)."""
    canonical = schema_for(kind).dump(schema_for(kind).load(record))
    text, digest = canonical_form(canonical)
    return {
        "seq": seq,
        "kind": kind,
        "id": record["id"],
        "op": "upsert",
        "schema_version": SCHEMA_VERSION,
        "hash": digest,
        "modified": "2026-12-01T10:00:00.123456+00:00",
        "record": orjson.loads(text),
    }


def documents(node_id: str, records: Records) -> Iterator[tuple[str, bytes]]:
    """(uid, the JSON sent to the engine) of each record, the indexer's way."""
    checker = Indexer.__new__(Indexer)  # _check_entry needs no engine, nor any state
    context: dict[str, dict[str, Any]] = {}
    for seq, (kind, record) in enumerate(records, start=1):
        entry, problem = checker._check_entry(_entry(seq, kind, record))
        assert entry is not None, (node_id, kind, record["id"], problem)
        loaded = entry["record"]
        if kind in ("biobank", "collection"):
            context[uid(node_id, kind, loaded["id"])] = loaded
        doc = to_document(
            node_id,
            kind,
            loaded,
            seq=seq,
            content_hash=entry["hash"],
            schema_version=entry["schema_version"],
            modified=entry["modified"].isoformat(),
            biobank=context.get(uid(node_id, "biobank", loaded.get("biobank", ""))),
            collection=context.get(uid(node_id, "collection", loaded.get("collection", ""))),
        )
        yield doc["uid"], orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)


def digests(tmp: Path) -> tuple[dict[str, str], dict[str, str]]:
    """({catalogue#position: digest}, {catalogue#position: uid}): positions, not the real
    records' ids, name the documents in the golden file."""
    out: dict[str, str] = {}
    uids: dict[str, str] = {}
    for node_id, records in (*_synthetic(), *_real(tmp)):
        for n, (doc_uid, body) in enumerate(documents(node_id, records)):
            key = f"{node_id}#{n}"
            out[key] = hashlib.sha256(body).hexdigest()[:16]  # 64 bits: plenty to see a change
            uids[key] = doc_uid
    return out, uids


def test_documents_are_byte_for_byte_what_they_were(tmp_path):
    golden = json.loads(GOLDEN.read_text())
    now, uids = digests(tmp_path)
    assert len(now) == len(golden) > 4000  # every kind, real and synthetic
    changed = [uids.get(k, k) for k in sorted(golden) if now.get(k) != golden[k]]
    assert not changed, f"{len(changed)} documents differ, e.g. {changed[:5]}"
    assert now == golden


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(digests(Path(tmp))[0], indent=0, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN.relative_to(PROJECT_ROOT)}")
