"""Production mode (CELLFED_ENV=production): each app refuses the settings it may not run
with, naming them; a correct production config starts; development is unchanged. Also the
commands' production paths, JSON logs with request ids, /healthz and /readyz, and the
background workers and their lock (security review M2, M3, L6, L9, §6)."""

from __future__ import annotations

import configparser
import io
import json
import logging
import secrets
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from flask import Flask

from cellfed import worker
from cellfed.cli import main
from cellfed.config import (
    DEFAULTS,
    PRODUCTION_CHECKS,
    ConfigError,
    check_production,
    is_loopback,
    load_config,
    production_problems,
)
from federation.node.app import create_app as create_node_app
from federation.web.health import init_health
from federation.web.logging import (
    JsonFormatter,
    configure_logging,
    init_request_log,
    log_format,
    request_id,
)
from portal.app import create_app as create_portal_app

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = secrets.token_hex(32)
CLIENT_SECRET = secrets.token_urlsafe(32)
INDEXER_SECRET = secrets.token_urlsafe(32)
PSEUDONYM_KEY = secrets.token_hex(32)

MEMBERS = """
[[member]]
id = "de-stemcellbank"
name = "Berlin"
url = "https://de.alliance.example"

[[member]]
id = "local"
name = "On this machine"
url = "http://127.0.0.1:5102"
"""


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    """No instance file of the checkout's working directory gets in, and JSON logs set up on
    the root logger go when the test ends."""
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def members(tmp_path) -> Path:
    path = tmp_path / "members.toml"
    path.write_text(MEMBERS)
    return path


@pytest.fixture
def good(tmp_path, members) -> dict:
    """A production configuration every role accepts."""
    return {
        "ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "OIDC_ISSUER": "https://idp.alliance.example/realms/alliance",
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "INDEXER_CLIENT_SECRET": INDEXER_SECRET,
        "PORTAL_URL": "https://portal.alliance.example",
        # Plain http is fine on loopback, in all its spellings.
        "SEARCH_URL": "https://os1.alliance.example:9200,http://127.0.0.1:9251,http://[::1]:9200",
        "INDEXER_POKE_URL": "http://localhost:5050",
        "MEMBERS_FILE": str(members),
        "NODE_ID": "de-stemcellbank",  # its URL: the registry's
        "PSEUDONYM_KEY": PSEUDONYM_KEY,
        "FEED_REQUIRE_TOKEN": True,
        "IDP_ADMIN_PASSWORD": "a long admin password of our own",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'node.sqlite3'}",
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "SEARCH_TIMEOUT": 1,
    }


def _config(settings: dict) -> dict:
    return load_config(settings, env={})


@pytest.mark.parametrize("role", sorted(PRODUCTION_CHECKS))
def test_a_correct_production_config_passes_every_role(good, role):
    assert production_problems(_config(good), role) == []
    load_config(good, env={}, role=role)  # no ConfigError


def test_a_correct_production_config_starts_the_portal_and_the_node(good):
    portal = create_portal_app(good)
    node = create_node_app(good)
    assert portal.config["ENV"] == node.config["ENV"] == "production"
    assert portal.test_client().get("/healthz").status_code == 200
    assert node.test_client().get("/readyz").json["checks"] == {"database": "ok"}


# -- each refusal, one by one ------------------------------------------------------------
REFUSED = [
    # (roles, changed settings, the setting the message names, what it says)
    (("portal", "node"), {"SECRET_KEY": None}, "SECRET_KEY", "is not set"),
    (("portal", "node"), {"SECRET_KEY": "too-short"}, "SECRET_KEY", "is 9 bytes long"),
    (("portal",), {"SECRET_KEY": "a" * 20 + "-demo-secret"}, "SECRET_KEY", "demo or placeholder"),
    (("portal",), {"SECRET_KEY": "change-me-" * 4}, "SECRET_KEY", "demo or placeholder"),
    (("node",), {"SECRET_KEY": "ab" * 20}, "SECRET_KEY", "demo or placeholder"),
    (("portal",), {"SECRET_KEY": CLIENT_SECRET}, "SECRET_KEY", "same as OIDC_CLIENT_SECRET"),
    (
        ("portal",),
        {"OIDC_CLIENT_SECRET": "portal-demo-secret"},
        "OIDC_CLIENT_SECRET",
        "demo realm's client secret",
    ),
    (
        ("node",),
        {"OIDC_CLIENT_SECRET": "de-stemcellbank-demo-secret"},
        "OIDC_CLIENT_SECRET",
        "demo realm's client secret",
    ),
    (("indexer",), {"INDEXER_CLIENT_SECRET": None}, "INDEXER_CLIENT_SECRET", "is not set"),
    (
        ("indexer",),
        {"INDEXER_CLIENT_SECRET": "indexer-demo-secret"},
        "INDEXER_CLIENT_SECRET",
        "demo realm's client secret",
    ),
    (("node",), {"PSEUDONYM_KEY": DEFAULTS["PSEUDONYM_KEY"]}, "PSEUDONYM_KEY", "default"),
    (("portal",), {"FIGURES_METRICS_TOKEN": "scrape"}, "FIGURES_METRICS_TOKEN", "placeholder"),
    (
        ("portal",),
        {"FIGURES_METRICS_TOKEN": "demo-" + "x" * 40},
        "FIGURES_METRICS_TOKEN",
        "placeholder",
    ),
    (
        ("node",),
        {"NODE_MODE": "push", "INDEXER_POKE_URL": None},
        "NODE_MODE",
        "never reach the index",
    ),
    (("node",), {"PSEUDONYM_KEY": "short"}, "PSEUDONYM_KEY", "is 5 bytes long"),
    (("idp",), {"IDP_ADMIN_PASSWORD": "admin"}, "IDP_ADMIN_PASSWORD", "'admin'"),
    (
        ("portal", "node", "indexer"),
        {"OIDC_ISSUER": DEFAULTS["OIDC_ISSUER"]},
        "OIDC_ISSUER",
        "development default",
    ),
    (
        ("portal", "node", "indexer"),
        {"OIDC_ISSUER": "http://idp.alliance.example/realms/alliance"},
        "OIDC_ISSUER",
        "plain http off loopback",
    ),
    (
        ("portal", "node"),
        {"PORTAL_URL": "http://portal.alliance.example"},
        "PORTAL_URL",
        "use https://",
    ),
    (("node",), {"NODE_URL": "http://node.alliance.example"}, "NODE_URL", "use https://"),
    (("node",), {"NODE_ID": "unlisted"}, "NODE_URL", "is not set and MEMBERS_FILE lists no"),
    (
        ("node",),
        {"INDEXER_POKE_URL": "http://indexer.alliance.example"},
        "INDEXER_POKE_URL",
        "use https://",
    ),
    (
        ("portal", "indexer"),
        {"SEARCH_URL": "https://os1.alliance.example:9200,http://os2.alliance.example:9200"},
        "SEARCH_URL",
        "http://os2.alliance.example:9200: plain http",
    ),
    (("node",), {"NODE_ADMIN_OPEN": True}, "NODE_ADMIN_OPEN", "is true"),
    (("node",), {"FEED_REQUIRE_TOKEN": False}, "FEED_REQUIRE_TOKEN", "is false"),
    (
        ("portal", "node"),
        {"SMTP_HOST": "mail.alliance.example", "SMTP_USER": "cellfed", "SMTP_PASSWORD": "pw"},
        "SMTP_STARTTLS",
        "in clear",
    ),
]


@pytest.mark.parametrize(
    ("role", "changes", "setting", "says"),
    [(role, *rest) for roles, *rest in REFUSED for role in roles],
)
def test_each_refused_setting_stops_the_role_naming_it(good, role, changes, setting, says):
    config = _config({**good, **changes})
    problems = production_problems(config, role)
    assert len(problems) == 1, problems
    assert problems[0].startswith(setting) and says in problems[0]
    with pytest.raises(ConfigError) as caught:
        load_config({**good, **changes}, env={}, role=role)
    message = str(caught.value)
    assert "CELLFED_ENV is production" in message and f"the {role} will not start" in message
    assert setting in message


@pytest.mark.parametrize("role", ["portal", "indexer"])
def test_a_registry_member_on_plain_http_off_loopback_is_refused(good, members, role):
    members.write_text(MEMBERS + '\n[[member]]\nid = "evil"\nurl = "http://evil.example"\n')
    problems = production_problems(_config(good), role)
    assert problems == [
        "MEMBERS_FILE (member evil) is http://evil.example: plain http off loopback; use "
        "https:// (http is allowed only to 127.0.0.1, ::1 or localhost)"
    ]


def test_a_missing_registry_is_refused_where_it_is_needed(good, tmp_path):
    config = _config({**good, "MEMBERS_FILE": str(tmp_path / "nowhere.toml")})
    assert production_problems(config, "portal")[0].startswith("MEMBERS_FILE")
    assert production_problems({**config, "NODE_URL": "https://de.example"}, "node") == []


def test_a_node_registry_entry_on_plain_http_is_its_url(good, members):
    members.write_text('[[member]]\nid = "de-stemcellbank"\nurl = "http://de.example"\n')
    (problem,) = production_problems(_config(good), "node")
    assert problem.startswith("MEMBERS_FILE (member de-stemcellbank, NODE_URL unset)")


def test_every_problem_is_listed_in_one_message(good):
    bad = {**good, "SECRET_KEY": None, "NODE_ADMIN_OPEN": True, "FEED_REQUIRE_TOKEN": False}
    with pytest.raises(ConfigError) as caught:
        load_config(bad, env={}, role="node")
    lines = str(caught.value).splitlines()
    assert len(lines) == 4 and all(line.startswith("  - ") for line in lines[1:])


def test_smtp_login_is_fine_with_starttls_on_loopback_or_without_login(good):
    for smtp in (
        {"SMTP_HOST": "mail.example", "SMTP_USER": "u", "SMTP_STARTTLS": True},
        {"SMTP_HOST": "127.0.0.1", "SMTP_USER": "u"},
        {"SMTP_HOST": "mail.example"},
    ):
        assert production_problems(_config({**good, **smtp}), "portal") == []


def test_messages_show_urls_without_their_passwords(good):
    config = _config({**good, "SEARCH_URL": "http://cellfed:hunter2@os.alliance.example:9200"})
    (problem,) = production_problems(config, "portal")
    assert "hunter2" not in problem and "http://os.alliance.example:9200" in problem


def test_secrets_are_never_shown(good):
    config = _config({**good, "SECRET_KEY": "a-secret-of-28-bytes-length!"})
    (problem,) = production_problems(config, "portal")
    assert "a-secret-of" not in problem


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("10.0.0.1", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_is_loopback_only(host, loopback):
    assert is_loopback(host) is loopback


def test_production_comes_from_cellfed_env(good):
    env = {"CELLFED_ENV": "production"}
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_config(env=env, role="portal")
    with pytest.raises(ConfigError, match="CELLFED_ENV .*'staging': expected one of"):
        load_config(env={"CELLFED_ENV": "staging"})


def test_development_refuses_nothing_and_the_defaults_are_development(good):
    assert DEFAULTS["ENV"] == "development"
    bad = {key: value for key, value in good.items() if key != "ENV"}
    bad.update(SECRET_KEY=None, NODE_ADMIN_OPEN=True, PSEUDONYM_KEY=DEFAULTS["PSEUDONYM_KEY"])
    for role in PRODUCTION_CHECKS:
        check_production(_config(bad), role)  # nothing raised
    assert create_node_app(bad).config["NODE_ADMIN_OPEN"] is True


def test_the_factories_refuse_a_bad_production_config(good):
    with pytest.raises(ConfigError, match="PSEUDONYM_KEY"):
        create_node_app({**good, "PSEUDONYM_KEY": DEFAULTS["PSEUDONYM_KEY"]})
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_portal_app({**good, "SECRET_KEY": None})


# -- the commands ------------------------------------------------------------------------
def _run(args: list[str], **env: str):
    # MALLOC_ARENA_MAX: the indexer's and the demo's commands would re-exec themselves.
    return CliRunner().invoke(main, args, env={"MALLOC_ARENA_MAX": "2", **env})


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["portal", "serve"], "SECRET_KEY is not set"),
        (["portal", "worker"], "SECRET_KEY is not set"),
        (["node", "serve", "--id", "x"], "FEED_REQUIRE_TOKEN is false"),
        (["node", "worker"], "PSEUDONYM_KEY"),
        (["node", "deliver"], "PSEUDONYM_KEY"),
        (["index", "sync"], "INDEXER_CLIENT_SECRET is not set"),
        (["idp", "start"], "IDP_ADMIN_PASSWORD"),
        (["demo"], "development server"),
    ],
)
def test_commands_refuse_to_start_in_production_naming_the_settings(args, named):
    result = _run(args, CELLFED_ENV="production")
    assert result.exit_code == 1, result.output
    assert named in result.output and "Traceback" not in result.output


def test_the_development_server_stays_on_loopback_and_takes_no_workers():
    result = _run(["portal", "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "loopback only" in result.output
    result = _run(["node", "serve", "--workers", "2"])
    assert result.exit_code == 2 and "--workers is for production" in result.output


def test_serve_runs_gunicorn_in_production_and_no_background_work(good, monkeypatch):
    from cellfed.cli import _serve

    calls = []
    monkeypatch.setattr(_serve, "run_gunicorn", lambda *a: calls.append(("gunicorn", a)))
    monkeypatch.setattr(worker, "start_worker", lambda *a: calls.append(("worker", a)))
    _serve.serve("portal", good, "127.0.0.1", 5999, None)
    ((what, (role, overrides, config, bind, workers)),) = calls
    assert what == "gunicorn" and (role, bind, workers) == ("portal", ("127.0.0.1", 5999), 4)


def test_gunicorn_gets_the_bind_the_workers_and_json_logs(good):
    from cellfed.cli._serve import gunicorn_options

    before, after = gunicorn_options(_config(good), "node", "::1", 5100, 3)
    assert after == {"bind": ["[::1]:5100"], "workers": 3}
    assert before["accesslog"] is None and not before["preload_app"]
    formatter = before["logconfig_dict"]["formatters"]["json"]["()"]
    assert formatter == "federation.web.logging.JsonFormatter"
    text, _ = gunicorn_options(_config({**good, "LOG_FORMAT": "text"}), "node", "h", 1, 1)
    assert "logconfig_dict" not in text


def test_the_new_commands_have_help():
    for args in (["portal", "--help"], ["node", "--help"]):
        result = _run(args)
        assert result.exit_code == 0
        assert all(name in result.output for name in ("serve", "worker", "deliver"))
    for args in (["portal", "serve", "--help"], ["node", "worker", "--help"]):
        assert _run(args).exit_code == 0


def test_gunicorn_is_a_runtime_dependency():
    parser = configparser.ConfigParser()
    parser.read(REPO_ROOT / "setup.cfg")
    runtime = parser["options"]["install_requires"]
    dev = parser["options.extras_require"]["dev"]
    assert "gunicorn" in runtime and "gunicorn" not in dev


# -- JSON logs and request ids -------------------------------------------------------------
@pytest.fixture
def request_lines():
    """The JSON lines of the cellfed.request logger, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("cellfed.request")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


def _small_app() -> Flask:
    app = Flask(__name__)

    @app.get("/hello")
    def hello():
        logging.getLogger("cellfed.request").info("inside")
        return {"request_id": request_id()}

    init_request_log(app)
    return app


def test_each_request_has_an_id_echoed_and_logged_as_one_json_line(request_lines):
    client = _small_app().test_client()
    response = client.get("/hello?q=secret+words", headers={"X-Request-ID": "lb-1.a_b:c-d"})
    assert response.headers["X-Request-ID"] == "lb-1.a_b:c-d" == response.json["request_id"]
    inside, line = request_lines()
    assert inside["message"] == "inside" and inside["request_id"] == "lb-1.a_b:c-d"
    assert inside["path"] == "/hello" and inside["status"] is None
    assert set(line) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "path",
        "status",
        "duration_ms",
    }
    assert (line["method"], line["path"], line["status"]) == ("GET", "/hello", 200)
    assert line["message"] == "GET /hello 200" and line["level"] == "INFO"
    assert line["time"].endswith("+00:00") and line["duration_ms"] >= 0
    assert "secret" not in json.dumps(line)  # no query strings in the logs


@pytest.mark.parametrize("sent", ["", "has space", "<script>", "x" * 129, "-leading-dash"])
def test_an_unsafe_request_id_is_replaced_by_a_new_one(request_lines, sent):
    response = _small_app().test_client().get("/missing", headers={"X-Request-ID": sent})
    new = response.headers["X-Request-ID"]
    assert new != sent and len(new) == 32 and int(new, 16) >= 0
    assert request_lines()[-1]["request_id"] == new and request_lines()[-1]["status"] == 404


def test_every_app_gives_request_ids(tmp_path):
    node = create_node_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}"})
    assert node.test_client().get("/api/v1/node").headers["X-Request-ID"]
    portal = create_portal_app(
        {
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
            "SEARCH_URL": "http://127.0.0.1:9",
        }
    )
    assert portal.test_client().get("/healthz").headers["X-Request-ID"]


def test_the_formatter_writes_exceptions():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "failed" and "ValueError: boom" in entry["exception"]
    assert entry["request_id"] is None


def test_json_logs_are_production_s_default_and_text_leaves_logging_alone():
    assert log_format({"ENV": "production"}) == "json"
    assert log_format({"ENV": "development"}) == "text"
    assert log_format({"ENV": "production", "LOG_FORMAT": "text"}) == "text"
    assert log_format({"ENV": "development", "LOG_FORMAT": "json"}) == "json"
    root = logging.getLogger()
    handlers = list(root.handlers)
    assert configure_logging({"ENV": "development"}) is False and root.handlers == handlers
    stream = io.StringIO()
    assert configure_logging({"LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"}, stream)
    assert configure_logging({"LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"}, stream)
    assert len(root.handlers) == len(handlers) + 1  # once per process
    logging.getLogger("cellfed.test").warning("hello %s", "there")
    assert json.loads(stream.getvalue().splitlines()[-1])["message"] == "hello there"


def test_making_a_production_app_leaves_the_process_s_logging_alone(good):
    root = logging.getLogger()
    handlers = list(root.handlers)
    create_portal_app(good)
    create_node_app(good)
    assert root.handlers == handlers


def test_log_settings_are_typed():
    with pytest.raises(ConfigError, match="CELLFED_LOG_FORMAT"):
        load_config(env={"CELLFED_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="CELLFED_LOG_LEVEL"):
        load_config(env={"CELLFED_LOG_LEVEL": "LOUD"})
    assert load_config(env={"CELLFED_READY_TIMEOUT": "0.5"})["READY_TIMEOUT"] == 0.5


# -- liveness and readiness ----------------------------------------------------------------
def _probed(checks: dict, timeout: float = 0.3) -> Flask:
    app = Flask(__name__)
    app.config["READY_TIMEOUT"] = timeout
    init_health(app, checks)
    return app


def test_healthz_says_the_process_is_up_whatever_else_is_down():
    app = _probed({"database": lambda: False})
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_answers_503_naming_what_is_not_ready_and_not_why():
    def broken():
        raise ConnectionError("db.internal.example refused")

    app = _probed(
        {
            "fine": lambda: None,
            "down": lambda: False,
            "broken": broken,
            "slow": lambda: time.sleep(2),
        }
    )
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 1.5  # the slow check is not waited for
    assert response.status_code == 503
    assert response.json == {
        "status": "not ready",
        "checks": {
            "fine": "ok",
            "down": "not ready",
            "broken": "not ready (ConnectionError)",
            "slow": "not ready (no answer within 0.3s)",
        },
    }
    assert "internal" not in response.get_data(as_text=True)


def test_readyz_is_200_when_every_check_passes():
    response = _probed({"a": lambda: True, "b": lambda: None}).test_client().get("/readyz")
    assert response.status_code == 200 and response.json["status"] == "ready"


def test_the_portal_is_not_ready_without_its_engine(tmp_path):
    portal = create_portal_app(
        {
            "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
            "SEARCH_URL": "http://127.0.0.1:9",
            "SEARCH_TIMEOUT": 1,
            "READY_TIMEOUT": 2,
        }
    )
    response = portal.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["engine"].startswith("not ready")


def test_the_node_is_not_ready_without_its_database(tmp_path):
    node = create_node_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}"})
    assert node.test_client().get("/readyz").status_code == 200
    (tmp_path / "n.db").unlink()
    (tmp_path / "n.db").mkdir()  # a database that cannot be opened
    node.extensions["cellfed.store"].engine.dispose()
    response = node.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["database"] != "ok"


# -- workers -------------------------------------------------------------------------------
def test_the_outboxes_are_registered_jobs():
    portal_jobs = [job.name for job in worker.JOBS["portal"].jobs]
    assert portal_jobs == ["outbox", "attachment-retention", "alerts", "escalation"]
    assert [job.name for job in worker.JOBS["node"].jobs] == [
        "outbox",
        "push",
        "mailbox",
        "escalation",
        "lot-holds",
    ]
    assert {job.interval for role in worker.JOBS.values() for job in role.jobs} <= set(DEFAULTS)


@pytest.fixture
def counting(monkeypatch):
    """A role "test" whose one job counts its passes per worker."""
    passes: dict[str, int] = {}

    def count(app) -> None:
        passes[app.name] = passes.get(app.name, 0) + 1

    role = worker.Role("test", "DATABASE_URL", lambda config: None)
    monkeypatch.setitem(worker.JOBS, "test", role)
    worker.job("test", "count", "INTERVAL")(count)
    return passes


def _start(name: str, url: str) -> tuple[threading.Event, threading.Thread]:
    app = SimpleNamespace(name=name, config={"DATABASE_URL": url, "INTERVAL": 0.01})
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_worker, args=("test", app, stop, 0.05))
    thread.start()
    return stop, thread


def _wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _one_at_a_time(passes: dict[str, int], url: str) -> None:
    first_stop, first = _start("first", url)
    _wait_for(lambda: passes.get("first", 0) > 3)
    second_stop, second = _start("second", url)
    time.sleep(0.5)
    assert "second" not in passes  # waiting: the first holds the lock
    first_stop.set()
    first.join(10)
    _wait_for(lambda: passes.get("second", 0) > 3)  # and takes over
    second_stop.set()
    second.join(10)
    assert not first.is_alive() and not second.is_alive()


def test_a_second_worker_waits_and_takes_over_on_sqlite(counting, tmp_path):
    _one_at_a_time(counting, f"sqlite:///{tmp_path / 'node.sqlite3'}")


def test_a_second_worker_waits_and_takes_over_on_postgresql(counting, postgres_url):
    _one_at_a_time(counting, postgres_url)


def test_the_sqlite_lock_is_a_file_beside_the_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'node.sqlite3'}"
    one, two = worker.WorkerLock(url, "node"), worker.WorkerLock(url, "node")
    assert one.acquire() and not two.acquire()
    assert (tmp_path / "node.sqlite3.node-worker.lock").exists()
    one.release()
    assert two.acquire()
    two.release()
    memory = worker.WorkerLock("sqlite://", "node")
    assert memory.acquire() and memory.acquire()  # in memory: nobody else sees it


def test_the_node_worker_delivers_the_outbox(tmp_path):
    from federation.node.inbox.service import inbox_of

    app = create_node_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}", "NODE_ID": "n"})
    outbox = inbox_of(app).outbox
    sent = []
    outbox.register("event", lambda message: sent.append(message.payload))
    with outbox.sessions.begin() as session:
        outbox.enqueue(session, "event", "portal", {"n": 1}, key="part-1")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_worker, args=("node", app, stop, 0.05))
    thread.start()
    try:
        _wait_for(lambda: sent == [{"n": 1}])
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
