"""Relevance against a judgement list: P@1, P@5 and nDCG@10 over the demo catalogues.

    .venv/bin/python -m bench.relevance                      # starts an engine for the run
    .venv/bin/python -m bench.relevance --engine URL         # an OpenSearch already running
    .venv/bin/python -m bench.relevance --verbose            # every query, what came first

The three demo catalogues (config/demo/) are served by real member nodes over HTTP and synced
by the indexer into their own index prefix, as in the demo; each query of
bench/judgements.tsv is then run through the portal's search API in process (the same
CatalogueSearch and query builders the portal uses), and the lines it returns are scored.

bench/judgements.tsv: one query a line, a tab, the lines a researcher expects on top (local
ids, ``|``-separated, best first), and optionally a tab and lines that are also relevant.
A line is named by its local id; records of the same line at several biobanks count once.
Gains: 2 for a line expected on top, 1 for one also relevant, 0 otherwise.

* P@1: the first line is one expected on top;
* P@5: of the first min(5, relevant lines) lines, the share that are relevant (so a query with
  two relevant lines that returns them first scores 1);
* nDCG@10: discounted cumulative gain of the first 10 lines over the ideal ordering's.

Not a test: it prints figures (tests/integration/test_exact_search.py checks behaviour).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cellfed.config import PROJECT_ROOT

DEMO = PROJECT_ROOT / "config" / "demo"
DEMO_NODES = ("cn-nsccr", "de-stemcellbank", "uk-hipsci")
JUDGEMENTS = Path(__file__).with_name("judgements.tsv")


@dataclass(frozen=True)
class Judgement:
    query: str
    top: tuple[str, ...]
    also: tuple[str, ...] = ()

    def gain(self, line: str) -> int:
        return 2 if line in self.top else 1 if line in self.also else 0


def read_judgements(path: Path = JUDGEMENTS) -> list[Judgement]:
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        query, top, *rest = raw.split("\t")
        also = rest[0] if rest else ""
        out.append(Judgement(query, tuple(top.split("|")), tuple(a for a in also.split("|") if a)))
    return out


def index_demo(engine_url: str, prefix: str, workdir: Path) -> None:
    """Serve the demo catalogues from real member nodes and sync them into ``prefix``."""
    from cellfed.serve import serve_in_thread
    from federation.node.app import create_app as create_node_app
    from federation.node.importer import import_catalogue
    from federation.node.store import store_of
    from federation.registry import Member
    from search.engine import SearchEngine
    from search.indexer.sync import Indexer

    servers, members = [], []
    try:
        for node_id in DEMO_NODES:
            data = json.loads((DEMO / f"{node_id}.json").read_text(encoding="utf-8"))
            app = create_node_app(
                {"NODE_ID": node_id, "DATABASE_URL": f"sqlite:///{workdir / node_id}.db"}
            )
            report = import_catalogue(store_of(app), data, f"{node_id}.json")
            assert report.ok, report.lines()
            servers.append(serve_in_thread(app))
            members.append(Member(node_id, node_id, servers[-1].url))
        indexer = Indexer(SearchEngine(engine_url), members, prefix, page_size=100, timeout=10)
        reports = indexer.sync_all()
        assert all(r.ok and not r.quarantined for r in reports), [r.summary() for r in reports]
    finally:
        for server in servers:
            server.stop()


def lines_of(result: dict[str, Any]) -> list[str]:
    """The lines of a search result, in order, each once (by local id)."""
    seen: list[str] = []
    for hit in result["hits"]:
        if hit["local_id"] not in seen:
            seen.append(hit["local_id"])
    return seen


def score(judgement: Judgement, lines: list[str]) -> dict[str, float]:
    relevant = len(set(judgement.top) | set(judgement.also))
    first = lines[: min(5, relevant)]
    gains = [judgement.gain(line) for line in lines[:10]]
    ideal = sorted([2] * len(judgement.top) + [1] * len(judgement.also), reverse=True)[:10]

    def dcg(values: list[int]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(values))

    return {
        "p1": float(bool(lines) and lines[0] in judgement.top),
        "p5": sum(1 for line in first if judgement.gain(line)) / min(5, relevant),
        "ndcg10": dcg(gains) / dcg(ideal) if ideal else 0.0,
    }


def evaluate(client: Any, judgements: list[Judgement], verbose: bool = False) -> dict[str, float]:
    """Mean P@1, P@5 and nDCG@10 of the judgements through a portal test client."""
    totals = {"p1": 0.0, "p5": 0.0, "ndcg10": 0.0}
    for j in judgements:
        resp = client.get("/api/v1/search", query_string={"q": j.query, "size": 20})
        assert resp.status_code == 200, (j.query, resp.json)
        lines = lines_of(resp.json)
        s = score(j, lines)
        for key in totals:
            totals[key] += s[key]
        if verbose:
            flag = " " if s["p1"] else "!"
            print(f"{flag} {j.query!r:45} P@5 {s['p5']:.2f} nDCG {s['ndcg10']:.2f}  {lines[:5]}")
    return {key: value / len(judgements) for key, value in totals.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", help="an OpenSearch URL (default: start one for the run)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    from portal.app import create_app
    from search.aliases import drop_indices
    from search.engine import SearchEngine

    local = None
    url = args.engine
    if not url:
        from cellfed.launch.process import free_engine_port
        from cellfed.launch.search_engine import LocalSearchEngine

        local = LocalSearchEngine(
            PROJECT_ROOT / ".engines", http_port=free_engine_port(), heap="512m",
            name="opensearch-relevance", kind="opensearch",
        )  # fmt: skip
        local.start(fresh=True)
        url = local.url
    prefix = f"bench-rel-{uuid.uuid4().hex[:8]}-"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            index_demo(url, prefix, Path(tmp))
            portal = create_app(
                {
                    "SEARCH_URL": url,
                    "INDEX_PREFIX": prefix,
                    "PORTAL_DATABASE_URL": f"sqlite:///{Path(tmp) / 'portal.sqlite3'}",
                }
            )
            judgements = read_judgements()
            figures = evaluate(portal.test_client(), judgements, args.verbose)
            del portal  # nothing of it left to write once its database is gone
            gc.collect()
        print(
            f"{len(judgements)} queries over the demo catalogues: "
            f"P@1 {figures['p1']:.3f}, P@5 {figures['p5']:.3f}, nDCG@10 {figures['ndcg10']:.3f}"
        )
    finally:
        drop_indices(SearchEngine(url), prefix)
        if local:
            local.stop()


if __name__ == "__main__":
    main()
