"""The fast loader may only ever agree with marshmallow: same data out, never more lenient."""

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
)

from cellfed.config import PROJECT_ROOT
from schemas import FeedEntrySchema, schema_for
from schemas.fastload import fast_load
from schemas.miabis import PublicationSchema
from schemas.parts import QCResultSchema
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
    publications=[{"doi": "10.1038/nature22403", "title": "HipSci", "year": 2017}],
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
    | st.sampled_from(["", "MALE", "hiPSC", "2025-02-30", "x" * 600])
    # what the custom Doi field reads its own way: URL and doi: forms, and nonsense
    | st.sampled_from(["https://doi.org/10.1/x", "doi:10.1/x", "10.1/x", "nonsense"])
    | st.just(10**400),  # beyond a float's range; the node's JSON reader keeps it exact
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


def _break(valid, data):
    """A copy of ``valid`` with one to three values replaced, deleted or added."""
    broken = copy.deepcopy(valid)
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
    return broken


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.sampled_from(SAMPLES), data=st.data())
def test_broken_records_are_never_accepted_by_the_fast_path_alone(sample, data):
    kind, record = sample
    broken = _break(schema_for(kind).dump(schema_for(kind).load(record)), data)
    fast = fast_load(schema_for(kind), broken)
    if fast is not None:
        assert fast == marshmallow(kind, broken)


# Schemas given to fast_load live as long as the module: its cache is keyed on id().
PUBLICATION = PublicationSchema()
QC_RESULT = QCResultSchema()
PARTS = [(PUBLICATION, RICH_LINE["publications"][0]), (QC_RESULT, RICH_LINE["qc"][0])]


@settings(max_examples=300, deadline=None)
@given(part=st.sampled_from(PARTS), data=st.data())
def test_broken_parts_with_custom_fields_are_never_accepted_by_the_fast_path_alone(part, data):
    # The records' own paths seldom reach a DOI or a float: these parts, every time.
    schema, valid = part
    broken = _break(valid, data)
    fast = fast_load(schema, broken)
    if fast is not None:
        assert fast == marshmallow(schema, broken)


@pytest.mark.parametrize(
    "doi",
    ["nonsense", "https://doi.org/10.1038/nature22403", "doi:10.1038/nature22403", "", 7],
)
def test_a_custom_field_reads_its_values_its_own_way_on_the_fast_path_too(doi):
    # Doi (schemas/miabis.py) is a Str with its own _deserialize: it refuses what is no
    # DOI and stores the URL form plain. The fast path must not read it as a plain string.
    assert fast_load(PUBLICATION, {"doi": doi}) == marshmallow(PUBLICATION, {"doi": doi})


def test_a_url_form_doi_is_stored_plain_by_the_fast_path_without_asking_marshmallow():
    line = schema_for("cell_line").dump(schema_for("cell_line").load(RICH_LINE))
    line["publications"][0]["doi"] = "https://doi.org/10.1038/nature22403"
    loaded = fast_load(schema_for("cell_line"), line)
    assert loaded is not None  # the field's own reading, not the whole record to marshmallow
    assert loaded["publications"][0]["doi"] == "10.1038/nature22403"


class _Shout(fields.Str):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).upper()


class _Cents(fields.Integer):
    def _format_num(self, value):
        return int(value) * 100


class _Halved(fields.Float):
    def _validated(self, value):
        return super()._validated(value) / 2


class _Items(fields.List):
    def _deserialize(self, value, attr, data, **kwargs):
        return sorted(super()._deserialize(value, attr, data, **kwargs))


class _Part(Schema):
    code = fields.Str()


CUSTOM = [
    (_Shout(), "abc"),
    (_Cents(), 3),
    (_Halved(), 3.0),
    (_Items(fields.Str()), ["b", "a"]),
    (fields.List(_Shout()), ["x"]),
    (fields.Dict(keys=_Shout(), values=fields.Str()), {"k": "v"}),
    (fields.Pluck(_Part, "code"), "G20"),
    (fields.UUID(), "12345678-1234-5678-1234-567812345678"),
    (fields.NaiveDateTime(), "2026-01-01T10:00:00"),
    (fields.AwareDateTime(format="%Y-%m-%dT%H:%M:%S%z"), "2026-01-01T10:00:00+01:00"),
    (fields.Date(format="%d.%m.%Y"), "2026-01-31"),
    (fields.Str(pre_load=lambda v: v.strip() if isinstance(v, str) else v), " padded "),
    (fields.Str(post_load=str.lower), "LOWER"),
    (fields.Field(), {"any": "thing"}),
]


CUSTOM_SCHEMAS = [(Schema.from_dict({"f": field})(), value) for field, value in CUSTOM]


@pytest.mark.parametrize(
    ("schema", "value"), CUSTOM_SCHEMAS, ids=[type(f).__name__ for f, _ in CUSTOM]
)
def test_fields_that_read_values_their_own_way_load_as_marshmallow_loads_them(schema, value):
    for data in ({"f": value}, {"f": None}, {"f": "x"}, {"f": 10**400}, {}):
        assert fast_load(schema, data) == marshmallow(schema, data), data


class _Hooked(Schema):
    name = fields.Str()

    @pre_load
    def trim(self, data, **kwargs):
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}

    @post_load
    def mark(self, data, **kwargs):
        return {**data, "loaded": True}

    @validates("name")
    def not_empty(self, value, **kwargs):
        if not value:
            raise ValidationError("empty")


HOOKED = _Hooked()


@pytest.mark.parametrize("data", [{"name": " x "}, {"name": ""}, {}])
def test_a_schema_with_load_hooks_is_left_to_marshmallow_whole(data):
    # The fast path runs no pre_load, post_load or @validates hook, so it does not answer.
    assert fast_load(HOOKED, data) is None
    assert marshmallow(HOOKED, data) != data  # each hook changes or refuses these


def test_a_float_beyond_float_range_is_number_too_large_not_an_overflow():
    qc = {"attribute": "MYCOPLASMA", "method": "PCR", "result": "negative", "value": 10**400}
    assert fast_load(QC_RESULT, qc) is None
    with pytest.raises(ValidationError) as refused:
        QC_RESULT.load(qc)
    assert refused.value.messages == {"value": ["Number too large."]}


def test_an_entry_with_a_float_beyond_float_range_is_quarantined_not_raised():
    from federation.protocol import content_hash
    from search.engine import SearchEngine
    from search.indexer.sync import Indexer

    record = copy.deepcopy(RICH_LINE)
    record["qc"][0]["value"] = 10**400  # federation/json_text.py reads such a number exactly
    entry = {
        "seq": 4,
        "kind": "cell_line",
        "id": "L1",
        "op": "upsert",
        "schema_version": "2",
        "hash": content_hash(record),
        "modified": "2026-11-26T10:00:00+00:00",
        "record": record,
    }
    indexer = Indexer(SearchEngine("http://127.0.0.1:9"), [], "test-")  # checks need no engine
    checked, problem = indexer._check_entry(entry)
    assert checked is None and problem is not None
    assert (problem.kind, problem.id, problem.seq) == ("cell_line", "L1", 4)
    assert "Number too large." in problem.reason and "qc" in problem.reason


LENGTHS = [validate.Length(max=math.inf), validate.Length(min=-math.inf, max=3), validate.Length(2)]
LENGTH_SCHEMAS = [Schema.from_dict({"f": fields.Str(validate=n)})() for n in LENGTHS]


@pytest.mark.parametrize("schema", LENGTH_SCHEMAS)
def test_length_bounds_of_any_value_are_kept_as_objects_not_written_as_text(schema):
    # math.inf's repr, "inf", is no Python name: written into the text, a NameError.
    for value in ("", "ab", "abcd"):
        assert fast_load(schema, {"f": value}) == marshmallow(schema, {"f": value})
