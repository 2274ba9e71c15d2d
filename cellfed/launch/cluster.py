"""A real multi-node OpenSearch cluster on loopback: one JVM per node, each killable alone.

The 3.x runner forces single-node discovery when a JVM runs one node, so the cluster runs
OpenSearch 2.19 (its runner leaves discovery to the node's opensearch.yml, which we write:
fixed transport ports, seed hosts, and the initial cluster managers by address). This is
for tests of replication and node loss; production clusters are configured by URL.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import requests

from cellfed.launch.java import find_java, maven_classpath
from cellfed.launch.process import LaunchError, ServerProcess, port_is_free

RUNNER_MAIN = "org.codelibs.opensearch.runner.OpenSearchRunner"
RUNNER_VERSION = "2.19.1.0"


@dataclass
class LocalCluster:
    home: Path
    base_http_port: int = 9231  # node i answers on base_http_port + i
    base_transport_port: int = 9331
    size: int = 3
    heap: str = "512m"
    name: str = "cluster"
    processes: list[ServerProcess] = field(init=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.processes = [ServerProcess(f"{self.name}-{i}", self.home) for i in range(self.size)]

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.base_http_port + i}" for i in range(self.size)]

    def _node_dir(self, i: int) -> Path:
        return self.home / f"{self.name}-data" / f"n{i}"

    def _write_config(self, i: int) -> None:
        transports = [f'"127.0.0.1:{self.base_transport_port + j}"' for j in range(self.size)]
        config = self._node_dir(i) / "node_1" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "opensearch.yml").write_text(
            f"transport.port: {self.base_transport_port + i}\n"
            f"discovery.seed_hosts: [{', '.join(transports)}]\n"
            f"cluster.initial_cluster_manager_nodes: [{', '.join(transports)}]\n"
            "cluster.routing.allocation.disk.threshold_enabled: false\n"
        )

    def healthy(self, nodes: int | None = None, url: str | None = None) -> bool:
        try:
            resp = requests.get(
                f"{url or self.urls[0]}/_cluster/health",
                params={
                    "wait_for_status": "green",
                    "wait_for_nodes": str(nodes or self.size),
                    "timeout": "1s",
                },
                timeout=5,
            )
        except requests.RequestException:
            return False
        return resp.status_code == 200 and not resp.json().get("timed_out", True)

    def start(self, timeout: float = 300) -> None:
        for i in range(self.size):
            for port in (self.base_http_port + i, self.base_transport_port + i):
                if not port_is_free(port):
                    raise LaunchError(f"port {port} is taken: pick other cluster ports")
        shutil.rmtree(self.home / f"{self.name}-data", ignore_errors=True)
        classpath = maven_classpath(
            "opensearch",
            self.home,
            (f"-Dopensearch.runner.version={RUNNER_VERSION}",),
            cache_name="opensearch2.cp",
        )
        java = find_java(11)
        for i in range(self.size):
            self.start_node(i, java, classpath)
        self.processes[0].wait_until(self.healthy, timeout)

    def start_node(self, i: int, java: str | None = None, classpath: str | None = None) -> None:
        self._write_config(i)
        java = java or find_java(11)
        classpath = classpath or (self.home / "opensearch2.cp").read_text().strip()
        self.processes[i].start(
            [
                java,
                f"-Xms{self.heap}",
                f"-Xmx{self.heap}",
                "-cp",
                classpath,
                RUNNER_MAIN,
                "-basePath",
                str(self._node_dir(i)),
                "-numOfNode",
                "1",
                "-baseHttpPort",
                str(self.base_http_port + i - 1),
                "-clusterName",
                self.name,
            ]
        )

    def kill_node(self, i: int) -> None:
        """SIGKILL one engine node: the rest of the cluster must carry on."""
        proc = self.processes[i].proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(30)

    def stop(self) -> None:
        threads = [threading.Thread(target=p.stop) for p in self.processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
