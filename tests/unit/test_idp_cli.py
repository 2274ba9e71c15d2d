"""`cellfed idp start` (development and --production) and `cellfed idp stop`, with a fake
launcher in place of Keycloak: the launcher gets exactly the settings, and production mode
refuses, in one message naming each setting, what it may not start with."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from cellfed.cli import main
from cellfed.config import DEFAULTS, ConfigError, idp_secrets, idp_server_problems, load_config
from cellfed.launch import keycloak
from cellfed.launch.process import LaunchError
from cellfed.launch.tls import TlsFiles

ADMIN_PASSWORD = secrets.token_urlsafe(24)
PORTAL_SECRET = secrets.token_urlsafe(24)
ALICE_PASSWORD = secrets.token_urlsafe(16)

REALM = {
    "realm": "alliance",
    "clients": [
        {"clientId": "portal", "secret": "portal-demo-secret"},
        {"clientId": "account"},
    ],
    "users": [
        {"username": "alice", "credentials": [{"type": "password", "value": "alice"}]},
        {"username": "service-account-portal"},
    ],
}


class FakeProcess:
    def __init__(self, running: bool) -> None:
        self.is_running = running

    def pid(self) -> int:
        return 4242

    def running(self) -> bool:
        return self.is_running


class FakeKeycloak:
    """Records what the command gives the launcher; starts nothing."""

    made: list[FakeKeycloak] = []
    running_names: set[str] = set()
    fail: str | None = None

    def __init__(self, home, realm_file, **kwargs) -> None:
        self.home, self.realm_file, self.kwargs = home, realm_file, kwargs
        self.production = kwargs.get("production", False)
        self.heap = kwargs.get("heap", "512m")
        self.build_seconds = 12.5 if self.production else 0.0
        self.process = FakeProcess(kwargs.get("name", "keycloak") in self.running_names)
        self.started = self.stopped = False
        FakeKeycloak.made.append(self)

    @property
    def issuer(self) -> str:
        if self.production:
            return f"https://{self.kwargs['hostname']}:{self.kwargs['https_port']}/realms/alliance"
        return f"http://127.0.0.1:{self.kwargs['http_port']}/realms/alliance"

    def start(self) -> float:
        if FakeKeycloak.fail:
            raise LaunchError(FakeKeycloak.fail)
        self.started = True
        return 31.25

    def resident_kib(self) -> int:
        return 700 * 1024

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def fake(monkeypatch, tmp_path) -> type[FakeKeycloak]:
    monkeypatch.chdir(tmp_path)  # no instance file of the checkout's working directory
    monkeypatch.setattr(keycloak, "LocalKeycloak", FakeKeycloak)
    monkeypatch.setattr(FakeKeycloak, "made", [])
    monkeypatch.setattr(FakeKeycloak, "running_names", set())
    monkeypatch.setattr(FakeKeycloak, "fail", None)
    return FakeKeycloak


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    realm = tmp_path / "realm.json"
    realm.write_text(json.dumps(REALM))
    cert, key, ca = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    for path in (cert, key, ca):
        path.write_text("-----BEGIN PEM-----\n")
    key.chmod(0o600)
    secrets_file = tmp_path / "idp-secrets.toml"
    secrets_file.write_text(
        f'[clients]\nportal = "{PORTAL_SECRET}"\n\n[users]\nalice = "{ALICE_PASSWORD}"\n'
    )
    secrets_file.chmod(0o600)
    return {"realm": realm, "cert": cert, "key": key, "ca": ca, "secrets": secrets_file}


@pytest.fixture
def production_env(files, tmp_path) -> dict[str, str]:
    """A production-mode Keycloak's settings, as an operator's environment file has them."""
    return {
        "CELLFED_ENGINE_HOME": str(tmp_path / "engines"),
        "CELLFED_IDP_REALM_FILE": str(files["realm"]),
        "CELLFED_IDP_DATABASE_URL": "postgresql://keycloak:pw@db.internal:5432/keycloak",
        "CELLFED_IDP_HOSTNAME": "idp.example.org",
        "CELLFED_IDP_TLS_CERT": str(files["cert"]),
        "CELLFED_IDP_TLS_KEY": str(files["key"]),
        "CELLFED_IDP_TLS_CA": str(files["ca"]),
        "CELLFED_IDP_HTTPS_PORT": "443",
        "CELLFED_IDP_MANAGEMENT_PORT": "9443",
        "CELLFED_IDP_BIND_HOST": "0.0.0.0",
        "CELLFED_IDP_SECRETS_FILE": str(files["secrets"]),
        "CELLFED_IDP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CELLFED_IDP_HEAP": "768m",
        "CELLFED_ENGINE_JAVA": "/opt/java-21/bin/java",
    }


def _run(args: list[str], env: dict[str, str]):
    # Only these CELLFED_ variables: none of the test session's own get in.
    clean = {k: None for k in os.environ if k.startswith("CELLFED_")}
    return CliRunner().invoke(main, ["idp", *args], env={**clean, **env})


# -- production mode ---------------------------------------------------------------------
@pytest.mark.parametrize("how", ["flag", "env", "both"])
def test_production_mode_gives_the_launcher_exactly_the_settings(fake, files, production_env, how):
    env = dict(production_env)
    if how != "flag":
        env["CELLFED_ENV"] = "production"
    result = _run(["start", "--production"] if how != "env" else ["start"], env)
    assert result.exit_code == 0, result.output
    (kc,) = fake.made
    assert kc.home == Path(production_env["CELLFED_ENGINE_HOME"])
    assert kc.realm_file == files["realm"]
    assert kc.kwargs == {
        "production": True,
        "database_url": "postgresql://keycloak:pw@db.internal:5432/keycloak",
        "tls": TlsFiles(certificate=files["cert"], key=files["key"], ca=files["ca"]),
        "hostname": "idp.example.org",
        "https_port": 443,
        "management_port": 9443,
        "bind_host": "0.0.0.0",
        "admin_password": ADMIN_PASSWORD,
        "client_secrets": {"portal": PORTAL_SECRET},
        "user_passwords": {"alice": ALICE_PASSWORD},
        "allow_demo_credentials": False,
        "heap": "768m",
        "java": "/opt/java-21/bin/java",
        "name": "keycloak-production",
    }
    assert kc.started
    # the issuer, the time to healthy (with the build) and the resident memory
    assert "issuer: https://idp.example.org:443/realms/alliance" in result.output
    assert "healthy after 31.2s (of which kc.sh build 12.5s)" in result.output
    assert "resident memory: 700 MiB (JVM; heap limit 768m)" in result.output
    # no secret is shown
    for secret in (ADMIN_PASSWORD, PORTAL_SECRET, ALICE_PASSWORD, "pw@"):
        assert secret not in result.output


def test_the_defaults_of_production_mode(fake, files, production_env):
    env = {
        k: v
        for k, v in production_env.items()
        if k
        not in (
            "CELLFED_IDP_TLS_CA",
            "CELLFED_IDP_HTTPS_PORT",
            "CELLFED_IDP_MANAGEMENT_PORT",
            "CELLFED_IDP_BIND_HOST",
        )
    }
    result = _run(["start", "--production"], env)
    assert result.exit_code == 0, result.output
    (kc,) = fake.made
    assert kc.kwargs["tls"].ca is None  # the system's trust store
    assert (kc.kwargs["https_port"], kc.kwargs["management_port"]) == (8443, 9000)
    assert kc.kwargs["bind_host"] == "127.0.0.1"


def test_production_refuses_in_one_message_naming_each_setting(fake, tmp_path):
    env = {
        "CELLFED_ENV": "production",
        "CELLFED_ENGINE_HOME": str(tmp_path / "engines"),
        "CELLFED_IDP_REALM_FILE": str(tmp_path / "realm.json"),
    }
    (tmp_path / "realm.json").write_text(json.dumps(REALM))
    result = _run(["start"], env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and not fake.made
    assert "Keycloak will not start in production mode" in result.output
    for named in (
        "IDP_ADMIN_PASSWORD is 'admin' or empty",
        "IDP_DATABASE_URL is not set",
        "IDP_HOSTNAME is not set",
        "IDP_TLS_CERT is not set",
        "IDP_TLS_KEY is not set",
        "IDP_REALM_FILE would import demo credentials (client portal, user alice)",
    ):
        assert named in result.output
    assert result.output.count("\n  - ") == 6


def test_production_without_cellfed_env_is_checked_alike(fake, tmp_path):
    result = _run(["start", "--production"], {"CELLFED_ENGINE_HOME": str(tmp_path)})
    assert result.exit_code == 1 and "IDP_DATABASE_URL is not set" in result.output
    assert not fake.made


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"CELLFED_IDP_ADMIN_PASSWORD": ""}, "IDP_ADMIN_PASSWORD is 'admin' or empty"),
        ({"CELLFED_IDP_ADMIN_PASSWORD": "admin"}, "IDP_ADMIN_PASSWORD is 'admin' or empty"),
        (
            {"CELLFED_IDP_DATABASE_URL": "mysql://kc:pw@db/keycloak"},
            "IDP_DATABASE_URL is mysql://db/keycloak: not PostgreSQL",
        ),
        ({"CELLFED_IDP_HOSTNAME": "http://idp.example.org"}, "IDP_HOSTNAME is 'http://"),
        ({"CELLFED_IDP_HOSTNAME": "idp.example.org:8443"}, "IDP_HOSTNAME is 'idp.example.org:"),
        ({"CELLFED_IDP_TLS_CERT": "/nowhere/chain.pem"}, "IDP_TLS_CERT names /nowhere/chain.pem"),
        ({"CELLFED_IDP_TLS_CA": "/nowhere/ca.pem"}, "IDP_TLS_CA names /nowhere/ca.pem"),
        ({"CELLFED_IDP_SECRETS_FILE": None}, "IDP_REALM_FILE would import demo credentials"),
        (
            {"CELLFED_IDP_SECRETS_FILE": "/nowhere/secrets.toml"},
            "IDP_SECRETS_FILE /nowhere/secrets.toml cannot be read",
        ),
    ],
)
def test_each_production_refusal_names_its_setting(fake, production_env, changes, says):
    env = {k: v for k, v in {**production_env, **changes}.items() if v is not None}
    result = _run(["start", "--production"], env)
    assert result.exit_code == 1, result.output
    assert says in result.output and not fake.made
    assert result.output.count("\n  - ") == 1


def test_a_secrets_file_open_to_others_is_refused(fake, files, production_env):
    files["secrets"].chmod(0o640)
    result = _run(["start", "--production"], production_env)
    assert result.exit_code == 1 and not fake.made
    assert "is open to others than its owner (mode 0640)" in result.output
    files["secrets"].chmod(0o600)
    files["key"].chmod(0o644)
    result = _run(["start", "--production"], production_env)
    assert result.exit_code == 1 and "IDP_TLS_KEY " in result.output
    assert "readable by everyone" in result.output


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[clients]\nportal = "portal-demo-secret"\n', "gives demo credentials (client portal)"),
        ('[users]\nalice = "alice"\n', "gives demo credentials (user alice)"),
        ('[clients]\nportal = "x"\nnobody = "y"\n', "IDP_REALM_FILE has not: nobody"),
        ('portal = "x"\n', "must hold only [clients]"),
        ("[clients]\nportal = 3\n", "must hold only [clients]"),
        ("[clients\n", "is not TOML"),
    ],
)
def test_the_secrets_file_is_checked(fake, files, production_env, text, says):
    files["secrets"].write_text(text)
    result = _run(["start", "--production"], production_env)
    assert result.exit_code == 1, result.output
    assert says in result.output and not fake.made


def test_a_launcher_failure_is_an_error_message(fake, production_env):
    fake.fail = "port 443 is taken: stop what runs there, or pick another"
    result = _run(["start", "--production"], production_env)
    assert result.exit_code == 1 and "port 443 is taken" in result.output
    assert "Traceback" not in result.output


def test_port_is_for_development_mode_only(fake, production_env):
    result = _run(["start", "--production", "--port", "8181"], production_env)
    assert result.exit_code == 2 and "IDP_HTTPS_PORT" in result.output and not fake.made


def test_the_config_helpers_agree_with_the_command(files, production_env):
    settings = {k.removeprefix("CELLFED_"): v for k, v in production_env.items()}
    config = load_config(settings, env={})
    assert idp_server_problems(config) == []
    assert idp_secrets(config) == ({"portal": PORTAL_SECRET}, {"alice": ALICE_PASSWORD})
    assert idp_secrets(load_config({}, env={})) == ({}, {})
    files["secrets"].chmod(0o604)
    with pytest.raises(ConfigError, match="IDP_SECRETS_FILE"):
        idp_secrets(config)


def test_the_new_settings_are_typed():
    assert DEFAULTS["IDP_HTTPS_PORT"] == 8443 and DEFAULTS["IDP_DATABASE_URL"] is None
    config = load_config(env={"CELLFED_IDP_HTTPS_PORT": "443", "CELLFED_IDP_DATABASE_URL": ""})
    assert config["IDP_HTTPS_PORT"] == 443 and config["IDP_DATABASE_URL"] is None
    with pytest.raises(ConfigError, match="CELLFED_IDP_MANAGEMENT_PORT"):
        load_config(env={"CELLFED_IDP_MANAGEMENT_PORT": "nine thousand"})
    with pytest.raises(ConfigError, match="CELLFED_IDP_DATABASE_URL"):
        load_config(env={"CELLFED_IDP_DATABASE_URL": "keycloak"})


# -- development mode, and stop ------------------------------------------------------------
def test_development_mode_is_the_default(fake, tmp_path):
    env = {"CELLFED_ENGINE_HOME": str(tmp_path), "CELLFED_IDP_HTTP_PORT": "8199"}
    result = _run(["start"], env)
    assert result.exit_code == 0, result.output
    (kc,) = fake.made
    assert kc.home == tmp_path and kc.realm_file == Path(load_config(env={})["IDP_REALM_FILE"])
    assert kc.kwargs == {
        "http_port": 8199,
        "heap": DEFAULTS["IDP_HEAP"],
        "java": None,
        "admin_password": "admin",
        "name": "keycloak",
    }
    assert "issuer: http://127.0.0.1:8199/realms/alliance" in result.output
    assert "healthy after 31.2s (pid 4242)" in result.output and "resident memory" in result.output
    result = _run(["start", "--port", "8200"], env)
    assert fake.made[-1].kwargs["http_port"] == 8200


@pytest.mark.parametrize("running", [set(), {"keycloak"}, {"keycloak-production"}])
def test_stop_stops_whichever_mode_runs(fake, tmp_path, running):
    fake.running_names = running
    result = _run(["stop"], {"CELLFED_ENGINE_HOME": str(tmp_path), "CELLFED_ENV": "production"})
    assert result.exit_code == 0, result.output
    stopped = {kc.kwargs["name"] for kc in fake.made if kc.stopped}
    assert stopped == running
    if not running:
        assert "Keycloak is not running" in result.output
    for kc in fake.made:
        assert kc.production == (kc.kwargs["name"] == "keycloak-production")
