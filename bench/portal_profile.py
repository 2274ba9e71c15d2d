"""Where the portal's CPU goes per search: the real app, in-process, on an index already loaded.

    .venv/bin/python -m bench.portal_profile --prefix bench-200000-             # the single query
    .venv/bin/python -m bench.portal_profile --prefix bench-200000- --queries bench/queries/mix.txt

Calls the portal's WSGI app directly (no HTTP server, no load generator), so the figures are
the portal's own work per search: first the CPU time per search without a profiler, then a
cProfile (CPU clock) of the same searches with each function's own time summed by where it
lives (the engine client, search/, portal/, Flask, the limiter, ...). The shares are of the
profiled time, which cProfile inflates for Python-heavy code; read them as proportions.
Not a test: it prints figures (bench/README.md, "Profile").
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import machine
from bench.query_mix import read_queries

TYPICAL_QUERY = (
    "q=parkinson&cell_type=hiPSC&country=DE&country=GB&country=FR"
    "&qc=mycoplasma_negative&availability=available"
)
# Where a function's own time is counted: the first group whose marker its file path holds.
GROUPS = (
    (
        "engine client: opensearch-py, urllib3, http.client, sockets",
        ("opensearchpy", "urllib3", "http/client.py", "socket", "email/", "elasticsearch"),
    ),
    ("JSON (orjson, json)", ("orjson", "json/", "json_codec", "json_provider")),
    ("rate limiter (flask-limiter, limits)", ("flask_limiter", "limits/", "limit_storage")),
    ("templates (jinja2, markupsafe)", ("jinja2", "markupsafe", "templates/")),
    ("search/ (queries, facets, understanding)", ("/search/",)),
    ("portal/ (service, views, access)", ("/portal/",)),
    ("federation/web (headers, request log, sessions)", ("/federation/",)),
    ("Flask and Werkzeug", ("flask/", "werkzeug/")),
    ("urllib.parse (URLs of links and filters)", ("urllib/parse",)),
)


def wsgi_caller(app: Any, path_qs: str) -> Callable[[], bytes]:
    path, _, query = path_qs.partition("?")

    def call() -> bytes:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        status: list[str] = []
        out = app(environ, lambda s, h, e=None: status.append(s))
        body = b"".join(out)
        getattr(out, "close", lambda: None)()
        if not status or not status[0].startswith("200"):
            raise SystemExit(f"{path_qs}: the portal answered {status[:1]}")
        return body

    return call


def group_of(filename: str) -> str:
    for name, markers in GROUPS:
        if any(m in filename for m in markers):
            return name
    return "other (interpreter, threads, standard library)"


def shares(profile: cProfile.Profile) -> Counter[str]:
    """Own time by group; a built-in (``len``, ``dict.get``, a socket's ``recv_into``) counts
    where it was called from."""
    by = Counter[str]()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _, name), (_, _, own, _, callers) in stats.items():
        if filename != "~" or not callers:
            by[group_of(filename if filename != "~" else name)] += own
            continue
        for (caller_file, _, _), (_, _, from_there, _) in callers.items():
            by[group_of(caller_file)] += from_there
    return by


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", required=True, help="index prefix of a loaded catalogue")
    parser.add_argument(
        "--search-url", default=os.environ.get("CELLFED_SEARCH_URL", "http://127.0.0.1:9251")
    )
    parser.add_argument("--queries", help="a mix: one query string a line")
    parser.add_argument("--page", action="store_true", help="the HTML page, not the JSON API")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries")
    args = parser.parse_args(argv)
    queries = read_queries(args.queries) if args.queries else [TYPICAL_QUERY]
    repeat = max(args.rounds, 300 // len(queries))  # at least 300 searches per measurement
    from portal.alerts.demand import flush_demand
    from portal.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "SEARCH_URL": args.search_url,
                "INDEX_PREFIX": args.prefix,
                "PORTAL_DATABASE_URL": f"sqlite:///{Path(tmp) / 'portal.sqlite3'}",
                "RATE_LIMIT_API": "100000000/minute",  # counted, never refused
            }
        )
        base = "/" if args.page else "/api/v1/search"
        calls = [wsgi_caller(app, f"{base}?{q}") for q in queries]
        for call in calls:  # warm: labels, states, the holders of each line
            call()
        n = repeat * len(calls)
        started = time.process_time()
        for _ in range(repeat):
            for call in calls:
                call()
        plain = (time.process_time() - started) / n * 1000
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for _ in range(repeat):
            for call in calls:
                call()
        profile.disable()
        flush_demand(app)  # the searches' unmet-demand counts, while their database exists
    by = shares(profile)
    total = sum(by.values())
    print(f"machine: {machine()}")
    what = f"{len(queries)} searches of {args.queries}" if args.queries else "the single query"
    print(f"{'page' if args.page else 'JSON API'}, {what}, {n} calls, prefix {args.prefix}")
    print(f"portal CPU per search, no profiler: {plain:.2f} ms")
    print("own CPU time under cProfile, by where the function lives:")
    for name, seconds in by.most_common():
        print(f"  {seconds / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
