"""A throwaway PostgreSQL on loopback, from Debian's postgresql package (tests and demos).

``initdb`` a fresh cluster in a directory of its own, start ``postgres`` on a free port with
its socket in that directory, trust local connections, create a database. As root it runs
as the ``postgres`` system user, which the package creates (PostgreSQL refuses root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cellfed.launch.process import LaunchError, free_port

PACKAGE_BINARIES = Path("/usr/lib/postgresql")


def find_binaries() -> Path:
    """The newest installed server's bin directory (initdb, postgres, pg_ctl)."""
    found = sorted(
        (p for p in PACKAGE_BINARIES.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise LaunchError(
        "PostgreSQL is not installed: `apt-get install -y postgresql` (make setup does this)"
    )


@dataclass
class LocalPostgres:
    database: str = "cellfed_test"
    port: int = 0  # 0: a free one
    workdir: Path | None = None
    bin_dir: Path = field(default_factory=find_binaries)
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self._user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def _user(self) -> str:
        return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _run_as(self) -> dict[str, Any]:
        return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            [str(self.bin_dir / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            **self._run_as(),
        )
        if done.returncode != 0:
            raise LaunchError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self, timeout: float = 60) -> float:
        started = time.monotonic()
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix="cellfed-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
        data = self.workdir / "data"
        self._run("initdb", "-D", str(data), "-A", "trust", "-U", self._user, "-E", "UTF8")
        self.port = self.port or free_port()
        log_path = self.workdir / "postgres.log"
        with log_path.open("wb") as log:  # the child keeps its own descriptor
            self.proc = self._spawn(data, log)
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise LaunchError(f"postgres exited while starting; see {log_path}")
            try:
                self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), self.database)
                return time.monotonic() - started
            except LaunchError as exc:
                if "already exists" in str(exc):
                    return time.monotonic() - started
                time.sleep(0.3)
        self.stop()
        raise LaunchError(f"postgres did not accept connections within {timeout:.0f}s")

    def _spawn(self, data: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.workdir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",  # a throwaway cluster: speed over durability
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **self._run_as(),
        )

    def stop(self) -> None:
        """Fast shutdown (SIGINT: disconnect clients, then stop), and remove the cluster."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
