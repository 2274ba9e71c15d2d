"""Recognising registry identifiers in a query: pure, by shape."""

import pytest

from search.identifiers import (
    Identifier,
    Token,
    classify,
    code_like,
    exact_word,
    join,
    quote,
    recognise,
    tokens,
)


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("WAe009-A", "hpscreg"),
        ("wae009-a", "hpscreg"),  # any case
        ("UKKi011-A", "hpscreg"),
        ("BIONi010-C-25", "hpscreg"),  # a subclone
        ("CVCL_9773", "cellosaurus"),
        ("cvcl_ae29", "cellosaurus"),
        ("SAMEA3158083", "biosamples"),
        ("SAMN04519743", "biosamples"),
        ("HPSI0114i-kolf_2", "hipsci"),
        ("WAe009-A-L01", "lot"),
        ("NSCCR-iPSC-0103-L02", "lot"),
    ],
)
def test_registry_identifiers_are_recognised_by_their_shape(word, kind):
    assert classify(word) == Identifier(kind, word)


@pytest.mark.parametrize(
    "word", ["a", "H9", "parkinson", "iPSC", "CVCL_97731", "WAe009", "G2019S", "SAM", "ALS-L"]
)
def test_other_words_are_not_identifiers(word):
    assert classify(word) is None


def test_identifiers_know_their_line_id_derivatives_and_donor():
    h9 = classify("WAe009-A")
    assert h9.value == "wae009-a" and h9.line_id == "hpscreg:wae009-a"
    assert h9.derivative_prefixes() == ["wae009-a-"]
    assert h9.donor_patterns() == ["wae009-*"]  # WAe009-B would be the same donor
    kolf = classify("HPSI0114i-kolf_2")
    assert kolf.line_id is None  # HipSci names are not a line_ids registry
    assert kolf.donor_patterns() == ["hpsi*-kolf_*"]  # kolf_3, reprogrammed any month
    assert classify("CVCL_9773").line_id == "cellosaurus:cvcl_9773"
    assert classify("CVCL_9773").derivative_prefixes() == []
    assert classify("WAe009-A-L01").donor_patterns() == []


def test_a_query_is_words_and_quoted_phrases_with_punctuation_dropped():
    assert tokens('(WAe009-A), "female donor"  parkinson "') == [
        Token("WAe009-A"),
        Token("female donor", quoted=True),
        Token("parkinson"),
    ]
    assert join([Token("iPSC"), Token("female", quoted=True)]) == 'iPSC "female"'
    assert quote('fe"male') == '"female"'


def test_a_query_that_contains_identifiers_keeps_its_other_words():
    ids, rest = recognise("CVCL_9773 neural WAe009-A CVCL_9773")
    assert [i.text for i in ids] == ["CVCL_9773", "WAe009-A"]
    assert rest == [Token("neural")]


def test_codes_and_alleles_are_matched_exactly_words_with_typos():
    for word in ("G2019S", "CVCL_9773", "HTT", "APOE4", "kolf_2"):
        assert exact_word(word), word
    for word in ("parkinson", "huntingon", "iPSC", "a"):
        assert not exact_word(word), word
    assert code_like("K1P53") and code_like("NSCCR-iPSC-0101") and code_like("77650100")
    assert not code_like("parkinson") and not code_like("21") and not code_like("a b1")
