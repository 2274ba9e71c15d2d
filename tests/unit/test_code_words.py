"""Codes typed as words: the forms read, what the catalogue knows, bare codes and the engine's
say on them (search/code_words.py), and the words of a query read with them
(search/understanding.py)."""

import pytest
from werkzeug.datastructures import MultiDict

from search.code_words import (
    TypedCode,
    bare_codes,
    code_entries,
    read_code,
    read_code_checks,
    unknown_codes,
    with_code_checks,
)
from search.facets import Selection
from search.queries import build_identify, parse_params
from search.understanding import KIND_FACETS, Understood, names, understand

# As the nodes publish them (the index's code|label pairs); MONDO:0005180 is in none.
LABELS = {
    "ICD10:G20": "Parkinson disease",
    "ICD10:G12.2": "Motor neuron disease",
    "ICD10:G12.0": "Infantile spinal muscular atrophy",
    "ORPHA:98896": "Duchenne muscular dystrophy",
    "DOID:14330": "Parkinson's disease",
    "bbmri-eric:networkID:DE_1": "Network 1",  # a network's id: no code
}
TABLE = names(LABELS)


@pytest.mark.parametrize(
    ("words", "code"),
    [
        (["ICD10:G20"], "ICD10:G20"),
        (["icd10:g20"], "ICD10:G20"),
        (["ICD-10:G20"], "ICD10:G20"),
        (["ICD10_G20"], "ICD10:G20"),
        (["ICD10G20"], "ICD10:G20"),
        (["ICD:G12.2"], "ICD10:G12.2"),
        (["ICD-10", "G20"], "ICD10:G20"),
        (["icd10", "g12.2"], "ICD10:G12.2"),
        (["ORPHA:98896"], "ORPHA:98896"),
        (["orpha:98896"], "ORPHA:98896"),
        (["Orphanet_98896"], "ORPHA:98896"),
        (["ORDO:98896"], "ORPHA:98896"),
        (["ORPHA:098896"], "ORPHA:98896"),
        (["orpha", "98896"], "ORPHA:98896"),
        (["Orphanet", "98896"], "ORPHA:98896"),
        (["http://www.orpha.net/ORDO/Orphanet_98896"], "ORPHA:98896"),
        (["MONDO:0005180"], "MONDO:0005180"),
        (["MONDO_0005180"], "MONDO:0005180"),
        (["http://purl.obolibrary.org/obo/MONDO_0005180"], "MONDO:0005180"),
        (["DOID:14330"], "DOID:14330"),
        (["doid_14330"], "DOID:14330"),
        (["CL:0002248"], "CL:0002248"),
        (["cl_0002322"], "CL:0002322"),
    ],
)
def test_the_forms_researchers_type_are_the_code_the_facets_hold(words, code):
    assert read_code(words) == TypedCode(code)


def test_a_bare_icd10_code_is_marked_bare_and_other_words_are_no_code():
    assert read_code(["G20"]) == TypedCode("ICD10:G20", bare=True)
    assert read_code(["g12.2"]) == TypedCode("ICD10:G12.2", bare=True)
    for words in (
        ["98896"],  # a bare number: Orphanet, DOID, OMIM, a count?
        ["ICD-10"],
        ["orpha"],
        ["MONDO:5180"],  # MONDO ids have seven digits
        ["CL:0002"],
        ["ICD10:G2"],
        ["ICD10:GG20"],
        ["OMIM:168600"],  # a scheme the catalogue does not use
        ["G2019S"],  # an allele
        ["clone12"],
        ["parkinson", "disease"],
        ["orpha", "dystrophy"],
        ["ICD10", "G20", "x"],
    ):
        assert read_code(words) is None, words


def test_the_catalogue_knows_published_and_vocabulary_codes_their_categories_and_cl_ids():
    entries = code_entries(LABELS)
    assert entries["ICD10:G20"] == ("disease", {"ICD10:G20"})
    assert entries["ICD10:G12"] == ("disease", {"ICD10:G12"})  # the category of G12.2
    assert entries["ICD10:G12.2"] == ("disease", {"ICD10:G12.2"})
    assert entries["DOID:14330"] == ("disease", {"DOID:14330"})
    assert entries["ORPHA:399"] == ("disease", {"ORPHA:399"})  # the vocabulary labels it
    assert "MONDO:0005180" not in entries and "ICD10:G21" not in entries
    assert "ICD10:VI" not in entries  # a chapter of the vocabulary: not a node of the tree
    assert not any(k.startswith("bbmri") for k in entries)
    # The Cell Ontology: a leaf's id is its cell type, a group's id its node (hiPSC's id is
    # the pluripotent group's: CL has no iPSC term), and "cell" names no cell type.
    assert entries["CL:0002322"] == ("cell_type", {"hESC"})
    assert entries["CL:0002248"] == ("cell_type", {"pluripotent"})
    assert entries["CL:0000057"] == ("cell_type", {"FIBROBLAST"})
    assert "CL:0000000" not in entries


def _read(q: str, **kw) -> list[tuple[str, tuple[str, ...], str]]:
    return [(f.facet, f.values, f.words) for f in understand(q, table=TABLE, **kw).filters]


@pytest.mark.parametrize(
    "q",
    [
        "ICD10:G20",
        "icd10:g20",
        "ICD-10:G20",
        "ICD-10 G20",
        "ICD10: G20",  # the colon goes with the word's punctuation
        "(ICD10:G20),",
        "Icd10:G20.",
    ],
)
def test_a_known_code_in_any_form_is_the_disease_filter(q):
    u = understand(q, table=TABLE)
    [code] = u.filters
    assert (code.facet, code.values) == ("disease", ("ICD10:G20",)) and u.rest == ""
    params = u.apply(parse_params(MultiDict({"q": q})))
    assert params.q == "" and params.selections == {"disease": Selection(("ICD10:G20",))}


def test_codes_mixed_with_words_labels_and_identifiers():
    u = understand("iPSC ORPHA:98896 female dystrophin", table=TABLE)
    assert [(f.facet, f.values) for f in u.filters] == [
        ("cell_type", ("hiPSC",)),
        ("disease", ("ORPHA:98896",)),
        ("sex", ("FEMALE",)),
    ]
    assert u.rest == "dystrophin"
    assert _read("orpha 98896 lines") == [("disease", ("ORPHA:98896",), "orpha 98896")]
    # An identifier stays an identifier beside a code (search/identifiers.py finds it).
    u = understand("CVCL_9773 ICD10:G20", table=TABLE)
    assert u.rest == "CVCL_9773" and [f.values for f in u.filters] == [("ICD10:G20",)]
    # One value per facet from the words, as for labels: the second code stays a word.
    u = understand("ICD10:G20 ORPHA:98896", table=TABLE)
    assert [f.values for f in u.filters] == [("ICD10:G20",)] and u.rest == "ORPHA:98896"


def test_a_category_selects_its_narrower_codes_through_the_filter():
    [category] = understand("ICD10:G12", table=TABLE).filters
    assert category.values == ("ICD10:G12",)  # the hierarchy filter holds G12.0 and G12.2


def test_unknown_codes_and_quoted_codes_stay_words():
    for q in ("ICD10:G21", "MONDO:0005180", "OMIM:168600", "CL:0000000", "ORPHA:1"):
        u = understand(q, table=TABLE)
        assert u.filters == () and u.rest == q, q
    u = understand('"ICD10:G20"', table=TABLE)
    assert u.filters == () and u.rest == '"ICD10:G20"'


def test_the_chip_searches_the_code_as_a_word_instead():
    u = understand("ICD-10 G20 female", table=TABLE)
    assert u.literal(u.filters[0]) == '"ICD-10 G20" female'
    again = understand(u.literal(u.filters[0]), table=TABLE)
    assert [f.facet for f in again.filters] == ["sex"]


def test_a_bare_code_is_read_only_when_the_engine_says_it_is_unambiguous():
    assert _read("G20") == []  # not without the engine's say
    assert _read("G20 female", unambiguous={"G20"}) == [
        ("disease", ("ICD10:G20",), "G20"),
        ("sex", ("FEMALE",), "female"),
    ]
    assert _read("g12.2", unambiguous={"g12.2"}) == [("disease", ("ICD10:G12.2",), "g12.2")]
    assert _read("G21", unambiguous={"G21"}) == []  # unknown to the catalogue
    # A record's identifier or synonym is never read as a value, even with a scheme.
    assert _read("G20", unambiguous={"G20"}, taken={"g20"}) == []
    assert _read("ICD10:G20", taken={"icd10:g20"}) == []


def test_the_urls_own_disease_selection_holds():
    url = {"disease": Selection(("ORPHA:399",))}
    u = understand("ICD10:G20", table=TABLE, selections=url)
    assert u.filters == () and u.rest == "ICD10:G20"  # a word: nothing matches both
    same = understand("ICD10:G20", table=TABLE, selections={"disease": Selection(("ICD10:G20",))})
    assert same.filters == () and same.rest == ""


def test_collections_understand_disease_codes_but_not_cell_type_ids():
    u = understand("ICD10:G20 CL:0002248", table=TABLE, facets=KIND_FACETS["collection"])
    assert u.filters == (Understood("disease", ("ICD10:G20",), "ICD10:G20"),)
    assert u.rest == "CL:0002248"


def test_bare_codes_are_checked_in_the_identifying_request():
    bare = bare_codes(["G20", "G21", "female", "g12.2", "ICD10:G20"], TABLE)
    assert bare == {"g20": "ICD10:G20", "g12.2": "ICD10:G12.2"}
    body = with_code_checks(build_identify("G20 g12.2"), bare)
    assert body["query"] == build_identify("G20 g12.2")["query"]  # the identifying part holds
    checks = body["aggs"]["code_words"]
    assert checks["global"] == {}  # over every record, not only the identified ones
    assert checks["aggs"]["w0"]["filter"]["bool"] == {
        "must": [{"match": {"all_text": {"query": "g12.2"}}}],
        "must_not": [{"term": {"disease_nodes": "ICD10:G12.2"}}],
    }
    # A word some record mentions without carrying the code is ambiguous; a check that did
    # not come back is too.
    answer = {"aggregations": {"code_words": {"w0": {"doc_count": 0}, "w1": {"doc_count": 2}}}}
    assert read_code_checks(bare, answer) == {"g20"}
    assert read_code_checks(bare, {}) == {"g20", "g12.2"}
    assert with_code_checks(None, {}) == {"size": 0, "track_total_hits": False}


def test_the_codes_nothing_knows_are_named_for_the_help_and_bare_ones_are_not():
    words = ["ICD10:G21", "female", "orpha", "1", "OMIM:168600.", "G21", "ICD10:G20", "CL:0000000"]
    assert unknown_codes(words, TABLE) == ["ICD10:G21", "orpha 1", "OMIM:168600.", "CL:0000000"]
    assert unknown_codes(["ICD-10", "G20", "WAe009-A", "G2019S", "parkinson"], TABLE) == []


def test_only_an_http_iri_is_read_by_its_last_segment():
    assert read_code(["HTTPS://purl.obolibrary.org/obo/MONDO_0005180"]) == TypedCode(
        "MONDO:0005180"
    )
    assert read_code(["http://id.example.org/icd#G20"]) == TypedCode("ICD10:G20", bare=True)
    for word in ("foo/ICD10:G20", "x#G20", "a/b/ORPHA:98896", "ftp://x/ICD10:G20"):
        assert read_code([word]) is None, word
        u = understand(word, table=TABLE, unambiguous={word.lower()})
        assert u.filters == () and u.rest == word, word


def test_a_repeated_code_or_a_code_and_its_label_is_read_once():
    for q in ("ICD10:G20 ICD10:G20", "ICD10:G20 icd10 g20", "ICD10:G20 Parkinson disease"):
        u = understand(q, table=TABLE)
        assert [f.values for f in u.filters] == [("ICD10:G20",)] and u.rest == "", q
    # The label first: it selects every code that carries it; the code after it is no more.
    u = understand("Parkinson disease female ICD10:G20", table=TABLE)
    assert [f.values for f in u.filters] == [("DOID:14330", "ICD10:G20"), ("FEMALE",)]
    assert u.rest == ""
    # Searching the code as a word quotes it each time: the repeat is not read again.
    u = understand("ICD10:G20 ICD10:G20", table=TABLE)
    assert u.literal(u.filters[0]) == '"ICD10:G20" "ICD10:G20"'
    assert understand(u.literal(u.filters[0]), table=TABLE).filters == ()
    # Another value of the facet is no repeat: it stays a word.
    u = understand("ICD10:G20 ORPHA:98896 ICD10:G20", table=TABLE)
    assert [f.values for f in u.filters] == [("ICD10:G20",)] and u.rest == "ORPHA:98896"
