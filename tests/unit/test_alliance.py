"""The member registration's parts that need no identity provider (cellfed/alliance.py): the
client and scope it makes have the realm file's shape, and the registry file is appended
to only with a whole file that validates, atomically. The registration against the real
Keycloak is tests/access/test_join.py."""

from __future__ import annotations

import json
import os
import stat

import pytest

from cellfed.alliance import (
    append_member,
    node_client,
    node_scope,
    registry_members,
    split_issuer,
)
from cellfed.config import PROJECT_ROOT
from federation.registry import Member, RegistryError, load_members

REALM = json.loads((PROJECT_ROOT / "config" / "keycloak" / "alliance-realm.json").read_text())


def realm_client(client_id: str) -> dict:
    return next(c for c in REALM["clients"] if c["clientId"] == client_id)


def at_our_url(value, demo_url: str, url: str):
    """A realm file value with its demo node's URL swapped for ours, and without the
    demo's second, port-less loopback address."""
    if isinstance(value, list):
        return [at_our_url(v, demo_url, url) for v in value if "127.0.0.1/auth" not in v]
    if isinstance(value, dict):
        return {k: at_our_url(v, demo_url, url) for k, v in value.items()}
    if isinstance(value, str):
        return value.split("##")[0].replace(demo_url, url)
    return value


@pytest.mark.parametrize("node_id", ["cn-nsccr", "de-stemcellbank", "uk-hipsci"])
def test_the_node_client_has_the_shape_of_the_realms_nodes(node_id):
    ours = node_client(Member(node_id, "A node", "https://node.example.org/"))
    theirs = realm_client(node_id)
    same = {k: v for k, v in theirs.items() if k not in ("secret", "description", "adminUrl")}
    assert {k: v for k, v in ours.items() if k in same} == at_our_url(
        same, theirs["rootUrl"], "https://node.example.org"
    )
    assert set(ours) - set(same) <= {"description", "adminUrl"}
    assert ours["redirectUris"] == ["https://node.example.org/auth/callback"]
    assert "secret" not in ours  # the provider makes it


@pytest.mark.parametrize("node_id", ["cn-nsccr", "de-stemcellbank", "uk-hipsci"])
def test_the_node_scope_has_the_shape_of_the_realms_node_scopes(node_id):
    theirs = next(s for s in REALM["clientScopes"] if s["name"] == f"node-{node_id}")
    assert node_scope(node_id, f"node-{node_id}") == theirs


def test_the_realm_grants_every_node_scope_to_the_central_clients():
    """What add-member does for a new node is what the realm file does for its nodes."""
    nodes = [c["clientId"] for c in REALM["clients"] if c.get("name", "").startswith("Member node")]
    for central in ("indexer", "portal"):
        assert realm_client(central)["optionalClientScopes"] == [f"node-{n}" for n in nodes]


def test_issuers_split_into_base_and_realm():
    assert split_issuer("https://idp.example.org/realms/alliance") == (
        "https://idp.example.org",
        "alliance",
    )
    assert split_issuer("https://idp.example.org/auth/realms/a/") == (
        "https://idp.example.org/auth",
        "a",
    )


def test_a_member_is_appended_with_the_comments_kept(tmp_path):
    path = tmp_path / "members.toml"
    path.write_text('# ours\n[[member]]\nid = "a"\nname = "A"\nurl = "https://a.example.org"\n')
    os.chmod(path, 0o640)
    members = append_member(path, Member("b", 'B "quoted"', "https://b.example.org"))
    assert [m.id for m in members] == ["a", "b"]
    assert load_members(path) == members
    assert path.read_text().startswith("# ours\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert load_members(path)[1].name == 'B "quoted"'


def test_a_registry_that_would_not_validate_is_not_written(tmp_path):
    path = tmp_path / "members.toml"
    path.write_text('[[member]]\nid = "a"\nname = "A"\nurl = "https://a.example.org"\n')
    before = path.read_text()
    with pytest.raises(RegistryError, match="duplicate id 'a'"):
        append_member(path, Member("a", "Again", "https://other.example.org"))
    with pytest.raises(RegistryError, match="'url' must be an http"):
        append_member(path, Member("c", "C", "ftp://c.example.org"))
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["members.toml"]  # no staged file left


def test_a_new_alliance_starts_from_no_registry(tmp_path):
    path = tmp_path / "members.toml"
    assert registry_members(path) == []
    append_member(path, Member("first", "First", "https://first.example.org"))
    assert [m.id for m in registry_members(path)] == ["first"]
    header_only = tmp_path / "empty.toml"
    header_only.write_text("# nobody yet\n")
    assert registry_members(header_only) == []
    broken = tmp_path / "broken.toml"
    broken.write_text("[[member]\n")
    with pytest.raises(RegistryError, match="not valid TOML"):
        registry_members(broken)
