"""`cellfed index`: the central indexer that federates the nodes' feeds into the engine."""

from __future__ import annotations

import sys
import time

import click

from cellfed.cli._shared import config_with


@click.group()
def index() -> None:
    """The central indexer: federate the member nodes' feeds into the search engine."""


def _indexer(members_file: str | None):
    from cellfed.memory import collect_rarely, restart_with_few_malloc_arenas
    from federation.registry import RegistryError, load_members
    from search.indexer.sync import Indexer

    restart_with_few_malloc_arenas()
    collect_rarely()

    config = config_with("indexer", MEMBERS_FILE=members_file)
    try:
        members = load_members(config["MEMBERS_FILE"])
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    return Indexer.from_config(config, members), config


@index.command("sync")
@click.option("--members", "members_file", help="Member registry TOML file")
def index_sync(members_file: str | None) -> None:
    """Pull every node's changes once. Exits 1 if a node could not be synced."""
    indexer, _ = _indexer(members_file)
    indexer.prepare()
    failed = False
    with click.progressbar(
        indexer.members, label="Syncing nodes", item_show_func=lambda m: m.id if m else ""
    ) as members:
        reports = [indexer.sync_node(m) for m in members if not m.pushes]  # others push
    for report in reports:
        failed |= not report.ok
        click.echo(report.summary())
        for q in report.quarantined:
            click.echo(f"  quarantined {q.kind} {q.id} (seq {q.seq}): {q.reason}")
    if failed:
        sys.exit(1)


@index.command("serve")
@click.option("--members", "members_file", help="Member registry TOML file")
@click.option("--port", type=int, default=5050, show_default=True)
def index_serve(members_file: str | None, port: int) -> None:
    """Run the indexer service: a sync loop per node, pokes, health and /metrics."""
    from cellfed.serve import serve_in_thread
    from federation.web.logging import configure_logging
    from search.indexer.app import create_app
    from search.indexer.daemon import SyncDaemon
    from search.indexer.rebuild import rebuild_if_outdated

    indexer, config = _indexer(members_file)
    configure_logging(config)  # JSON lines in production
    rebuilt = rebuild_if_outdated(indexer, config["REINDEX_GRACE"])
    if rebuilt is not None:
        click.echo(f"rebuilt the index for the current mapping: {rebuilt.index}")
    stamp = lambda r: click.echo(f"{time.strftime('%H:%M:%S')} {r.summary()}")  # noqa: E731
    daemon = SyncDaemon(indexer, config["SYNC_INTERVAL"], on_report=stamp)
    daemon.start()
    server = serve_in_thread(create_app(config, daemon), port)
    click.echo(
        f"Indexer running: pokes at {server.url}/api/v1/poke/<node>, metrics at "
        f"{server.url}/metrics. Ctrl-C stops it."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        daemon.stop()


@index.command("verify")
@click.option("--members", "members_file", help="Member registry TOML file")
def index_verify(members_file: str | None) -> None:
    """Compare the index with every pull-mode node (ids and content hashes); of a push-mode
    node, check its cursor and open snapshot only (push_audit.py). Exits 1 if not exact."""
    from search.indexer.audit import AuditReport, audit
    from search.indexer.push_audit import PushAuditReport, push_audit

    indexer, config = _indexer(members_file)
    reports: list[AuditReport | PushAuditReport] = []
    mint = indexer.token
    for member in indexer.members:  # each feed read with a token minted for that node
        if member.pushes:  # never read: what the indexer knows of it (push_audit.py)
            reports.append(push_audit(indexer.engine, config["INDEX_PREFIX"], member.id))
            continue
        token = (lambda fresh, m=member: mint(m, fresh)) if mint else None
        reports += audit(indexer.engine, config["INDEX_PREFIX"], [member], token=token)
    for report in reports:
        click.echo(report.summary())
        for label, ids in (
            ("missing", report.missing),
            ("extra", report.extra),
            ("different", report.different),
        ):
            for doc_id in ids[:20]:
                click.echo(f"  {label}: {doc_id}")
    if not all(r.exact for r in reports):
        sys.exit(1)


@index.command("rebuild")
@click.option("--members", "members_file", help="Member registry TOML file")
@click.option("--version", "mapping_version", help="Mapping version (default: the current one)")
def index_rebuild(members_file: str | None, mapping_version: str | None) -> None:
    """Harvest every node into a new index and swap it in; searches never stop."""
    from search.aliases import MAPPING_VERSION
    from search.indexer.rebuild import RebuildError, rebuild

    indexer, config = _indexer(members_file)
    try:
        report = rebuild(indexer, mapping_version or MAPPING_VERSION, config["REINDEX_GRACE"])
    except RebuildError as exc:
        raise click.ClickException(f"{exc}; the live index is unchanged") from None
    click.echo(
        f"{report.index}: {report.documents} documents in {report.seconds:.1f}s; "
        f"replaced {', '.join(report.replaced) or 'nothing'}"
    )
    for carried in report.carried:
        click.echo(f"  {carried.summary()}")


@index.command("migrate")
@click.option("--version", "mapping_version", help="Mapping version (default: the current one)")
def index_migrate(mapping_version: str | None) -> None:
    """Add new fields of a mapping version in place; anything else needs `index rebuild`."""
    from search.aliases import MAPPING_VERSION, MappingChangeNotAdditive, update_mapping_in_place
    from search.engine import SearchEngine

    config = config_with("indexer")
    try:
        added = update_mapping_in_place(
            SearchEngine.from_config(config),
            config["INDEX_PREFIX"],
            mapping_version or MAPPING_VERSION,
        )
    except MappingChangeNotAdditive as exc:
        raise click.ClickException(f"{exc}: run `cellfed index rebuild`") from None
    click.echo(f"added fields: {', '.join(added)}" if added else "mapping already up to date")
