"""What the portal sends to the engine for a search, recorded on the wire, to replay it.

The search benchmark's engine row must send exactly what the portal sends, whatever the
portal's code does (an identify request, an msearch, a sources request, a suggestion...), and
follow it when that code changes. So nothing here builds a request: a recording proxy sits
between an in-process portal and the real engine, forwards every request unchanged and keeps
(method, path with its query string, headers, body). The portal app is the real one
(``portal.app.create_app``), driven by Flask's test client.

Each search is sent twice and the second run is kept: the portal's caches (labels, nodes'
states, donors; anything the portal keeps between searches) are then warm, as they are for a
query repeated during the timed runs. Not a test: used by bench/search_latency.py.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# Hop-by-hop or recomputed on replay; every other header is sent again as recorded.
_NOT_REPLAYED = {"host", "connection", "keep-alive", "content-length", "transfer-encoding"}
_NOT_RETURNED = _NOT_REPLAYED | {"date", "server"}


@dataclass(frozen=True)
class Request:
    """One HTTP request as sent: what a client replays."""

    method: str
    path: str  # with its query string
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


class RecordingProxy:
    """A loopback HTTP proxy to ``upstream`` that records every request it forwards."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the recording proxy forwards to plain http:// only, not {upstream}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.recorded: list[Request] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # one keep-alive upstream connection per thread
        self._conns: list[http.client.HTTPConnection] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RecordingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for conn in self._conns:
            conn.close()

    def take(self) -> list[Request]:
        """The requests recorded since the last take, in the order they arrived."""
        with self._lock:
            taken, self.recorded = self.recorded, []
        return taken

    def forward(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        with self._lock:
            self.recorded.append(request)
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(*self.upstream, timeout=600)
            with self._lock:
                self._conns.append(conn)
        try:
            status, headers, body = send(conn, request)
        except (OSError, http.client.HTTPException):
            conn.close()  # a stale keep-alive connection: once more on a new one
            status, headers, body = send(conn, request)
        return status, [(k, v) for k, v in headers if k.lower() not in _NOT_RETURNED], body


def send(
    conn: http.client.HTTPConnection, request: Request
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send one recorded request on ``conn`` (kept alive) and read the whole answer."""
    conn.request(request.method, request.path, body=request.body, headers=dict(request.headers))
    resp = conn.getresponse()
    body = resp.read()
    if (resp.getheader("Connection") or "").lower() == "close":
        conn.close()
    return resp.status, resp.getheaders(), body


def _handler(proxy: RecordingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the engine client expects
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold each answer back by tens of milliseconds.
        disable_nagle_algorithm = True

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Transfer-Encoding"):
                self.send_error(411, "the recording proxy takes bodies with a Content-Length")
                return
            body = self.rfile.read(length) if length else None
            headers = tuple(
                (k, v) for k, v in self.headers.items() if k.lower() not in _NOT_REPLAYED
            )
            status, out_headers, out = proxy.forward(
                Request(self.command, self.path, headers, body)
            )
            self.send_response(status)
            for key, value in out_headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: the benchmark prints its own figures

    return Handler


@contextmanager
def recording(upstream: str) -> Iterator[RecordingProxy]:
    proxy = RecordingProxy(upstream).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@dataclass(frozen=True)
class Captured:
    """The portal's paths for a query, and what it sent the engine for its JSON search."""

    query: str
    api_path: str
    page_path: str
    engine: tuple[Request, ...]
    lines: int = 0  # what the portal found (hits, one per line when grouped)


def portal_app(
    search_url: str, prefix: str, database_url: str, extra: Mapping[str, Any] | None = None
) -> Any:
    """The real portal app, as gunicorn serves it in the benchmark, on ``search_url``."""
    from portal.app import create_app

    return create_app(
        {
            "SEARCH_URL": search_url,
            "INDEX_PREFIX": prefix,
            "PORTAL_DATABASE_URL": database_url,
            "RATE_LIMIT_ENABLED": False,  # one client sending fast is the point here
            **(extra or {}),
        }
    )


def capture(app: Any, proxy: RecordingProxy, queries: list[str]) -> list[Captured]:
    """Each query through ``app`` (whose SEARCH_URL is ``proxy.url``): its JSON API and
    search page paths, and the engine requests of its second JSON search. A query the
    portal's API or page does not answer with 200 stops the benchmark, naming it."""
    from flask import url_for

    with app.test_request_context():
        api, page = url_for("api.search"), url_for("views.search_page")
    client = app.test_client()
    out = []
    for n, query in enumerate(queries, 1):
        api_path, page_path = f"{api}?{query}", f"{page}?{query}"
        for attempt in ("warm-up", "recorded"):
            proxy.take()
            resp = client.get(api_path)
            if resp.status_code != 200:
                raise SystemExit(
                    f"query {n} ({query!r}): the portal answered {resp.status_code} "
                    f"on its {attempt} run: {resp.get_data(as_text=True)[:300]}"
                )
        sent = tuple(proxy.take())  # the recorded run's requests, and nothing after them
        found = (resp.get_json(silent=True) or {}).get("lines", 0)
        shown = client.get(page_path)  # the page row sends it too: it must answer as well
        if shown.status_code != 200:
            raise SystemExit(
                f"query {n} ({query!r}): the search page answered {shown.status_code}: "
                f"{shown.get_data(as_text=True)[:300]}"
            )
        out.append(Captured(query, api_path, page_path, sent, found))
    return out
