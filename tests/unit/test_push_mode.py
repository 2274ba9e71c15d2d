"""Push mode's pure parts: the registry's mode, the indexer's judgement of a pushed page, the
reading of a pushed body, where a node pushes from, and the documented push API."""

from __future__ import annotations

import pytest

from cellfed.config import load_config
from federation.node.app import create_app as create_node_app
from federation.node.feed import feed_page
from federation.node.importer import import_catalogue
from federation.node.privacy import FactsPolicy, policy_of
from federation.node.push import pusher_for, start_from
from federation.node.store import store_of
from federation.registry import Member, RegistryError, parse_members
from search.engine import SearchEngine
from search.health import public_health
from search.indexer.app import create_app as create_indexer_app
from search.indexer.daemon import SyncDaemon
from search.indexer.ingest import ACK, APPLY, GAP, RESYNC, PushRefused, State, judge, read_page
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line
from tests.unit.test_access_apis import documented, routes


# -- the registry ------------------------------------------------------------------------
def test_a_member_is_in_pull_mode_unless_it_says_push():
    members = parse_members(
        {
            "member": [
                {"id": "a", "url": "http://x"},
                {"id": "b", "url": "http://y", "mode": "push"},
            ]
        }
    )
    assert [(m.id, m.mode, m.pushes) for m in members] == [
        ("a", "pull", False),
        ("b", "push", True),
    ]


def test_an_unknown_mode_is_named_with_its_member():
    with pytest.raises(RegistryError, match=r"member #1 \(a\): 'mode' must be one of pull, push"):
        parse_members({"member": [{"id": "a", "url": "http://x", "mode": "poll"}]}, "m.toml")


# -- the judgement of a pushed page --------------------------------------------------------
AT_10 = State(cursor=10, base=0, epoch=7)


@pytest.mark.parametrize(
    ("after", "next_cursor", "action", "expected"),
    [
        (10, 20, APPLY, 20),  # the next page
        (5, 20, APPLY, 20),  # overlapping: external versions keep the newest
        (0, 10, ACK, 10),  # a duplicate of a page already taken
        (3, 8, ACK, 10),  # a late, older page
        (10, 10, ACK, 10),  # nothing new
        (12, 20, GAP, 10),  # changes 11 and 12 would be missing
    ],
)
def test_a_page_is_applied_acknowledged_or_refused_by_the_cursor(
    after, next_cursor, action, expected
):
    decision = judge(AT_10, after, next_cursor, 7, snapshot=False)
    assert (decision.action, decision.expected) == (action, expected)


def test_a_new_epoch_asks_for_everything_and_its_snapshot_lifts_the_version_base():
    refused = judge(AT_10, 10, 20, epoch=8, snapshot=False)
    assert (refused.action, refused.expected) == (RESYNC, 0)
    restart = judge(State(cursor=10, base=100, epoch=7), 0, 4, epoch=8, snapshot=True)
    assert (restart.action, restart.base, restart.opens_snapshot) == (APPLY, 110, True)


def test_a_snapshot_from_the_same_store_keeps_the_base():
    decision = judge(State(cursor=10, base=100, epoch=7), 0, 4, epoch=7, snapshot=True)
    assert (decision.action, decision.base, decision.opens_snapshot) == (APPLY, 100, True)


def test_a_snapshot_this_process_forgot_is_asked_for_again():
    lost = State(cursor=10, base=0, epoch=7, snapshot_open=True, remembered=False)
    assert judge(lost, 10, 20, 7, snapshot=True).action == RESYNC
    kept = State(cursor=10, base=0, epoch=7, snapshot_open=True, remembered=True)
    assert judge(kept, 10, 20, 7, snapshot=True).action == APPLY


def test_a_snapshot_begun_in_an_index_since_replaced_is_asked_for_again_from_0():
    # A carried cursor of 10: the page would be acknowledged, its snapshot reconciled wrong.
    elsewhere = State(cursor=10, base=0, epoch=7, elsewhere=True)
    refused = judge(elsewhere, 3, 6, 7, snapshot=True)
    assert (refused.action, refused.expected) == (RESYNC, 0)
    assert judge(elsewhere, 0, 3, 7, snapshot=True).opens_snapshot  # begun again, here
    assert judge(elsewhere, 10, 12, 7, snapshot=False).action == APPLY  # not a snapshot's


def test_a_node_that_does_not_say_its_epoch_is_judged_by_the_cursor():
    assert judge(State(10, 0, None), 10, 20, None, snapshot=False).action == APPLY
    assert judge(AT_10, 10, 20, None, snapshot=False).action == APPLY


# -- the reading of a pushed body ------------------------------------------------------------
PAGE = {"node_id": "b", "after": 0, "next_cursor": 0, "latest_seq": 0, "has_more": False}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "send a feed page as a JSON object"),
        ({**PAGE}, "entries"),  # missing: the path is named
        ({**PAGE, "entries": [], "after": -1}, "after"),
        ({**PAGE, "entries": [], "node_id": "a"}, "the page's node_id is not 'b'"),
        ({**PAGE, "entries": [], "after": 5, "next_cursor": 4, "latest_seq": 9}, "below after"),
        ({**PAGE, "entries": [], "next_cursor": 4, "latest_seq": 3}, "latest_seq is below"),
    ],
)
def test_a_bad_pushed_body_is_a_400_that_says_what_and_where(body, message):
    with pytest.raises(PushRefused, match=message) as refused:
        read_page("b", body)
    assert refused.value.status == 400 and refused.value.as_dict()["error"] == "bad_page"


def test_a_good_pushed_body_is_a_feed_page():
    page = read_page("b", {**PAGE, "entries": [{"anything": 1}], "epoch": 3})
    assert (page.node_id, page.epoch, page.entries) == ("b", 3, [{"anything": 1}])


# -- the node's side -----------------------------------------------------------------------
@pytest.fixture
def seeded(node_app):
    store = store_of(node_app)
    assert import_catalogue(store, catalogue(cell_line("L1"), cell_line("L2")), "c.json").ok
    return node_app, store


def test_a_pushed_page_is_the_page_the_publish_api_serves(seeded):
    app, store = seeded
    served = app.test_client().get("/api/v1/feed?after=1&limit=2").json
    assert feed_page(store, "test-node", 1, 2, FactsPolicy()) == served


def test_the_node_pushes_from_the_indexers_cursor_or_everything_from_0(seeded):
    _, store = seeded
    latest, epoch = store.latest_seq(), store.epoch()
    assert start_from(store, 2, epoch) == (2, False)
    assert start_from(store, 0, None) == (0, True)
    assert start_from(store, 2, epoch + 1) == (0, True)  # the indexer knew another store
    assert start_from(store, latest + 5, epoch) == (0, True)  # beyond what this store has


def test_health_says_which_nodes_push():
    stamp = "2026-12-01T10:00:00+00:00"
    pushed = public_health({"node_id": "b", "mode": "push", "last_push": stamp})
    assert pushed is not None and (pushed["mode"], pushed["last_push"]) == ("push", stamp)
    pulled = public_health({"node_id": "a", "mode": "<script>"})
    assert pulled is not None and (pulled["mode"], pulled["last_push"]) == ("pull", None)


# -- the indexer's API is documented route for route -------------------------------------------
def test_every_indexer_route_is_in_its_openapi_document():
    members = [Member("a", "A", "http://127.0.0.1:1"), Member("b", "B", "http://x", "push")]
    indexer = Indexer(SearchEngine("http://127.0.0.1:1", "opensearch"), members, "t-")
    app = create_indexer_app(load_config({}), SyncDaemon(indexer, 1))
    assert routes(app, "/api/v1") == documented(app, "/api/v1/openapi.json")


def test_a_push_without_a_token_is_refused_before_anything_is_read():
    members = [Member("b", "B", "http://x", "push")]
    indexer = Indexer(SearchEngine("http://127.0.0.1:1", "opensearch"), members, "t-")
    app = create_indexer_app(load_config({}), SyncDaemon(indexer, 1))
    client = app.test_client()
    answer = client.post("/api/v1/push/b", json={**PAGE, "node_id": "b", "entries": []})
    assert answer.status_code == 403 and "Bearer" in answer.json["detail"]
    assert client.get("/api/v1/push/b").status_code == 403


def test_the_pusher_publishes_under_the_nodes_facts_policy(tmp_path):
    # A push-mode node's pages leave it as the feed's do: no count below its k (privacy.py).
    app = create_node_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'push.sqlite3'}",
            "NODE_ID": "push-node",
            "NODE_MODE": "push",
            "PUSH_INDEXER_URL": "https://indexer.invalid",
            "OIDC_ISSUER": "https://idp.invalid/realms/alliance",
            "OIDC_CLIENT_ID": "push-node",
            "OIDC_CLIENT_SECRET": "s" * 32,
            "FACTS_MIN_COUNT": 25,
        }
    )
    pusher = pusher_for(app)
    assert pusher is not None and pusher.policy == policy_of(app)
    assert pusher.policy.min_count == 25
