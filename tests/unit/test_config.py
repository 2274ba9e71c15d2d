"""Settings: the load order, unknown keys refused, values typed, and where defaults point."""

import json

import pytest

from cellfed.config import DEFAULTS, HOME_FILES, PROJECT_ROOT, ConfigError, load_config


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
    assert config["SYNC_TIMEOUT"] == 7  # environment over file, read as a number
    assert config["NODE_ID"] == "from-test"  # overrides over everything
    assert config["INDEX_PREFIX"] == DEFAULTS["INDEX_PREFIX"]


def test_a_missing_named_instance_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="CELLFED_CONFIG"):
        load_config(env={"CELLFED_CONFIG": str(tmp_path / "nope.toml")})


# -- unknown keys ----------------------------------------------------------------------
def test_a_misspelt_environment_variable_is_refused_with_a_suggestion():
    with pytest.raises(ConfigError) as caught:
        load_config(env={"CELLFED_SYNC_TIMOUT": "3"})
    message = str(caught.value)
    assert "CELLFED_SYNC_TIMOUT" in message and "environment" in message
    assert "did you mean CELLFED_SYNC_TIMEOUT?" in message


def test_a_misspelt_key_in_the_instance_file_is_refused_naming_the_file(tmp_path):
    instance = tmp_path / "cellfed.toml"
    instance.write_text("sync_timout = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_config(env={"CELLFED_CONFIG": str(instance)})
    message = str(caught.value)
    assert "SYNC_TIMOUT" in message and str(instance) in message
    assert "did you mean SYNC_TIMEOUT?" in message


def test_an_unknown_key_far_from_any_setting_is_refused_without_a_guess():
    with pytest.raises(ConfigError, match="CELLFED_WIBBLE .* is not a CellFed setting$"):
        load_config(env={"CELLFED_WIBBLE": "1"})


def test_variables_that_are_not_settings_are_let_through(tmp_path):
    env = {
        "CELLFED_HOME": str(tmp_path),
        "CELLFED_CHROMIUM": "chromium",
        "CELLFED_TEST_SEARCH_URL": "http://127.0.0.1:1",
        "CELLFED_TEST_POSTGRES_URL": "postgresql://x",
        "OTHER_THING": "not ours",
    }
    config = load_config(env=env)
    assert "CHROMIUM" not in config and "TEST_SEARCH_URL" not in config


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        load_config(env={"CELLFED_SYNC_TIMOUT": "3", "CELLFED_FEED_PAGE_SIZE": "many"})
    assert len(str(caught.value).splitlines()) == 2


def test_overrides_come_from_code_and_are_taken_as_given():
    config = load_config({"TESTING": True, "SYNC_INTERVAL": 0.01}, env={})
    assert config["TESTING"] is True and config["SYNC_INTERVAL"] == 0.01


# -- booleans (security review M1) -------------------------------------------------------
@pytest.mark.parametrize("raw", ["False", "false", "FALSE", "0", '"false"', " false "])
def test_node_admin_open_false_in_any_spelling_is_false(raw):
    assert load_config(env={"CELLFED_NODE_ADMIN_OPEN": raw})["NODE_ADMIN_OPEN"] is False


@pytest.mark.parametrize("raw", ["True", "true", "TRUE", "1"])
def test_node_admin_open_true_spellings_are_true(raw):
    assert load_config(env={"CELLFED_NODE_ADMIN_OPEN": raw})["NODE_ADMIN_OPEN"] is True


@pytest.mark.parametrize("raw", ["no", "off", "yes", "on", "", "2", "nope"])
def test_other_boolean_spellings_are_refused_not_guessed(raw):
    with pytest.raises(ConfigError) as caught:
        load_config(env={"CELLFED_NODE_ADMIN_OPEN": raw})
    message = str(caught.value)
    assert "CELLFED_NODE_ADMIN_OPEN" in message and repr(raw) in message
    assert "expected true or false" in message


def test_a_toml_string_false_is_false_and_a_toml_no_is_refused(tmp_path):
    instance = tmp_path / "cellfed.toml"
    instance.write_text('node_admin_open = "false"\nfeed_require_token = true\n')
    config = load_config(env={"CELLFED_CONFIG": str(instance)})
    assert config["NODE_ADMIN_OPEN"] is False and config["FEED_REQUIRE_TOKEN"] is True
    instance.write_text('node_admin_open = "no"\n')
    with pytest.raises(ConfigError, match="NODE_ADMIN_OPEN .*'no': expected true or false"):
        load_config(env={"CELLFED_CONFIG": str(instance)})


# -- other types -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("CELLFED_FEED_PAGE_SIZE", "many", "a whole number"),
        ("CELLFED_FEED_PAGE_SIZE", "2.5", "a whole number"),
        ("CELLFED_FEED_PAGE_SIZE", "true", "a whole number"),
        ("CELLFED_SYNC_TIMEOUT", "soon", "a number of seconds"),
        ("CELLFED_SYNC_TIMEOUT", "nan", "a number of seconds"),
        ("CELLFED_OIDC_ISSUER", "127.0.0.1:8180/realms/alliance", "https:// URL"),
        ("CELLFED_PORTAL_URL", "ftp://portal.example", "https:// URL"),
        ("CELLFED_NODE_URL", "node.example", "https:// URL"),
        ("CELLFED_SEARCH_URL", "http://a:9200,b:9200", "several separated by commas"),
        ("CELLFED_DATABASE_URL", "node.sqlite3", "a database URL"),
        ("CELLFED_SEARCH_ENGINE", "solr", "one of opensearch, elasticsearch7"),
        ("CELLFED_OIDC_ALGORITHMS", "[RS256", "a JSON list"),
        ("CELLFED_FEED_CLIENTS", "[1, 2]", "a list of names"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_setting_value_and_type(name, raw, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(env={name: raw})
    message = str(caught.value)
    assert name in message and repr(raw) in message and expected in message


def test_a_toml_value_of_the_wrong_type_is_refused(tmp_path):
    instance = tmp_path / "cellfed.toml"
    instance.write_text("node_id = 7\nfeed_clients = 'indexer'\n")
    with pytest.raises(ConfigError, match="NODE_ID .* is 7: expected text"):
        load_config(env={"CELLFED_CONFIG": str(instance)})


def _as_json_parsed_before(raw: str):
    """How environment values were read before they were typed: JSON if it parses."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("CELLFED_SYNC_TIMEOUT", "7"),
        ("CELLFED_SEARCH_TIMEOUT", "7.5"),
        ("CELLFED_SYNC_INTERVAL", "0.5"),
        ("CELLFED_INDEX_REPLICAS", "1"),
        ("CELLFED_FEED_MAX_PAGE_SIZE", "5000"),
        ("CELLFED_FEED_CLIENTS", '["indexer", "mirror"]'),
        ("CELLFED_OIDC_ALGORITHMS", '["RS256"]'),
        ("CELLFED_NODE_ADMIN_OPEN", "true"),
        ("CELLFED_SMTP_STARTTLS", "false"),
        ("CELLFED_SEARCH_URL", "https://os1.example:9200,https://os2.example:9200"),
        ("CELLFED_SEARCH_ENGINE", "elasticsearch7"),
        ("CELLFED_DATABASE_URL", "postgresql+psycopg://cellfed@db.example/node"),
        ("CELLFED_OIDC_CLIENT_SECRET", "s3cret"),
        ("CELLFED_SECRET_KEY", '"a quoted key"'),
        ("CELLFED_SMTP_HOST", "null"),
        ("CELLFED_INDEXER_POKE_URL", "http://127.0.0.1:5050"),
        ("CELLFED_NODE_NAME", "Stem cell bank"),
    ],
)
def test_every_spelling_that_worked_before_still_gives_the_same_value(name, raw):
    key = name.removeprefix("CELLFED_")
    assert load_config(env={name: raw})[key] == _as_json_parsed_before(raw)


def test_lists_may_also_be_written_with_commas():
    config = load_config(env={"CELLFED_OIDC_ALGORITHMS": "RS256, ES256"})
    assert config["OIDC_ALGORITHMS"] == ["RS256", "ES256"]


def test_a_setting_that_defaults_to_none_takes_nothing_for_none():
    config = load_config(env={"CELLFED_NODE_URL": "", "CELLFED_SMTP_HOST": ""})
    assert config["NODE_URL"] is None and config["SMTP_HOST"] is None


def test_every_default_read_back_from_its_text_is_itself():
    env = {
        f"CELLFED_{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in DEFAULTS.items()
    }
    assert load_config(env=env) == DEFAULTS


# -- defaults that point into the checkout -----------------------------------------------
def test_checkout_defaults_come_from_the_checkout_when_nothing_else_holds_them(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    for key, relative in HOME_FILES.items():
        assert config[key] == str(PROJECT_ROOT / relative) == DEFAULTS[key]


def test_checkout_defaults_come_from_the_working_directory_when_it_holds_them(
    tmp_path, monkeypatch
):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "members.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config["MEMBERS_FILE"] == str(tmp_path / "config" / "members.toml")
    assert config["IDP_REALM_FILE"] == DEFAULTS["IDP_REALM_FILE"]  # not here: the checkout's


def test_checkout_defaults_come_from_cellfed_home_when_it_is_set(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(PROJECT_ROOT)  # which holds them all, but CELLFED_HOME comes first
    config = load_config(env={"CELLFED_HOME": str(home)})
    for key, relative in HOME_FILES.items():
        assert config[key] == str(home / relative)
    named = load_config(env={"CELLFED_HOME": str(home), "CELLFED_MEMBERS_FILE": "m.toml"})
    assert named["MEMBERS_FILE"] == "m.toml"  # the setting itself wins


def test_a_cellfed_home_that_is_not_a_folder_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="CELLFED_HOME"):
        load_config(env={"CELLFED_HOME": str(tmp_path / "missing")})


# -- the deployment: development or production (more in test_production.py) --------------
def test_the_deployment_is_development_unless_set_to_production():
    assert load_config(env={})["ENV"] == "development"
    assert load_config(env={"CELLFED_ENV": "production"})["ENV"] == "production"
    with pytest.raises(ConfigError, match="CELLFED_ENV .*'prod': expected one of development"):
        load_config(env={"CELLFED_ENV": "prod"})


def test_a_role_checks_nothing_in_development_and_must_be_known_in_production():
    assert load_config(env={}, role="node")["PSEUDONYM_KEY"] == DEFAULTS["PSEUDONYM_KEY"]
    with pytest.raises(ValueError, match="role must be one of"):
        load_config({"ENV": "production"}, env={}, role="gateway")


def test_every_setting_is_documented_in_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text()
    undocumented = [key for key in DEFAULTS if f"`{key}`" not in readme]
    assert not undocumented, f"settings missing from README's Configuration table: {undocumented}"
