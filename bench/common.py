"""What the benchmarks share: the machine they ran on, and apps served by gunicorn."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from cellfed.launch.process import free_port


def machine() -> str:
    """Cores, CPU model, memory and kernel: to quote beside every figure."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}"


@dataclass
class Served:
    process: subprocess.Popen
    url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def gunicorn(
    app: str,
    env: dict[str, str],
    workers: int = 1,
    threads: int = 4,
    ready_path: str = "/api/v1/openapi.json",
) -> Served:
    """Serve ``module:factory()`` with gunicorn (gthread) on a free loopback port."""
    binary = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--keep-alive",
            "30",
            "--backlog",
            "256",
            "--log-level",
            "warning",
            app,
        ],
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn for {app} exited with {process.returncode}")
        try:
            if requests.get(url + ready_path, timeout=2).ok:
                return Served(process, url)
        except requests.RequestException:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit(f"gunicorn for {app} did not answer within 60 s")
