"""Harvest throughput, freshness and indexer memory, beside the engine's raw bulk rate.

    .venv/bin/python -m bench.harvest --records 20000            # small, while developing
    .venv/bin/python -m bench.harvest --records 200000 --records 1000000   # the issue's figures

For each size: writes that many cell lines (bench/catalogue.py) into the SQLite stores of
--nodes member nodes, serves each node with gunicorn, and then measures, in the same run
on the same engine:

* raw: the same documents sent straight to the engine with bulk requests (no harvest);
* harvest: a full rebuild (pull every feed, validate, denormalise, bulk with external
  versions into a new index with refresh off, swap the alias), in a child process whose
  peak resident memory is read when it ends;
* freshness (once, at the smallest size): node commit -> poke -> searchable at the portal's
  search API, over --changes changes.

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import insert, update

from bench.catalogue import biobank, cell_line, collection
from bench.common import gunicorn, machine
from cellfed.config import PROJECT_ROOT
from cellfed.memory import collect_rarely, few_malloc_arenas
from federation.node.models import Counter, Record, utcnow
from federation.node.store import SEQUENCE, CatalogueStore
from federation.protocol import canonical_form
from federation.registry import Member
from schemas import SCHEMA_VERSION, schema_for
from search.aliases import create_catalogue_index, drop_indices, finish_bulk_load
from search.engine import SearchEngine
from search.indexer.documents import to_document

TARGETS = {"share_of_raw": 0.70, "docs_per_s": 5000, "reindex_1m_s": 300, "freshness_p95_s": 2.0}


# -- member nodes --------------------------------------------------------------------------
def node_records(node: int, lines: int, seed: int = 11) -> list[tuple[str, dict[str, Any]]]:
    """One node's catalogue in dependency order: 2 biobanks, 10 collections, the lines."""
    rng = random.Random(seed + node)
    banks = [biobank(node * 10 + i, rng) for i in range(2)]
    colls = [collection(node * 100 + i, banks[i % 2], rng) for i in range(10)]
    records = [("biobank", b) for b in banks] + [("collection", c) for c in colls]
    for i in range(lines):
        coll = colls[i % len(colls)]
        bank = next(b for b in banks if b["id"] == coll["biobank"])
        records.append(("cell_line", cell_line(node * 10_000_000 + i, bank, coll, rng)))
    return records


def write_store(path: Path, records: list[tuple[str, dict[str, Any]]]) -> None:
    """Fill a node store as its own writes would (canonical JSON, hash, sequence), in bulk."""
    store = CatalogueStore(f"sqlite:///{path}")
    store.create_schema()
    now = utcnow()
    rows = []
    for seq, (kind, record) in enumerate(records, start=1):
        canonical = schema_for(kind).dump(schema_for(kind).load(record))
        text, digest = canonical_form(canonical)  # as CatalogueStore._publish keeps them
        rows.append(
            {
                "kind": kind,
                "local_id": record["id"],
                "payload": canonical,
                "canonical": text.decode(),
                "content_hash": digest,
                "seq": seq,
                "deleted": False,
                "schema_version": SCHEMA_VERSION,
                "modified": now,
            }
        )
    with store.sessions.begin() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(Record), rows[start : start + 5000])
        session.execute(update(Counter).where(Counter.name == SEQUENCE).values(value=len(rows)))
    store.dispose()


def prepare_nodes(work: Path, records: int, nodes: int) -> list[Path]:
    paths = []
    for n in range(nodes):
        path = work / f"harvest-{records}" / f"node{n}.sqlite3"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"  writing {records // nodes} lines into node {n} ...", flush=True)
            write_store(path, node_records(n, records // nodes))
        paths.append(path)
    return paths


# -- raw engine rate -----------------------------------------------------------------------
def raw_rate(engine: SearchEngine, prefix: str, paths: list[Path]) -> float:
    """Documents per second for the same documents sent straight to the engine."""
    bodies = []
    for n, path in enumerate(paths):
        store = CatalogueStore(f"sqlite:///{path}")
        context: dict[str, dict[str, Any]] = {}
        lines = []
        for entry in store.changes(0, 10**9):
            record = entry["record"]
            if entry["kind"] != "cell_line":
                context[record["id"]] = record
            doc = to_document(
                f"node{n}",
                entry["kind"],
                record,
                seq=entry["seq"],
                content_hash=entry["hash"],
                schema_version="2",
                modified=entry["modified"],
                biobank=context.get(record.get("biobank")),
                collection=context.get(record.get("collection")),
            )
            lines.append(
                json.dumps(
                    {
                        "index": {
                            "_id": doc["uid"],
                            "version": entry["seq"],
                            "version_type": "external",
                        }
                    }
                )
            )
            lines.append(json.dumps(doc))
            if len(lines) == 2000:  # the indexer's bulk size: 1,000 documents
                bodies.append("\n".join(lines) + "\n")
                lines = []
        if lines:
            bodies.append("\n".join(lines) + "\n")
        store.dispose()
    index = create_catalogue_index(engine, prefix, bulk_load=True)
    started = time.monotonic()
    _send_bulks(engine, index, bodies)
    finish_bulk_load(engine, index, 0)
    seconds = time.monotonic() - started
    docs = engine.count(index)
    engine.delete_index(index)
    return docs / seconds


def _send_bulks(engine: SearchEngine, index: str, bodies: list[str], clients: int = 2) -> None:
    """Send pre-built bulk bodies with a few concurrent clients, as a loader would."""
    queue = list(reversed(bodies))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            resp = engine.client.bulk(body=body, index=index)
            if resp.get("errors"):
                raise RuntimeError("the engine refused part of a raw bulk")

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# -- harvest, in a child process so its peak memory is its own ----------------------------
def harvest_child(args: argparse.Namespace) -> None:
    from search.indexer.rebuild import rebuild
    from search.indexer.sync import Indexer

    collect_rarely()  # as `cellfed index ...` runs (cellfed/memory.py)
    members = [Member(f"node{i}", f"Node {i}", url) for i, url in enumerate(args.urls)]
    engine = SearchEngine(args.engine_url, timeout=120)
    indexer = Indexer(engine, members, args.prefix, page_size=1000, timeout=60)
    report = rebuild(indexer, grace=0, workers=args.workers)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "documents": report.documents,
                "seconds": report.seconds,
                "peak_rss_mib": own_peak_rss_mib(usage),
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        )
    )


def own_peak_rss_mib(usage: resource.struct_rusage) -> float:
    """This process's own peak resident memory. Linux keeps ``ru_maxrss`` across exec, so a
    child forked from this benchmark's large parent would report the parent's size (it grew
    with --records); VmHWM starts afresh with the new program."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return usage.ru_maxrss / 1024


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) so far of a process and its children (a gunicorn master
    and its workers), from /proc: what the nodes spent, whatever else shares the cores."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def harvest(engine_url: str, prefix: str, urls: list[str], workers: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.harvest",
            "--child",
            "--engine-url",
            engine_url,
            "--prefix",
            prefix,
            "--workers",
            str(workers),
            *(f"--url={u}" for u in urls),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_ROOT,
        env=few_malloc_arenas(),  # as `cellfed index ...` runs (cellfed/memory.py)
    )
    if out.returncode != 0:
        raise SystemExit(f"harvest failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- freshness -----------------------------------------------------------------------------
def freshness(engine_url: str, prefix: str, path: Path, node_url: str, changes: int) -> list[float]:
    """Seconds from a node's commit to the change being found by the portal's search API."""
    from cellfed.serve import serve_in_thread
    from federation.node.poke import Poker
    from portal.app import create_app as create_portal
    from search.indexer.app import create_app as create_indexer_app
    from search.indexer.daemon import SyncDaemon
    from search.indexer.sync import Indexer

    engine = SearchEngine(engine_url)
    indexer = Indexer(engine, [Member("node0", "Node 0", node_url)], prefix)
    daemon = SyncDaemon(indexer, interval=60)  # polling would take a minute: pokes must do it
    daemon.start()
    service = serve_in_thread(create_indexer_app({}, daemon))
    portal = serve_in_thread(create_portal({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix}))
    store = CatalogueStore(f"sqlite:///{path}")
    store.listeners.append(Poker(service.url, "node0"))
    first = store.changes(0, 20)
    bank = next(e["record"] for e in first if e["kind"] == "biobank")
    coll = next(
        e["record"]
        for e in first
        if e["kind"] == "collection" and e["record"]["biobank"] == bank["id"]
    )
    rng = random.Random(5)
    session = requests.Session()
    delays = []
    try:
        for i in range(changes):
            line = cell_line(900_000_000 + i, bank, coll, rng)
            line["name"] = line["hpscreg_name"] = f"FRSHi{i % 1000:03d}-{'ABCD'[i // 1000 % 4]}"
            line["synonyms"] = [f"fresh-marker-{i}"]
            started = time.monotonic()
            store.write([("cell_line", schema_for("cell_line").load(line))])
            while (
                session.get(
                    f"{portal.url}/api/v1/search", params={"q": f"fresh-marker-{i}"}, timeout=10
                )
                .json()
                .get("total", 0)
                < 1
            ):
                if time.monotonic() - started > 30:
                    raise SystemExit(f"change {i} not searchable after 30 s")
                time.sleep(0.02)
            delays.append(time.monotonic() - started)
    finally:
        daemon.stop()
        service.stop()
        portal.stop()
        store.dispose()
    return delays


# -- main ----------------------------------------------------------------------------------
def run_size(args, engine_url: str, records: int, work: Path) -> dict[str, Any]:
    engine = SearchEngine(engine_url, timeout=120)
    print(f"\n== {records:,} records across {args.nodes} nodes", flush=True)
    paths = prepare_nodes(work, records, args.nodes)
    servers = [
        gunicorn(
            "federation.node.app:create_app()",
            {
                "CELLFED_NODE_ID": f"node{n}",
                "CELLFED_DATABASE_URL": f"sqlite:///{p}",
                "CELLFED_FEED_MAX_PAGE_SIZE": "5000",
            },
            workers=1,
            threads=2,
        )
        for n, p in enumerate(paths)
    ]
    try:
        prefix = f"bench-harvest-{records}-"
        drop_indices(engine, prefix)
        print("  raw bulk ...", flush=True)
        raw = raw_rate(engine, f"{prefix}raw-", paths)
        print("  harvest ...", flush=True)
        node_cpu = sum(process_cpu_seconds(s.process.pid) for s in servers)
        result = harvest(engine_url, prefix, [s.url for s in servers], args.workers)
        node_cpu = sum(process_cpu_seconds(s.process.pid) for s in servers) - node_cpu
        rate = result["documents"] / result["seconds"]
        row = {
            "records": records,
            "raw_docs_s": raw,
            "harvest_docs_s": rate,
            "share": rate / raw,
            "seconds": result["seconds"],
            "peak_rss_mib": result["peak_rss_mib"],
            "documents": result["documents"],
            "indexer_cpu_us": 1e6 * result["cpu_s"] / max(result["documents"], 1),
            "node_cpu_us": 1e6 * node_cpu / max(result["documents"], 1),
        }
        if args.changes and records == min(args.records):
            print(f"  freshness over {args.changes} changes ...", flush=True)
            delays = freshness(engine_url, prefix, paths[0], servers[0].url, args.changes)
            row["freshness"] = delays
        drop_indices(engine, prefix)
        return row
    finally:
        for server in servers:
            server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, action="append", help="cell lines (repeatable)")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--changes", type=int, default=100, help="freshness samples (0: skip)")
    parser.add_argument("--workers", type=int, default=2, help="nodes harvested at once")
    parser.add_argument("--engine-url", help="an engine to use (default: start one)")
    parser.add_argument("--heap", default="2g", help="heap of the engine this starts")
    parser.add_argument("--work", type=Path, default=PROJECT_ROOT / ".bench")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", dest="urls", action="append", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        harvest_child(args)
        return
    args.records = sorted(args.records or [200_000, 1_000_000])

    local = None
    engine_url = args.engine_url
    if not engine_url:
        from cellfed.launch.process import free_engine_port
        from cellfed.launch.search_engine import LocalSearchEngine

        local = LocalSearchEngine(
            PROJECT_ROOT / ".engines",
            http_port=free_engine_port(),
            heap=args.heap,
            name="opensearch-bench",
        )
        local.start(fresh=True)
        engine_url = local.url
    try:
        rows = [run_size(args, engine_url, n, args.work) for n in args.records]
    finally:
        if local is not None:
            local.stop()
    report(rows, args)


def report(rows: list[dict[str, Any]], args) -> None:
    print(f"\nMachine: {machine()}")
    print(
        f"Nodes: {args.nodes}, harvested {args.workers} at a time; engine: OpenSearch 3.8 "
        f"(one node, heap {args.heap}), on the same machine\n"
    )
    head = f"{'records':>10}{'raw docs/s':>12}{'harvest docs/s':>16}{'of raw':>8}{'seconds':>9}"
    head += f"{'indexer peak MiB':>18}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['records']:>10,}{r['raw_docs_s']:>12,.0f}{r['harvest_docs_s']:>16,.0f}"
            f"{r['share']:>8.0%}{r['seconds']:>9.1f}{r['peak_rss_mib']:>18.0f}"
        )
    for r in rows:
        print(
            f"CPU per record at {r['records']:,}: indexer {r['indexer_cpu_us']:.0f} µs, "
            f"nodes {r['node_cpu_us']:.0f} µs (user + system; the engine's not counted)"
        )
    for r in rows:
        if "freshness" in r:
            d = sorted(r["freshness"])
            p95 = d[max(0, int(len(d) * 0.95) - 1)]
            print(
                f"\nFreshness (commit -> found by the portal's search), {len(d)} changes: "
                f"p50 {statistics.median(d):.2f} s, p95 {p95:.2f} s, max {d[-1]:.2f} s"
            )
    print(
        f"\nTargets: harvest >= {TARGETS['share_of_raw']:.0%} of raw and >= "
        f"{TARGETS['docs_per_s']:,} docs/s; 1M rebuild < {TARGETS['reindex_1m_s']} s; "
        f"freshness p95 <= {TARGETS['freshness_p95_s']} s; memory flat from 200k to 1M"
    )


if __name__ == "__main__":
    main()
