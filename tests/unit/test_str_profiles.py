"""STR profiles: every notation, errors that name the locus and value, Tanabe and Masters
scores on hand-computed examples and on the real hPSCreg profiles, ranked."""

import json

import pytest

from federation.node.formats.hpscreg import convert
from search.str_profiles import (
    AMELOGENIN,
    ASN0002_AMBIGUOUS,
    ASN0002_RELATED,
    CLASTR_MIN_SCORE,
    ProfileError,
    asn0002_verdict,
    clastr_verdict,
    compare,
    format_profile,
    normalise_locus,
    parse_profile,
    rank,
    score,
)
from tests.builders.data_files import shared

EXPECTED = {
    "D5S818": ("11", "12"),
    "TH01": ("6", "9.3"),
    "vWA": ("16", "18"),
    "Penta D": ("9", "13"),
    AMELOGENIN: ("X", "Y"),
}

NOTATIONS = {
    "colon": "D5S818: 11,12\nTH 01: 9.3, 6\nVWA: 16,18\nPenta D: 13,9\nAmelogenin: X,Y",
    "equals and semicolons": "d5s818=12,11; th01=6,9.3; vWA=18,16; PentaD=9,13; AMEL=Y,X",
    "spaces": "D5S818 11 12\nTH01 6 9.3\nvWA 16 18\nPenta D 9 13\nAMEL X Y",
    "spaces, then commas": "D5S818 11,12\nTH 01 6,9.3\nvWA 16,18\nPENTA_D 9,13\nAMEL X,Y",
    "one line": "D5S818: 11,12, TH01: 6,9.3, vWA: 16,18, Penta D: 9,13, Amelogenin: X,Y",
    "tab-separated": (
        "Marker\tAllele 1\tAllele 2\nD5S818\t11\t12\nTH01\t6\t9.3\nvWA\t16\t18\n"
        "Penta D\t9\t13\nAMEL\tX\tY"
    ),
    "hPSCreg": "D5S818###11###12\nTH01###6###9.3\nVWA###16###18\nPenta D###9###13\nAMEL###X###Y",
    "CSV, a locus a row": (
        "Marker,Allele 1,Allele 2\nD5S818,11,12\nTH01,6,9.3\nvWA,16,18\nPenta D,9,13\nAMEL,X,Y"
    ),
    "CSV, loci as header": (
        'D5S818,TH01,vWA,Penta D,Amelogenin\n"11,12","6,9.3","16,18","9,13","X,Y"'
    ),
}


@pytest.mark.parametrize("notation", sorted(NOTATIONS))
def test_every_notation_reads_to_the_same_profile(notation):
    assert parse_profile(NOTATIONS[notation]) == EXPECTED


def test_a_stored_mapping_reads_and_round_trips():
    stored = {"D5S818": "12,11", "TH01": "6,9.3", "AMEL": "X,Y"}
    profile = parse_profile(stored)
    assert profile == {"D5S818": ("11", "12"), "TH01": ("6", "9.3"), AMELOGENIN: ("X", "Y")}
    assert format_profile(profile) == {"D5S818": "11,12", "TH01": "6,9.3", AMELOGENIN: "X,Y"}


@pytest.mark.parametrize(
    "name, canonical",
    [
        ("AMEL", AMELOGENIN),
        ("amelogenin", AMELOGENIN),
        ("TH 01", "TH01"),
        ("THO1", "TH01"),
        ("csf1po", "CSF1PO"),
        ("d5s818", "D5S818"),
        ("Penta D", "Penta D"),
        ("PENTA-E", "Penta E"),
        ("VWA", "vWA"),
        ("vwa", "vWA"),
        ("D18S976", "D18S976"),
    ],
)
def test_locus_names_are_normalised(name, canonical):
    assert normalise_locus(name) == canonical


def test_homozygous_alleles_count_once_and_microvariants_are_kept():
    profile = parse_profile("TH01: 9.3,9.3\nD21S11: 31.2, 32.2\nD5S818: 12")
    assert profile == {"TH01": ("9.3",), "D21S11": ("31.2", "32.2"), "D5S818": ("12",)}
    assert parse_profile("D5S818: 12,12") == parse_profile("D5S818: 12")


@pytest.mark.parametrize(
    "text, locus, value",
    [
        ("D5S818: 11,abc", "D5S818", "abc"),
        ("TH01: 6,9.33", "TH01", "9.33"),
        ("AMEL: X,Z", AMELOGENIN, "Z"),
        ("Amelogenin: 12", AMELOGENIN, "12"),
        ("D5S818###11###x1", "D5S818", "x1"),
        ("Marker,Allele 1\nD7S820,8\nD13S317,eleven", "D13S317", "eleven"),
        ("vWA:", "vWA", ""),
        ("D5S818: 11,12\nD5S818: 11,13", "D5S818", "11,13"),
        ("D5$818: 11,12", "D5$818", "11,12"),
    ],
)
def test_malformed_input_names_the_locus_and_the_value(text, locus, value):
    with pytest.raises(ProfileError) as caught:
        parse_profile(text)
    assert caught.value.locus == locus and caught.value.value == value
    assert locus in str(caught.value) and value in str(caught.value)


def test_a_line_without_alleles_names_the_line():
    with pytest.raises(ProfileError, match="line 2: 'TPOX' is not"):
        parse_profile("D5S818: 11,12\nTPOX")
    with pytest.raises(ProfileError, match="no loci"):
        parse_profile("   \n")


QUERY = parse_profile("D5S818: 11,12\nTH01: 6,9.3\nTPOX: 8\nAMEL: X,Y\nCSF1PO: 10,12")
REFERENCE = parse_profile("D5S818: 11,13\nTH01: 6,9.3\nTPOX: 8,11\nAMEL: X\nFGA: 21,24")


def test_scores_by_hand_over_the_loci_both_type():
    # Without amelogenin, scored: D5S818 (11,12 | 11,13: 1 shared), TH01 (6,9.3 | 6,9.3: 2),
    # TPOX (8 | 8,11: 1). CSF1PO and FGA are typed on one side only.
    # Query alleles 2+2+1 = 5, reference 2+2+2 = 6, shared 4.
    scores, rows = score(QUERY, REFERENCE)
    assert (scores.shared_alleles, scores.query_alleles, scores.reference_alleles) == (4, 5, 6)
    assert scores.loci_compared == 3
    assert scores.tanabe == round(100 * 2 * 4 / 11, 2) == 72.73
    assert scores.masters_query == 80.0  # 4 / 5
    assert scores.masters_reference == round(100 * 4 / 6, 2) == 66.67
    by_locus = {row.locus: row for row in rows}
    assert [row.locus for row in rows] == [
        "D5S818",
        "TH01",
        "TPOX",
        AMELOGENIN,
        "CSF1PO",
        "FGA",
    ]
    assert by_locus["D5S818"].shared == ("11",) and by_locus["D5S818"].status == "partial"
    assert by_locus["TH01"].status == "match" and by_locus["TH01"].scored
    assert by_locus["CSF1PO"].status == "not_typed" and by_locus["CSF1PO"].reference == ()
    assert by_locus["FGA"].status == "not_typed" and by_locus["FGA"].query == ()
    assert by_locus[AMELOGENIN].status == "partial" and not by_locus[AMELOGENIN].scored


def test_amelogenin_on_adds_its_alleles_to_the_score():
    # Amelogenin X,Y | X adds 1 shared, 2 query and 1 reference allele: 5 of (7 + 7).
    scores, rows = score(QUERY, REFERENCE, include_amelogenin=True)
    assert (scores.shared_alleles, scores.query_alleles, scores.reference_alleles) == (5, 7, 7)
    assert scores.tanabe == round(100 * 10 / 14, 2) == 71.43
    assert scores.masters_query == scores.masters_reference == 71.43
    assert next(row for row in rows if row.locus == AMELOGENIN).scored


def test_no_shared_loci_scores_zero_and_mismatches_show():
    scores, _ = score(parse_profile("D5S818: 11"), parse_profile("TH01: 6"))
    assert scores.loci_compared == 0 and scores.tanabe == 0.0
    rows = compare(parse_profile("D5S818: 11"), parse_profile("D5S818: 12"))
    assert rows[0].status == "mismatch" and rows[0].shared == ()


def test_thresholds_read_as_the_standards_say():
    assert (ASN0002_RELATED, ASN0002_AMBIGUOUS, CLASTR_MIN_SCORE) == (80.0, 56.0, 60.0)
    assert [asn0002_verdict(v) for v in (100, 80, 79.99, 56, 55.99, 0)] == [
        "related",
        "related",
        "ambiguous",
        "ambiguous",
        "unrelated",
        "unrelated",
    ]
    assert clastr_verdict(85, "tanabe") == "ambiguous"
    assert clastr_verdict(85, "masters_query") == "related"
    assert clastr_verdict(59, "masters_reference") == "unrelated"


def test_rank_orders_filters_and_limits():
    references = {
        "same": QUERY,
        "near": REFERENCE,
        "far": parse_profile("D5S818: 7\nTH01: 10\nTPOX: 12"),
        "elsewhere": parse_profile("D18S976: 180,188"),
    }
    matches = rank(QUERY, references)
    assert [m.reference for m in matches] == ["same", "near", "far"]  # no shared locus: left out
    assert matches[0].score == 100.0 and matches[0].asn0002 == "related"
    assert matches[1].asn0002 == "ambiguous" and matches[2].asn0002 == "unrelated"
    assert [m.reference for m in rank(QUERY, references, min_score=CLASTR_MIN_SCORE)] == [
        "same",
        "near",
    ]
    by_masters = rank(QUERY, references.items(), algorithm="masters_query", limit=2)
    assert [(m.reference, m.score) for m in by_masters] == [("same", 100.0), ("near", 80.0)]
    assert rank(QUERY, references, min_loci=4)[0].reference == "same"
    assert [m.reference for m in rank(QUERY, references, min_loci=4)] == ["same"]
    with pytest.raises(ValueError, match="unknown algorithm"):
        rank(QUERY, references, algorithm="dice")  # type: ignore[arg-type]


# --- The real hPSCreg profiles, read as the importer reads them ---------------------------------


@pytest.fixture(scope="module")
def hpscreg():
    """line id -> (biosamples donor id, profile) for the records that carry an STR profile."""
    folder = shared("ebisc-hpscreg", "hotstart-5")
    parsed = {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
    conversion = convert(parsed, biobank="ebisc")
    assert not conversion.problems
    donors = {raw["name"]: raw.get("biosamples_donor_id") for raw in parsed.values()}
    lines = {}
    for line in conversion.document["cell_lines"]:
        if "str_profile" in line:
            lines[line["id"]] = (donors[line["id"]], parse_profile(line["str_profile"]["loci"]))
    return lines


def test_the_real_profiles_parse_in_two_locus_sets(hpscreg):
    assert sorted(hpscreg) == [
        "RCi001-B",
        "RCi002-B",
        "RCi003-B",
        "RCi004-B",
        "UKKi007-A",
        "UKKi008-A",
    ]
    rci001 = hpscreg["RCi001-B"][1]
    assert rci001[AMELOGENIN] == ("X", "Y") and rci001["TH01"] == ("6",) and "vWA" in rci001
    assert hpscreg["RCi004-B"][1]["D21S11"] == ("31.2", "32.2")
    assert hpscreg["UKKi007-A"][1]["D18S976"] == ("180", "188")
    # No two of these records share a donor (their BioSamples donor ids differ).
    assert len({donor for donor, _ in hpscreg.values()}) == len(hpscreg)


def test_every_real_line_scores_100_with_itself_and_ranks_first(hpscreg):
    references = {line: profile for line, (_, profile) in hpscreg.items()}
    for line, profile in references.items():
        for include in (False, True):
            matches = rank(profile, references, include_amelogenin=include)
            assert matches[0].reference == line and matches[0].score == 100.0
            assert matches[0].scores.masters_query == matches[0].scores.masters_reference == 100
            assert all(m.score < 100 for m in matches[1:])


def test_unrelated_real_lines_score_low(hpscreg):
    codis = [line for line in hpscreg if line.startswith("RCi")]
    for query in codis:
        for other in codis:
            if other != query:
                scores, _ = score(hpscreg[query][1], hpscreg[other][1])
                assert scores.tanabe < ASN0002_AMBIGUOUS, (query, other, scores.tanabe)
                assert asn0002_verdict(scores.tanabe) == "unrelated"
    ukk, _ = score(hpscreg["UKKi007-A"][1], hpscreg["UKKi008-A"][1])
    assert ukk.loci_compared == 5 and ukk.tanabe < ASN0002_AMBIGUOUS
    # The two locus sets share no locus, so they are never compared.
    assert rank(hpscreg["UKKi007-A"][1], {"RCi001-B": hpscreg["RCi001-B"][1]}) == []


def test_a_line_of_the_same_donor_scores_high(hpscreg):
    # No two STR-typed records here share a donor, so the second line of RCi001-B's donor is
    # RCi001-B as a sister clone would type: loss of heterozygosity at D18S51 (15,17 -> 15)
    # and a one-repeat slip at D21S11 (28,29 -> 28,30).
    donor = hpscreg["RCi001-B"][1]
    sister = dict(donor, D18S51=("15",), D21S11=("28", "30"))
    references = {line: profile for line, (_, profile) in hpscreg.items()}
    matches = rank(sister, references)
    best = matches[0]
    assert best.reference == "RCi001-B"
    # 13 loci scored without amelogenin: 20 alleles in the sister, 21 in RCi001-B, 19 shared.
    assert (best.scores.shared_alleles, best.scores.query_alleles) == (19, 20)
    assert best.scores.reference_alleles == 21
    assert best.score == round(100 * 38 / 41, 2) == 92.68 and best.asn0002 == "related"
    assert best.clastr == "related"
    assert all(m.asn0002 == "unrelated" for m in matches[1:])


def test_amelogenin_on_or_off_on_real_profiles(hpscreg):
    male, female = hpscreg["RCi001-B"][1], hpscreg["RCi003-B"][1]
    off, _ = score(male, female)
    on, rows = score(male, female, include_amelogenin=True)
    assert on.loci_compared == off.loci_compared + 1
    # Amelogenin X,Y | X shares X: 1 more shared, 2 more query and 1 more reference allele.
    assert on.shared_alleles == off.shared_alleles + 1
    assert on.query_alleles == off.query_alleles + 2
    assert on.reference_alleles == off.reference_alleles + 1
    expected = round(100 * 2 * on.shared_alleles / (on.query_alleles + on.reference_alleles), 2)
    assert on.tanabe == expected != off.tanabe
    amel = next(row for row in rows if row.locus == AMELOGENIN)
    assert amel.query == ("X", "Y") and amel.reference == ("X",) and amel.shared == ("X",)
    # Two female lines: amelogenin X | X adds one shared allele on each side, raising the score.
    off_f, _ = score(hpscreg["RCi002-B"][1], female)
    on_f, _ = score(hpscreg["RCi002-B"][1], female, include_amelogenin=True)
    assert on_f.tanabe > off_f.tanabe
