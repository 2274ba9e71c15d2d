"""The fast loader may only ever agree with marshmallow: same data out, never more lenient."""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from cellfed.config import PROJECT_ROOT
from schemas import FeedEntrySchema, schema_for
from schemas.fastload import fast_load
from tests.builders import BIOBANK, cell_line

RICH_LINE = cell_line(
    "L1",
    hpscreg_name="BIONi010-A",
    cellosaurus_ac="CVCL_1E66",
    qc=[
        {
            "attribute": "MYCOPLASMA",
            "method": "PCR",
            "result": "negative",
            "date": "2025-05-01",
            "value": 0.5,
        }
    ],
    karyotype={"result": "46,XY", "normal": True, "method": "G_banding"},
    str_profile={"loci": {"TH01": "6,9.3"}, "verified": True},
    lots=[{"lot_id": "B1", "vials_available": 12, "frozen_date": "2024-01-31"}],
    access={
        "duo_permission": "DUO:0000007",
        "duo_diseases": ["ICD10:G20"],
        "commercial_use": False,
    },
    genetically_modified=True,
    modified_genes=["SNCA"],
)
SAMPLES = [("cell_line", RICH_LINE), ("cell_line", cell_line("L2")), ("biobank", BIOBANK)]
for path in sorted((PROJECT_ROOT / "config" / "demo").glob("*.json")):
    demo = json.loads(path.read_text())
    SAMPLES += [("cell_line", r) for r in demo.get("cell_lines", [])[:5]]
    SAMPLES += [("biobank", r) for r in demo.get("biobanks", [])]
    SAMPLES += [("collection", r) for r in demo.get("collections", [])]


def marshmallow(kind_or_schema, data):
    schema = schema_for(kind_or_schema) if isinstance(kind_or_schema, str) else kind_or_schema
    try:
        return schema.load(data)
    except ValidationError:
        return None


@pytest.mark.parametrize(("kind", "record"), SAMPLES)
def test_valid_records_load_the_same_on_both_paths(kind, record):
    canonical = schema_for(kind).dump(schema_for(kind).load(record))  # as a node publishes it
    assert fast_load(schema_for(kind), canonical) == schema_for(kind).load(canonical)


def test_feed_entries_and_tombstones_load_the_same():
    entry = {
        "seq": 3,
        "kind": "cell_line",
        "id": "L1",
        "op": "delete",
        "schema_version": "2",
        "hash": "a" * 64,
        "modified": "2026-11-26T10:00:00+00:00",
        "record": None,
        "extra": "ignored",
    }
    schema = FeedEntrySchema()
    assert fast_load(schema, entry) == schema.load(entry)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["", "MALE", "hiPSC", "2025-02-30", "x" * 600]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.sampled_from(SAMPLES), data=st.data())
def test_broken_records_are_never_accepted_by_the_fast_path_alone(sample, data):
    kind, record = sample
    broken = copy.deepcopy(schema_for(kind).dump(schema_for(kind).load(record)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(broken))[1:] or [("extra",)]))
        parent = broken
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=8))] = data.draw(JSON)
        else:
            parent[path[-1]] = data.draw(JSON)
    fast = fast_load(schema_for(kind), broken)
    if fast is not None:
        assert fast == marshmallow(kind, broken)
