"""Words that name facet values are read as filters, and can be searched as words instead."""

from werkzeug.datastructures import MultiDict

from search.facets import Selection
from search.queries import parse_params
from search.understanding import KIND_FACETS, Understood, fold, understand

LABELS = {
    "ICD10:G20": "Parkinson disease",
    "ICD10:G10": "Huntington disease",
    "ORPHA:399": "Huntington disease",
    "eu-ipsc": "European iPSC Network",  # networks are not diseases
}


def test_words_naming_facet_values_become_filters_and_the_rest_stays_words():
    u = understand("iPSC female parkinson", LABELS)
    assert u.rest == "parkinson"
    assert u.filters == (
        Understood("cell_type", ("hiPSC",), "iPSC"),
        Understood("sex", ("FEMALE",), "female"),
    )
    params = u.apply(parse_params(MultiDict({"q": "iPSC female parkinson"})))
    assert params.q == "parkinson"
    assert params.selections == {
        "cell_type": Selection(("hiPSC",)),
        "sex": Selection(("FEMALE",)),
    }


def test_the_issues_examples_countries_vectors_and_disease_labels():
    u = understand("hESC Germany Sendai Parkinson's disease", LABELS)
    assert [(f.facet, f.values) for f in u.filters] == [
        ("cell_type", ("hESC",)),
        ("country", ("DE",)),
        ("vector", ("Sendai",)),
        ("disease", ("ICD10:G20",)),
    ]
    assert u.rest == ""
    # A label several codes carry selects them all; the longest run of words wins.
    [hd] = understand("huntington disease", LABELS).filters
    assert hd.values == ("ICD10:G10", "ORPHA:399") and hd.words == "huntington disease"
    assert understand("united kingdom", LABELS).filters[0].values == ("GB",)
    network = understand("European iPSC Network", LABELS).filters
    assert [f.facet for f in network] == ["cell_type"]  # "iPSC"; a network is no disease


def test_searching_the_word_instead_quotes_it_and_a_quoted_word_is_never_a_filter():
    u = understand("iPSC female parkinson", LABELS)
    literal = u.literal(u.filters[1])
    assert literal == 'iPSC "female" parkinson'
    again = understand(literal, LABELS)
    assert [f.facet for f in again.filters] == ["cell_type"]
    assert again.rest == '"female" parkinson'


def test_the_urls_own_selection_holds():
    male = {"sex": Selection(("MALE",))}
    u = understand("female parkinson", LABELS, male)
    assert u.filters == () and u.rest == "female parkinson"  # stays a word
    same = understand("female parkinson", LABELS, {"sex": Selection(("FEMALE",))})
    # Adds nothing (no chip: the URL's filter shows), and is not searched as a word either.
    assert same.rest == "parkinson" and same.filters == ()
    assert same.apply(parse_params(MultiDict({"sex": "FEMALE"}))).selections["sex"] == Selection(
        ("FEMALE",)
    )


def test_identifiers_and_unknown_words_are_not_understood():
    assert understand("WAe009-A", LABELS).filters == ()
    assert understand("parkinson", LABELS).filters == ()  # a word, not the whole label
    assert understand("", LABELS).rest == ""
    assert fold("Parkinson’s  Disease!") == "parkinson disease"


def test_collections_and_biobanks_understand_only_the_facets_they_have():
    u = understand("female Germany", LABELS, facets=KIND_FACETS["biobank"])
    assert [f.facet for f in u.filters] == ["country"] and u.rest == "female"


def test_labels_of_codes_that_are_not_diseases_are_not_words_for_a_disease():
    # A Directory network id has a ":" too; its label comes with the disease labels.
    labels = {"bbmri-eric:networkID:DE_network1": "Network 1", "ICD10:G20": "Parkinson disease"}
    [parkinson] = understand("Parkinson disease", labels).filters
    assert (parkinson.facet, parkinson.values) == ("disease", ("ICD10:G20",))
    assert understand("Network 1", labels).filters == ()


def test_a_repeated_label_is_read_once_and_another_value_of_the_facet_stays_a_word():
    u = understand("female iPSC female", LABELS)
    assert [(f.facet, f.values) for f in u.filters] == [
        ("sex", ("FEMALE",)),
        ("cell_type", ("hiPSC",)),
    ]
    assert u.rest == ""
    [hd] = understand("Huntington disease ORPHA:399 huntington disease", LABELS).filters
    assert hd.values == ("ICD10:G10", "ORPHA:399")  # the code names one of the label's codes
    assert understand("Huntington disease ORPHA:399", LABELS).rest == ""
    u = understand("male female", LABELS)
    assert [f.values for f in u.filters] == [("MALE",)] and u.rest == "female"
