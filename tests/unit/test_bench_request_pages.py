"""The request-pages benchmark builds what production would hold (no timings here): its node
catalogue passes the import, its histories follow the lifecycle, and a small request built
through the services renders at both ends. Also: the part page's batched read of records
(federation/node/inbox/terms.py:prefetched) answers what one read per item answered."""

from __future__ import annotations

from bench.request_pages import (
    HISTORIES,
    OWNER,
    build,
    documents,
    node_catalogue,
    scenarios,
)
from federation.node.importer import import_catalogue
from federation.node.inbox.terms import prefetched
from federation.node.store import CatalogueStore
from portal.access.context import access_of
from schemas.lifecycle import CONDITIONS, Actor, State, allowed


def test_the_histories_are_transitions_the_lifecycle_allows():
    for steps in HISTORIES:
        state = State.SUBMITTED
        for event, after, _, conditions in steps:
            actor = Actor.NODE if event == "receive" else Actor.BIOBANK
            if event.startswith("researcher:"):
                event, actor = event.split(":", 1)[1], Actor.RESEARCHER
            assert event in allowed(state, actor), (state, event)
            assert set(conditions) <= set(CONDITIONS)
            state = State(after)
        assert state.value == steps[-1][1]


def test_the_documents_name_one_biobank_per_node_and_fifty_lines_each():
    docs = documents(3, 50)
    assert len(docs) == 150
    assert {(d["node_id"], d["biobank_id"]) for d in docs.values()} == {
        ("n01", "bb01"),
        ("n02", "bb02"),
        ("n03", "bb03"),
    }


def test_the_batched_read_answers_what_single_reads_answer(tmp_path):
    store = CatalogueStore(f"sqlite:///{tmp_path / 'n.sqlite3'}")
    store.create_schema()
    assert import_catalogue(store, node_catalogue(1, 5), "bench").ok
    items = [{"kind": "cell_line", "id": f"L01-0{i}"} for i in range(1, 6)]
    items += [{"kind": "collection", "id": "bb01-lines"}, {"kind": "cell_line", "id": "nope"}]
    read = prefetched(store, items)
    keys = [(i["kind"], i["id"]) for i in items] + [("biobank", "bb01")]
    keys.append(("collection", "bb01-lines"))
    for kind, local_id in keys:
        assert read(kind, local_id) == store.get(kind, local_id), (kind, local_id)
    assert read("cell_line", "nope") is None and read("biobank", "bb01") is not None
    store.dispose()


def test_a_small_request_builds_and_every_scenario_answers(tmp_path):
    built = build(
        f"sqlite:///{tmp_path / 'p.sqlite3'}",
        f"sqlite:///{tmp_path / 'n.sqlite3'}",
        str(tmp_path),
        biobanks=5,
        items=50,
    )
    req = access_of(built.portal).service.request_of(OWNER, built.request_id)
    assert len(req.parts) == 5 and sum(len(p.items) for p in req.parts) == 250
    assert {p.state for p in req.parts} >= {"under_review", "approved", "shipped", "rejected"}
    for _, call in scenarios(built).values():
        call()  # each checks its status and that the page shows the request
