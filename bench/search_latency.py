"""Search latency and throughput: the portal's search API against the engine's own speed.

    .venv/bin/python -m bench.search_latency --docs 20000          # small, while developing
    .venv/bin/python -m bench.search_latency --docs 1000000        # the issue's figure

Loads a synthetic catalogue (bench/catalogue.py) straight into its own index prefix with
bulk requests, serves the portal with gunicorn, then sends one typical faceted search at 1,
10 and 50 concurrent clients, to the portal and the same query body straight to the engine,
in the same run, and prints p50 / p95 / p99 latency and throughput side by side.

Not a test: it prints figures. The load generator runs on the same machine: each client is a
thread with one keep-alive connection (http.client, the lightest client in the standard
library), so the numbers include its cost on a shared CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from werkzeug.datastructures import MultiDict

from bench.catalogue import documents, nodes
from bench.common import gunicorn, machine
from search.aliases import catalogue_alias, drop_indices, ensure_indices, state_index
from search.engine import SearchEngine
from search.queries import build_search, parse_params

TYPICAL_QUERY = (
    "q=parkinson&cell_type=hiPSC&country=DE&country=GB&country=FR"
    "&qc=mycoplasma_negative&availability=available"
)
TARGETS = {"p95_ms_at_50": 150.0, "overhead": 1.5, "rps": 300.0}


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


# -- requests --------------------------------------------------------------------------------
def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None):
    headers = {"Content-Type": "application/x-ndjson"} if body else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.getheader("Connection", "").lower() == "close":
        conn.close()
    return resp.status, data


@dataclass
class Run:
    target: str
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def drive(
    base: str,
    method: str,
    path: str,
    body: bytes | None,
    clients: int,
    seconds: float,
    warmup: float,
    target: str,
) -> Run:
    """``clients`` threads send the request back to back for ``warmup`` + ``seconds``; only
    the measured window counts."""
    parts = urlsplit(base)
    run = Run(target, clients)
    lock = threading.Lock()
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine, errors = [], 0
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                break
            try:
                status, _ = request(conn, method, path, body)
                ok = status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                ok = False
            ended = time.perf_counter()
            if began >= measure_from:
                if ok:
                    mine.append(ended - began)
                else:
                    errors += 1
        conn.close()
        with lock:
            run.latencies.extend(mine)
            run.errors += errors

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.seconds = seconds
    return run


# -- report --------------------------------------------------------------------------------
def table(runs: list[Run]) -> str:
    head = f"{'target':<8}{'clients':>8}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}"
    head += f"{'p99 ms':>9}{'req/s':>9}"
    rows = [head, "-" * len(head)]
    for r in runs:
        rows.append(
            f"{r.target:<8}{r.clients:>8}{len(r.latencies):>10}{r.errors:>8}{r.pct(50):>9.1f}"
            f"{r.pct(95):>9.1f}{r.pct(99):>9.1f}{r.rps:>9.0f}"
        )
    return "\n".join(rows)


def verdict(runs: list[Run]) -> list[str]:
    by = {(r.target, r.clients): r for r in runs}
    lines = []
    for clients in sorted({r.clients for r in runs}):
        portal, engine = by.get(("portal", clients)), by.get(("engine", clients))
        if portal and engine and engine.pct(50) > 0:
            lines.append(
                f"{clients:>3} clients: portal/engine p50 {portal.pct(50) / engine.pct(50):.2f}x, "
                f"p95 {portal.pct(95) / engine.pct(95):.2f}x"
            )
    top = max(r.clients for r in runs)
    portal, engine = by.get(("portal", top)), by.get(("engine", top))
    if portal and engine:
        checks = [
            (
                f"p95 <= {TARGETS['p95_ms_at_50']:.0f} ms at {top} clients",
                portal.pct(95) <= TARGETS["p95_ms_at_50"],
                f"{portal.pct(95):.1f} ms",
            ),
            (
                f"portal p95 <= {TARGETS['overhead']}x engine p95",
                portal.pct(95) <= TARGETS["overhead"] * engine.pct(95),
                f"{portal.pct(95) / engine.pct(95):.2f}x",
            ),
            (
                f">= {TARGETS['rps']:.0f} requests/s through the portal",
                max(r.rps for r in runs if r.target == "portal") >= TARGETS["rps"],
                f"{max(r.rps for r in runs if r.target == 'portal'):.0f}/s",
            ),
        ]
        lines += [
            f"target {name}: {'met' if ok else 'NOT met'} ({value})" for name, ok, value in checks
        ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000, help="cell lines to index")
    parser.add_argument(
        "--search-url", default=os.environ.get("CELLFED_SEARCH_URL", "http://127.0.0.1:9251")
    )
    parser.add_argument("--prefix", help="index prefix (default bench-<docs>-)")
    parser.add_argument("--reuse", action="store_true", help="keep an index already loaded")
    parser.add_argument("--keep", action="store_true", help="leave the index for --reuse")
    parser.add_argument("--clients", default="1,10,50", help="concurrency levels")
    parser.add_argument("--seconds", type=float, default=20, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured time per run")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2)
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--query", default=TYPICAL_QUERY, help="the search's query string")
    args = parser.parse_args(argv)

    prefix = args.prefix or f"bench-{args.docs}-"
    engine = SearchEngine(args.search_url, timeout=600)
    info = engine.info()
    alias = catalogue_alias(prefix)
    rate = None
    if args.reuse and engine.alias_targets(alias):
        print(f"reusing {alias} ({engine.count(alias)} documents)")
    else:
        print(f"loading {args.docs} cell lines into {alias} ...", flush=True)
        rate = load(engine, prefix, args.docs)

    params = parse_params(MultiDict(parse_qsl(args.query)))
    # Exactly what the portal sends for the search: counts and hits in one msearch.
    lines = []
    for part in build_search(params, dt.date.today()):
        lines += [json.dumps({"index": alias}), json.dumps(part)]
    body = ("\n".join(lines) + "\n").encode()
    engine_path = "/_msearch"
    portal_path = f"/api/v1/search?{args.query}"
    portal = gunicorn(
        "portal.app:create_app()",
        {
            "CELLFED_SEARCH_URL": args.search_url,
            "CELLFED_INDEX_PREFIX": prefix,
            # One load generator is one address: keep the limiter's work, not its refusals.
            "CELLFED_RATE_LIMIT_API": "100000000/minute",
        },
        workers=args.workers,
        threads=args.threads,
    )
    portal_url = portal.url
    runs = []
    try:
        for clients in (int(c) for c in args.clients.split(",")):
            print(f"{clients} client(s) ...", flush=True)
            runs.append(
                drive(
                    args.search_url,
                    "POST",
                    engine_path,
                    body,
                    clients,
                    args.seconds,
                    args.warmup,
                    "engine",
                )
            )
            runs.append(
                drive(
                    portal_url,
                    "GET",
                    portal_path,
                    None,
                    clients,
                    args.seconds,
                    args.warmup,
                    "portal",
                )
            )
    finally:
        portal.stop()
        if not args.keep:
            drop_indices(engine, prefix)

    print()
    print(f"machine:  {machine()}")
    print(
        f"engine:   {info['version'].get('distribution', 'elasticsearch')} "
        f"{info['version']['number']} at {args.search_url}"
    )
    print(
        f"index:    {args.docs} cell lines + biobanks and collections, 1 shard, force-merged"
        + (f"; bulk load {rate:,.0f} docs/s" if rate else "")
    )
    print(f"portal:   gunicorn, {args.workers} gthread workers x {args.threads} threads")
    print(f"query:    {args.query}")
    print(f"runs:     {args.seconds:.0f} s measured after {args.warmup:.0f} s warm-up, each")
    print(
        "the portal sends the search as one msearch (facet counts with size 0, which the"
        " engine's request cache\nkeeps, and the page of hits), then asks for the sources of"
        " the lines on the page;\nthe engine row is that msearch alone."
    )
    print()
    print(table(runs))
    print()
    for line in verdict(runs):
        print(line)


if __name__ == "__main__":
    main()
