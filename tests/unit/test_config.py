from cellfed.config import DEFAULTS, load_config


def test_order_is_defaults_then_instance_file_then_environment_then_overrides(tmp_path):
    instance = tmp_path / "cellfed.toml"
    instance.write_text(
        'search_url = "http://file:9200"\nnode_id = "from-file"\nsync_timeout = 3\n'
    )
    env = {
        "CELLFED_CONFIG": str(instance),
        "CELLFED_NODE_ID": "from-env",
        "CELLFED_SYNC_TIMEOUT": "7",
    }
    config = load_config({"NODE_ID": "from-test"}, env=env)
    assert config["SEARCH_URL"] == "http://file:9200"  # file over default
    assert config["SYNC_TIMEOUT"] == 7  # environment over file, parsed as JSON
    assert config["NODE_ID"] == "from-test"  # overrides over everything
    assert config["INDEX_PREFIX"] == DEFAULTS["INDEX_PREFIX"]


def test_a_missing_named_instance_file_is_an_error(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="CELLFED_CONFIG"):
        load_config(env={"CELLFED_CONFIG": str(tmp_path / "nope.toml")})
