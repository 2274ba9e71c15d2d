"""Search latency and throughput: the portal's search API and page against the engine.

    .venv/bin/python -m bench.search_latency --docs 20000 --queries bench/queries/mix.txt
    .venv/bin/python -m bench.search_latency --docs 200000 --docs 1000000 \\
        --queries bench/queries/mix.txt                                 # the issue's run

For each ``--docs`` size: loads a synthetic catalogue (bench/catalogue.py) into its own index
prefix with bulk requests, force-merges it, then runs each search once through the real
portal app in-process, behind a recording proxy, to capture every request the portal sends
the engine for it (bench/engine_capture.py). It serves the portal with gunicorn and, at 1, 10
and 50 concurrent clients, on two workloads (the mix of ``--queries``, one query string a
line, and the single typical query), drives three rows:

* engine: each search's captured requests, replayed back to back on one keep-alive
  connection (one job = the whole sequence of one search);
* portal: ``GET /api/v1/search?<query>``, the JSON API;
* page: ``GET /?<query>``, the HTML search page.

Each client walks the workload's list from its own offset (bench/load_clients.py). It prints
p50 / p95 / p99 and throughput, the load average before and after each run, the machine, and
issue 13's targets met or not (bench/search_targets.py).

Not a test: it prints figures. The load generator runs on the same machine: each client is a
thread with one keep-alive connection (http.client, the lightest client in the standard
library), so the numbers include its cost on a shared CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.catalogue import documents, nodes
from bench.common import gunicorn, machine
from bench.engine_capture import Captured, capture, portal_app, recording
from bench.load_clients import Job, Run, drive, drive_passes, get
from bench.query_mix import read_queries
from bench.search_targets import table, verdicts
from portal.alerts.demand import flush_demand
from search.aliases import catalogue_alias, drop_indices, ensure_indices, state_index
from search.engine import SearchEngine

TYPICAL_QUERY = (
    "q=parkinson&cell_type=hiPSC&country=DE&country=GB&country=FR"
    "&qc=mycoplasma_negative&availability=available"
)
TARGET_ROWS = ("engine", "portal", "page")


# -- loading -------------------------------------------------------------------------------
def load(engine: SearchEngine, prefix: str, lines: int) -> float:
    """Index the synthetic catalogue; returns documents per second."""
    from tqdm import tqdm

    drop_indices(engine, prefix)
    alias = ensure_indices(engine, prefix)
    [index] = engine.alias_targets(alias)
    engine.client.indices.put_settings(index=index, body={"index": {"refresh_interval": "-1"}})
    started = time.monotonic()
    total = 0
    with tqdm(total=lines, unit="doc", desc="indexing", mininterval=1) as bar:

        def actions():
            nonlocal total
            for doc_id, doc in documents(lines):
                total += 1
                if doc["kind"] == "cell_line":
                    bar.update()
                yield {"_op_type": "index", "_index": alias, "_id": doc_id, "_source": doc}

        result = engine.bulk(actions(), chunk_size=2000)
    if result.errors:
        raise SystemExit(f"the engine refused {len(result.errors)} documents: {result.errors[0]}")
    rate = total / (time.monotonic() - started)
    engine.client.indices.put_settings(index=index, body={"index": {"refresh_interval": "1s"}})
    engine.refresh(alias)
    print("merging segments (as a settled production index would be) ...", flush=True)
    engine.client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=3600)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for node in nodes(lines):
        engine.put(state_index(prefix), node, {"node_id": node, "cursor": 1, "data_as_of": now})
    engine.refresh(state_index(prefix))
    return rate


# -- workloads --------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    name: str
    searches: tuple[Captured, ...]

    def jobs(self, target: str) -> list[Job]:
        if target == "engine":
            return [c.engine for c in self.searches]
        return [get(c.api_path if target == "portal" else c.page_path) for c in self.searches]

    def describe(self) -> str:
        """How many searches, how many found nothing, and what the engine row sends."""
        sent = Counter(
            f"{r.method} {urlsplit(r.path).path}" for c in self.searches for r in c.engine
        )
        n = len(self.searches)
        per = sum(sent.values()) / n
        empty = sum(1 for c in self.searches if not c.lines)
        what = ", ".join(f"{k} x{v / n:.2f}" for k, v in sent.most_common())
        return (
            f"{self.name}: {n} searches ({empty} find nothing); the portal sends the engine "
            f"{per:.2f} requests per search: {what}"
        )


def captured(search_url: str, prefix: str, workloads: dict[str, list[str]]) -> list[Workload]:
    """Each workload's searches, run through the in-process portal with its engine requests
    recorded."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, recording(search_url) as proxy:
        app = portal_app(proxy.url, prefix, f"sqlite:///{Path(tmp) / 'portal.sqlite3'}")
        try:
            for name, queries in workloads.items():
                print(f"capturing what the portal sends the engine for {name} ...", flush=True)
                out.append(Workload(name, tuple(capture(app, proxy, queries))))
        finally:
            flush_demand(app)  # the searches' unmet-demand counts, while their database exists
    return out


# -- runs ----------------------------------------------------------------------------------
def measure(
    args: argparse.Namespace, workloads: Sequence[Workload], urls: dict[str, str]
) -> list[Run]:
    runs = []
    for clients in (int(c) for c in args.clients.split(",")):
        for workload in workloads:
            for target in TARGET_ROWS:
                print(f"{workload.name}, {clients} client(s), {target} ...", flush=True)
                jobs = workload.jobs(target)
                if len(jobs) > 1 and args.mix_passes:  # the mix: the same searches in each row
                    runs.append(
                        drive_passes(
                            urls[target], jobs, clients, args.mix_passes, target, workload.name
                        )
                    )
                    continue
                runs.append(
                    drive(
                        urls[target],
                        jobs,
                        clients,
                        args.seconds,
                        args.warmup,
                        target,
                        workload.name,
                    )
                )
    return runs


def one_size(args: argparse.Namespace, docs: int, engine: SearchEngine) -> None:
    """Load (or reuse) ``docs`` lines, capture, serve, measure, report; then drop the index
    unless --keep."""
    prefix = args.prefix or f"bench-{docs}-"
    alias = catalogue_alias(prefix)
    rate = None
    if args.reuse and engine.alias_targets(alias):
        print(f"reusing {alias} ({engine.count(alias)} documents)")
    else:
        print(f"loading {docs} cell lines into {alias} ...", flush=True)
        rate = load(engine, prefix, docs)
    workloads = {"single": [args.query]}
    if args.queries:
        workloads = {"mix": read_queries(args.queries), **workloads}
    try:
        loaded = captured(args.search_url, prefix, workloads)
        with tempfile.TemporaryDirectory() as tmp:
            portal = gunicorn(
                "portal.app:create_app()",
                {
                    "CELLFED_SEARCH_URL": args.search_url,
                    "CELLFED_INDEX_PREFIX": prefix,
                    "CELLFED_PORTAL_DATABASE_URL": f"sqlite:///{Path(tmp) / 'portal.sqlite3'}",
                    # The clients are one address: keep the limiter's work, not its refusals.
                    "CELLFED_RATE_LIMIT_API": "100000000/minute",
                },
                workers=args.workers,
                threads=args.threads,
            )
            try:
                urls = {"engine": args.search_url, "portal": portal.url, "page": portal.url}
                runs = measure(args, loaded, urls)
            finally:
                portal.stop()
    finally:
        if not args.keep:
            drop_indices(engine, prefix)
    report(args, docs, engine, rate, loaded, runs)


def report(
    args: argparse.Namespace,
    docs: int,
    engine: SearchEngine,
    rate: float | None,
    workloads: Sequence[Workload],
    runs: list[Run],
) -> None:
    info = engine.info()
    print()
    print(f"machine:  {machine()}")
    print(
        f"engine:   {info['version'].get('distribution', 'elasticsearch')} "
        f"{info['version']['number']} at {args.search_url}"
    )
    print(
        f"index:    {docs} cell lines + biobanks and collections, 1 shard, force-merged"
        + (f"; bulk load {rate:,.0f} docs/s" if rate else "")
    )
    print(f"portal:   gunicorn, {args.workers} gthread workers x {args.threads} threads")
    print(f"runs:     {args.seconds:g} s measured after {args.warmup:g} s warm-up, each")
    if args.queries and args.mix_passes:
        print(
            f"          the mix: {args.mix_passes} whole passes over its searches a run,"
            " shared by the clients"
        )
    print(f"mix:      {args.queries or '(none: --queries FILE)'}")
    print(f"single:   {args.query}")
    for workload in workloads:
        print(workload.describe())
    print("load:     1-minute load average before / after each run, on these cores")
    print()
    print(table(runs))
    print()
    for line in verdicts(runs):
        print(line)
    print(flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--docs",
        type=int,
        action="append",
        help="cell lines to index; give it again for another size in the same run "
        "(default 1000000)",
    )
    parser.add_argument(
        "--search-url", default=os.environ.get("CELLFED_SEARCH_URL", "http://127.0.0.1:9251")
    )
    parser.add_argument("--prefix", help="index prefix (default bench-<docs>-)")
    parser.add_argument("--reuse", action="store_true", help="keep an index already loaded")
    parser.add_argument("--keep", action="store_true", help="leave the index for --reuse")
    parser.add_argument("--clients", default="1,10,50", help="concurrency levels")
    parser.add_argument("--seconds", type=float, default=20, help="measured time per run")
    parser.add_argument(
        "--mix-passes",
        type=int,
        default=2,
        help="a mix is measured as this many whole passes over its searches, the clients "
        "sharing each pass (its searches' costs differ a hundredfold: a time-boxed run would "
        "measure different searches in each row); 0: time-boxed like the single query",
    )
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured time per run")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2)
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--query", default=TYPICAL_QUERY, help="the single query's string")
    parser.add_argument("--queries", help="a mix: one query string a line (bench/queries/)")
    args = parser.parse_args(argv)
    sizes = args.docs or [1_000_000]
    if args.prefix and len(sizes) > 1:
        parser.error("--prefix names one index: give one --docs with it")
    engine = SearchEngine(args.search_url, timeout=600)
    engine.info()  # fails now, clearly, if the engine is not there
    for docs in sizes:
        one_size(args, docs, engine)


if __name__ == "__main__":
    main()
