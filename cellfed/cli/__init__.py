"""The `cellfed` command: engine, identity provider, member node, indexer, portal, demo and
the alliance operator's commands.

One module per command group, as warehouse's ``warehouse/cli/`` has: ``engine``, ``idp``,
``node``, ``index``, ``portal``, ``alliance`` and the ``demo`` command. Each group is a plain
``click.group`` in its module and is registered on ``main`` below, so no module imports this
one back.
"""

from __future__ import annotations

import click

# The command modules import what their commands run (the web apps, the store, the indexer)
# inside the command functions, not at the top of the module: that keeps `cellfed --help`
# and every command's start-up free of Flask, SQLAlchemy and the search clients, which only
# some commands need. Keep new commands that way.
from cellfed.cli import alliance, demo, engine, idp, index, node, portal
from cellfed.config import ConfigError


class _Main(click.Group):
    """The top group: a bad setting is reported as an error message, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main)
def main() -> None:
    """CellFed: find and request cell lines across a biobank alliance."""


# The modules, not their groups, are imported above, so `cellfed.cli.node` stays the module.
main.add_command(engine.engine)
main.add_command(idp.idp)
main.add_command(node.node)
main.add_command(index.index)
main.add_command(portal.portal)
main.add_command(demo.demo)
main.add_command(alliance.alliance)
