"""A real Keycloak from Maven Central's ``keycloak-quarkus-dist`` zip, in one of two modes.

**Development mode** (the default; tests and the demo): ``kc.sh start-dev`` over plain HTTP
on loopback, with an in-memory H2 database (``--db=dev-mem``): every start imports the realm
file afresh, so a changed realm file always takes effect (a file database would skip the
import of a realm that already exists) and nothing is left behind on disk.

**Production mode** (``production=True``): ``kc.sh build`` once, then
``kc.sh start --optimized`` on PostgreSQL, HTTPS only (the HTTP listener is off), a fixed
public hostname (strict), health checks on the management interface (HTTPS too, on its own
port), a single node (``--cache=local``: no cluster discovery). Its API::

    LocalKeycloak(
        home, realm_file,
        production=True,
        database_url="postgresql://keycloak:secret@db.internal:5432/keycloak",
        tls=TlsFiles(certificate=Path("chain.pem"), key=Path("key.pem"), ca=None),
        hostname="idp.example.org",     # or a full URL "https://idp.example.org"
        https_port=8443,                # 443 drops the port from the URL
        management_port=9000,           # /health/ready and /health/live
        bind_host="0.0.0.0",            # default 127.0.0.1
        admin_password=...,             # the bootstrap admin; "admin" is refused
        client_secrets={"portal": ..., "cn-nsccr": ...},
        user_passwords={"alice": ...},
    ).start()                           # seconds until healthy; .build_seconds of those

* ``database_url``: ``postgresql://user:password@host:port/db`` (a ``postgresql+driver://``
  URL as SQLAlchemy takes it is fine too) or a ``jdbc:postgresql://`` URL. User name and
  password go to Keycloak through its environment, never on the command line.
* ``tls``: PEM certificate chain and unencrypted key (see ``cellfed.launch.tls``);
  ``tls.ca`` is what this launcher verifies the server against (None: the system store).
* The realm is imported at startup (``--import-realm``) unless it already exists in the
  database: later changes to the realm file do not reach a running deployment (change
  those through the admin console or API). Before the import, ``client_secrets`` and
  ``user_passwords`` replace the realm file's values; the launcher refuses to import the
  demo credentials (client secrets ``<client>-demo-secret``, passwords equal to user
  names) unless ``allow_demo_credentials=True``.
* The built server lives beside the unpacked one (``<home>/keycloak-<version>-production-<id>``,
  its jars hard-linked where possible), so building never disturbs a development-mode
  Keycloak started from the same ``home``; the build runs once per set of build options.
  Each instance runs from a hard-linked tree of its own (``<run_dir>/<name>-server``, its
  ``data/import`` holding the realm file with its secrets, mode 0600), removed by ``stop()``.
* ``run_dir`` (default ``home``) holds the instance's pid file, log and server tree.

``--hostname`` is always set: without it the tokens' ``iss`` follows the request's Host
header, and ``localhost`` and ``127.0.0.1`` would be two different issuers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from cellfed.launch.java import ENGINES_POM, find_java
from cellfed.launch.process import LaunchError, ServerProcess, log_tail, port_is_free
from cellfed.launch.tls import TlsFiles

KEYCLOAK_VERSION = "26.7.3"
JAVA_MINIMUM = 17
REALM = "alliance"
# Build-time options of production mode (kc.sh build); everything else is given at start.
PRODUCTION_BUILD_OPTIONS = ("--db=postgres", "--health-enabled=true", "--metrics-enabled=false")
DEMO_SECRET_SUFFIX = "-demo-secret"
BUILT_STAMP = ".cellfed-built"


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


def jdbc_url(database_url: str) -> tuple[str, str | None, str | None]:
    """``(jdbc_url, user, password)`` for a PostgreSQL URL (``postgresql[+driver]://``)."""
    if database_url.startswith("jdbc:"):
        if not database_url.startswith("jdbc:postgresql:"):
            raise LaunchError("production Keycloak runs on PostgreSQL: a jdbc:postgresql: URL")
        return database_url, None, None
    parts = urlsplit(database_url)
    if parts.scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise LaunchError(f"not a PostgreSQL URL: {parts.scheme}://…")
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    query = f"?{parts.query}" if parts.query else ""
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return f"jdbc:postgresql://{host}{port}{parts.path or '/keycloak'}{query}", user, password


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _copy_dist(source: Path, target: Path, link_all: bool = False) -> None:
    """A copy of a distribution without its data. The jars (never written) are hard-linked;
    with ``link_all`` everything is (a built server's tree, which ``start`` only reads)."""

    def copy(src: str, dst: str) -> str:
        if link_all or Path(src).relative_to(source).parts[:2] == ("lib", "lib"):
            try:
                os.link(src, dst)
                return dst
            except OSError:
                pass
        return shutil.copy2(src, dst)

    shutil.copytree(
        source,
        target,
        copy_function=copy,
        ignore=lambda directory, names: ["data", BUILT_STAMP] if Path(directory) == source else [],
    )


@dataclass
class LocalKeycloak:
    """One Keycloak with the alliance realm; see the module's docstring for the two modes.

    ``start()`` returns the seconds until it answers (in production mode: until the
    management interface reports ready and the realm's discovery document answers);
    ``stop()`` stops it. ``url``/``issuer`` are the public addresses, ``verify`` is what a
    ``requests`` client passes to trust it.
    """

    home: Path
    realm_file: Path
    http_port: int = 8180  # development mode only
    heap: str = "512m"
    java: str | None = None
    admin_password: str = "admin"
    name: str = "keycloak"
    production: bool = False
    database_url: str | None = None
    tls: TlsFiles | None = None
    hostname: str | None = None
    https_port: int = 8443
    management_port: int = 9000
    bind_host: str = "127.0.0.1"
    client_secrets: Mapping[str, str] = field(default_factory=dict)
    user_passwords: Mapping[str, str] = field(default_factory=dict)
    allow_demo_credentials: bool = False
    run_dir: Path | None = None  # pid file, log (and the production server tree); default home
    process: ServerProcess = field(init=False)
    build_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.run_dir = Path(self.run_dir or self.home)
        self.process = ServerProcess(self.name, self.run_dir)

    @property
    def url(self) -> str:
        if not self.production:
            return f"http://127.0.0.1:{self.http_port}"
        if not self.hostname:
            raise LaunchError("production mode needs a hostname (the public name of the IdP)")
        if "://" in self.hostname:
            return self.hostname.rstrip("/")
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{self.hostname}{port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def management_url(self) -> str:
        """Health endpoints (production mode): the public host name, the management port."""
        return f"https://{urlsplit(self.url).hostname}:{self.management_port}"

    @property
    def verify(self) -> str | bool:
        return self.tls.verify if self.production and self.tls is not None else True

    def ready(self) -> bool:
        if self.production:
            health = requests.get(
                f"{self.management_url}/health/ready", timeout=5, verify=self.verify
            )
            if health.status_code != 200 or health.json().get("status") != "UP":
                return False
        resp = requests.get(
            f"{self.issuer}/.well-known/openid-configuration", timeout=5, verify=self.verify
        )
        return resp.status_code == 200 and resp.json().get("issuer") == self.issuer

    def start(self, timeout: float = 300) -> float:
        """Start, import the realm, wait until it answers; seconds taken (with any build)."""
        if self.process.running():
            raise LaunchError(f"{self.name} already runs (pid {self.process.pid()}) at {self.url}")
        ports = [self.https_port, self.management_port] if self.production else [self.http_port]
        for port in ports:
            if not port_is_free(port, "0.0.0.0" if self.bind_host == "0.0.0.0" else "127.0.0.1"):
                raise LaunchError(f"port {port} is taken: stop what runs there, or pick another")
        if not Path(self.realm_file).is_file():
            raise LaunchError(f"realm file {self.realm_file} does not exist")
        realm = self._production_realm() if self.production else None
        started = time.monotonic()
        dist = keycloak_dist(self.home)
        java = find_java(JAVA_MINIMUM, self.java)
        env = {
            "JAVA_HOME": str(Path(java).resolve().parent.parent),
            "JAVA_OPTS_KC_HEAP": f"-Xms64m -Xmx{self.heap}",
            "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }
        if self.production:
            dist = self._server_tree(self._built(dist, env))
            argv, db_env = self._production_command(dist)
            env.update(db_env)
        else:
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
        # --import-realm reads <dist>/data/import. Write atomically: another instance (the
        # demo beside a test run) may be reading it.
        imports = dist / "data" / "import"
        imports.mkdir(parents=True, exist_ok=True)
        staged = imports / f".{REALM}-realm.{os.getpid()}.tmp"
        if realm is None:
            shutil.copyfile(self.realm_file, staged)
        else:
            fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # secrets
            with os.fdopen(fd, "w") as out:
                out.write(realm)
        os.replace(staged, imports / f"{REALM}-realm.json")
        self.process.start(argv, env=env)
        self.process.wait_until(self.ready, timeout)
        return time.monotonic() - started

    # -- production mode ---------------------------------------------------------------
    def _production_realm(self) -> str:
        """The realm file with the given secrets and passwords; refuses demo credentials."""
        if self.tls is None:
            raise LaunchError("production mode needs TLS: a certificate chain and key (tls=)")
        if not self.database_url:
            raise LaunchError("production mode needs a PostgreSQL database (database_url=)")
        self.url  # noqa: B018 -- raises without a hostname
        if self.admin_password in ("", "admin"):
            raise LaunchError("production mode refuses the bootstrap admin password 'admin'")
        for path in (self.tls.certificate, self.tls.key):
            if not Path(path).is_file():
                raise LaunchError(f"TLS file {path} does not exist")
        rep = json.loads(Path(self.realm_file).read_text())
        clients = {c.get("clientId"): c for c in rep.get("clients", [])}
        users = {u.get("username"): u for u in rep.get("users", [])}
        unknown = sorted(set(self.client_secrets) - set(clients)) + sorted(
            set(self.user_passwords) - set(users)
        )
        if unknown:
            raise LaunchError(f"not in the realm file: {', '.join(unknown)}")
        for client_id, secret in self.client_secrets.items():
            clients[client_id]["secret"] = secret
        for username, password in self.user_passwords.items():
            user = users[username]
            others = [c for c in user.get("credentials", []) if c.get("type") != "password"]
            user["credentials"] = [
                *others,
                {"type": "password", "value": password, "temporary": False},
            ]
        demo = [
            f"client {client_id}"
            for client_id, client in clients.items()
            if str(client.get("secret", "")).endswith(DEMO_SECRET_SUFFIX)
        ] + [
            f"user {username}"
            for username, user in users.items()
            if any(
                c.get("type") == "password" and c.get("value") == username
                for c in user.get("credentials", [])
            )
        ]
        if demo and not self.allow_demo_credentials:
            raise LaunchError(
                "production mode refuses the realm file's demo credentials ("
                + ", ".join(demo)
                + "): give client_secrets and user_passwords, or remove them from the realm"
            )
        return json.dumps(rep, indent=2)

    def _built(self, dist: Path, env: Mapping[str, str]) -> Path:
        """The distribution built for production (``kc.sh build``), once per option set."""
        options = list(PRODUCTION_BUILD_OPTIONS)
        digest = hashlib.sha256("\n".join(options).encode()).hexdigest()[:10]
        target = self.home / f"{dist.name}-production-{digest}"
        stamp = target / BUILT_STAMP
        with _locked(self.home / f".{target.name}.lock"):
            if stamp.is_file():
                return target
            if target.exists():
                shutil.rmtree(target)  # a build that did not finish
            _copy_dist(dist, target)
            log = Path(self.run_dir or self.home) / f"{self.name}-build.log"
            began = time.monotonic()
            with log.open("wb") as out:
                done = subprocess.run(
                    ["sh", str(target / "bin" / "kc.sh"), "build", *options],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, **env},
                    timeout=900,
                )
            if done.returncode != 0:
                raise LaunchError(
                    f"kc.sh build failed (exit {done.returncode}); last lines of {log}:\n"
                    f"{log_tail(log)}"
                )
            self.build_seconds = time.monotonic() - began
            stamp.write_text("\n".join(options) + "\n")
        return target

    @property
    def _server_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / f"{self.name}-server"

    def _server_tree(self, built: Path) -> Path:
        """This instance's own tree, hard-linked from the built one: its own data/import
        (the realm file with this instance's secrets), so instances never share it."""
        target = self._server_dir
        if target.exists():
            shutil.rmtree(target)
        _copy_dist(built, target, link_all=True)
        return target

    def _production_command(self, dist: Path) -> tuple[list[str], dict[str, str]]:
        assert self.tls is not None and self.database_url
        jdbc, user, password = jdbc_url(self.database_url)
        env = {}
        if user:
            env["KC_DB_USERNAME"] = user
        if password:
            env["KC_DB_PASSWORD"] = password
        argv = [
            "sh",
            str(dist / "bin" / "kc.sh"),
            "start",
            "--optimized",
            "--import-realm",
            f"--hostname={self.url}",
            "--http-enabled=false",
            f"--http-host={self.bind_host}",
            f"--https-port={self.https_port}",
            f"--https-certificate-file={Path(self.tls.certificate).resolve()}",
            f"--https-certificate-key-file={Path(self.tls.key).resolve()}",
            f"--http-management-port={self.management_port}",
            f"--db-url={jdbc}",
            "--cache=local",
            "--log-console-color=false",
            # smallrye logs every DOWN answer at INFO: one line per readiness poll at startup
            "--log-level=INFO,io.smallrye.health:WARN",
        ]
        return argv, env

    def java_pid(self) -> int | None:
        """The JVM's pid: kc.sh waits for Java as its child (or execs it) in its session."""
        sid = self.process.pid()
        if sid is None:
            return None
        out = subprocess.run(
            ["ps", "-o", "pid=,comm=", "-s", str(sid)], capture_output=True, text=True
        ).stdout
        for line in out.splitlines():
            pid, _, command = line.strip().partition(" ")
            if command.strip() == "java":
                return int(pid)
        return None

    def resident_kib(self) -> int | None:
        """The JVM's resident memory in KiB (``ps -o rss``), or None if it does not run."""
        pid = self.java_pid()
        if pid is None:
            return None
        out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
        return int(out.stdout.strip()) if out.stdout.strip() else None

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
        if self.production:
            shutil.rmtree(self._server_dir, ignore_errors=True)  # with the realm's secrets

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
            verify=self.verify,
        )
        resp.raise_for_status()
        return resp.json()["access_token"]
