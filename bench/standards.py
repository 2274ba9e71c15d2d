"""What judging lines against the standards costs the indexer, per line, on the demo catalogues.

    .venv/bin/python -m bench.standards [--rounds 50]

Prints the time of ``standards_met`` alone and of the whole search-field derivation of a line
(``cell_line_fields``) with and without it. Pure Python, no engine.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from cellfed.config import PROJECT_ROOT
from schemas.conformance import standards_met
from search.indexer import derived


def demo_lines() -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for path in sorted((PROJECT_ROOT / "config" / "demo").glob("*.json")):
        lines += json.loads(path.read_text(encoding="utf-8"))["cell_lines"]
    return lines


def per_line(work: Callable[[dict[str, Any]], Any], lines: list[dict], rounds: int) -> float:
    """Microseconds per line, after one round that loads the files and vocabularies."""
    for line in lines:
        work(line)
    start = time.perf_counter()
    for _ in range(rounds):
        for line in lines:
            work(line)
    return (time.perf_counter() - start) / (rounds * len(lines)) * 1e6


def fields(line: dict[str, Any]) -> Any:
    return derived.cell_line_fields(line, f"demo:cell_line:{line['id']}", "demo", None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    rounds = parser.parse_args().rounds
    lines = demo_lines()
    met = per_line(standards_met, lines, rounds)
    whole = per_line(fields, lines, rounds)
    original, derived.standards_met = derived.standards_met, lambda record: []
    try:
        without = per_line(fields, lines, rounds)
    finally:
        derived.standards_met = original
    print(f"{len(lines)} demo lines, {rounds} rounds")
    print(f"standards_met                       {met:6.1f} µs/line")
    print(f"cell_line_fields with standards     {whole:6.1f} µs/line")
    print(f"cell_line_fields without standards  {without:6.1f} µs/line")


if __name__ == "__main__":
    main()
