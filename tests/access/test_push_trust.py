"""Push mode's trust on the real identity provider: only a node's own machine token pushes
pages for it or reads where it stands; another node's, the portal's or none is refused, and
nothing of a refused page is stored."""

from __future__ import annotations

import pytest
import requests

from cellfed.config import load_config
from cellfed.demo import demo_secret
from cellfed.serve import serve_in_thread
from federation.node.feed import feed_page
from federation.node.privacy import FactsPolicy
from federation.node.push import Pusher
from federation.node.store import CatalogueStore
from federation.registry import Member
from federation.tokens import ClientCredentials
from search.indexer.app import create_app as create_indexer_app
from search.indexer.daemon import SyncDaemon
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line
from tests.integration.test_push import store_audit

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]
NODE = "uk-hipsci"


@pytest.fixture
def indexer_service(idp, search_engine, index_prefix):
    config = load_config(
        {"OIDC_ISSUER": idp.issuer, "SEARCH_URL": search_engine.url, "INDEX_PREFIX": index_prefix}
    )
    members = [
        Member(NODE, "UK", "http://127.0.0.1:9", "push"),
        Member("de-stemcellbank", "DE", "http://127.0.0.1:9"),
    ]
    indexer = Indexer.from_config(config, members)
    indexer.prepare()
    service = serve_in_thread(create_indexer_app(config, SyncDaemon(indexer, 3600)))
    yield service.url
    service.stop()


def bearer(idp, client: str) -> dict[str, str]:
    token = ClientCredentials(client, demo_secret(client), issuer=idp.issuer).token()
    return {"Authorization": f"Bearer {token}"}


def test_only_the_nodes_own_token_pushes_for_it(
    idp, indexer_service, tmp_path, search_engine, index_prefix
):
    from federation.node.importer import import_catalogue

    store = CatalogueStore(f"sqlite:///{tmp_path / 'n.sqlite3'}")
    store.create_schema()
    assert import_catalogue(store, catalogue(cell_line("L1")), "c.json").ok
    url = f"{indexer_service}/api/v1/push/{NODE}"
    body = feed_page(store, NODE, 0, 100, FactsPolicy())
    for headers in ({}, bearer(idp, "de-stemcellbank"), bearer(idp, "portal")):
        refused = requests.post(
            url, json=body, headers=headers, params={"snapshot": "true"}, timeout=10
        )
        assert refused.status_code == 403, refused.text
        assert requests.get(url, headers=headers, timeout=10).status_code == 403
    own = bearer(idp, NODE)
    assert requests.get(url, headers=own, timeout=10).json()["cursor"] == 0  # nothing stored
    # Someone else's page under this node's name is a 400 naming the field.
    forged = requests.post(
        url, json={**body, "node_id": "de-stemcellbank"}, headers=own, timeout=10
    )
    assert forged.status_code == 400 and "node_id" in forged.json()["detail"]
    # A pull-mode member may not push, even with its own token.
    pull = requests.post(
        f"{indexer_service}/api/v1/push/de-stemcellbank",
        json={**body, "node_id": "de-stemcellbank"},
        headers=bearer(idp, "de-stemcellbank"),
        timeout=10,
    )
    assert pull.status_code == 409 and pull.json()["error"] == "pull_mode"

    # The node's pusher, with its own credentials, gets everything in.
    credentials = ClientCredentials(NODE, demo_secret(NODE), issuer=idp.issuer)
    pusher = Pusher(
        store,
        NODE,
        indexer_service,
        lambda fresh: {"Authorization": f"Bearer {credentials.token()}"},
    )
    report = pusher.push_pass()
    assert report.snapshot and report.cursor == store.latest_seq()
    assert store_audit(search_engine, index_prefix, NODE, store).exact
    assert pusher.push_pass().pages == 0  # nothing new: nothing sent
    store.dispose()
