"""STR profiles in the engine: what a cell-line document holds, and the candidate request.

Pure, like ``search.queries``: no I/O. Kept beside ``search/str_profiles.py`` (parsing and
scores) rather than in ``search/queries.py`` because it is one feature's own request.

**Why the engine only finds candidates.** Tanabe and Masters are ratios over the loci *both*
profiles type (CLASTR's "non-empty markers" mode): the denominator depends on which loci each
reference types and on its homozygous loci, and an engine query sums clause scores, it does
not divide. So the engine selects the lines that can reach a threshold, and Python scores and
ranks them exactly (``search.str_profiles.rank``).

**A ratio above a threshold is a sum.** With ``s`` shared alleles, ``q'`` query and ``r'``
reference alleles on the loci both type, Tanabe ``2s / (q' + r') >= t`` is
``2s - t q' - t r' >= 0``, a sum over the query's loci. Per locus ``l`` (``n`` query alleles,
``r`` reference alleles, ``s_l`` shared) it is ``0`` when the reference does not type ``l``,
else ``2 s_l - t (n + r)``. Shifted by ``K_l = t (n + 2)`` every part is a non-negative
constant clause: ``K_l`` when ``l`` is not typed, ``t`` when it is typed homozygous
(``r = 1``), ``2`` per shared allele; the engine's ``min_score`` is then ``sum K_l``.
Masters against the query (``s - t q' >= 0``) and against the reference (``s - t r' >= 0``)
decompose the same way. The filter is exact for references with at most two alleles a locus
and keeps more (never fewer) lines for those with three, so no true match is cut off.
When more lines pass than one request fetches, the threshold is raised to the score of the
``limit``-th best line already fetched and asked again (portal/str_search.py).
"""

from __future__ import annotations

from typing import Any

from search.str_profiles import AMELOGENIN, Algorithm, Profile, ProfileError, parse_profile

STR_SOURCE = ["uid", "node_id", "local_id", "name", "line_key", "biobank_name", "country"]
STR_SOURCE += ["availability", "donor_key", "str_profile"]
# The loci of the usual kits (PowerPlex 16/18D/21/Fusion, GlobalFiler, Identifiler: the markers
# CLASTR lists). A document names those of them it lacks in ``str_untyped``, so "not typed"
# is a short list of postings rather than a must_not over every document; a query locus
# outside this list falls back to must_not.
KIT_LOCI = frozenset(
    [
        "Amelogenin",
        "CSF1PO",
        "D1S1656",
        "D2S1338",
        "D2S441",
        "D3S1358",
        "D5S818",
        "D6S1043",
        "D7S820",
        "D8S1179",
        "D10S1248",
        "D12S391",
        "D13S317",
        "D16S539",
        "D18S51",
        "D19S433",
        "D21S11",
        "D22S1045",
        "DYS391",
        "FGA",
        "TH01",
        "TPOX",
        "vWA",
    ]
) | {"Penta D", "Penta E"}
_SLACK = 0.005  # percent: scores are rounded to 0.01, so a bound is never cut too finely


def str_fields(str_profile: dict[str, Any] | None) -> dict[str, Any]:
    """The STR fields of a cell-line document: ``str_loci`` ("D5S818:11", one per allele),
    ``str_typed`` and ``str_homozygous`` (the loci typed, those with one allele) and
    ``str_profile`` (canonical ``{locus: "11,12"}``, stored, not indexed). A profile that
    does not parse is left out of the STR search rather than failing the line's indexing:
    the record page still shows what the node sent."""
    if not str_profile or not str_profile.get("loci"):
        return {}
    try:
        profile = parse_profile(str_profile["loci"])
    except ProfileError:
        return {}
    return {
        "str_loci": terms_of(profile, include_amelogenin=True),
        "str_typed": sorted(profile),
        "str_untyped": sorted(KIT_LOCI - set(profile)),
        "str_homozygous": sorted(locus for locus, alleles in profile.items() if len(alleles) == 1),
        "str_profile": {locus: ",".join(alleles) for locus, alleles in profile.items()},
    }


def terms_of(profile: Profile, include_amelogenin: bool) -> list[str]:
    return [
        f"{locus}:{allele}"
        for locus, alleles in profile.items()
        if include_amelogenin or locus != AMELOGENIN
        for allele in alleles
    ]


def scored_alleles(profile: Profile, include_amelogenin: bool) -> int:
    return len(terms_of(profile, include_amelogenin))


_WEIGHTS = {  # shared-allele weight, query-allele and reference-allele penalties
    "tanabe": (2.0, 1.0, 1.0),
    "masters_query": (1.0, 1.0, 0.0),
    "masters_reference": (1.0, 0.0, 1.0),
}


# A bonus per shared allele, and the engine's floor raised by half of it: a line sharing no
# allele and typing none of the query's loci sums exactly to the floor, and must not pass;
# a line that reaches the threshold shares at least one allele, so it is still above.
_BONUS = 0.01


def build_str_candidates(
    query: Profile,
    *,
    algorithm: Algorithm,
    include_amelogenin: bool,
    threshold: float,
    size: int,
    exclude_uid: str | None = None,
) -> dict[str, Any]:
    """Cell lines sharing a scored allele with ``query`` whose score can reach ``threshold``
    (percent), best engine score first. Only cell lines carry STR fields, and the floor
    needs a shared allele, so no filter clause is needed (one would double the postings read)."""
    shared_weight, query_penalty, reference_penalty = _WEIGHTS[algorithm]
    t = max(0.0, threshold - _SLACK) / 100.0
    should: list[dict[str, Any]] = []
    floor = 0.0
    for locus, alleles in query.items():
        if locus == AMELOGENIN and not include_amelogenin:
            continue
        shift = t * (query_penalty * len(alleles) + 2 * reference_penalty)
        floor += shift
        if locus in KIT_LOCI:
            untyped: dict[str, Any] = {"term": {"str_untyped": locus}}
        else:
            untyped = {"bool": {"must_not": {"term": {"str_typed": locus}}}}
        homozygous = {"term": {"str_homozygous": locus}}
        for clause, boost in ((untyped, shift), (homozygous, t * reference_penalty)):
            if boost > 0:
                should.append({"constant_score": {"filter": clause, "boost": boost}})
        for allele in alleles:
            shared = {"term": {"str_loci": f"{locus}:{allele}"}}
            boost = shared_weight + _BONUS
            should.append({"constant_score": {"filter": shared, "boost": boost}})
    bool_query: dict[str, Any] = {"should": should, "minimum_should_match": 1}
    if exclude_uid:
        bool_query["must_not"] = [{"term": {"uid": exclude_uid}}]
    return {
        "query": {"bool": bool_query},
        # The engine sums scores as 32-bit floats: 1e-3 of slack, far below the bonus.
        "min_score": floor + _BONUS / 2 - 1e-3,
        "size": size,
        "sort": [{"_score": "desc"}, {"uid": "asc"}],
        "track_total_hits": True,
        "_source": STR_SOURCE,
    }


def read_candidates(resp: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """How many lines may reach the threshold, and the sources of those fetched."""
    hits = resp.get("hits", {})
    return hits.get("total", {}).get("value", 0), [h["_source"] for h in hits.get("hits", [])]
