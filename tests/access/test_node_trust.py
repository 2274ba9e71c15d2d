"""Node-to-centre trust on the real identity provider: only the indexer's token, minted for
this node, reads a node's feed; only a node's own token pokes the indexer about it."""

from __future__ import annotations

import pytest
import requests

from cellfed.demo import demo_secret
from cellfed.serve import serve_in_thread
from federation.node.app import create_app as create_node_app
from federation.node.importer import import_catalogue
from federation.node.store import store_of
from federation.registry import Member
from federation.tokens import ClientCredentials
from search.indexer.app import create_app as create_indexer_app
from search.indexer.audit import audit
from search.indexer.daemon import SyncDaemon
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line
from tests.integration.test_sync import wait_for

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]
NODE = "uk-hipsci"  # a node of the realm: its client and the indexer's node-uk-hipsci scope


@pytest.fixture
def trusted_node(idp, tmp_path):
    app = create_node_app(
        {
            "NODE_ID": NODE,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'node.sqlite3'}",
            "OIDC_ISSUER": idp.issuer,
            "OIDC_CLIENT_SECRET": demo_secret(NODE),
            "FEED_REQUIRE_TOKEN": True,
        }
    )
    import_catalogue(store_of(app), catalogue(cell_line("L1")), "n.json")
    server = serve_in_thread(app)
    yield app, Member(NODE, "UK", server.url)
    server.stop()


def credentials(idp, client: str) -> ClientCredentials:
    return ClientCredentials(client, demo_secret(client), issuer=idp.issuer)


def feed(member: Member, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{member.url}/api/v1/feed", headers=headers, timeout=10)


def test_only_the_indexers_token_for_this_node_reads_the_feed(idp, trusted_node):
    _, member = trusted_node
    indexer = credentials(idp, "indexer")
    assert feed(member, None).status_code == 401
    assert feed(member, "not.a.token").status_code == 401
    # The indexer's token without this node's scope is not for this node.
    assert feed(member, indexer.token()).status_code == 401
    # A token minted for this node, but for the portal, is not a harvester's.
    portal = credentials(idp, "portal").token(f"node-{NODE}")
    assert feed(member, portal).status_code == 403
    ok = feed(member, indexer.token(f"node-{NODE}"))
    assert ok.status_code == 200 and ok.json()["node_id"] == NODE
    assert requests.get(f"{member.url}/api/v1/openapi.json", timeout=10).ok  # docs stay open


def test_the_indexer_syncs_with_its_tokens_and_pokes_need_the_nodes_own(
    idp, trusted_node, search_engine, index_prefix
):
    app, member = trusted_node
    config = {
        "OIDC_ISSUER": idp.issuer,
        "INDEXER_CLIENT_SECRET": demo_secret("indexer"),
        "SEARCH_URL": search_engine.url,
        "INDEX_PREFIX": index_prefix,
    }
    from cellfed.config import load_config

    config = load_config(config)
    indexer = Indexer.from_config(config, [member])
    [report] = indexer.sync_all()
    assert report.ok and report.indexed == 3, report.summary()
    assert all(
        r.exact
        for r in audit(
            search_engine, index_prefix, [member], token=lambda fresh: indexer.token(member, fresh)
        )
    )

    daemon = SyncDaemon(indexer, interval=3600)
    daemon.start()
    service = serve_in_thread(create_indexer_app(config, daemon))
    try:
        poke = f"{service.url}/api/v1/poke/{NODE}"
        assert requests.post(poke, timeout=10).status_code == 403
        other = credentials(idp, "de-stemcellbank").token()
        assert (
            requests.post(
                poke, headers={"Authorization": f"Bearer {other}"}, timeout=10
            ).status_code
            == 403
        )
        own = credentials(idp, NODE).token()
        assert (
            requests.post(poke, headers={"Authorization": f"Bearer {own}"}, timeout=10).status_code
            == 202
        )
        # And the node's own pokes (with its token) make a change searchable.
        app.config["INDEXER_POKE_URL"] = service.url
        from federation.node.app import _poker

        store_of(app).listeners.append(_poker(app))
        store_of(app).write([("cell_line", cell_line("L2"))])
        wait_for(lambda: search_engine.mget(f"{index_prefix}catalogue", [f"{NODE}:cell_line:L2"]))
    finally:
        service.stop()
        daemon.stop()
