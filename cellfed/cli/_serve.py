"""Serving the web apps and running their workers, for `cellfed portal|node serve|worker`.

* **Development** (``CELLFED_ENV`` unset or ``development``): Flask's development server on
  loopback, with the app's background jobs (cellfed/worker.py) in a thread of the same
  process, as the demo and the tests have them.
* **Production**: gunicorn, ``--workers`` processes (default ``WEB_WORKERS``) bound to
  ``--host``:``--port``, each making its app with the factory (``portal.app:create_app()``,
  ``federation.node.app:create_app()``) after the fork, and no background threads: run
  ``cellfed portal|node worker`` once per deployment beside them. The settings are checked
  (cellfed/config.py, ``PRODUCTION_CHECKS``) before gunicorn starts, so a refused setting is
  one message, not a worker that fails to boot. gunicorn's other settings come from
  ``GUNICORN_CMD_ARGS`` as usual (``--timeout 300``, ``--threads 4``, TLS files, ...); the
  bind address and the number of workers are always the command's. Its lines and the apps'
  are JSON (federation/web/logging.py) unless ``LOG_FORMAT`` is text; it writes no access
  log of its own, since each app logs its requests with their ids. gunicorn's control
  socket (gunicorn 25 and later: one path per user, which a portal and a node on one machine
  would share) is off unless ``GUNICORN_CMD_ARGS`` names one with ``--control-socket``. The
  development server refuses to start in production.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from typing import Any

import click

from cellfed.config import is_loopback, is_production, load_config

TIMEOUT = 120  # seconds gunicorn gives a request (a node's large import can take a while)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_options(config: Mapping[str, Any], role: str, host: str, port: int, workers: int):
    """The settings gunicorn gets from us (before GUNICORN_CMD_ARGS, except bind and
    workers, which are set after it)."""
    from federation.web.logging import gunicorn_logconfig, log_format

    options: dict[str, Any] = {
        "proc_name": f"cellfed-{role}",
        "timeout": TIMEOUT,
        "accesslog": None,
        "preload_app": False,  # each worker makes its own app: no shared database pools
    }
    if log_format(config) == "json":
        options["logconfig_dict"] = gunicorn_logconfig(config)
    return options, {"bind": [_bind(host, port)], "workers": workers}


def run_gunicorn(
    role: str,
    overrides: Mapping[str, Any],
    config: Mapping[str, Any],
    bind: tuple[str, int],
    workers: int,
) -> None:
    """gunicorn in this process, its workers making ``role``'s app with ``overrides``."""
    from gunicorn.app.base import BaseApplication

    from cellfed.worker import JOBS

    host, port = bind
    before, after = gunicorn_options(config, role, host, port, workers)
    make_app = JOBS[role].make_app

    class Gunicorn(BaseApplication):
        def load_config(self) -> None:
            for key, value in before.items():
                self.cfg.set(key, value)
            parsed = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
            for key, value in vars(parsed).items():
                if value is not None and key != "args":
                    self.cfg.set(key.lower(), value)
            if "control_socket" in self.cfg.settings and parsed.control_socket is None:
                # gunicorn >= 25 opens a control socket at one path per user, which a portal
                # and a node on one machine would fight over: only where one is asked for.
                self.cfg.set("control_socket_disable", True)
            for key, value in after.items():
                self.cfg.set(key, value)

        def load(self):
            return make_app(dict(overrides))  # in each worker, after the fork

    Gunicorn(prog=f"cellfed {role} serve").run()


def serve(role: str, overrides: Mapping[str, Any], host: str, port: int, workers: int | None):
    """``cellfed <role> serve``: gunicorn in production, else the development server."""
    from cellfed.worker import JOBS, start_worker

    config = load_config(overrides, role=role)
    if is_production(config):
        run_gunicorn(role, overrides, config, (host, port), workers or int(config["WEB_WORKERS"]))
        return
    if workers is not None:
        raise click.UsageError("--workers is for production (CELLFED_ENV=production: gunicorn)")
    if not is_loopback(host):
        raise click.UsageError(
            f"the development server serves loopback only, not {host}: "
            "set CELLFED_ENV=production to serve with gunicorn"
        )
    app = JOBS[role].make_app(config)
    start_worker(role, app, threading.Event())
    app.run(host=host, port=port)


def refuse_development_server(config: Mapping[str, Any], what: str) -> None:
    if is_production(config):
        raise click.ClickException(
            f"{what} runs Flask's development server, which does not start in production "
            "(CELLFED_ENV=production)"
        )


def work(role: str, overrides: Mapping[str, Any]) -> None:
    """``cellfed <role> worker``: the role's background jobs until SIGTERM or Ctrl-C."""
    from cellfed.worker import JOBS, run_worker
    from federation.web.logging import configure_logging

    config = load_config(overrides, role=role)
    if not configure_logging(config):
        logging.basicConfig(level=config["LOG_LEVEL"], format="%(asctime)s %(message)s")
    app = JOBS[role].make_app(config)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_worker(role, app, stop)
