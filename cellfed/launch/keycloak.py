"""A real Keycloak on loopback, from Maven Central's ``keycloak-quarkus-dist`` zip.

``kc.sh start-dev`` with an in-memory H2 database (``--db=dev-mem``): every start imports
the realm file afresh, so a changed realm file always takes effect (a file database would
skip the import of a realm that already exists) and nothing is left behind on disk.
``--hostname`` is always set: without it the tokens' ``iss`` follows the request's Host
header, and ``localhost`` and ``127.0.0.1`` would be two different issuers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from cellfed.launch.java import ENGINES_POM, find_java
from cellfed.launch.process import LaunchError, ServerProcess, port_is_free

KEYCLOAK_VERSION = "26.7.3"
JAVA_MINIMUM = 17
REALM = "alliance"


def keycloak_dist(home: Path, version: str = KEYCLOAK_VERSION) -> Path:
    """The unpacked distribution under ``home``; unpacks it with Maven the first time."""
    dist = Path(home) / f"keycloak-{version}"
    if (dist / "bin" / "kc.sh").is_file():
        return dist
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LaunchError("Maven (mvn) is needed to fetch Keycloak; install it")
    Path(home).mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(ENGINES_POM),
        "dependency:unpack@keycloak",
        f"-Dkeycloak.version={version}",
        f"-Dkeycloak.dir={Path(home).resolve()}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not (dist / "bin" / "kc.sh").is_file():
        raise LaunchError(
            f"Maven could not unpack Keycloak {version}:\n{result.stdout[-3000:]}"
            f"{result.stderr[-2000:]}"
        )
    return dist


@dataclass
class LocalKeycloak:
    home: Path
    realm_file: Path
    http_port: int = 8180
    heap: str = "512m"
    java: str | None = None
    admin_password: str = "admin"
    name: str = "keycloak"
    process: ServerProcess = field(init=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.process = ServerProcess(self.name, self.home)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    def ready(self) -> bool:
        resp = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5)
        return resp.status_code == 200 and resp.json().get("issuer") == self.issuer

    def start(self, timeout: float = 300) -> float:
        """Start, import the realm, wait until its discovery document answers; seconds taken."""
        if self.process.running():
            raise LaunchError(f"{self.name} already runs (pid {self.process.pid()}) at {self.url}")
        if not port_is_free(self.http_port):
            raise LaunchError(
                f"port {self.http_port} is taken: stop what runs there, or pick another"
            )
        if not Path(self.realm_file).is_file():
            raise LaunchError(f"realm file {self.realm_file} does not exist")
        dist = keycloak_dist(self.home)
        java = find_java(JAVA_MINIMUM, self.java)
        # --import-realm reads <dist>/data/import. Write atomically: another instance (the
        # demo beside a test run) may be reading it.
        imports = dist / "data" / "import"
        imports.mkdir(parents=True, exist_ok=True)
        staged = imports / f".{REALM}-realm.{os.getpid()}.tmp"
        shutil.copyfile(self.realm_file, staged)
        os.replace(staged, imports / f"{REALM}-realm.json")
        argv = [
            "sh",
            str(dist / "bin" / "kc.sh"),
            "start-dev",
            "--db=dev-mem",
            "--import-realm",
            "--http-host=127.0.0.1",
            f"--http-port={self.http_port}",
            f"--hostname={self.url}",
            "--health-enabled=false",
            "--log-console-color=false",
        ]
        env = {
            "JAVA_HOME": str(Path(java).resolve().parent.parent),
            "JAVA_OPTS_KC_HEAP": f"-Xms64m -Xmx{self.heap}",
            "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }
        started = time.monotonic()
        self.process.start(argv, env=env)
        self.process.wait_until(self.ready, timeout)
        return time.monotonic() - started

    def stop(self) -> None:
        """kc.sh forwards SIGTERM to its Java child; signal the whole group so neither lingers."""
        pid = self.process.pid()
        if pid is not None and self.process.running():
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        self.process.stop()
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)  # anything left of the group after the wait
            except (ProcessLookupError, PermissionError):
                pass

    def admin_token(self) -> str:
        """An access token of the bootstrap admin (master realm), for the admin REST API."""
        resp = requests.post(
            f"{self.url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": self.admin_password,
            },
            timeout=10,
        )
        resp.raise_for_status()
        return resp.json()["access_token"]
