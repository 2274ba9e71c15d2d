"""Serve a WSGI app on a loopback port from a background thread (demo and tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class RunningServer:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def serve_in_thread(app, port: int = 0, host: str = "127.0.0.1") -> RunningServer:
    """Start a threaded HTTP server; port 0 picks a free one (see ``.url``)."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"http-{port}", daemon=True)
    thread.start()
    return RunningServer(server, thread)
