"""`cellfed alliance`: what an alliance operator runs, such as registering a new member."""

from __future__ import annotations

from pathlib import Path

import click

from cellfed.cli._shared import config_with


@click.group()
def alliance() -> None:
    """The alliance operator's commands: members, their clients at the identity provider."""


@alliance.command("add-member")
@click.option("--id", "node_id", required=True, help="The new node's id (its client's id)")
@click.option("--name", required=True, help="Human name of the node")
@click.option("--url", required=True, help="The node's public base URL (https://...)")
@click.option(
    "--members",
    "members_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Member registry TOML file (default MEMBERS_FILE)",
)
@click.option(
    "--instance",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The node's instance file: write its client secret there instead of showing it",
)
@click.option("--admin-user", default="admin", show_default=True, help="Realm administrator")
@click.option("--admin-realm", default="master", show_default=True, help="The admin's realm")
@click.option(
    "--ask-password", is_flag=True, help="Ask for the admin's password (else IDP_ADMIN_PASSWORD)"
)
@click.option("--admin-url", help="Where Keycloak's admin API answers, if not at the issuer's host")
@click.option(
    "--ca",
    type=click.Path(exists=True, dir_okay=False),
    help="CA bundle the identity provider's certificate is checked with (default: the system's)",
)
def add_member(
    node_id: str,
    name: str,
    url: str,
    members_file: Path | None,
    instance: Path | None,
    admin_user: str,
    admin_realm: str,
    ask_password: bool,
    admin_url: str | None,
    ca: str | None,
) -> None:
    """Register a new member node: its client and scope at the identity provider (OIDC_ISSUER,
    through Keycloak's admin API), then its entry in the member registry. The node's client
    secret is shown once, or written into its instance file with --instance. Restart the
    indexer and the portal afterwards: they read the registry when they start."""
    from cellfed.alliance import IdpAdmin, RegistrationError, register_member
    from cellfed.config import is_production
    from federation.registry import Member, RegistryError

    config = config_with(MEMBERS_FILE=str(members_file) if members_file else None)
    password = config["IDP_ADMIN_PASSWORD"]
    if ask_password:
        password = click.prompt(f"Password of {admin_user}", hide_input=True)
    try:
        admin = IdpAdmin.with_password(
            config["OIDC_ISSUER"], admin_user, password, admin_realm, ca or True, base=admin_url
        )
        done = register_member(
            admin,
            Path(config["MEMBERS_FILE"]),
            Member(node_id, name, url),
            scope_pattern=config["NODE_TOKEN_SCOPE"],
            audience=config["OIDC_AUDIENCE"],
            central_clients=(config["INDEXER_CLIENT_ID"], config["PORTAL_CLIENT_ID"]),
            production=is_production(config),
        )
    except (RegistrationError, RegistryError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Registered member {node_id} ({name}) at {url}:")
    for line in done.done:
        click.echo(f"  {line}")
    if instance is None or not _secret_written(instance, done.client_secret):
        click.echo(
            f"The client secret of {node_id}, shown this once (the node's OIDC_CLIENT_SECRET):"
        )
        click.echo(done.client_secret)
    click.echo("Restart the indexer and the portal (web and worker) to take the member in.")


def _secret_written(instance: Path, secret: str) -> bool:
    from cellfed.config import ConfigError
    from cellfed.instance import InstanceError, set_setting

    try:
        set_setting(instance, "OIDC_CLIENT_SECRET", secret)
    except (InstanceError, ConfigError, OSError) as exc:
        click.echo(f"The client secret could not be written to {instance}: {exc}", err=True)
        return False
    click.echo(f"The node's client secret is in {instance} (OIDC_CLIENT_SECRET).")
    return True
