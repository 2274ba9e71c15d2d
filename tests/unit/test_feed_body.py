"""Feed pages served from the records' stored canonical texts (federation/node/feed_body.py):
byte for byte the canonical JSON of the page built from parsed records, under every facts
policy, for tombstones, for rows written before the texts were kept, and after 0008's backfill."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from federation.migrate import downgrade
from federation.node import migrate as node_migrate
from federation.node.feed import feed_page
from federation.node.feed_body import feed_page_body
from federation.node.importer import import_catalogue
from federation.node.models import Record
from federation.node.privacy import POLICED_KINDS, FactsPolicy, publishable_record
from federation.protocol import canonical_json, content_hash
from schemas import KINDS
from tests.builders import BIOBANK, catalogue, cell_line

POLICIES = [FactsPolicy(), FactsPolicy(min_count=5, below="hide", rounding=10), FactsPolicy(1)]
FACTS = [
    {"number_of_donors": 64, "number_of_samples": 410},
    {"sex": "FEMALE", "number_of_donors": 3, "number_of_samples": 17},
]


def fill(store) -> None:
    document = catalogue(
        cell_line("L1", name="Zürich-1 «ß»"), cell_line("L2"), cell_line("L3"), cell_line("L4")
    )
    document["collections"].append(
        {
            "id": "facts-coll",
            "biobank": BIOBANK["id"],
            "name": "A cohort with counts",
            "materials": ["DNA"],
            "facts": copy.deepcopy(FACTS),
        }
    )
    assert import_catalogue(store, document, "test.json").ok
    store.withdraw("cell_line", "L2")  # a tombstone in the feed


@pytest.mark.parametrize("policy", POLICIES)
def test_a_stored_text_page_is_the_canonical_json_of_the_parsed_page(store, policy):
    fill(store)
    for after, limit in ((0, 100), (0, 3), (3, 2), (store.latest_seq(), 10)):
        page = feed_page_body(store, "test-node", after, limit, policy)
        built = feed_page(store, "test-node", after, limit, policy)
        assert page.body == canonical_json(built)
        assert (page.after, page.next_cursor, page.has_more, page.entries) == (
            after,
            built["next_cursor"],
            built["has_more"],
            len(built["entries"]),
        )


def test_every_record_a_page_sends_has_the_hash_of_what_it_sends(store):
    fill(store)
    page = orjson.loads(feed_page_body(store, "test-node", 0, 100, FactsPolicy()).body)
    upserts = [e for e in page["entries"] if e["op"] == "upsert"]
    assert {e["kind"] for e in upserts} == {"biobank", "collection", "cell_line"}
    assert all(e["hash"] == content_hash(e["record"]) for e in upserts)
    [coll] = [e for e in upserts if e["id"] == "facts-coll"]
    assert coll["record"]["facts"][1] == {
        "sex": "FEMALE",
        "number_of_donors_below": 10,
        "number_of_samples": 17,
    }


def test_rows_written_before_the_texts_were_kept_are_sent_from_their_payload(store):
    fill(store)
    with store.sessions.begin() as session:
        session.execute(update(Record).where(Record.kind == "cell_line").values(canonical=None))
    page = feed_page_body(store, "test-node", 0, 100, FactsPolicy())
    assert page.body == canonical_json(feed_page(store, "test-node", 0, 100, FactsPolicy()))


def test_a_stored_text_that_is_not_of_the_stored_hash_is_never_sent(store):
    fill(store)
    # As a writer that changed the payload and its hash but not the text would leave it.
    with store.sessions.begin() as session:
        session.execute(
            update(Record).where(Record.kind == "cell_line").values(canonical='{"id":"stale"}')
        )
    page = feed_page_body(store, "test-node", 0, 100, FactsPolicy())
    assert b"stale" not in page.body
    assert page.body == canonical_json(feed_page(store, "test-node", 0, 100, FactsPolicy()))


def test_the_0008_backfill_keeps_the_text_of_each_record_whose_hash_it_is(store):
    fill(store)
    before = feed_page_body(store, "test-node", 0, 100, FactsPolicy()).body
    with store.sessions.begin() as session:  # a row whose stored hash is not of its payload
        session.execute(update(Record).where(Record.local_id == "L3").values(content_hash="0" * 64))
    downgrade(store.engine, node_migrate.TREE, "0007_co_applicants")
    node_migrate.upgrade(store.engine)
    with store.sessions() as session:
        texts = {r.local_id: (r.canonical, r.payload) for r in session.query(Record)}
    assert texts["L3"][0] is None and texts["L2"][0] is None  # the odd row, the tombstone
    for local_id in ("L1", "L4", "facts-coll", BIOBANK["id"]):
        text, payload = texts[local_id]
        assert text.encode() == canonical_json(payload)
    after = orjson.loads(feed_page_body(store, "test-node", 0, 100, FactsPolicy()).body)
    assert [e for e in after["entries"] if e["id"] != "L3"] == [
        e for e in orjson.loads(before)["entries"] if e["id"] != "L3"
    ]


@given(
    st.sampled_from(sorted(set(KINDS) - POLICED_KINDS)),
    st.dictionaries(st.sampled_from(["id", "name", "facts", "size"]), st.integers() | st.text()),
)
def test_the_policy_leaves_records_of_other_kinds_as_they_are(kind, record):
    # Why the stored text of such a record is sent without being parsed.
    assert publishable_record(kind, record, FactsPolicy(min_count=50)) is record


def test_a_record_tampered_with_on_the_wire_is_still_rejected_by_name(store):
    from search.engine import SearchEngine
    from search.indexer.sync import Indexer

    fill(store)
    body = feed_page_body(store, "test-node", 0, 100, FactsPolicy()).body
    tampered = orjson.loads(body.replace("Zürich-1".encode(), b"Zurich-1"))
    indexer = Indexer(SearchEngine("http://127.0.0.1:9"), [], "test-")  # checks need no engine
    seqs = {e["id"]: e["seq"] for e in tampered["entries"]}
    verdicts = {e["id"]: indexer._check_entry(e) for e in tampered["entries"]}
    entry, problem = verdicts.pop("L1")
    assert entry is None and problem is not None
    assert (problem.kind, problem.id, problem.seq) == ("cell_line", "L1", seqs["L1"])
    assert problem.reason == "content hash does not match the record"
    assert all(problem is None for _, problem in verdicts.values())  # the rest pass
