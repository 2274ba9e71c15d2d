"""`cellfed demo`: the whole alliance on this machine (the work is in cellfed/demo.py)."""

from __future__ import annotations

import click

from cellfed.config import PROJECT_ROOT, load_config
from cellfed.launch.process import LaunchError


@click.command()
@click.option("--port", type=int, default=5000, show_default=True, help="Portal port")
def demo(port: int) -> None:
    """Run the whole alliance here: engine, member nodes with demo data, indexer, portal."""
    from cellfed.cli._serve import refuse_development_server
    from cellfed.demo import run_demo
    from cellfed.memory import restart_with_few_malloc_arenas

    config = load_config()
    refuse_development_server(config, "The demo")  # and its demo secrets
    restart_with_few_malloc_arenas()

    try:
        run_demo(config, port, PROJECT_ROOT / "instance" / "demo")
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
