"""The benchmark's synthetic catalogue has the real shapes: its records pass the schemas and
its documents fit the strict mapping, so the benchmark measures what production would run."""

from collections import Counter

from bench.catalogue import documents
from schemas import schema_for
from search.aliases import mapping


def test_synthetic_records_validate_and_documents_fit_the_mapping():
    docs = [doc for _, doc in documents(600, seed=3)]
    fields = set(mapping()["mappings"]["properties"])
    for doc in docs:
        schema_for(doc["kind"]).load(doc["record"])
        assert set(doc) <= fields, set(doc) - fields
    kinds = Counter(d["kind"] for d in docs)
    assert kinds["cell_line"] == 600 and kinds["biobank"] >= 6
    lines = [d for d in docs if d["kind"] == "cell_line"]
    shared = Counter(d["line_key"] for d in lines)
    assert any(n > 1 for n in shared.values())  # some lines are held twice, to group
    assert Counter(d["cell_type"] for d in lines).most_common(1)[0][0] == "hiPSC"


def test_the_catalogue_is_the_same_for_the_same_seed():
    first = [uid for uid, _ in documents(50, seed=1)]
    assert first == [uid for uid, _ in documents(50, seed=1)]
