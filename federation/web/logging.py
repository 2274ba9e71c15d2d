"""Logs for operators: one JSON object per line, and a request id on every request.

* **Request ids.** :func:`init_request_log` wraps an app so that every request has an id: the
  client's (a proxy's) ``X-Request-ID`` when it is safe to repeat (``REQUEST_ID``: letters,
  digits, ``. _ : -``, at most 128), else a new random one. The response carries it back in
  ``X-Request-ID``, and every log line written while the request is handled names it. The
  wrapper sits outside Flask, so requests refused early (413, 429) and failures (500) are
  counted too. After each response it logs one line on the ``cellfed.request`` logger with
  the method, the path (never the query string: it holds search words), the status and the
  time taken until the response's headers.
* **JSON lines.** :class:`JsonFormatter` writes ``time`` (UTC, ISO 8601), ``level``,
  ``logger``, ``message``, ``request_id``, ``method``, ``path``, ``status`` and
  ``duration_ms`` (null when they do not apply), and ``exception`` with the traceback when
  there is one. The processes choose it when ``LOG_FORMAT`` is ``json``, which it is by
  default in production (``CELLFED_ENV=production``): ``cellfed portal|node serve`` through
  gunicorn's ``logconfig_dict`` (:func:`gunicorn_logconfig`: gunicorn's own lines too, and
  every worker's), ``cellfed portal|node worker`` and ``cellfed index serve`` with
  :func:`configure_logging`. With ``text`` (development's default) logging is left as it
  was, so the demo and the tests print what they always did.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, has_request_context, request

REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
REQUEST_ID_HEADER = "X-Request-ID"
ENVIRON_KEY = "cellfed.request_id"
FIELDS = ("request_id", "method", "path", "status", "duration_ms")

log = logging.getLogger("cellfed.request")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def log_format(config: Mapping[str, Any]) -> str:
    """``LOG_FORMAT``, or by default json in production and text otherwise."""
    chosen = config.get("LOG_FORMAT")
    if chosen:
        return str(chosen)
    return "json" if config.get("ENV") == "production" else "text"


def request_id() -> str | None:
    """The id of the request being handled, if any."""
    if not has_request_context():
        return None
    return request.environ.get(ENVIRON_KEY)


def _incoming_id(raw: str | None) -> str:
    if raw and REQUEST_ID.fullmatch(raw):
        return raw
    return uuid.uuid4().hex


def _path(environ: Mapping[str, Any]) -> str:
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")  # WSGI's latin-1


class RequestLog:
    """WSGI middleware: gives each request its id, echoes it, logs the request's line."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        rid = _incoming_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = rid
        started = time.perf_counter()
        logged = False

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            nonlocal logged
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            headers.append((REQUEST_ID_HEADER, rid))
            if not logged:
                logged = True
                fields = {
                    "request_id": rid,
                    "method": environ.get("REQUEST_METHOD"),
                    "path": _path(environ),
                    "status": int(status.split(" ", 1)[0]),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                }
                log.info("%(method)s %(path)s %(status)s", fields, extra=fields)
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def init_request_log(app: Flask) -> None:
    """Request ids and request lines for ``app``. Where the lines go is the process's
    business (:func:`configure_logging`), not the app factory's, which tests call often."""
    app.wsgi_app = RequestLog(app.wsgi_app)  # type: ignore[method-assign]


class JsonFormatter(logging.Formatter):
    """One JSON object per line; see the module docstring for the fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: getattr(record, name, None) for name in FIELDS})
        if entry["request_id"] is None and has_request_context():
            entry["request_id"] = request.environ.get(ENVIRON_KEY)
            entry["method"] = request.method
            entry["path"] = request.path
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exception"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _has_json_handler(logger: logging.Logger) -> bool:
    return any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers)


def configure_logging(config: Mapping[str, Any], stream: Any = None) -> bool:
    """With ``LOG_FORMAT`` json, JSON lines on standard error from the root logger at
    ``LOG_LEVEL`` (once per process). Returns whether the logs are JSON."""
    if log_format(config) != "json":
        return False
    root = logging.getLogger()
    if not _has_json_handler(root):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(str(config.get("LOG_LEVEL") or "INFO"))
    return True


def gunicorn_logconfig(config: Mapping[str, Any]) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its own lines and the apps' as JSON on standard error
    (no access log: the apps write their request lines themselves)."""
    level = str(config.get("LOG_LEVEL") or "INFO")
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            # Its access lines would repeat ours, without the request id: dropped.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
