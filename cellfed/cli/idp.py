"""`cellfed idp`: a local Keycloak with the alliance realm."""

from __future__ import annotations

from pathlib import Path

import click

from cellfed.config import load_config
from cellfed.launch.process import LaunchError


@click.group()
def idp() -> None:
    """Run a local Keycloak (from Maven Central) with the alliance realm, for demo and tests."""


def _local_idp(port: int | None):
    from cellfed.launch.keycloak import LocalKeycloak

    config = load_config(role="idp")
    return LocalKeycloak(
        Path(config["ENGINE_HOME"]),
        Path(config["IDP_REALM_FILE"]),
        http_port=port or config["IDP_HTTP_PORT"],
        heap=config["IDP_HEAP"],
        java=config["ENGINE_JAVA"],
        admin_password=config["IDP_ADMIN_PASSWORD"],
    )


@idp.command("start")
@click.option("--port", type=int, help="HTTP port (default IDP_HTTP_PORT, 8180)")
def idp_start(port: int | None) -> None:
    """Start Keycloak in the background, import the realm afresh, wait until it answers."""
    local = _local_idp(port)
    try:
        seconds = local.start()
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Keycloak is up after {seconds:.1f}s (pid {local.process.pid()})")
    click.echo(f"issuer: {local.issuer}")


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
@click.option("--port", type=int)
def idp_stop(port: int | None) -> None:
    """Stop the background Keycloak."""
    local = _local_idp(port)
    if not local.process.running():
        click.echo("Keycloak is not running")
        return
    local.stop()
    click.echo("Keycloak stopped")
