"""Concurrent keep-alive clients that walk a list of jobs, and what they measured.

A job is a sequence of HTTP requests sent back to back on one connection; its latency is the
whole sequence's. One query to the portal is a job of one request; the same query straight to
the engine is the job of every request the portal sent for it (bench/engine_capture.py).
Client ``i`` of ``n`` starts at job ``i * len(jobs) // n`` and walks the list, wrapping, so
concurrent clients send different searches.

Each client is a thread with one http.client connection, the lightest client in the standard
library; the load generator shares the machine's cores with what it measures.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.engine_capture import Request, send

Job = tuple[Request, ...]


@dataclass
class Run:
    target: str
    workload: str
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def pct(self, p: float) -> float:
        """The ``p``th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def start_offsets(jobs: int, clients: int) -> list[int]:
    """Where each client starts in a list of ``jobs``: spread evenly."""
    return [i * jobs // clients % jobs for i in range(clients)] if jobs else []


def run_job(conn: http.client.HTTPConnection, job: Job) -> bool:
    """Send the job's requests in order; True when every answer was a 200."""
    for request in job:
        status, _, _ = send(conn, request)
        if status != 200:
            return False
    return True


def _client(
    host: tuple[str, int], jobs: Sequence[Job], first: int, window: tuple[float, float]
) -> tuple[list[float], int]:
    measure_from, stop_at = window
    conn = http.client.HTTPConnection(*host, timeout=60)
    mine: list[float] = []
    errors, n = 0, first
    while True:
        began = time.perf_counter()
        if began >= stop_at:
            break
        try:
            ok = run_job(conn, jobs[n % len(jobs)])
        except (OSError, http.client.HTTPException):
            conn.close()
            ok = False
        ended = time.perf_counter()
        n += 1
        if began >= measure_from:
            if ok:
                mine.append(ended - began)
            else:
                errors += 1
    conn.close()
    return mine, errors


def shares(jobs: int, clients: int, passes: int) -> list[list[int]]:
    """The jobs each client runs when ``clients`` together walk the list ``passes`` times:
    client ``i`` its own contiguous share of each pass, so every job runs ``passes`` times."""
    bounds = [i * jobs // clients for i in range(clients + 1)]
    return [list(range(bounds[i], bounds[i + 1])) * passes for i in range(clients)]


def _client_passes(host: tuple[str, int], jobs: Sequence[Job], mine: list[int]):
    conn = http.client.HTTPConnection(*host, timeout=120)
    latencies, errors = [], 0
    for n in mine:
        began = time.perf_counter()
        try:
            ok = run_job(conn, jobs[n])
        except (OSError, http.client.HTTPException):
            conn.close()
            ok = False
        if ok:
            latencies.append(time.perf_counter() - began)
        else:
            errors += 1
    conn.close()
    return latencies, errors


def drive_passes(
    base: str, jobs: Sequence[Job], clients: int, passes: int, target: str, workload: str
) -> Run:
    """``clients`` threads walk the whole list ``passes`` times between them (each its
    share); the run lasts until the last one ends. Searches whose costs differ a hundredfold
    are then measured alike in every row, which a time-boxed run cannot promise."""
    parts = urlsplit(base)
    host = (parts.hostname or "127.0.0.1", parts.port or 80)
    run = Run(target, workload, clients, load_before=os.getloadavg())
    lock = threading.Lock()

    def client(mine: list[int]) -> None:
        latencies, errors = _client_passes(host, jobs, mine)
        with lock:
            run.latencies.extend(latencies)
            run.errors += errors

    threads = [
        threading.Thread(target=client, args=(m,)) for m in shares(len(jobs), clients, passes)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.seconds = time.perf_counter() - started
    run.load_after = os.getloadavg()
    return run


def drive(
    base: str,
    jobs: Sequence[Job],
    clients: int,
    seconds: float,
    warmup: float,
    target: str,
    workload: str,
) -> Run:
    """``clients`` threads run jobs back to back for ``warmup`` + ``seconds``; only jobs
    started in the measured window count."""
    if not jobs:
        raise ValueError(f"no jobs to send to {target}")
    parts = urlsplit(base)
    host = (parts.hostname or "127.0.0.1", parts.port or 80)
    run = Run(target, workload, clients, seconds=seconds, load_before=os.getloadavg())
    lock = threading.Lock()
    start = time.perf_counter()
    window = (start + warmup, start + warmup + seconds)

    def client(first: int) -> None:
        mine, errors = _client(host, jobs, first, window)
        with lock:
            run.latencies.extend(mine)
            run.errors += errors

    threads = [
        threading.Thread(target=client, args=(first,))
        for first in start_offsets(len(jobs), clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.load_after = os.getloadavg()
    return run


def get(path: str) -> Job:
    """The job of one GET (the portal's API or page)."""
    return (Request("GET", path),)
