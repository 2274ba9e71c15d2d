"""`cellfed idp`: a local Keycloak with the alliance realm, in development or production mode.

Development mode (the default): ``kc.sh start-dev`` on loopback, an in-memory database, the
realm imported afresh at every start. Production mode (``--production``, implied by
``CELLFED_ENV=production``): ``kc.sh build`` once, then ``kc.sh start --optimized`` on
PostgreSQL, HTTPS only under a fixed hostname, from the ``IDP_*`` settings
(cellfed/launch/keycloak.py); it refuses to start, naming every setting to fix, without its
database, hostname or TLS files, with the admin password ``admin`` or with demo credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cellfed.config import ConfigError, check_idp_server, idp_secrets, is_production, load_config
from cellfed.launch.process import LaunchError

if TYPE_CHECKING:
    from cellfed.launch.keycloak import LocalKeycloak

DEVELOPMENT_NAME = "keycloak"
PRODUCTION_NAME = "keycloak-production"  # its own pid file, log and server tree


@click.group()
def idp() -> None:
    """Run Keycloak (from Maven Central) with the alliance realm: for demo and tests, or in
    production mode (--production) on PostgreSQL and HTTPS."""


def _development(config: dict[str, Any], port: int | None) -> LocalKeycloak:
    from cellfed.launch.keycloak import LocalKeycloak

    return LocalKeycloak(
        Path(config["ENGINE_HOME"]),
        Path(config["IDP_REALM_FILE"]),
        http_port=port or config["IDP_HTTP_PORT"],
        heap=config["IDP_HEAP"],
        java=config["ENGINE_JAVA"],
        admin_password=config["IDP_ADMIN_PASSWORD"],
        name=DEVELOPMENT_NAME,
    )


def _production(config: dict[str, Any]) -> LocalKeycloak:
    """The production-mode launcher from the IDP_* settings, once they pass the checks."""
    from cellfed.launch.keycloak import LocalKeycloak
    from cellfed.launch.tls import TlsFiles

    check_idp_server(config)
    client_secrets, user_passwords = idp_secrets(config)
    ca = config["IDP_TLS_CA"]
    return LocalKeycloak(
        Path(config["ENGINE_HOME"]),
        Path(config["IDP_REALM_FILE"]),
        production=True,
        database_url=config["IDP_DATABASE_URL"],
        tls=TlsFiles(
            certificate=Path(config["IDP_TLS_CERT"]),
            key=Path(config["IDP_TLS_KEY"]),
            ca=Path(ca) if ca else None,
        ),
        hostname=config["IDP_HOSTNAME"],
        https_port=config["IDP_HTTPS_PORT"],
        management_port=config["IDP_MANAGEMENT_PORT"],
        bind_host=config["IDP_BIND_HOST"],
        admin_password=config["IDP_ADMIN_PASSWORD"],
        client_secrets=client_secrets,
        user_passwords=user_passwords,
        allow_demo_credentials=False,
        heap=config["IDP_HEAP"],
        java=config["ENGINE_JAVA"],
        name=PRODUCTION_NAME,
    )


@idp.command("start")
@click.option("--port", type=int, help="HTTP port of development mode (default IDP_HTTP_PORT)")
@click.option(
    "--production",
    is_flag=True,
    help="Production mode from the IDP_* settings: PostgreSQL, HTTPS, a fixed hostname "
    "(implied by CELLFED_ENV=production).",
)
def idp_start(port: int | None, production: bool) -> None:
    """Start Keycloak in the background, import the realm, wait until it is healthy."""
    config = load_config()
    production = production or is_production(config)
    if production and port is not None:
        raise click.UsageError("--port is development mode's; production takes IDP_HTTPS_PORT")
    try:
        local = _production(config) if production else _development(config, port)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        seconds = local.start()
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    mode = "production" if production else "development"
    built = f" (of which kc.sh build {local.build_seconds:.1f}s)" if local.build_seconds else ""
    click.echo(
        f"Keycloak ({mode} mode) is healthy after {seconds:.1f}s{built} (pid {local.process.pid()})"
    )
    click.echo(f"issuer: {local.issuer}")
    rss = local.resident_kib()
    memory = f"{rss / 1024:.0f} MiB" if rss else "unknown"
    click.echo(f"resident memory: {memory} (JVM; heap limit {local.heap})")


@idp.command("fetch")
def idp_fetch() -> None:
    """Unpack Keycloak from Maven Central into ENGINE_HOME now (setup does this once)."""
    from cellfed.launch.keycloak import keycloak_dist

    try:
        dist = keycloak_dist(Path(load_config()["ENGINE_HOME"]))
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Keycloak is unpacked in {dist}")


@idp.command("stop")
@click.option("--port", type=int, help="HTTP port of development mode (default IDP_HTTP_PORT)")
def idp_stop(port: int | None) -> None:
    """Stop the background Keycloak, whichever mode it runs in (production mode: and delete
    its server tree, with the realm's secrets)."""
    from cellfed.launch.keycloak import LocalKeycloak

    config = load_config()
    production = LocalKeycloak(
        Path(config["ENGINE_HOME"]),
        Path(config["IDP_REALM_FILE"]),
        production=True,
        name=PRODUCTION_NAME,
    )
    running = [k for k in (_development(config, port), production) if k.process.running()]
    if not running:
        click.echo("Keycloak is not running")
    for local in running:
        local.stop()
        click.echo(f"Keycloak ({'production' if local.production else 'development'}) stopped")
