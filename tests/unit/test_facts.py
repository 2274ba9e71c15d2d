"""Collection facts: the model's located errors, the node's privacy policy at every exit
(feed, publish API, each export format), the Directory's CollectionFacts, round trips,
derived search fields and the record page's table."""

from __future__ import annotations

import copy
import csv
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.node.app import create_app
from federation.node.exporter import FORMATS, export
from federation.node.feed import feed_page
from federation.node.formats import convert, tabular
from federation.node.formats.directory import codes as directory_codes
from federation.node.formats.sources import expand, read_paths
from federation.node.importer import import_catalogue, import_files
from federation.node.privacy import (
    FactsPolicy,
    install_policy,
    policy_of,
    publishable_facts,
    publishable_record,
)
from federation.node.push import Pusher
from federation.node.store import CatalogueStore, store_of
from federation.protocol import content_hash
from portal.facts_table import fact_rows
from schemas import schema_for
from schemas.facts import COUNTS, below
from schemas.vocabularies import vocabulary
from search.indexer.documents import to_document
from search.indexer.facts_fields import facts_fields
from tests.builders import BIOBANK
from tests.builders.data_files import shared

KEY = "test-pseudonym-key"
COLLECTION_ID = "neuro-facts"


def collection(facts: list[dict]) -> dict:
    return {
        "id": COLLECTION_ID,
        "biobank": BIOBANK["id"],
        "name": "Neurodegeneration cohort",
        "materials": ["IPSC", "DNA"],
        "facts": facts,
    }


def document(facts: list[dict]) -> dict:
    return {
        "schema_version": "2",
        "biobanks": [copy.deepcopy(BIOBANK)],
        "collections": [collection(facts)],
    }


FACTS = [
    {"number_of_donors": 64, "number_of_samples": 410},
    {"sex": "FEMALE", "number_of_donors": 29, "number_of_samples": 182},
    {
        "sex": "MALE",
        "age_band": "ADULT",
        "material": "IPSC",
        "diagnosis": "ORPHA:399",
        "number_of_donors": 3,
        "number_of_samples": 17,
    },  # fmt: skip
    {
        "sex": "MALE",
        "age_band": "AGED_65_79",
        "material": "DNA",
        "diagnosis": "ICD10:G20",
        "number_of_donors": 0,
        "number_of_samples": 4,
        "last_update": "2023-11-10",
    },  # fmt: skip
]


def published_numbers(facts: list[dict]) -> list[int]:
    return [f[c] for f in facts for c in COUNTS if c in f]


def assert_private(facts: list[dict], policy: FactsPolicy) -> None:
    """What the node let out: no number below k; flags only as "< k" or more, and only
    when the policy shows them."""
    assert all(n >= policy.min_count for n in published_numbers(facts)), facts
    flags = [f[below(c)] for f in facts for c in COUNTS if below(c) in f]
    assert all(flag >= policy.min_count for flag in flags)
    if policy.below == "hide":
        assert flags == []


# -- the model: located errors, nothing stored -----------------------------------------
def test_bad_facts_are_located_and_nothing_is_stored(store):
    bad = [
        {"sex": "MAEL", "number_of_donors": 12},
        {"sex": "FEMALE", "number_of_donors": 12, "number_of_donors_below": 10},
        {"material": "DNA"},
        {"diagnosis": "G20", "number_of_samples": -1},
        {"age_band": "Adult", "number_of_donors": 3},
    ]
    report = import_catalogue(store, document(bad), "bank.json")
    assert not report.ok
    lines = [str(p) for p in report.problems]
    where = f"bank.json: collections[0] (id {COLLECTION_ID}): facts"
    assert f"{where}[0].sex: 'MAEL' is not a sex; did you mean 'MALE'?" in lines
    assert f"{where}[2].number_of_donors: a fact needs number_of_donors or number_of_samples" in (
        lines
    )
    together = f"{where}[1].number_of_donors: is given together with number_of_donors_below"
    assert any(line.startswith(together) for line in lines)
    assert any(line.startswith(f"{where}[3].diagnosis: must be a code") for line in lines)
    assert any(line.startswith(f"{where}[3].number_of_samples: Must be greater") for line in lines)
    assert any(
        line.startswith(f"{where}[4].age_band: 'Adult' is not an age band") for line in lines
    )
    assert store.counts()["collection"] == 0 and store.counts()["biobank"] == 0


def test_a_repeated_fact_is_refused_by_its_position(store):
    twice = [{"sex": "MALE", "number_of_donors": 12}, {"sex": "MALE", "number_of_donors": 30}]
    report = import_catalogue(store, document(twice), "bank.json")
    assert [str(p) for p in report.problems] == [
        f"bank.json: collections[0] (id {COLLECTION_ID}): facts: fact [1] repeats fact [0] "
        "(sex MALE, age_band all, material all, diagnosis all)"
    ]
    assert store.counts()["collection"] == 0


def test_the_node_stores_its_exact_counts(store):
    assert import_catalogue(store, document(FACTS), "bank.json").ok
    assert store.get("collection", COLLECTION_ID)["facts"] == FACTS


# -- the policy, pure ------------------------------------------------------------------
dimension_values = {
    "sex": vocabulary("sexes").codes,
    "age_band": vocabulary("age_bands").codes,
    "material": vocabulary("material_types").codes,
    "diagnosis": ("ICD10:G20", "ORPHA:399", "ICD10:C50.1", "MONDO:0005180"),
}
count = st.integers(min_value=0, max_value=500)


@st.composite
def a_fact(draw) -> dict:
    fact = {dim: draw(st.sampled_from(values)) for dim, values in dimension_values.items()
            if draw(st.booleans())}  # fmt: skip
    for name in COUNTS:
        shape = draw(st.sampled_from(("number", "number", "flag", "absent")))
        if shape == "number":
            fact[name] = draw(count)
        elif shape == "flag":
            fact[below(name)] = draw(st.integers(min_value=1, max_value=30))
    if not any(c in fact or below(c) in fact for c in COUNTS):
        fact["number_of_donors"] = draw(count)
    return fact


facts_lists = st.lists(a_fact(), max_size=12, unique_by=lambda f: tuple(
    f.get(d) for d in dimension_values))  # fmt: skip
policies = st.builds(
    FactsPolicy,
    min_count=st.integers(min_value=1, max_value=50),
    below=st.sampled_from(("hide", "show_lt")),
    rounding=st.sampled_from((0, 5, 10)),
)


@given(facts_lists, policies)
def test_no_published_number_is_below_k(facts, policy):
    published = publishable_facts(facts, policy)
    assert_private(published, policy)
    # Whatever comes out is still a valid collection for the indexer's schema.
    schema_for("collection").load(publishable_record("collection", collection(facts), policy))


@given(facts_lists, policies)
def test_counts_at_or_above_k_stay_within_the_rounding(facts, policy):
    published = iter(publishable_facts(facts, policy))
    for fact in facts:
        kept = [c for c in COUNTS if (fact.get(c) or 0) >= policy.min_count]
        if not kept and policy.below == "hide":
            continue
        out = next(published)
        for c in kept:
            assert abs(out[c] - fact[c]) <= max(policy.rounding, 0)
            assert policy.rounding == 0 or out[c] % policy.rounding == 0


def test_show_lt_says_fewer_than_k_and_hide_leaves_out_what_has_no_count():
    facts = [{"sex": "MALE", "number_of_donors": 3, "number_of_samples": 17},
             {"sex": "FEMALE", "number_of_donors": 0}]  # fmt: skip
    assert publishable_facts(facts, FactsPolicy(10, "show_lt")) == [
        {"sex": "MALE", "number_of_donors_below": 10, "number_of_samples": 17},
        {"sex": "FEMALE", "number_of_donors_below": 10},
    ]
    assert publishable_facts(facts, FactsPolicy(10, "hide")) == [
        {"sex": "MALE", "number_of_samples": 17}
    ]
    assert publishable_facts(facts, FactsPolicy(12, "show_lt", rounding=10)) == [
        {"sex": "MALE", "number_of_donors_below": 12, "number_of_samples": 20},
        {"sex": "FEMALE", "number_of_donors_below": 12},
    ]
    # 12 rounds to 10, which is below k = 12: up to 20 instead, never below k.
    assert FactsPolicy(12, rounding=10).rounded(12) == 20


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("FACTS_BELOW", "blur", "FACTS_BELOW must be one of hide, show_lt, got 'blur'"),
        ("FACTS_MIN_COUNT", 0, "FACTS_MIN_COUNT must be at least 1, got 0"),
        ("FACTS_ROUNDING", 3, "FACTS_ROUNDING must be one of 0, 5, 10, got 3"),
    ],
)
def test_a_bad_policy_stops_the_node_naming_the_setting(tmp_path, setting, value, message):
    with pytest.raises(ValueError, match=message):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'n.sqlite3'}", setting: value})


# -- every exit of a real node app -----------------------------------------------------
@pytest.fixture
def node(tmp_path):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'facts.sqlite3'}",
            "NODE_ID": "test-node",
            "NODE_ADMIN_OPEN": True,
        }
    )
    assert import_catalogue(store_of(app), document(FACTS), "bank.json").ok
    return app


def set_policy(app, policy: FactsPolicy) -> None:
    app.config.update(
        FACTS_MIN_COUNT=policy.min_count, FACTS_BELOW=policy.below, FACTS_ROUNDING=policy.rounding
    )
    install_policy(app)


def pushed_facts(client) -> list[dict]:
    """What a push-mode node sends the indexer: the pages its pusher builds (push.py)."""
    app = client.application
    pusher = Pusher(
        store_of(app), "bank", "https://indexer.invalid", lambda _: {}, policy=policy_of(app)
    )
    page = feed_page(pusher.store, pusher.node_id, 0, 100, pusher.policy)
    [entry] = [e for e in page["entries"] if e["kind"] == "collection"]
    assert entry["hash"] == content_hash(entry["record"])
    return entry["record"].get("facts", [])


def feed_facts(client) -> list[dict]:
    entries = client.get("/api/v1/feed?after=0&limit=100").json["entries"]
    [entry] = [e for e in entries if e["kind"] == "collection"]
    # The indexer checks the hash against the record it receives, and validates it again.
    assert entry["hash"] == content_hash(entry["record"])
    schema_for("collection").load(entry["record"])
    return entry["record"].get("facts", [])


def record_facts(client) -> list[dict]:
    response = client.get(f"/api/v1/records/collection/{COLLECTION_ID}")
    assert response.status_code == 200
    return response.json.get("facts", [])


def export_facts(client, fmt: str) -> list[dict]:
    """The facts in an admin export, read back by the node's own import of that format."""
    response = client.get(f"/admin/export/{fmt}")
    assert response.status_code == 200
    files, problems = expand(FORMATS[fmt][0], response.data)
    assert not problems
    conversion = convert(files, None, pseudonym_key=KEY)
    assert not conversion.problems, conversion.problems[:3]
    [found] = [c for c in conversion.document["collections"] if c["id"] == COLLECTION_ID]
    return found.get("facts", [])


def in_directory_codes(facts: list[dict]) -> list[dict]:
    """Facts as a Directory export writes them: materials in the Directory's codes (IPSC is
    CELL_LINES), facts of a material it has no code for left out (directory/codes.py)."""
    column = "CollectionFacts.sample_type"
    known, replaced = directory_codes.VOCABULARIES[column], directory_codes.REPLACED[column]
    out = []
    for fact in facts:
        material = fact.get("material")
        if material:
            material = replaced.get(material, material)
            if material not in known:
                continue
            fact = {**fact, "material": material}
        out.append(fact)
    return out


EXITS = {
    "feed": feed_facts,
    "record API": record_facts,
    "push": pushed_facts,
    **{f"export {fmt}": lambda c, fmt=fmt: export_facts(c, fmt) for fmt in FORMATS},
}


@pytest.mark.parametrize("exit_name", EXITS)
def test_each_exit_publishes_the_default_policy(node, exit_name):
    facts = EXITS[exit_name](node.test_client())
    assert_private(facts, FactsPolicy())
    assert facts[2]["number_of_donors_below"] == 10 and facts[2]["number_of_samples"] == 17
    assert facts[3] == {
        **{k: v for k, v in FACTS[3].items() if k not in COUNTS},
        "number_of_donors_below": 10,
        "number_of_samples_below": 10,
    }
    assert facts[0] == FACTS[0]  # at or above k: exact
    assert store_of(node).get("collection", COLLECTION_ID)["facts"] == FACTS  # still exact


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(facts=facts_lists, policy=policies)
def test_no_exit_ever_lets_a_count_below_k_out(node, facts, policy):
    store = store_of(node)
    assert import_catalogue(store, document(facts), "bank.json").ok
    set_policy(node, policy)
    client = node.test_client()
    for exit_name, read in EXITS.items():
        published = read(client)
        assert_private(published, policy)
        expected = publishable_facts(
            store.get("collection", COLLECTION_ID).get("facts", []), policy
        )
        if exit_name == "export directory":
            expected = in_directory_codes(expected)
        assert published == expected, exit_name


def test_reimporting_ones_own_export_keeps_the_exact_counts(node):
    store = store_of(node)
    # A Directory export is lossy (IPSC is written as CELL_LINES), so a fact it broadens is
    # another fact on the way back; the project's own formats must give back the exact counts.
    for fmt in (f for f in FORMATS if f != "directory"):
        exported = export(store, fmt)
        files, _ = expand(exported.filename, exported.content)
        report = import_files(store, files, pseudonym_key=KEY)
        assert report.ok, report.lines()[:3]
        assert store.get("collection", COLLECTION_ID)["facts"] == FACTS, fmt


# -- formats ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_spreadsheets_carry_facts_in_their_own_sheet_exactly(fmt):
    published = publishable_facts(FACTS, FactsPolicy())
    for facts in (FACTS, published):
        doc = document(facts)
        content = tabular.to_xlsx(doc) if fmt == "xlsx" else tabular.to_csv_zip(doc)
        files, _ = expand(f"c.{'xlsx' if fmt == 'xlsx' else 'zip'}", content)
        if fmt == "csv":
            assert "collections.facts.csv" in files
        conversion = convert(files)
        assert not conversion.problems
        assert conversion.document["collections"][0]["facts"] == facts


@pytest.fixture(scope="module")
def directory_demo():
    files, problems = read_paths([shared("bbmri-eric-directory-demo")])
    assert not problems
    return files


def test_the_directory_demo_imports_its_collection_facts(store, directory_demo):
    report = import_files(store, directory_demo, pseudonym_key=KEY, source="directory")
    assert report.ok, report.lines()[:5]
    rows = list(csv.DictReader(io.StringIO(directory_demo["CollectionFacts.csv"].decode())))
    stored = {c["id"]: c.get("facts", []) for c in store.records("collection")}
    assert sum(len(f) for f in stored.values()) == len(rows)
    assert report.mapping.fields[("CollectionFacts", "collections.facts")] == len(rows)
    coll2 = stored["bbmri-eric:ID:NL_biobank2:collection:coll2"]
    # "*" is "all": the collection's total has no dimension at all.
    assert {"number_of_donors": 9000, "number_of_samples": 11000, "last_update": "2023-11-10"} in (
        coll2
    )
    # A count of 0 is stored as it is, and published as "< 10".
    zero = {"sex": "MALE", "number_of_donors": 0, "number_of_samples": 0}
    assert {**zero, "last_update": "2023-11-10"} in coll2
    published = publishable_facts(coll2, FactsPolicy())
    assert {"sex": "MALE", "number_of_donors_below": 10, "number_of_samples_below": 10,
            "last_update": "2023-11-10"} in published  # fmt: skip
    young = [f for f in coll2 if f.get("age_band") == "YOUNG_ADULT" and "diagnosis" in f]
    assert young and {f["diagnosis"] for f in young} <= {"ORPHA:3000", "ICD10:W00"}


def test_a_broken_collection_facts_row_is_located_and_nothing_is_stored(store, directory_demo):
    text = directory_demo["CollectionFacts.csv"].decode()
    lines = text.splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index("sex")] = "MAEL"
    lines[2] = ",".join(cells)
    cells = lines[4].split(",")
    cells[header.index("number_of_donors")] = "many"
    lines[4] = ",".join(cells)
    cells = lines[6].split(",")
    cells[header.index("collection")] = "bbmri-eric:ID:XX_nowhere:collection:none"
    lines[6] = ",".join(cells)
    broken = {**directory_demo, "CollectionFacts.csv": "\n".join(lines).encode()}
    report = import_files(store, broken, pseudonym_key=KEY, source="directory")
    found = [str(p) for p in report.problems]
    assert found == [
        "CollectionFacts.csv: row 3 (id bbmri-eric:factID:DE_biobank1_00002): sex: "
        "'MAEL' is not a sex; did you mean 'MALE'?",
        "CollectionFacts.csv: row 5 (id bbmri-eric:factID:DE_biobank1_00004): "
        "number_of_donors: 'many' is not a whole number",
        "CollectionFacts.csv: row 7 (id bbmri-eric:factID:DE_biobank1_00006): collection: "
        "no collection 'bbmri-eric:ID:XX_nowhere:collection:none' in Collections.csv",
    ]
    assert sum(store.counts().values()) == 0


# -- search and the record page --------------------------------------------------------
def test_search_fields_come_from_published_counts_only():
    published = publishable_facts(FACTS, FactsPolicy(below="show_lt"))
    fields = facts_fields(published)
    # The ORPHA:399 fact still publishes 17 samples; the G20 fact only "< 10" of each.
    assert fields == {
        "facts_sexes": ["FEMALE", "MALE"],
        "facts_age_bands": ["ADULT"],
        "facts_materials": ["IPSC"],
        "facts_diagnoses": ["ORPHA:399"],
    }
    doc = to_document(
        "n",
        "collection",
        publishable_record("collection", collection(FACTS), FactsPolicy()),
        seq=1,
        content_hash="x",
        schema_version="2",
        modified="2026-01-01T00:00:00+00:00",
        biobank=BIOBANK,
    )
    assert doc["facts_diagnoses"] == ["ORPHA:399"]
    assert all(n >= 10 for n in published_numbers(doc["record"]["facts"]))


def test_the_record_page_table_says_fewer_than_k_and_all():
    record = publishable_record("collection", collection(FACTS), FactsPolicy())
    rows = fact_rows(record)
    assert rows[0] == {
        "sex": "All",
        "age_band": "All",
        "material": "All",
        "diagnosis": "All",
        "number_of_donors": "64",
        "number_of_samples": "410",
    }
    assert rows[3]["number_of_donors"] == "< 10" and rows[3]["number_of_samples"] == "< 10"
    assert rows[3]["age_band"] == "Aged (65-79 years)" and rows[3]["diagnosis"].endswith(
        "(ICD10:G20)"
    )
    hidden = fact_rows(
        publishable_record("collection", collection(FACTS), FactsPolicy(below="hide"))
    )
    assert hidden[2]["number_of_donors"] == "—" and hidden[2]["number_of_samples"] == "17"
    assert len(hidden) == 3  # the G20 fact had no count left to show


def test_exports_default_to_k_10_without_an_app(tmp_path):
    store = CatalogueStore(f"sqlite:///{tmp_path / 'bare.sqlite3'}")
    store.create_schema()
    assert import_catalogue(store, document(FACTS), "bank.json").ok
    exported = json.loads(export(store, "json").content)
    assert_private(exported["collections"][0]["facts"], FactsPolicy())
    store.dispose()


def test_the_export_command_applies_the_nodes_own_policy(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cellfed.cli import main

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    store = CatalogueStore(url)
    store.create_schema()
    assert import_catalogue(store, document(FACTS), "bank.json").ok
    monkeypatch.setenv("CELLFED_FACTS_MIN_COUNT", "30")
    monkeypatch.setenv("CELLFED_FACTS_BELOW", "hide")
    out = tmp_path / "export.json"
    done = CliRunner().invoke(main, ["node", "export", "--db", url, "--out", str(out)])
    assert done.exit_code == 0, done.output
    facts = json.loads(out.read_text())["collections"][0]["facts"]
    assert_private(facts, FactsPolicy(30, "hide"))
    assert facts == [FACTS[0], {"sex": "FEMALE", "number_of_samples": 182}]
    assert store.get("collection", COLLECTION_ID)["facts"] == FACTS
    store.dispose()


def test_a_biobank_admin_exports_their_own_facts_published_and_no_one_elses(tmp_path):
    from federation.web.login import SESSION_ID, User, open_session

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'own.sqlite3'}", "NODE_ID": "n1"})
    other = {**copy.deepcopy(BIOBANK), "id": "bb-other", "name": "Other bank"}
    doc = document(FACTS)
    doc["biobanks"].append(other)
    doc["collections"].append({**collection(FACTS), "id": "other-facts", "biobank": "bb-other"})
    assert import_catalogue(store_of(app), doc, "two.json").ok

    def exported_by(biobank: str) -> dict[str, list]:
        client = app.test_client()
        with client.session_transaction() as session:
            claims = {"iss": "https://idp.example", "sub": biobank, "name": "U"}
            claims |= {"roles": ["biobank-admin"], "biobanks": [f"n1:{biobank}"]}
            session[SESSION_ID] = open_session(app, User.from_session(claims))
        response = client.get("/admin/export/json")
        assert response.status_code == 200
        return {c["id"]: c["facts"] for c in json.loads(response.data)["collections"]}

    mine = exported_by(BIOBANK["id"])
    assert list(mine) == [COLLECTION_ID]  # not the other bank's collection
    assert mine[COLLECTION_ID] == publishable_facts(FACTS, FactsPolicy())
    assert list(exported_by("bb-other")) == ["other-facts"]
