"""Liveness and readiness, for load balancers and orchestrators.

* ``GET /healthz``: the process is up and answers (200). It checks nothing else, so a
  database or engine outage never makes an orchestrator restart healthy processes.
* ``GET /readyz``: every check the app names passes (200), or 503 naming each one that does
  not. The apps pass their checks to :func:`init_health`: the portal its database and the
  search engine, a node its database, the indexer the engine. Checks run in parallel, each
  within ``READY_TIMEOUT`` seconds; a check fails by raising, by returning False, or by not
  answering in time. The answer says only which check failed and how (the exception's type):
  the details, which may name internal hosts, go to the log.

Both answer JSON, are never cached, and carry no session. They are outside every blueprint
the rate limits cover.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

Check = Callable[[], Any]
"""A readiness check: raises, or returns False, when what it checks is not ready."""

HEALTH_KEY = "cellfed.health"
DEFAULT_TIMEOUT = 3.0

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def database_check(engine: Any) -> Check:
    """Ready when a SQLAlchemy ``engine``'s database answers ``SELECT 1``; ``engine`` may
    also be a function that returns it (an engine made on first use)."""

    def check() -> None:
        from sqlalchemy import text

        current = engine if hasattr(engine, "connect") else engine()
        with current.connect() as connection:
            connection.execute(text("SELECT 1"))

    return check


def _run(name: str, check: Check, results: dict[str, str]) -> None:
    try:
        outcome = check()
    except Exception as exc:
        log.warning("readiness check %s failed: %s", name, exc, exc_info=True)
        results[name] = f"not ready ({type(exc).__name__})"
        return
    results[name] = "ok" if outcome is not False else "not ready"


def readiness(checks: Mapping[str, Check], timeout: float) -> dict[str, str]:
    """{check: "ok" or what is wrong}, each check given ``timeout`` seconds."""
    results: dict[str, str] = {}
    threads = [
        threading.Thread(target=_run, args=(name, check, results), daemon=True, name=name)
        for name, check in checks.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return {
        name: results.get(name, f"not ready (no answer within {timeout:g}s)") for name in checks
    }


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    return _no_store(jsonify(status="ok"))


@bp.get("/readyz")
def readyz():
    checks, timeout = current_app.extensions[HEALTH_KEY]
    results = readiness(checks, timeout)
    ready = all(result == "ok" for result in results.values())
    response = jsonify(status="ready" if ready else "not ready", checks=results)
    return _no_store(response), 200 if ready else 503


def init_health(app: Flask, checks: Mapping[str, Check] | None = None) -> None:
    """``/healthz`` and ``/readyz`` for ``app``, readiness being ``checks``."""
    timeout = float(app.config.get("READY_TIMEOUT") or DEFAULT_TIMEOUT)
    app.extensions[HEALTH_KEY] = (dict(checks or {}), timeout)
    app.register_blueprint(bp)
