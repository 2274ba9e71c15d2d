"""STR authentication search latency: the portal's POST /api/v1/str-search over 100,000 profiles.

    .venv/bin/python -m bench.str_search                    # 100,000 profiles, 200 queries
    .venv/bin/python -m bench.str_search --profiles 20000 --queries 50   # while developing

Generates synthetic cell-line documents whose STR profiles are drawn from allele frequencies
(below; deterministic seed), some of them lines of one donor with a drifted allele or two,
and bulk-loads them into their own index prefix. Then it pastes profiles (exact copies of
indexed ones, drifted ones, and short 9-locus ATCC-style ones) to the portal served by
gunicorn, one client and then several, and sends the first candidate request of each search
straight to the engine, to print the portal's p50 / p95 beside the engine's own ``took``.

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from bench.common import gunicorn, machine
from cellfed.config import DEFAULTS
from search.aliases import catalogue_alias, drop_indices, ensure_indices
from search.engine import SearchEngine
from search.str_profiles import CLASTR_MIN_SCORE, parse_profile
from search.str_queries import build_str_candidates, str_fields

SEED = 14
TARGET_P95_MS = 300.0

# Allele frequencies (alleles -> relative weight) near those published for European-ancestry
# populations for the PowerPlex 16 loci, rounded: realistic enough that random profiles share
# as many alleles as real unrelated lines do. Not a population study.
FREQUENCIES: dict[str, dict[str, float]] = {
    "D3S1358": {"14": 12, "15": 26, "16": 25, "17": 21, "18": 15, "13": 1},
    "TH01": {"6": 23, "7": 19, "8": 12, "9": 15, "9.3": 30, "10": 1},
    "D21S11": {"27": 4, "28": 16, "29": 20, "30": 25, "30.2": 3, "31": 7, "31.2": 10, "32.2": 9},
    "D18S51": {"12": 13, "13": 13, "14": 16, "15": 15, "16": 13, "17": 12, "18": 8, "19": 4},
    "Penta E": {"5": 8, "7": 16, "8": 4, "10": 6, "11": 10, "12": 16, "13": 9, "14": 7, "15": 6},
    "D5S818": {"9": 4, "10": 5, "11": 36, "12": 38, "13": 16, "8": 1},
    "D13S317": {"8": 10, "9": 8, "10": 5, "11": 32, "12": 28, "13": 12, "14": 5},
    "D7S820": {"8": 16, "9": 15, "10": 28, "11": 21, "12": 15, "13": 4, "7": 1},
    "D16S539": {"9": 11, "10": 6, "11": 30, "12": 32, "13": 19, "8": 2},
    "CSF1PO": {"9": 2, "10": 25, "11": 30, "12": 36, "13": 7},
    "Penta D": {"9": 19, "10": 12, "11": 16, "12": 19, "13": 22, "14": 7, "8": 3, "2.2": 2},
    "vWA": {"14": 10, "15": 11, "16": 20, "17": 28, "18": 20, "19": 10, "20": 1},
    "D8S1179": {"10": 10, "11": 6, "12": 14, "13": 33, "14": 20, "15": 11, "16": 3, "9": 1},
    "TPOX": {"8": 53, "9": 12, "10": 6, "11": 24, "12": 4, "6": 1},
    "FGA": {"19": 6, "20": 14, "21": 17, "22": 19, "23": 15, "24": 14, "25": 9, "26": 4, "18": 2},
}
ATCC_LOCI = ["Amelogenin", "CSF1PO", "D13S317", "D16S539", "D5S818", "D7S820", "TH01"]
ATCC_LOCI += ["TPOX", "vWA"]  # the 9 loci of ATCC's own profiles


def random_profile(rng: random.Random, short: bool) -> dict[str, list[str]]:
    loci = ATCC_LOCI if short else ["Amelogenin", *FREQUENCIES]
    profile = {}
    for locus in loci:
        if locus == "Amelogenin":
            profile[locus] = ["X"] if rng.random() < 0.5 else ["X", "Y"]
            continue
        alleles, weights = zip(*FREQUENCIES[locus].items(), strict=True)
        profile[locus] = sorted(set(rng.choices(alleles, weights, k=2)), key=float)
    return profile


def drift(rng: random.Random, profile: dict[str, list[str]], changes: int) -> dict:
    """The same donor's line after culture: an allele lost (LOH) or one repeat more or less."""
    out = {locus: list(alleles) for locus, alleles in profile.items()}
    for locus in rng.sample([x for x in out if x != "Amelogenin"], changes):
        alleles = out[locus]
        if len(alleles) == 2 and rng.random() < 0.5:
            alleles.pop(rng.randrange(2))
        else:
            i = rng.randrange(len(alleles))
            step = rng.choice((-1, 1))
            alleles[i] = f"{float(alleles[i]) + step:g}"
        out[locus] = sorted(set(alleles), key=float)
    return out


def profiles(count: int, seed: int = SEED) -> Iterator[tuple[str, dict[str, list[str]]]]:
    """``count`` profiles: 30 % short ATCC-style, one in eight a drifted line of an earlier
    profile's donor."""
    rng = random.Random(seed)
    kept: list[dict[str, list[str]]] = []
    for n in range(count):
        if kept and rng.random() < 0.125:
            profile = drift(rng, rng.choice(kept), rng.randint(0, 2))
        else:
            profile = random_profile(rng, short=rng.random() < 0.3)
        if len(kept) < 5000:
            kept.append(profile)
        yield f"SYN{n:06d}", profile


def document(line: str, profile: dict[str, list[str]]) -> dict[str, Any]:
    node = f"node{int(line[3:]) % 8}"
    loci = {locus: ",".join(alleles) for locus, alleles in profile.items()}
    return {
        "uid": f"{node}:cell_line:{line}",
        "kind": "cell_line",
        "node_id": node,
        "local_id": line,
        "name": line,
        "line_key": f"bench:{line.lower()}",
        "biobank_name": f"Biobank {node}",
        "country": "DE",
        "availability": "available",
        **str_fields({"loci": loci}),
    }


def load(engine: SearchEngine, prefix: str, count: int) -> float:
    """Index ``count`` synthetic lines in bulk; returns documents per second."""
    drop_indices(engine, prefix)
    alias = ensure_indices(engine, prefix)
    [index] = engine.alias_targets(alias)
    engine.client.indices.put_settings(index=index, body={"index": {"refresh_interval": "-1"}})
    started = time.monotonic()
    actions = (
        {"_op_type": "index", "_index": alias, "_id": doc["uid"], "_source": doc}
        for doc in (document(line, p) for line, p in profiles(count))
    )
    result = engine.bulk(actions, chunk_size=5000)
    if result.errors:
        raise SystemExit(f"the engine refused {len(result.errors)} documents: {result.errors[0]}")
    rate = count / (time.monotonic() - started)
    engine.client.indices.put_settings(index=index, body={"index": {"refresh_interval": "1s"}})
    engine.refresh(alias)
    engine.client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=3600)
    return rate


def queries(count: int, indexed: int) -> list[str]:
    """Pasted profiles: a third exact copies, a third drifted, a third short ATCC-style ones."""
    rng = random.Random(SEED + 1)
    wanted = set(rng.sample(range(indexed), count))
    chosen = [p for n, (_, p) in enumerate(profiles(indexed)) if n in wanted]
    out = []
    for i, profile in enumerate(chosen):
        if i % 3 == 1:
            profile = drift(rng, profile, 2)
        elif i % 3 == 2:
            profile = {k: v for k, v in profile.items() if k in ATCC_LOCI}
        out.append("\n".join(f"{locus}: {','.join(a)}" for locus, a in profile.items()))
    return out


def post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def drive(url: str, path: str, bodies: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    """``clients`` threads send every body once between them; latencies in seconds."""
    parts = urlsplit(url)
    todo = iter(bodies)
    lock = threading.Lock()
    out: dict[str, Any] = {"latencies": [], "answers": [], "errors": 0}

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        while True:
            with lock:
                body = next(todo, None)
            if body is None:
                break
            began = time.perf_counter()
            status, answer = post(conn, path, body)
            spent = time.perf_counter() - began
            with lock:
                if status == 200:
                    out["latencies"].append(spent)
                    out["answers"].append(answer)
                else:
                    out["errors"] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def engine_side(engine: SearchEngine, alias: str, pasted: list[str]) -> tuple[list, list]:
    """The engine's own ``took`` and the wall time of each search's first candidate request."""
    took, wall = [], []
    for text in pasted:
        body = build_str_candidates(
            parse_profile(text),
            algorithm="tanabe",
            include_amelogenin=False,
            threshold=CLASTR_MIN_SCORE,
            size=DEFAULTS["STR_CANDIDATES"],
        )
        began = time.perf_counter()
        resp = engine.search(alias, body)
        wall.append(time.perf_counter() - began)
        took.append(resp["took"] / 1000)
    return took, wall


def report(args: argparse.Namespace, runs: dict[int, dict[str, Any]], engine: tuple) -> None:
    took, wall = engine
    print(f"{'target':<22}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for clients, run in runs.items():
        lat = run["latencies"]
        name = f"portal, {clients} client(s)"
        print(f"{name:<22}{len(lat):>9}{run['errors']:>8}", end="")
        print(f"{pct(lat, 50):>9.1f}{pct(lat, 95):>9.1f}{pct(lat, 99):>9.1f}")
    for name, values in (("engine took", took), ("engine wall", wall)):
        print(f"{name:<22}{len(values):>9}{0:>8}", end="")
        print(f"{pct(values, 50):>9.1f}{pct(values, 95):>9.1f}{pct(values, 99):>9.1f}")
    answers = runs[min(runs)]["answers"]
    mean = sum(a["candidates"] for a in answers) / len(answers)
    complete = sum(a["complete"] for a in answers)
    found = sum(a["total"] for a in answers) / len(answers)
    print(f"\nper search: {mean:.0f} candidates scored on average, {found:.1f} matches >= ", end="")
    print(f"{CLASTR_MIN_SCORE:.0f} %, {complete}/{len(answers)} complete")
    p95 = pct(runs[min(runs)]["latencies"], 95)
    verdict = "met" if p95 < TARGET_P95_MS else "NOT met"
    print(f"target portal p95 < {TARGET_P95_MS:.0f} ms at 1 client: {verdict} ({p95:.1f} ms)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--clients", default="1,4")
    parser.add_argument(
        "--search-url", default=os.environ.get("CELLFED_SEARCH_URL", "http://127.0.0.1:9251")
    )
    parser.add_argument("--reuse", action="store_true", help="keep an index already loaded")
    parser.add_argument("--keep", action="store_true", help="leave the index for --reuse")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    prefix = f"bench-str-{args.profiles}-"
    engine = SearchEngine(args.search_url, timeout=600)
    alias = catalogue_alias(prefix)
    if args.reuse and engine.alias_targets(alias):
        print(f"reusing {alias} ({engine.count(alias)} documents)")
    else:
        print(f"loading {args.profiles} profiles into {alias} ...", flush=True)
        print(f"bulk load {load(engine, prefix, args.profiles):,.0f} docs/s", flush=True)
    pasted = queries(args.queries, args.profiles)
    bodies = [{"profile": text} for text in pasted]  # tanabe, no amelogenin, 60 %: CLASTR's
    env = {"CELLFED_SEARCH_URL": args.search_url, "CELLFED_INDEX_PREFIX": prefix}
    env["CELLFED_RATE_LIMIT_ENABLED"] = "false"  # the bench is one client sending fast
    portal = gunicorn("portal.app:create_app()", env, workers=args.workers, threads=4)
    try:
        drive(portal.url, "/api/v1/str-search", bodies[:20], 1)  # warm-up, not counted
        runs = {
            clients: drive(portal.url, "/api/v1/str-search", bodies, clients)
            for clients in (int(c) for c in args.clients.split(","))
        }
        side = engine_side(engine, alias, pasted)
    finally:
        portal.stop()
        if not args.keep:
            drop_indices(engine, prefix)
    print(f"\nmachine: {machine()}")
    print(f"engine:  {engine.info()['version'].get('distribution', 'es')} at {args.search_url}")
    print(f"index:   {args.profiles} synthetic profiles, 1 shard, force-merged")
    print(f"portal:  gunicorn, {args.workers} gthread workers x 4 threads; {len(pasted)} searches")
    print("         (Tanabe, amelogenin not scored, minimum 60 %, at most 50 listed)\n")
    report(args, runs, side)


if __name__ == "__main__":
    main()
