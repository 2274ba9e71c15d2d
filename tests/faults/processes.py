"""Real processes and real network faults for the fault tests: no mocks here."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

import requests

from cellfed.launch.process import ServerProcess, free_port


class NodeProcess:
    """A member node served by `python -m cellfed node serve` in its own process."""

    def __init__(self, node_id: str, db: Path, workdir: Path, port: int | None = None) -> None:
        self.node_id = node_id
        self.db = db
        self.port = port or free_port()
        self.process = ServerProcess(f"node-{node_id}", workdir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process.start(
            [
                sys.executable,
                "-m",
                "cellfed",
                "node",
                "serve",
                "--id",
                self.node_id,
                "--db",
                f"sqlite:///{self.db}",
                "--port",
                str(self.port),
            ],
        )
        self.process.wait_until(
            lambda: requests.get(f"{self.url}/api/v1/node", timeout=2).ok, timeout=30
        )

    def kill(self) -> None:
        """SIGKILL: no goodbye, connections cut mid-response."""
        pid = self.process.pid()
        if pid:
            os.kill(pid, 9)
            self.process.proc.wait(10)


class DelayProxy:
    """A TCP proxy on loopback that holds every response for ``delay`` seconds."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
            client.settimeout(30)
            upstream.settimeout(30)
            try:
                # One request per connection keeps the relay simple.
                request = client.recv(65536).replace(b"keep-alive", b"close")
                upstream.sendall(request)
                time.sleep(self.delay)
                while chunk := upstream.recv(65536):
                    client.sendall(chunk)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
