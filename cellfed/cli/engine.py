"""`cellfed engine`: a local OpenSearch or Elasticsearch 7 on loopback."""

from __future__ import annotations

from pathlib import Path

import click

from cellfed.config import load_config
from cellfed.launch.process import LaunchError
from cellfed.launch.search_engine import LocalSearchEngine


@click.group()
def engine() -> None:
    """Run a local OpenSearch or Elasticsearch 7 (from Maven Central) on loopback."""


KIND = click.option(
    "--kind",
    type=click.Choice(["opensearch", "elasticsearch7"]),
    default="opensearch",
    show_default=True,
)


def _local_engine(port: int | None, kind: str, nodes: int = 1) -> LocalSearchEngine:
    config = load_config()
    return LocalSearchEngine(
        Path(config["ENGINE_HOME"]),
        http_port=port or config["ENGINE_HTTP_PORT"],
        heap=config["ENGINE_HEAP"],
        java=config["ENGINE_JAVA"],
        nodes=nodes,
        name=kind if nodes == 1 else f"{kind}-{nodes}",
        kind=kind,
    )


@engine.command("start")
@click.option("--port", type=int, help="HTTP port (default ENGINE_HTTP_PORT, 9251)")
@click.option("--nodes", type=int, default=1, show_default=True, help="Cluster size (one JVM)")
@click.option("--fresh", is_flag=True, help="Delete the engine's data first")
@KIND
def engine_start(port: int | None, nodes: int, fresh: bool, kind: str) -> None:
    """Start the engine in the background and wait until it is healthy."""
    local = _local_engine(port, kind, nodes)
    try:
        seconds = local.start(fresh=fresh)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{kind} is up at {', '.join(local.urls)} after {seconds:.1f}s (pid {local.process.pid()})"
    )


@engine.command("stop")
@click.option("--port", type=int)
@click.option("--nodes", type=int, default=1, show_default=True)
@KIND
def engine_stop(port: int | None, nodes: int, kind: str) -> None:
    """Stop the background engine."""
    local = _local_engine(port, kind, nodes)
    if not local.process.running():
        click.echo(f"{kind} is not running")
        return
    local.stop()
    click.echo(f"{kind} stopped")


@engine.command("classpath")
@KIND
def engine_classpath(kind: str) -> None:
    """Resolve the engine's jars with Maven now (setup does this once)."""
    from cellfed.launch.java import maven_classpath
    from cellfed.launch.search_engine import FLAVORS

    home = Path(load_config()["ENGINE_HOME"])
    try:
        cp = maven_classpath(FLAVORS[kind].profile, home)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(cp.split(':'))} jars resolved")
