"""The STR authentication search: a pasted profile against every line of the alliance.

The engine selects the lines whose score can reach the minimum (``search/str_queries.py``
says how, and why it cannot compute Tanabe itself); here they are scored exactly with
``search.str_profiles.rank``. When more lines pass than one request fetches, the minimum is
raised to the ``limit``-th best score among those fetched and the engine asked once more:
every line scoring that high is then fetched, so the list shown is exact. Engine errors are
the catalogue search's (``SearchUnavailable`` 503, ``SearchRejected`` 400), answered by the
portal app.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from portal.service import CatalogueSearch
from search.str_profiles import (
    ALGORITHMS,
    ASN0002_AMBIGUOUS,
    ASN0002_RELATED,
    CLASTR_AMBIGUOUS,
    CLASTR_INCLUDE_AMELOGENIN,
    CLASTR_MIN_SCORE,
    CLASTR_RELATED,
    Algorithm,
    LocusComparison,
    Match,
    Profile,
    ProfileError,
    format_profile,
    parse_profile,
    quick_scores,
    rank,
)
from search.str_queries import build_str_candidates, read_candidates, scored_alleles

PROFILE_MAX_CHARS = 20_000  # a pasted profile of 30 loci is well under 1,000 characters
DEFAULT_LIMIT = 50  # matches listed unless asked for more (up to STR_RESULTS_MAX)

# "Shares its profile" on a record page: Tanabe >= 80 % without amelogenin, the score
# ANSI/ATCC ASN-0002 reads as "related, of the same origin" (search/str_profiles.py cites it);
# CLASTR colours 80-90 % orange and >= 90 % green, so each line also shows CLASTR's verdict.
SHARED_MIN_SCORE = ASN0002_RELATED
SHARED_LIMIT = 50

RELATIONS = {
    "same_line": "the same line, another biobank's record",
    "same_donor": "same donor",
    "different_donor": "different donor: possible cross-contamination or misidentification",
    "donor_unknown": "donor not stated",
}


class StrQueryError(ValueError):
    """A request the STR search cannot run; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class StrQuery:
    profile: Profile
    algorithm: Algorithm = "tanabe"
    include_amelogenin: bool = CLASTR_INCLUDE_AMELOGENIN
    min_score: float = CLASTR_MIN_SCORE
    limit: int = DEFAULT_LIMIT


def read_profile(value: Any) -> Profile:
    if isinstance(value, Mapping):
        if not all(isinstance(v, str | list) for v in value.values()):
            raise StrQueryError("profile", "give each locus's alleles as text or a list")
        return parse_profile(value)
    if not isinstance(value, str) or not value.strip():
        raise StrQueryError("profile", "paste a profile, e.g. 'D5S818: 11,12' one locus a line")
    if len(value) > PROFILE_MAX_CHARS:
        raise StrQueryError("profile", f"longer than {PROFILE_MAX_CHARS} characters")
    return parse_profile(value)


def read_query(data: Mapping[str, Any], max_results: int, form: bool = False) -> StrQuery:
    """A query from a JSON body, or (``form``) from the page's form fields, all checked."""
    try:
        profile = read_profile(data.get("profile"))
    except ProfileError as error:
        raise StrQueryError("profile", str(error)) from None
    algorithm = data.get("algorithm") or "tanabe"
    if algorithm not in ALGORITHMS:
        raise StrQueryError("algorithm", f"{algorithm!r} is not one of {', '.join(ALGORITHMS)}")
    amelogenin = data.get("amelogenin", CLASTR_INCLUDE_AMELOGENIN)
    if form:
        amelogenin = amelogenin in ("on", "true", "1", True)
    elif not isinstance(amelogenin, bool):
        raise StrQueryError("amelogenin", "must be true or false")
    min_score = _number(data.get("min_score"), "min_score", CLASTR_MIN_SCORE, 0, 100)
    default = min(DEFAULT_LIMIT, max_results)
    limit = int(_number(data.get("limit"), "limit", default, 1, max_results, whole=True))
    if not scored_alleles(profile, amelogenin):
        raise StrQueryError("profile", "only amelogenin is given, and it is not scored")
    return StrQuery(profile, algorithm, amelogenin, min_score, limit)


def _number(value: Any, name: str, default: float, low: float, high: float, whole=False):
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise StrQueryError(name, f"{value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StrQueryError(name, "must be a number")
    if whole and value != int(value):
        raise StrQueryError(name, f"{value:g} is not a whole number")
    if not low <= value <= high:
        raise StrQueryError(name, f"{value:g} is outside {low:g} to {high:g}")
    return float(value)


def stored_profile(source: Mapping[str, Any]) -> Profile:
    """A document's ``str_profile``, already canonical when it was indexed."""
    return {locus: tuple(v.split(",")) for locus, v in (source.get("str_profile") or {}).items()}


def relation(doc: Mapping[str, Any], other: Mapping[str, Any]) -> str:
    """How another line sharing a profile relates to this one (``RELATIONS``' keys)."""
    if doc.get("line_key") and doc.get("line_key") == other.get("line_key"):
        return "same_line"
    mine, theirs = doc.get("donor_key"), other.get("donor_key")
    if mine and theirs:
        return "same_donor" if mine == theirs else "different_donor"
    return "donor_unknown"


def thresholds() -> dict[str, Any]:
    return {
        "asn0002": {"related": ASN0002_RELATED, "ambiguous": ASN0002_AMBIGUOUS},
        "clastr": {"related": CLASTR_RELATED, "ambiguous": CLASTR_AMBIGUOUS},
    }


def _row(row: LocusComparison) -> dict[str, Any]:
    return {
        "locus": row.locus,
        "query": list(row.query),
        "reference": list(row.reference),
        "shared": list(row.shared),
        "status": row.status,
        "scored": row.scored,
    }


def _shown(match: Match, source: Mapping[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in source.items() if k != "str_profile"}
    return {
        **fields,
        "score": match.score,
        "scores": dataclasses.asdict(match.scores),
        "asn0002": match.asn0002,
        "clastr": match.clastr,
        "loci": [_row(row) for row in match.comparisons],
    }


Ranked = list[tuple[float, int, str]]  # (-score, -shared alleles, uid): rank()'s order


class StrSearch:
    def __init__(self, search: CatalogueSearch, page: int = 1000) -> None:
        self.search = search
        self.page = page

    def run(self, query: StrQuery, exclude_uid: str | None = None) -> dict[str, Any]:
        """Every line scoring at least ``min_score``, best first, at most ``limit`` listed."""
        total, sources, complete, ranked = self._candidates(query, exclude_uid)
        shown = [(uid, stored_profile(sources[uid])) for _, _, uid in ranked[: query.limit]]
        matches = rank(query.profile, shown, query.algorithm, query.include_amelogenin)
        return {
            "query": format_profile(query.profile),
            "algorithm": query.algorithm,
            "amelogenin": query.include_amelogenin,
            "min_score": query.min_score,
            "limit": query.limit,
            # Exact when every line that can reach the minimum was fetched; else the engine's
            # count of them, which may count a few more (see search/str_queries.py).
            "total": len(ranked) if len(sources) >= total else total,
            "complete": complete,
            "candidates": len(sources),
            "thresholds": thresholds(),
            "matches": [_shown(m, sources[m.reference]) for m in matches],
        }

    @staticmethod
    def _rank(query: StrQuery, sources: Mapping[str, Mapping[str, Any]]) -> Ranked:
        """Scores only, best first: the locus-by-locus rows are built for the lines shown."""
        ranked = []
        for uid, src in sources.items():
            scores = quick_scores(query.profile, stored_profile(src), query.include_amelogenin)
            value = scores.of(query.algorithm)
            if scores.loci_compared and value >= query.min_score:
                ranked.append((-value, -scores.shared_alleles, uid))
        return sorted(ranked)

    def _fetch(
        self, query: StrQuery, threshold: float, exclude_uid: str | None, size: int | None = None
    ) -> tuple[int, dict[str, dict[str, Any]]]:
        body = build_str_candidates(
            query.profile,
            algorithm=query.algorithm,
            include_amelogenin=query.include_amelogenin,
            threshold=threshold,
            size=self.page if size is None else size,
            exclude_uid=exclude_uid,
        )
        total, found = read_candidates(self.search._search(body) or {})
        return total, {src["uid"]: src for src in found}

    def _candidates(
        self, query: StrQuery, exclude_uid: str | None
    ) -> tuple[int, dict[str, dict[str, Any]], bool, Ranked]:
        """The number of lines that can reach the minimum, those fetched, whether every line
        that belongs in the list is among them, and the fetched lines ranked."""
        total, sources = self._fetch(query, query.min_score, exclude_uid)
        ranked = self._rank(query, sources)
        if total <= len(sources):
            return total, sources, True, ranked
        if len(ranked) < query.limit:
            return total, sources, False, ranked
        # The limit-th best so far: every line of the list scores at least that much. The
        # engine's order (by the margin over the minimum) usually fetched them all already:
        # count first, fetch again only if not.
        raised = -ranked[query.limit - 1][0]
        have = sum(1 for value, _, _ in ranked if -value >= raised)
        above, _ = self._fetch(query, raised, exclude_uid, size=0)
        if above <= have:
            return total, sources, True, ranked
        above, more = self._fetch(query, raised, exclude_uid)
        sources = {**sources, **more}
        return total, sources, above <= len(more), self._rank(query, sources)

    def shared_with(self, doc: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """Other lines whose profile matches this line's (None: it has no indexed profile)."""
        profile = stored_profile(doc)
        if not profile:
            return None
        query = StrQuery(profile, min_score=SHARED_MIN_SCORE, limit=SHARED_LIMIT)
        found = self.run(query, exclude_uid=doc.get("uid"))["matches"]
        for match in found:
            match["relation"] = relation(doc, match)
            match["relation_label"] = RELATIONS[match["relation"]]
        return found
