"""Export of search results as CSV or JSON, produced piece by piece (streamed, bounded).

Pure: the caller hands in the records and the context; nothing here talks to the engine.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Getter = Callable[[dict[str, Any]], Any]


def _join(values: Any) -> str:
    return "; ".join(str(v) for v in values or [])


def _record(key: str) -> Getter:
    return lambda doc: (doc.get("record") or {}).get(key)


COMMON: list[tuple[str, Getter]] = [
    ("uid", lambda d: d["uid"]),
    ("name", lambda d: d.get("name")),
    ("node", lambda d: d.get("node_id")),
    ("biobank", lambda d: d.get("biobank_name")),
    ("country", lambda d: d.get("country")),
]
COLUMNS: dict[str, list[tuple[str, Getter]]] = {
    "cell_line": [
        *COMMON,
        ("hpscreg_name", lambda d: d.get("hpscreg_name")),
        ("cellosaurus_ac", lambda d: d.get("cellosaurus_ac")),
        ("biosamples_id", lambda d: d.get("biosamples_id")),
        ("line_key", lambda d: d.get("line_key")),
        ("cell_type", lambda d: d.get("cell_type")),
        ("tissue_source", lambda d: d.get("tissue_source")),
        ("derivation_method", lambda d: d.get("derivation_method")),
        ("donor_sex", lambda d: d.get("donor_sex")),
        ("donor_age_range", lambda d: d.get("donor_age_range")),
        ("disease_codes", lambda d: _join(d.get("disease_codes"))),
        ("diseases", lambda d: _join(d.get("disease_labels"))),
        ("genetically_modified", lambda d: d.get("genetically_modified")),
        ("modified_genes", lambda d: _join(d.get("modified_genes"))),
        ("availability", lambda d: d.get("availability")),
        ("lots", lambda d: d.get("lots_count")),
        ("vials_available", lambda d: d.get("vials_available")),
        ("qc_passed", lambda d: _join(d.get("qc_passed"))),
        ("standards_met", lambda d: _join(d.get("standards_met"))),
        ("duo_permission", lambda d: d.get("duo_permission")),
        ("duo_modifiers", lambda d: _join(d.get("duo_modifiers"))),
        ("commercial_use", lambda d: d.get("commercial_use")),
        ("storage_temperature", lambda d: _join(d.get("storage_temperatures"))),
        ("iso20387_valid_until", lambda d: d.get("iso20387_valid_until")),
        ("data_as_of", lambda d: d.get("data_as_of")),
    ],
    "collection": [
        *COMMON,
        ("materials", lambda d: _join(d.get("materials"))),
        ("size", lambda d: d.get("size")),
        ("disease_codes", lambda d: _join(d.get("disease_codes"))),
        ("diseases", lambda d: _join(d.get("disease_labels"))),
        ("duo_permission", lambda d: d.get("duo_permission")),
        ("commercial_use", lambda d: d.get("commercial_use")),
        ("storage_temperatures", lambda d: _join(d.get("storage_temperatures"))),
        ("iso20387_valid_until", lambda d: d.get("iso20387_valid_until")),
        ("data_as_of", lambda d: d.get("data_as_of")),
    ],
    "biobank": [
        *COMMON,
        ("acronym", _record("acronym")),
        ("url", _record("url")),
        ("networks", lambda d: _join(d.get("networks"))),
        ("certifications", lambda d: _join(d.get("certifications"))),
        ("iso20387_valid_until", lambda d: d.get("iso20387_valid_until")),
        ("data_as_of", lambda d: d.get("data_as_of")),
    ],
}


FORMULA_START = "=+-@\t\r"
# A delimiter a spreadsheet may split a cell at when it ignores the quotes (; in the
# German or French locales, , and | elsewhere, line breaks anywhere), then optional spaces,
# then the segment that would start a new cell.
SEGMENT = re.compile(r"(^|[;,|\r\n])( *)([^;,|\r\n]*)")


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run (OWASP, CSV injection): text that starts with
    = + - @, a tab or a carriage return gets a leading apostrophe, and so does every part of
    it after a ; , | or line break that would start like that, so splitting the cell there
    gives no formula either (``kolf;=1+1`` becomes ``kolf;'=1+1``). Plain numbers (``-12``)
    stay as they are. Every cell is also quoted (:func:`csv_chunks`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return SEGMENT.sub(_defuse, str(value))


def _defuse(match: re.Match[str]) -> str:
    before, spaces, segment = match.groups()
    if segment and segment[0] in FORMULA_START and not _is_number(segment):
        return f"{before}{spaces}'{segment}"
    return match.group(0)


NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _is_number(text: str) -> bool:
    """A plain decimal number (not ``inf``, ``nan`` or ``1_000``, which Python also reads)."""
    return NUMBER.fullmatch(text) is not None


def csv_chunks(
    kind: str, docs: Iterable[dict[str, Any]], url_of: Callable[[str], str]
) -> Iterator[str]:
    """The header, then one CSV row per record."""
    columns = [*COLUMNS[kind], ("url", lambda d: url_of(d["uid"]))]
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([name for name, _ in columns])
    yield flush()
    for doc in docs:
        writer.writerow([safe_cell(get(doc)) for _, get in columns])
        yield flush()


def json_record(doc: dict[str, Any], url: str) -> dict[str, Any]:
    """The node's record as published, with where it is held and what search derived."""
    derived = (
        "line_key",
        "qc_passed",
        "standards_met",
        "lots_count",
        "vials_available",
        "iso20387_valid_until",
        "disease_nodes",
        "cell_type_nodes",
    )
    return {
        "uid": doc["uid"],
        "kind": doc["kind"],
        "url": url,
        "node_id": doc["node_id"],
        "biobank": doc.get("biobank_name"),
        "country": doc.get("country"),
        "data_as_of": doc.get("data_as_of"),
        "derived": {k: doc[k] for k in derived if k in doc},
        "record": doc.get("record"),
    }


def json_chunks(
    head: dict[str, Any], docs: Iterable[dict[str, Any]], url_of: Callable[[str], str]
) -> Iterator[str]:
    """One JSON object: ``head``'s fields, then ``records`` written one at a time."""
    opening = json.dumps(head, ensure_ascii=False)[:-1]
    yield opening + (', "records": [' if head else '{"records": [')
    for i, doc in enumerate(docs):
        yield (
            ("," if i else "")
            + "\n"
            + json.dumps(json_record(doc, url_of(doc["uid"])), ensure_ascii=False, default=str)
        )
    yield "\n]}\n"
