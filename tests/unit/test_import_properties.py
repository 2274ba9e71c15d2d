"""Property-based: malformed rows, wrong types, huge and unicode values, duplicated ids and
broken references thrown at every importer. Never a crash, always a report, and a refused
import leaves the node exactly as it was."""

import copy
import csv
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from federation.node.exporter import catalogue_document
from federation.node.formats import tabular
from federation.node.formats.directory import BIOBANK_COLUMNS, COLLECTION_COLUMNS
from federation.node.importer import ImportReport, import_files
from tests.builders import catalogue, cell_line

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

huge = st.sampled_from(["x", "é", "\U0001f9ec", "\u202e"]).map(lambda ch: ch * 70_000)
odd_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40
)  # any Unicode, control characters too
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    odd_text,
    huge,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
)


def state(store):
    return store.latest_seq(), json.dumps(catalogue_document(store, withdrawn=True))


def check(store, files, fmt=None, **options) -> ImportReport:
    """The property every importer must keep."""
    before = state(store)
    report = import_files(store, files, fmt, pseudonym_key="k", **options)
    assert isinstance(report, ImportReport)
    if report.ok:
        assert report.written is not None
    else:
        assert report.problems and all(str(p) for p in report.problems)
        assert state(store) == before, "a refused import changed the node"
    return report


# -- JSON ------------------------------------------------------------------------------
FIELDS = [
    "id",
    "name",
    "biobank",
    "collection",
    "cell_type",
    "donor",
    "availability",
    "qc",
    "lots",
    "access",
    "synonyms",
    "karyotype",
    "passage_at_banking",
    "country",
    "networks",
]


@st.composite
def mutated_catalogues(draw):
    data = catalogue(cell_line("L1"), cell_line("L2", qc=[]))
    data["schema_version"] = "2"
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(["biobanks", "collections", "cell_lines"]))
        rows = data[section]
        action = draw(st.sampled_from(["set", "drop", "duplicate", "dangling", "replace"]))
        i = draw(st.integers(0, len(rows) - 1))
        if not isinstance(rows[i], dict):
            continue
        if action == "set":
            rows[i][draw(st.sampled_from(FIELDS))] = draw(json_values)
        elif action == "drop":
            rows[i].pop(draw(st.sampled_from(FIELDS)), None)
        elif action == "duplicate":
            rows.append(copy.deepcopy(rows[i]))
        elif action == "dangling":
            rows[i]["biobank" if section != "biobanks" else "networks"] = (
                "nowhere" if section != "biobanks" else ["nowhere"]
            )
        else:
            rows[i] = draw(json_values)
    return data


@SETTINGS
@given(data=st.one_of(mutated_catalogues(), json_values))
def test_json_imports_never_crash_nor_half_store(store, data):
    check(store, {"c.json": json.dumps(data, allow_nan=True).encode()})


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_json_bytes_that_are_no_json_are_reported(store, raw):
    check(store, {"c.json": raw}, "json")


# -- spreadsheets ----------------------------------------------------------------------
headers = st.lists(
    st.one_of(st.sampled_from(tabular.layout()["cell_lines"].header), odd_text, st.none()),
    min_size=1,
    max_size=8,
)


@st.composite
def sheets(draw):
    names = draw(
        st.lists(
            st.sampled_from([*tabular.layout(), "Sheet1", "cell lines"]), min_size=1, max_size=4
        )
    )
    out = {}
    for name in names:
        header = draw(headers)
        if draw(st.booleans()):
            header = ["id", "biobank", *header]
        body = draw(st.lists(st.lists(scalars, max_size=len(header) + 2), max_size=4))
        out[name] = [header, *body]
    return out


def _cell(value):
    if isinstance(value, str):
        return "".join(ch for ch in value if ch.isprintable())[:32000] or None
    if isinstance(value, int) and abs(value) > 2**53:
        return str(value)
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return value


def to_xlsx(content):
    book = Workbook()
    book.remove(book.active)
    for name, rows in content.items():
        ws = book.create_sheet(name[:31])
        for row in rows:
            ws.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@SETTINGS
@given(content=sheets())
def test_spreadsheets_never_crash_nor_half_store(store, content):
    check(store, {"bank.xlsx": to_xlsx(content)})
    files = {}
    for name, rows in content.items():
        text = io.StringIO()
        csv.writer(text).writerows([["" if v is None else str(v) for v in row] for row in rows])
        files[f"{name}.csv"] = text.getvalue().encode("utf-8", "surrogatepass")
    check(store, files, "csv")


@SETTINGS
@given(raw=st.binary(max_size=300), name=st.sampled_from(["x.xlsx", "x.csv", "x.zip"]))
def test_spreadsheet_bytes_that_are_no_spreadsheet_are_reported(store, raw, name):
    check(store, {name: raw}, "xlsx" if name.endswith(".xlsx") else "csv")


# -- hPSCreg ---------------------------------------------------------------------------
HPSCREG_KEYS = [
    "name",
    "type_name",
    "gender_primary_cell",
    "donor_age",
    "disease_flag",
    "disease_purl",
    "disease_doid",
    "disease_doid_name",
    "vector_type",
    "non_integrating_vector",
    "integrating_vector_virus_type",
    "karyotyping_karyotype",
    "karyotyping_method",
    "fingerprinting",
    "undiff_immstain_marker",
    "available_flag",
    "usage_approval_flag",
    "alternate_name",
    "biosamples_id",
    "providers",
    "virology_screening_mycoplasma_result",
    "primary_celltype_purl",
]


@st.composite
def hpscreg_records(draw):
    record = {
        "name": draw(st.sampled_from(["UKBi001-A", "BAD NAME", "X" * 300])),
        "type_name": draw(st.sampled_from(["hiPSC", "hESC", "blob"])),
        "source_platform": "hescreg",
    }
    for key in draw(st.lists(st.sampled_from(HPSCREG_KEYS), max_size=8)):
        record[key] = draw(json_values)
    return record


@SETTINGS
@given(records=st.lists(hpscreg_records(), min_size=1, max_size=3))
def test_hpscreg_records_never_crash_nor_half_store(store, records):
    place = catalogue()
    place["schema_version"] = "2"
    place["collections"][0]["id"] = "ipsc-disease"
    import_files(store, {"place.json": json.dumps(place).encode()})
    check(store, {"lines.json": json.dumps(records).encode()}, "hpscreg", biobank="bb-berlin")


# -- Directory -------------------------------------------------------------------------
@st.composite
def directory_exports(draw):
    def table(columns, ids):
        rows = []
        for rid in ids:
            row = {
                c: draw(st.one_of(st.just(""), odd_text, huge.map(lambda s: s[:5000])))
                for c in draw(st.lists(st.sampled_from(columns), max_size=6))
            }
            row["id"] = rid
            rows.append(row)
        text = io.StringIO()
        writer = csv.DictWriter(text, columns)
        writer.writeheader()
        writer.writerows(rows)
        return text.getvalue().encode("utf-8", "surrogatepass")

    ids = draw(st.lists(st.sampled_from(["bb:1", "bb:2", "bb:1"]), max_size=3))
    cids = draw(st.lists(st.sampled_from(["bb:1:c", "bb:2:c", "bb:1:c"]), max_size=3))
    return {
        "Biobanks.csv": table(BIOBANK_COLUMNS, ids),
        "Collections.csv": table(COLLECTION_COLUMNS, cids),
    }


@SETTINGS
@given(files=directory_exports())
def test_directory_exports_never_crash_nor_half_store(store, files):
    check(store, files, "directory")
