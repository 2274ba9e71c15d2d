"""The `cellfed` command as an operator runs it: one-off commands and long-running services
(`node serve`, `portal worker`, ...) in processes of their own, each with only the settings
it is given (no CELLFED_ variable of the test session leaks in)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from cellfed.launch.process import LaunchError, log_tail


def cellfed_env(settings: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any CELLFED_ variable, plus ``settings`` (names
    without the prefix, ``{"CONFIG": path}``) and ``extra`` (other variables, as given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLFED_")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    env.update({f"CELLFED_{k}": str(v) for k, v in (settings or {}).items()})
    env.update(extra)
    return env


def run_cellfed(*args: str, env: Mapping[str, str], check: bool = True, timeout: float = 180):
    """``python -m cellfed <args>``; with ``check``, fails the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-m", "cellfed", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert done.returncode == 0, (
            f"cellfed {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


class CellfedService:
    """A long-running `cellfed` command (``serve``, ``worker``) in its own process group, its
    output in ``<workdir>/<name>.log``."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], workdir: Path):
        self.name = name
        self.args = args
        self.env = dict(env)
        self.log_path = Path(workdir) / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool] | None = None, timeout: float = 60) -> float:
        """Start; with ``ready``, wait until it holds. Returns the seconds it took."""
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cellfed", *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        while ready is not None:
            if self.proc.poll() is not None:
                raise LaunchError(
                    f"{self.name} exited with {self.proc.returncode}; last lines of its log:\n"
                    f"{log_tail(self.log_path)}"
                )
            try:
                if ready():
                    break
            except OSError:
                pass
            if time.monotonic() - started > timeout:
                self.stop()
                raise LaunchError(f"{self.name} not ready in {timeout:.0f}s:\n{self.log()}")
            time.sleep(0.25)
        return time.monotonic() - started

    def log(self) -> str:
        return log_tail(self.log_path, 60)

    def stop(self) -> None:
        """SIGTERM to its process group (gunicorn's master and workers), SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        except ProcessLookupError:
            pass
