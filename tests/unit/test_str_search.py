"""The STR search's pure parts: the document fields, the candidate request (checked by
evaluating it as the engine would against the scores it must select), the request checks and
the record page's relations. On the real engine: integration/test_str_search.py."""

from __future__ import annotations

import random
from typing import Any

import pytest

from portal.str_search import (
    RELATIONS,
    StrQueryError,
    read_query,
    relation,
    stored_profile,
)
from search.aliases import mapping
from search.str_profiles import ALGORITHMS, AMELOGENIN, parse_profile, quick_scores, score
from search.str_queries import KIT_LOCI, build_str_candidates, str_fields

PROFILE = {
    "Amelogenin": "X,Y",
    "D5S818": "11,12",
    "TH01": "9.3",
    "vWA": "16,18",
    "Penta D": "9,13",
    "D18S976": "180,188",
}


def test_the_document_holds_one_term_per_allele_and_the_canonical_profile():
    fields = str_fields({"loci": {"amel": "Y,X", "th 01": "9.3,9.3", "VWA": "18, 16"}})
    assert fields["str_loci"] == ["Amelogenin:X", "Amelogenin:Y", "TH01:9.3", "vWA:16", "vWA:18"]
    assert fields["str_typed"] == ["Amelogenin", "TH01", "vWA"]
    assert fields["str_homozygous"] == ["TH01"]
    assert "D5S818" in fields["str_untyped"] and "TH01" not in fields["str_untyped"]
    assert fields["str_profile"] == {"Amelogenin": "X,Y", "TH01": "9.3", "vWA": "16,18"}
    assert stored_profile(fields) == {
        "Amelogenin": ("X", "Y"),
        "TH01": ("9.3",),
        "vWA": ("16", "18"),
    }
    assert set(fields) <= set(mapping()["mappings"]["properties"])


def test_a_profile_that_does_not_parse_is_left_out_not_fatal():
    assert str_fields({"loci": {"TH01": "six"}}) == {}
    assert str_fields({"loci": {}}) == str_fields(None) == {}


# -- the candidate request, evaluated as the engine evaluates it --------------------------------
def _matches(clause: dict[str, Any], doc: dict[str, Any]) -> bool:
    if "term" in clause:
        [(field, value)] = clause["term"].items()
        return value in doc.get(field, [])
    if "terms" in clause:
        [(field, values)] = clause["terms"].items()
        return bool(set(values) & set(doc.get(field, [])))
    if "constant_score" in clause:
        return _matches(clause["constant_score"]["filter"], doc)
    negated = clause["bool"]["must_not"]
    return not any(_matches(c, doc) for c in (negated if isinstance(negated, list) else [negated]))


def selected(body: dict[str, Any], doc: dict[str, Any]) -> bool:
    query = body["query"]["bool"]
    if not all(_matches(f, doc) for f in query.get("filter", [])):
        return False
    if any(_matches(c, doc) for c in query.get("must_not", [])):
        return False
    total = sum(c["constant_score"]["boost"] for c in query["should"] if _matches(c, doc))
    return total >= body.get("min_score", 0.0)


LOCI = ["D5S818", "TH01", "vWA", "TPOX", "CSF1PO", "D7S820", "D13S317", "D16S539", "D18S976"]


def random_profile(rng: random.Random, most_alleles: int = 2) -> dict[str, str]:
    loci = rng.sample(LOCI, rng.randint(1, len(LOCI)))
    out = {locus: ",".join(str(rng.randint(6, 10)) for _ in range(most_alleles)) for locus in loci}
    out[AMELOGENIN] = rng.choice(["X", "X,Y"])
    return out


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("amelogenin", [False, True])
def test_the_engine_selects_exactly_the_lines_that_can_reach_the_threshold(algorithm, amelogenin):
    rng = random.Random(f"{algorithm}{amelogenin}")
    checked = 0
    for _ in range(400):
        query = parse_profile(random_profile(rng))
        reference = random_profile(rng)
        doc = {"kind": ["cell_line"], "uid": ["n:cell_line:x"], **str_fields({"loci": reference})}
        scores = score(query, parse_profile(reference), amelogenin)[0]
        assert quick_scores(query, parse_profile(reference), amelogenin) == scores
        value = scores.of(algorithm)
        shares = value > 0
        for threshold in (0.0, 30.0, 50.0, 60.0, 80.0, 90.0, 100.0):
            body = build_str_candidates(
                query,
                algorithm=algorithm,
                include_amelogenin=amelogenin,
                threshold=threshold,
                size=10,
            )
            expected = shares and value >= threshold
            assert selected(body, doc) == expected, (query, reference, threshold, value)
            checked += expected
    assert checked > 100  # the sample holds many lines above the thresholds


def test_three_alleles_at_a_locus_are_selected_too_never_cut_off():
    rng = random.Random(3)
    for _ in range(200):
        query = parse_profile(random_profile(rng))
        reference = random_profile(rng, most_alleles=3)
        doc = {"kind": ["cell_line"], "uid": ["u"], **str_fields({"loci": reference})}
        value = score(query, parse_profile(reference))[0].tanabe
        body = build_str_candidates(
            query, algorithm="tanabe", include_amelogenin=False, threshold=60.0, size=10
        )
        if value >= 60.0:
            assert selected(body, doc)


def test_the_request_leaves_amelogenin_out_unless_asked_and_can_leave_a_line_out():
    query = parse_profile(PROFILE)
    body = build_str_candidates(
        query, algorithm="tanabe", include_amelogenin=False, threshold=80, size=5
    )
    clauses = [c["constant_score"] for c in body["query"]["bool"]["should"]]
    shared = [c["filter"]["term"]["str_loci"] for c in clauses if "str_loci" in repr(c)]
    assert shared == ["D5S818:11", "D5S818:12", "TH01:9.3", "vWA:16", "vWA:18"] + [
        "Penta D:9",
        "Penta D:13",
        "D18S976:180",
        "D18S976:188",
    ]
    assert "Amelogenin" not in repr(body["query"]["bool"]["should"])
    assert body["size"] == 5 and body["track_total_hits"] and body["min_score"] > 0
    assert body["sort"] == [{"_score": "desc"}, {"uid": "asc"}]
    # A locus outside the kits has no str_untyped entry: its "not typed" is a must_not.
    untyped = [c["constant_score"]["filter"] for c in body["query"]["bool"]["should"]]
    assert {"term": {"str_untyped": "D5S818"}} in untyped and "D18S976" not in KIT_LOCI
    assert {"bool": {"must_not": {"term": {"str_typed": "D18S976"}}}} in untyped
    asked = build_str_candidates(
        query,
        algorithm="tanabe",
        include_amelogenin=True,
        threshold=0,
        size=5,
        exclude_uid="n:cell_line:x",
    )
    assert "Amelogenin:Y" in repr(asked["query"]["bool"]["should"])
    assert asked["query"]["bool"]["must_not"] == [{"term": {"uid": "n:cell_line:x"}}]
    # No minimum: any line sharing an allele (its bonus), none that shares none.
    boosts = [c["constant_score"]["boost"] for c in asked["query"]["bool"]["should"]]
    assert 0 < asked["min_score"] < min(boosts)


# -- requests ---------------------------------------------------------------------------------
def test_a_request_is_read_with_clastr_defaults():
    query = read_query({"profile": "D5S818: 11,12\nTH01: 9.3"}, 200)
    assert query.profile == {"D5S818": ("11", "12"), "TH01": ("9.3",)}
    assert (query.algorithm, query.include_amelogenin, query.min_score, query.limit) == (
        "tanabe",
        False,
        60.0,
        50,  # a page; CLASTR lists up to 200, which "limit" may ask for
    )
    given = read_query(
        {"profile": {"TH01": ["6", "9.3"]}, "algorithm": "masters_reference", "amelogenin": True}
        | {"min_score": 80, "limit": 5},
        200,
    )
    assert (given.algorithm, given.include_amelogenin, given.min_score, given.limit) == (
        "masters_reference",
        True,
        80.0,
        5,
    )
    form = read_query({"profile": "TH01 6 9.3", "amelogenin": "on", "min_score": "70.5"}, 20, True)
    assert (form.include_amelogenin, form.min_score, form.limit) == (True, 70.5, 20)
    assert not read_query({"profile": "TH01 6"}, 50, form=True).include_amelogenin


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"profile": "D5S818: 11,12\nTH01: 6,abc"}, "profile", ["TH01", "abc"]),
        ({"profile": "D5S818###11###x12"}, "profile", ["D5S818", "x12"]),
        ({"profile": {"vWA": 16}}, "profile", ["text or a list"]),
        ({"profile": "Amelogenin: X,Y"}, "profile", ["only amelogenin"]),
        ({"profile": "   "}, "profile", ["paste a profile"]),
        ({"profile": "TH01: 6\n" * 5000}, "profile", ["longer than"]),
        ({"profile": "TH01: 6", "algorithm": "dice"}, "algorithm", ["'dice'", "tanabe"]),
        ({"profile": "TH01: 6", "amelogenin": "yes"}, "amelogenin", ["true or false"]),
        ({"profile": "TH01: 6", "min_score": "high"}, "min_score", ["'high'"]),
        ({"profile": "TH01: 6", "min_score": 101}, "min_score", ["0 to 100"]),
        ({"profile": "TH01: 6", "limit": 2.5}, "limit", ["whole"]),
        ({"profile": "TH01: 6", "limit": 500}, "limit", ["1 to 200"]),
        ({"profile": "TH01: 6", "limit": True}, "limit", ["a number"]),
    ],
)
def test_a_bad_request_names_the_field_and_what_is_wrong(data, field, words):
    with pytest.raises(StrQueryError) as caught:
        read_query(data, 200)
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")
    assert all(word in caught.value.message for word in words), caught.value.message


# -- record pages -------------------------------------------------------------------------------
def test_lines_sharing_a_profile_are_marked_by_line_and_donor():
    doc = {"line_key": "hpscreg:rci001-b", "donor_key": "biosamples:SAMEA1"}
    assert relation(doc, {"line_key": "hpscreg:rci001-b", "donor_key": "x"}) == "same_line"
    assert relation(doc, {"line_key": "hpscreg:rci002-b", "donor_key": "biosamples:SAMEA1"}) == (
        "same_donor"
    )
    assert relation(doc, {"line_key": "other", "donor_key": "hpscreg:other"}) == "different_donor"
    assert relation(doc, {"line_key": "other"}) == "donor_unknown"
    assert relation({"line_key": "a"}, {"line_key": "b", "donor_key": "d"}) == "donor_unknown"
    assert "possible cross-contamination or misidentification" in RELATIONS["different_donor"]
    assert RELATIONS["donor_unknown"] == "donor not stated"


def test_the_api_is_in_the_openapi_document():
    from portal.app import create_app
    from portal.openapi import spec

    app = create_app({"SEARCH_URL": "http://127.0.0.1:9"})
    routes = {r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("str.")}
    assert routes == {"/str", "/api/v1/str-search"}
    documented = spec()["paths"]["/api/v1/str-search"]["post"]
    assert set(documented["responses"]) >= {"200", "400", "503"}
    body = documented["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["algorithm"]["enum"] == list(ALGORITHMS)


def test_the_benchmark_profiles_are_deterministic_and_fit_the_mapping():
    from bench.str_search import document, profiles

    first = list(profiles(300))
    assert first == list(profiles(300)) and len({line for line, _ in first}) == 300
    fields = set(mapping()["mappings"]["properties"])
    for line, profile in first:
        doc = document(line, profile)
        assert set(doc) <= fields and doc["str_loci"] and parse_profile(doc["str_profile"])
    # Two kits: PowerPlex 16's loci and ATCC's nine.
    assert {len(profile) for _, profile in first} == {9, 16}
