"""The search benchmark's figures and issue 13's targets, side by side. Pure: no I/O.

Targets, at each client count and on each workload (the mix, the single typical query):

* the portal's JSON API p95 at most 1.5x the engine's p95 for the same searches;
* the portal's throughput at least 70% of the engine's;
* the HTML search page's p95 at most 2x the JSON API's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.load_clients import Run

P95_OVER_ENGINE = 1.5
THROUGHPUT_OF_ENGINE = 0.70
PAGE_OVER_API = 2.0


@dataclass(frozen=True)
class Target:
    name: str  # the column's heading
    numerator: str  # the target row measured ...
    denominator: str  # ... against this one
    measure: Callable[[Run], float]
    limit: float
    at_most: bool  # the ratio must be at most the limit (else at least)
    shown: Callable[[float], str]

    def judge(
        self, runs: dict[tuple[str, str, int], Run], workload: str, clients: int
    ) -> tuple[float, bool] | None:
        """(ratio, met) for one workload and client count, or None when a row is missing."""
        top = runs.get((self.numerator, workload, clients))
        bottom = runs.get((self.denominator, workload, clients))
        if top is None or bottom is None:
            return None
        a, b = self.measure(top), self.measure(bottom)
        if not b or math.isnan(a) or math.isnan(b):  # a row with no answers at all
            return math.nan, False
        ratio = a / b
        return ratio, ratio <= self.limit if self.at_most else ratio >= self.limit

    def cell(self, judged: tuple[float, bool] | None) -> str:
        if judged is None:
            return "(not run)"
        ratio, ok = judged
        return f"{self.shown(ratio)} {'met' if ok else 'NOT met'}"


TARGETS = (
    Target(
        f"p95 portal/engine <= {P95_OVER_ENGINE}x",
        "portal",
        "engine",
        lambda r: r.pct(95),
        P95_OVER_ENGINE,
        True,
        lambda x: f"{x:.2f}x",
    ),
    Target(
        f"search/s portal/engine >= {THROUGHPUT_OF_ENGINE:.0%}",
        "portal",
        "engine",
        lambda r: r.rps,
        THROUGHPUT_OF_ENGINE,
        False,
        lambda x: f"{x:.1%}",
    ),
    Target(
        f"p95 page/API <= {PAGE_OVER_API}x",
        "page",
        "portal",
        lambda r: r.pct(95),
        PAGE_OVER_API,
        True,
        lambda x: f"{x:.2f}x",
    ),
)
WIDTH = 31


def _load(values: tuple[float, float, float]) -> str:
    return f"{values[0]:.1f}"


def table(runs: Sequence[Run]) -> str:
    """Every run: latencies and throughput of searches (for the engine row, a search is the
    whole sequence the portal sent for it), errors, and the 1-minute load average before and
    after it."""
    head = (
        f"{'workload':<9}{'row':<8}{'clients':>8}{'searches':>9}{'errors':>7}{'p50 ms':>9}"
        f"{'p95 ms':>9}{'p99 ms':>9}{'search/s':>9}{'load before/after':>19}"
    )
    rows = [head, "-" * len(head)]
    for r in runs:
        rows.append(
            f"{r.workload:<9}{r.target:<8}{r.clients:>8}{len(r.latencies):>9}{r.errors:>7}"
            f"{r.pct(50):>9.1f}{r.pct(95):>9.1f}{r.pct(99):>9.1f}{r.rps:>9.0f}"
            f"{_load(r.load_before) + ' / ' + _load(r.load_after):>19}"
        )
    return "\n".join(rows)


def verdicts(runs: Sequence[Run]) -> list[str]:
    """One line per workload and client count, each target "met" or "NOT met" with its
    figure, then how many were met."""
    by = {(r.target, r.workload, r.clients): r for r in runs}
    workloads = list(dict.fromkeys(r.workload for r in runs))
    lines = [f"{'workload':<9}{'clients':>8}  " + "".join(f"{t.name:<{WIDTH}}" for t in TARGETS)]
    met = total = 0
    for workload in workloads:
        for n in sorted({r.clients for r in runs if r.workload == workload}):
            judged = [t.judge(by, workload, n) for t in TARGETS]
            done = [j for j in judged if j is not None]
            met, total = met + sum(ok for _, ok in done), total + len(done)
            cells = "".join(f"{t.cell(j):<{WIDTH}}" for t, j in zip(TARGETS, judged, strict=True))
            lines.append(f"{workload:<9}{n:>8}  {cells}")
    lines.append(f"{met} of {total} targets met")
    return lines
