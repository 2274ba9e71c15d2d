"""STR profiles in the engine: what a cell-line document holds, and the candidate request.

Pure, like ``search.queries``: no I/O. Kept beside ``search/str_profiles.py`` (parsing and
scores) rather than in ``search/queries.py`` because it is one feature's own request.

**Why the engine only finds candidates.** Tanabe and Masters are ratios over the loci *both*
profiles type (CLASTR's "non-empty markers" mode): the denominator depends on which loci each
reference types and on its homozygous loci. A term query can count shared alleles but cannot
divide by that, so the engine ranks candidates by an upper bound of the score and Python
scores them exactly (``search.str_profiles.rank``).

**The bound.** For the scored alleles of the query (``q`` of them), a reference that shares
``s`` alleles and does not type loci holding ``u`` query alleles gets engine score
``s* = s + u``: one constant point per shared ``locus:allele`` term and ``|alleles|`` points
per query locus the reference lacks. With ``q' = q - u`` query alleles on the loci both type
and ``r' >= s`` reference alleles there, Tanabe ``= 2s / (q' + r') <= 2s / (q' + s)``, and
``2s / (q - u + s) <= 2s* / (q + s*)`` whenever ``s <= q - u`` (always). Likewise Masters
against the query ``= s / (q - u) <= s* / q``. Both bounds grow with ``s*``, so ranking the
candidates by ``s*`` and stopping once the bound of the next one falls below what is already
found can never cut off a true match; the engine's ``min_score`` drops lines that cannot reach
the minimum score at all. Masters against the reference (``s / r'``) has no such bound (a
reference whose few alleles are all in the query scores 100 %), so for it the candidates are
the best ``s*`` up to the cap and the answer says whether the cap was reached.
"""

from __future__ import annotations

import math
from typing import Any

from search.str_profiles import AMELOGENIN, Algorithm, Profile, ProfileError, parse_profile

STR_SOURCE = ["uid", "node_id", "local_id", "name", "line_key", "biobank_name", "country"]
STR_SOURCE += ["availability", "donor_key", "str_profile"]
_SLACK = 0.005  # percent: scores are rounded to 0.01, so a bound is never cut too finely


def str_fields(str_profile: dict[str, Any] | None) -> dict[str, Any]:
    """The STR fields of a cell-line document: ``str_loci`` ("D5S818:11", one per allele),
    ``str_typed`` (the loci typed) and ``str_profile`` (canonical ``{locus: "11,12"}``,
    stored, not indexed). A profile that does not parse is left out of the STR search rather
    than failing the line's indexing: the record page still shows what the node sent."""
    if not str_profile or not str_profile.get("loci"):
        return {}
    try:
        profile = parse_profile(str_profile["loci"])
    except ProfileError:
        return {}
    return {
        "str_loci": terms_of(profile, include_amelogenin=True),
        "str_typed": sorted(profile),
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


def score_bound(engine_score: float, query_alleles: int, algorithm: Algorithm) -> float:
    """The highest score (percent) a reference with this engine score can reach."""
    if not query_alleles or algorithm == "masters_reference":
        return 100.0
    if algorithm == "masters_query":
        return min(100.0, 100.0 * engine_score / query_alleles)
    return min(100.0, 200.0 * engine_score / (query_alleles + engine_score))


def least_engine_score(min_score: float, query_alleles: int, algorithm: Algorithm) -> float:
    """The smallest engine score whose bound reaches ``min_score`` (at least one point)."""
    fraction = max(0.0, min_score - _SLACK) / 100.0
    if algorithm == "masters_reference" or fraction <= 0:
        return 1.0
    if algorithm == "masters_query":
        needed = fraction * query_alleles
    else:  # 2s / (q + s) >= f  <=>  s >= f q / (2 - f)
        needed = fraction * query_alleles / (2.0 - fraction)
    return max(1.0, math.ceil(needed - 1e-9))


def build_str_candidates(
    query: Profile,
    *,
    algorithm: Algorithm,
    include_amelogenin: bool,
    min_score: float,
    size: int,
    after: list[Any] | None = None,
    exclude_uid: str | None = None,
) -> dict[str, Any]:
    """Cell lines sharing at least one scored allele with ``query``, best bound first."""
    terms = terms_of(query, include_amelogenin)
    should: list[dict[str, Any]] = [
        {"constant_score": {"filter": {"term": {"str_loci": term}}, "boost": 1.0}} for term in terms
    ]
    for locus, alleles in query.items():
        if include_amelogenin or locus != AMELOGENIN:
            missing = {"bool": {"must_not": {"term": {"str_typed": locus}}}}
            should.append({"constant_score": {"filter": missing, "boost": float(len(alleles))}})
    query_body: dict[str, Any] = {
        "bool": {
            "filter": [{"term": {"kind": "cell_line"}}, {"terms": {"str_loci": terms}}],
            "should": should,
        }
    }
    if exclude_uid:
        query_body["bool"]["must_not"] = [{"term": {"uid": exclude_uid}}]
    body: dict[str, Any] = {
        "query": query_body,
        "min_score": least_engine_score(min_score, len(terms), algorithm),
        "size": size,
        "sort": [{"_score": "desc"}, {"uid": "asc"}],
        "track_total_hits": True,
        "_source": STR_SOURCE,
    }
    if after:
        body["search_after"] = after
    return body


def read_candidates(resp: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """The number of lines that may reach the minimum, and this page's hits (with ``sort``)."""
    hits = resp.get("hits", {})
    return hits.get("total", {}).get("value", 0), hits.get("hits", [])
