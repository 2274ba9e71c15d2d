"""A long-running server process: start it, wait until it answers, stop it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class LaunchError(RuntimeError):
    """A server did not come up; the message carries its log tail."""


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_engine_port(first: int = 9270, last: int = 9298) -> int:
    """A loopback port for a one-node search engine's HTTP: the lowest free one in
    ``first``-``last``, because the engine runners bind HTTP ports up to 9299 only (a port
    from ``free_port`` may be higher). Free when checked, not reserved: start the engine at
    once. Raises ``RuntimeError`` if the whole range is taken."""
    for port in range(first, last + 1):
        if port_is_free(port):
            return port
    raise RuntimeError(f"no free port in {first}-{last} for a search engine")


class ServerProcess:
    """One child process with a pid file and a log file under ``workdir``."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.pid_path = workdir / f"{name}.pid"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            # A new session, so a Ctrl-C in the terminal reaches us, and we stop the child in order.
            self.proc = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        self.pid_path.write_text(str(self.proc.pid))

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> float:
        """Poll ``ready`` until it is true; returns the seconds it took. Fails loudly."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise LaunchError(
                    f"{self.name} exited with code {self.proc.returncode} while starting; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                if ready():
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise LaunchError(
            f"{self.name} did not become ready within {timeout:.0f}s; "
            f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def pid(self) -> int | None:
        if self.proc is not None:
            return self.proc.pid
        try:
            return int(self.pid_path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        if self.proc is not None:
            return self.proc.poll() is None
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (the JVMs run their shutdown hooks), then SIGKILL if it lingers."""
        pid = self.pid()
        if pid is not None and self.running():
            try:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline and self.running():
                    time.sleep(0.2)  # running() polls, which also reaps our own child
                if self.running():
                    os.kill(pid, signal.SIGKILL)
                    if self.proc is not None:
                        self.proc.wait(10)
            except ProcessLookupError:
                pass
        self.pid_path.unlink(missing_ok=True)
