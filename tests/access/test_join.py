"""Joining the alliance with no hand edits, on the real Keycloak and the real engine.

The new node's operator runs `cellfed node init`; the alliance's operator runs
`cellfed alliance add-member --instance`, which registers the node at Keycloak through its
admin API and in the member registry, and writes the node's client secret into its instance
file. The node then migrates, imports and serves (gunicorn, production mode) from that file
alone, its feed open to the indexer's token only; the indexer, with its own client
credentials, syncs it beside a member that was there before; the index equals the node.
Every command runs as the operators would run it, in a process of its own."""

from __future__ import annotations

import json
import os
import stat
import uuid

import pytest
import requests

from cellfed.alliance import IdpAdmin
from cellfed.config import load_config
from cellfed.demo import demo_secret
from cellfed.launch.process import free_port
from federation.registry import load_members
from federation.tokens import ClientCredentials
from federation.trust import TokenVerifier
from search.indexer.audit import audit
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line
from tests.production.processes import CellfedService, cellfed_env, run_cellfed

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

EXISTING = "uk-hipsci"  # a member before the join: a node of the realm file


@pytest.fixture
def admin(idp):
    if idp.admin_password is None:
        pytest.skip("the reused Keycloak's admin password is not known")
    return IdpAdmin.with_password(idp.issuer, "admin", idp.admin_password)


@pytest.fixture
def new_node_id(admin):
    """A node id the realm has never seen; its client and scope are removed afterwards
    (a reused Keycloak keeps no trace of the test)."""
    node_id = f"join-{uuid.uuid4().hex[:8]}"
    yield node_id
    client = admin.find_client(node_id)
    if client is not None:
        admin.call("DELETE", f"/clients/{client['id']}", ok=(204,))
    scope = admin.find_scope(f"node-{node_id}")
    if scope is not None:
        admin.call("DELETE", f"/client-scopes/{scope['id']}", ok=(204,))


def test_a_new_node_joins_and_syncs_with_no_hand_edits(
    idp, admin, new_node_id, search_engine, index_prefix, start_node, tmp_path
):
    existing = start_node(EXISTING, catalogue(cell_line("UK-1")))
    members_file = tmp_path / "members.toml"
    members_file.write_text(
        f'[[member]]\nid = "{EXISTING}"\nname = "UK"\nurl = "{existing.member.url}"\n'
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    name = "Joining Biobank (test)"

    # The new node's operator writes its instance file.
    run_cellfed(
        *("node", "init", "--id", new_node_id, "--name", name, "--url", url),
        *("--dir", str(tmp_path / "instance"), "--issuer", idp.issuer),
        env=cellfed_env(),
    )
    instance = tmp_path / "instance" / "cellfed.toml"
    assert stat.S_IMODE(os.stat(instance).st_mode) == 0o600
    assert load_config(env={"CELLFED_CONFIG": str(instance)})["OIDC_CLIENT_SECRET"] is None

    # The alliance's operator registers it.
    operator = cellfed_env(
        {
            "OIDC_ISSUER": idp.issuer,
            "IDP_ADMIN_PASSWORD": idp.admin_password,
            "MEMBERS_FILE": str(members_file),
        }
    )
    add = ("alliance", "add-member", "--id", new_node_id, "--name", name, "--url", url)
    added = run_cellfed(*add, "--instance", str(instance), env=operator)
    secret = load_config(env={"CELLFED_CONFIG": str(instance)})["OIDC_CLIENT_SECRET"]
    assert secret and secret not in added.stdout  # written to the file, not shown
    assert f"client {new_node_id} created" in added.stdout
    registry = members_file.read_text()
    again = run_cellfed(*add, env=operator, check=False)
    assert again.returncode == 1 and "already lists member" in again.stderr
    assert members_file.read_text() == registry  # refused: nothing changed
    assert [m.id for m in load_members(members_file)] == [EXISTING, new_node_id]

    # The node starts from its instance file alone.
    node_env = cellfed_env({"CONFIG": str(instance)})
    run_cellfed("node", "migrate", env=node_env)
    data = tmp_path / "catalogue.json"
    data.write_text(json.dumps(catalogue(cell_line("JOIN-1"), cell_line("JOIN-2"))))
    run_cellfed("node", "import", str(data), env=node_env)
    node = CellfedService(
        "joined-node",
        ["node", "serve", "--port", str(port), "--workers", "1"],
        node_env,
        tmp_path,
    )
    node.start(lambda: requests.get(f"{url}/healthz", timeout=2).ok)
    try:
        assert requests.get(f"{url}/api/v1/feed", timeout=10).status_code == 401

        # Its own machine identity works: a token of its client, with the member-node role.
        own = ClientCredentials(new_node_id, secret, issuer=idp.issuer).token()
        claims = TokenVerifier(idp.issuer, "alliance-api").verify(own)
        assert claims["azp"] == new_node_id and "member-node" in claims["roles"]

        # The indexer, with its real client credentials, syncs both members.
        config = load_config(
            {
                "OIDC_ISSUER": idp.issuer,
                "INDEXER_CLIENT_SECRET": demo_secret("indexer"),
                "SEARCH_URL": search_engine.url,
                "INDEX_PREFIX": index_prefix,
            },
            env={},
        )
        members = load_members(members_file)
        indexer = Indexer.from_config(config, members)
        indexer.prepare()
        reports = {r.node_id: r for r in indexer.sync_all()}
        assert all(r.ok for r in reports.values()), [r.summary() for r in reports.values()]
        assert reports[new_node_id].indexed == 4  # biobank, collection, two lines
        for member in members:  # the audit reads each feed with a token for that node
            [report] = audit(
                search_engine,
                index_prefix,
                [member],
                token=lambda fresh, m=member: indexer.token(m, fresh),
            )
            assert report.exact, report.summary()
            if member.id == new_node_id:
                assert report.at_node == report.in_index == 4
    finally:
        node.stop()
