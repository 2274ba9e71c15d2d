"""`cellfed portal serve` in production: gunicorn on a loopback port, a valid production
configuration that points at nothing outside this machine (the engine's port is closed, so
readiness says so), /healthz, the request id, and the JSON log lines."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cellfed.launch.process import free_port


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def portal(tmp_path: Path):
    port, engine_port = free_port(), free_port()  # nothing listens on the engine's
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLFED_")}
    env.update(
        CELLFED_ENV="production",
        CELLFED_SECRET_KEY=secrets.token_hex(32),
        CELLFED_OIDC_ISSUER="https://idp.invalid/realms/alliance",
        CELLFED_PORTAL_URL=f"http://127.0.0.1:{port}",
        CELLFED_SEARCH_URL=f"http://127.0.0.1:{engine_port}",
        CELLFED_SEARCH_TIMEOUT="1",
        CELLFED_PORTAL_DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        CELLFED_ATTACHMENTS_DIR=str(tmp_path / "attachments"),
    )
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "cellfed", "portal", "serve", "--port", str(port)]
            + ["--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                requests.get(f"{url}/healthz", timeout=5)  # the workers boot after the bind
                break
            except (requests.ConnectionError, requests.Timeout):
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield url, process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def test_the_portal_serves_under_gunicorn_in_production(portal):
    url, process, log = portal
    response = requests.get(f"{url}/healthz", headers={"X-Request-ID": "probe-42"}, timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["Server"].startswith("gunicorn")
    assert response.headers["X-Request-ID"] == "probe-42"

    ready = requests.get(f"{url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["engine"].startswith("not ready")

    process.send_signal(signal.SIGTERM)  # a graceful stop flushes every line
    assert process.wait(30) == 0
    lines = _json_lines(log.read_text())
    (line,) = [entry for entry in lines if entry.get("request_id") == "probe-42"]
    assert line["logger"] == "cellfed.request" and line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert isinstance(line["duration_ms"], float) and line["time"].endswith("+00:00")
    readyz = [entry for entry in lines if entry.get("path") == "/readyz"]
    assert [entry["status"] for entry in readyz] == [503]
    assert any(e["logger"] == "gunicorn.error" and "Listening at" in e["message"] for e in lines)
    assert not any(entry["logger"] == "gunicorn.access" for entry in lines)  # ours only
    booted = [e for e in lines if "Booting worker" in e["message"]]
    assert len(booted) == 2
