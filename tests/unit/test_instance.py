"""`cellfed node init` and the instance file (cellfed/instance.py): generated secrets, only
settings the loader knows, mode 0600, no overwrite without --force, and a file that passes
the production checks a node runs."""

from __future__ import annotations

import os
import stat
import tomllib

import pytest
from click.testing import CliRunner

from cellfed.cli import main
from cellfed.config import SECRET_MIN_BYTES, load_config, production_problems
from cellfed.instance import (
    InstanceError,
    NodeInstance,
    init_node,
    remaining_problems,
    set_setting,
    toml_value,
)

NODE = NodeInstance(
    "fr-lyon",
    "Lyon iPSC Bank",
    "https://node.lyon.example.org",
    issuer="https://idp.example.org/realms/alliance",
    portal_url="https://portal.example.org",
    indexer_url="https://indexer.example.org",
)


def loaded(path) -> dict:
    return load_config(env={"CELLFED_CONFIG": str(path)})


def test_the_file_loads_and_passes_the_nodes_production_checks(tmp_path):
    path = init_node(NODE, tmp_path / "instance")
    assert path == tmp_path / "instance" / "cellfed.toml"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    config = loaded(path)  # the loader refuses any key that is not a setting
    assert config["ENV"] == "production"
    assert (config["NODE_ID"], config["NODE_NAME"], config["NODE_URL"]) == (
        "fr-lyon",
        "Lyon iPSC Bank",
        "https://node.lyon.example.org",
    )
    assert config["FEED_REQUIRE_TOKEN"] is True and config["NODE_ADMIN_OPEN"] is False
    assert config["DATABASE_URL"] == f"sqlite:///{(tmp_path / 'instance' / 'node.sqlite3')}"
    for key in ("SECRET_KEY", "PSEUDONYM_KEY"):
        assert len(config[key].encode()) >= SECRET_MIN_BYTES
    assert config["SECRET_KEY"] != config["PSEUDONYM_KEY"]
    assert production_problems(config, "node") == []
    # ... and the node's client secret is what is left to do.
    assert [p.split(" ")[0] for p in remaining_problems(path)] == ["OIDC_CLIENT_SECRET"]


def test_every_node_gets_secrets_of_its_own(tmp_path):
    one, two = (loaded(init_node(NODE, tmp_path / name)) for name in ("a", "b"))
    assert one["SECRET_KEY"] != two["SECRET_KEY"]
    assert one["PSEUDONYM_KEY"] != two["PSEUDONYM_KEY"]


def test_an_existing_file_is_kept_unless_forced(tmp_path):
    path = init_node(NODE, tmp_path)
    before = path.read_text()
    with pytest.raises(InstanceError, match="exists: pass --force"):
        init_node(NODE, tmp_path)
    assert path.read_text() == before
    init_node(NODE, tmp_path, force=True)
    assert loaded(path)["SECRET_KEY"] != tomllib.loads(before)["SECRET_KEY"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_what_is_left_out_is_named(tmp_path):
    path = init_node(NodeInstance("fr-lyon", "Lyon", "https://node.example.org"), tmp_path)
    config = loaded(path)
    assert config["INDEXER_POKE_URL"] is None
    problems = remaining_problems(path)
    assert any(p.startswith("OIDC_ISSUER is the development default") for p in problems)
    assert any(p.startswith("PORTAL_URL is the development default") for p in problems)
    # A development instance skips the production switch only.
    dev = NodeInstance("d", "D", "http://127.0.0.1:5100", production=False)
    assert loaded(init_node(dev, tmp_path / "d"))["ENV"] == "development"


@pytest.mark.parametrize(
    ("node_id", "url", "message"),
    [
        ("bad id", "https://n.example.org", "'id' must be letters"),
        ("ok", "ftp://n.example.org", "'url' must be an http"),
    ],
)
def test_ids_and_urls_the_registry_would_refuse_are_refused(tmp_path, node_id, url, message):
    with pytest.raises(InstanceError, match=message):
        init_node(NodeInstance(node_id, "N", url), tmp_path)
    assert not (tmp_path / "cellfed.toml").exists()


def test_set_setting_fills_in_the_client_secret_and_keeps_the_rest(tmp_path):
    path = init_node(NODE, tmp_path)
    set_setting(path, "OIDC_CLIENT_SECRET", "s3cret-from-the-operator")
    text = path.read_text()
    assert text.count("OIDC_CLIENT_SECRET") == 1  # the commented line became the setting
    assert "# The node's client secret" in text  # the comments stay
    assert loaded(path)["OIDC_CLIENT_SECRET"] == "s3cret-from-the-operator"
    set_setting(path, "oidc_client_secret", "another")  # replaced, not added again
    assert path.read_text().count("OIDC_CLIENT_SECRET =") == 1
    assert loaded(path)["OIDC_CLIENT_SECRET"] == "another"
    assert remaining_problems(path) == []
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(InstanceError, match="not a CellFed setting"):
        set_setting(path, "NO_SUCH_SETTING", "x")


@pytest.mark.parametrize(
    "value", ['quo"te', "back\\slash", "tab\tnew\nline", "del\x7f", "é ü 🧬", "", "a'b"]
)
def test_toml_values_round_trip(value):
    assert tomllib.loads(f"k = {toml_value(value)}")["k"] == value


def test_the_command(tmp_path):
    runner = CliRunner()
    args = ["node", "init", "--id", "fr-lyon", "--name", "Lyon", "--url", NODE.url]
    args += ["--dir", str(tmp_path), "--issuer", NODE.issuer, "--portal-url", NODE.portal_url]
    done = runner.invoke(main, args, env={"CELLFED_CONFIG": None})
    assert done.exit_code == 0, done.output
    assert f"CELLFED_CONFIG={tmp_path.resolve() / 'cellfed.toml'}" in done.output
    assert "still to do: OIDC_CLIENT_SECRET" in done.output
    again = runner.invoke(main, args)
    assert again.exit_code == 1 and "pass --force" in again.output
