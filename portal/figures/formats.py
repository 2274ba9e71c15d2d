"""Alliance figures as JSON, CSV and Prometheus text (pure)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Iterator
from typing import Any

from portal.export import safe_cell
from portal.figures.compute import COLUMNS, Figures, Period

METRICS = (
    ("cellfed_requests_received", "Requests received in the period", "requests_received"),
    ("cellfed_request_parts_unanswered", "Open parts without a first answer", "unanswered"),
    ("cellfed_request_parts_unresponsive", "Parts marked unresponsive", "unresponsive"),
    ("cellfed_request_parts_decided", "Parts approved or rejected", "decided"),
    ("cellfed_request_approval_ratio", "Approved over decided parts", "approval_rate"),
    (
        "cellfed_request_first_answer_days_median",
        "Median days from submission to the biobank's first answer",
        "median_days_first_answer",
    ),
    (
        "cellfed_request_decision_days_median",
        "Median days from submission to the decision",
        "median_days_decision",
    ),
    (
        "cellfed_request_fulfilment_days_median",
        "Median days from submission to the material sent",
        "median_days_fulfilment",
    ),
)


def as_json(rows: Iterable[Figures], period: Period) -> dict[str, Any]:
    rows = list(rows)
    return {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "biobanks": [dataclasses.asdict(r) for r in rows if not r.alliance],
        "alliance": next((dataclasses.asdict(r) for r in rows if r.alliance), None),
    }


def csv_lines(rows: Iterable[Figures], period: Period) -> Iterator[str]:
    """One line per row (the alliance-wide row has empty node and biobank ids), every cell
    quoted and defused against spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(("from", "to", *COLUMNS))
    for row in rows:
        values = dataclasses.asdict(row)
        writer.writerow([period.start, period.end, *(safe_cell(values[c]) for c in COLUMNS)])
    yield out.getvalue()


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(rows: Iterable[Figures]) -> str:
    """Gauges with ``node`` and ``biobank`` labels, and ``scope="alliance"`` for the row
    over every biobank (medians do not add up, so it is its own series)."""
    rows = list(rows)
    lines: list[str] = []
    for name, help_text, field in METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for row in rows:
            value = getattr(row, field)
            if value is None:
                continue
            if row.alliance:
                labels = 'scope="alliance"'
            else:
                labels = (
                    f'scope="biobank",node="{_label(row.node_id)}",'
                    f'biobank="{_label(row.biobank_id)}"'
                )
            lines.append(f"{name}{{{labels}}} {float(value):g}")
    return "\n".join(lines) + "\n"
