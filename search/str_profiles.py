"""STR profiles: parse them in the usual notations, score them, rank references by score.

Pure functions, no engine and no I/O: the building block of the STR authentication search.

A profile is ``{locus: alleles}`` with canonical locus names (``"D5S818"``, ``"TH01"``,
``"vWA"``, ``"Penta D"``, ``"Amelogenin"`` …) and alleles as sorted tuples of strings that keep
microvariants (``"9.3"``) and the amelogenin alleles (``"X"``, ``"Y"``). A homozygous locus holds
its allele once: as in Cellosaurus CLASTR, "12" and "12,12" are the same and count as one allele.

Notations :func:`parse_profile` reads (one locus a line, or several on a line separated by
``;`` or by ``,`` before the next ``locus:``):

* ``D5S818: 11,12`` (also ``D5S818=11,12``, ``D5S818 : 11, 12``)
* ``D5S818 11 12`` (spaces or tabs; a ``Marker  Allele 1 …`` header line is skipped)
* hPSCreg's ``D5S818###11###12``
* CSV, one locus a row (``D5S818,11,12``; an optional ``Marker,Allele 1,…`` header), or a
  two-row table with the loci as header and ``"11,12"`` under each
* a mapping ``{"D5S818": "11,12"}``, which is how the catalogue stores ``str_profile.loci``
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Alleles = tuple[str, ...]
Profile = dict[str, Alleles]
Algorithm = Literal["tanabe", "masters_query", "masters_reference"]
Status = Literal["match", "partial", "mismatch", "not_typed"]

ALGORITHMS: tuple[Algorithm, ...] = ("tanabe", "masters_query", "masters_reference")
AMELOGENIN = "Amelogenin"

# --- Match thresholds -------------------------------------------------------------------------
#
# ANSI/ATCC ASN-0002 "Authentication of Human Cell Lines: Standardization of STR Profiling"
# (ATCC SDO, 2011; revised as ASN-0002-2021), with the evidence reviewed in Capes-Davis A. et al.,
# "Match criteria for human cell line authentication: where do we draw the line?",
# Int J Cancer 2013;132(11):2510-9, PubMed=23136038. The standard reads a score (Tanabe or
# Masters, in percent) as: >= 80 % related, of the same origin; 56 % to < 80 % ambiguous,
# more markers or other tests are needed; < 56 % unrelated. These figures are the ones the
# feature asked for; they were not checked here against the text of the standard itself
# (it is sold by ATCC), so check them against ASN-0002-2021 before quoting them as its words.
ASN0002_RELATED = 80.0
ASN0002_AMBIGUOUS = 56.0

# Cellosaurus CLASTR (Robin T., Capes-Davis A., Bairoch A., "CLASTR: The Cellosaurus STR
# similarity search tool - A precious help for cell line authentication", Int J Cancer 2020;
# 146(5):1299-1306, PubMed=31444973), as its help page documents (cellosaurus.org/str-search/
# help.html; read in the calipho-sib/cellosaurus-STR-similarity-search-tool repository,
# frontend/help.html at commit 0afe5b09, and the live help page's opening sections):
# - default algorithm Tanabe, default mode "non-empty markers" (only the loci both profiles
#   type are scored; the "query markers" and "reference markers" modes are not offered here),
#   amelogenin left out of the score by default ("only used for gender confirmation"),
#   homozygous alleles counted once, allele order and repeats ignored;
# - REST API defaults: minimum score ("filter") 60, at most 200 results ("size");
# - colour of a result: Tanabe >= 90 related (green), 80-90 mixed (orange), < 80 unrelated
#   (red); Masters >= 80 green, 60-80 orange, < 60 red.
# The version read did not document a minimum number of markers; later CLASTR versions have
# one, but its default could not be verified here, so none is stated (see ``min_loci``).
CLASTR_MIN_SCORE = 60.0
CLASTR_MAX_RESULTS = 200
CLASTR_INCLUDE_AMELOGENIN = False
CLASTR_RELATED = {"tanabe": 90.0, "masters_query": 80.0, "masters_reference": 80.0}
CLASTR_AMBIGUOUS = {"tanabe": 80.0, "masters_query": 60.0, "masters_reference": 60.0}

# --- Locus names ------------------------------------------------------------------------------

# Canonical spellings (Cellosaurus' own), keyed by the squeezed form (upper case, no spaces,
# dots, dashes or underscores).
_CANONICAL = {
    "AMEL": AMELOGENIN,
    "AMELOGENIN": AMELOGENIN,
    "AM": AMELOGENIN,
    "AMG": AMELOGENIN,
    "VWA": "vWA",
    "VWA31": "vWA",
    "TH01": "TH01",
    "THO1": "TH01",
    "TH1": "TH01",
    "CSF1PO": "CSF1PO",
    "CSF1P0": "CSF1PO",
    "TPOX": "TPOX",
    "TP0X": "TPOX",
    "FGA": "FGA",
    "FIBRA": "FGA",
    "PENTAD": "Penta D",
    "PENTAE": "Penta E",
    "PD": "Penta D",
    "PE": "Penta E",
    "SE33": "SE33",
    "ACTBP2": "SE33",
}
_SQUEEZE = re.compile(r"[\s._\-]+")
_LOCUS = re.compile(r"[A-Z][A-Z0-9]{1,29}")
_ALLELE = re.compile(r"\d{1,3}(?:\.\d)?")
_SEPARATORS = re.compile(r"[,;/\s]+")


class ProfileError(ValueError):
    """A profile that cannot be read; names the locus (or line) and the value at fault."""

    def __init__(self, message: str, locus: str = "", value: str = "") -> None:
        super().__init__(message)
        self.locus = locus
        self.value = value


def normalise_locus(name: str) -> str:
    """The canonical name of a locus: ``"th 01"`` -> ``"TH01"``, ``"AMEL"`` -> ``"Amelogenin"``.

    Names outside the common kits (``D18S976``, ``GAAT1A4`` …) are kept, in upper case."""
    squeezed = _SQUEEZE.sub("", str(name)).upper()
    if squeezed in _CANONICAL:
        return _CANONICAL[squeezed]
    if not _LOCUS.fullmatch(squeezed) or re.search(r"\S\s+\S", str(name).strip()):
        raise ProfileError(f"{str(name).strip()!r} is not a locus name", str(name).strip(), "")
    return squeezed


def parse_alleles(locus: str, value: str | Iterable[str]) -> Alleles:
    """The alleles of one locus, deduplicated and sorted (numbers by value, then X, Y)."""
    raw = value if isinstance(value, str) else ",".join(str(v) for v in value)
    items = [item for item in _SEPARATORS.split(raw.strip()) if item]
    if not items:
        raise ProfileError(f"{locus}: no alleles given", locus, raw)
    alleles = set()
    for item in items:
        allele = item.upper()
        if locus == AMELOGENIN:
            if allele not in ("X", "Y"):
                raise ProfileError(
                    f"{locus}: {item!r} is not an amelogenin allele (X or Y)", locus, item
                )
        elif not _ALLELE.fullmatch(allele):
            raise ProfileError(
                f"{locus}: {item!r} is not an allele (a repeat number such as 11 or 9.3)",
                locus,
                item,
            )
        alleles.add(allele)
    return tuple(sorted(alleles, key=_allele_key))


def _allele_key(allele: str) -> tuple[int, float, str]:
    return (1, 0.0, allele) if allele in ("X", "Y") else (0, float(allele), allele)


def parse_profile(source: str | Mapping[str, str | Iterable[str]]) -> Profile:
    """A profile from text in any of the notations above, or from a locus -> alleles mapping."""
    pairs: list[tuple[str, str | Iterable[str], str]] = []
    if isinstance(source, Mapping):
        pairs = [(str(k), v, str(k)) for k, v in source.items()]
    else:
        pairs = [(name, value, where) for name, value, where in _text_pairs(source)]
    profile: Profile = {}
    for name, value, where in pairs:
        try:
            locus = normalise_locus(name)
        except ProfileError as error:
            shown = value if isinstance(value, str) else ",".join(value)
            raise ProfileError(
                f"{where}: {error} (alleles given: {shown!r})", error.locus, shown
            ) from None
        alleles = parse_alleles(locus, value)
        if locus in profile and profile[locus] != alleles:
            raise ProfileError(
                f"{locus} is given twice, as {','.join(profile[locus])} and {','.join(alleles)}",
                locus,
                value if isinstance(value, str) else ",".join(value),
            )
        profile[locus] = alleles
    if not profile:
        raise ProfileError("the profile has no loci")
    return profile


_HEADER_WORDS = {"MARKER", "LOCUS", "LOCI", "MARKERS"}


def _text_pairs(text: str) -> list[tuple[str, str, str]]:
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line and not line.startswith("#")]
    if _is_csv(lines):
        return _wide_csv(lines) or _long_csv(lines)
    pairs = []
    for n, line in enumerate(lines, start=1):
        if "###" in line:
            name, _, rest = line.partition("###")
            pairs.append((name, rest.replace("###", ","), f"line {n}"))
            continue
        if n == 1 and line.split()[0].upper() in _HEADER_WORDS:
            continue  # "Marker<tab>Allele 1<tab>Allele 2", a tab-separated table's header
        # Loci are separated by ";" or, on one line, by ", " before the next "locus:".
        for part in (p.strip() for p in _LOCI_ON_A_LINE.split(line)):
            if part:
                pairs.append(_one_locus(part, f"line {n}"))
    return pairs


_LOCI_ON_A_LINE = re.compile(r";|,(?=\s*[A-Za-z][^,:=]*[:=])")


def _is_csv(lines: list[str]) -> bool:
    """Every line has a comma, none a colon, "=" or "###", and no first cell is a locus and
    an allele run together by a space ("D5S818 11,12" is the spaced notation, not CSV)."""
    if not lines or any(":" in x or "=" in x or "###" in x or "," not in x for x in lines):
        return False
    for line in lines:
        first = line.split(",", 1)[0].strip().strip('"')
        squeezed = _SQUEEZE.sub("", first).upper()
        if re.search(r"\s", first) and squeezed not in _CANONICAL.keys() | _HEADER_WORDS:
            return False
    return True


def _one_locus(part: str, where: str) -> tuple[str, str, str]:
    match = re.match(r"\s*([^:=]+?)\s*[:=]\s*(.*)$", part)
    if match:
        return match.group(1), match.group(2), where
    # "D5S818 11 12", "Penta D 11 12", "TH 01 6 9.3": the locus is what precedes the alleles.
    match = re.match(r"\s*(TH\s+0?1|.*?[A-Z][A-Z0-9]*)\s+([\dXY.,\s]+)$", part, re.IGNORECASE)
    if match and match.group(2).strip():
        return match.group(1), match.group(2), where
    raise ProfileError(f"{where}: {part!r} is not 'locus: alleles'", "", part)


def _long_csv(lines: list[str]) -> list[tuple[str, str, str]]:
    pairs = []
    for n, row in enumerate(csv.reader(io.StringIO("\n".join(lines))), start=1):
        cells = [cell.strip() for cell in row]
        if not cells or not cells[0]:
            raise ProfileError(f"line {n}: no locus name", "", ",".join(cells))
        if n == 1 and _SQUEEZE.sub("", cells[0]).upper() in _HEADER_WORDS:
            continue
        pairs.append((cells[0], ",".join(c for c in cells[1:] if c), f"line {n}"))
    return pairs


def _wide_csv(lines: list[str]) -> list[tuple[str, str, str]] | None:
    """Loci as the header row and one row of values under them (quoted when heterozygous)."""
    if len(lines) != 2:
        return None
    header, values = list(csv.reader(io.StringIO("\n".join(lines))))
    if len(header) < 2 or len(header) != len(values):
        return None
    try:
        for name in header:
            normalise_locus(name)
    except ProfileError:
        return None
    if all(_ALLELE.fullmatch(h.strip()) for h in header):
        return None
    return [(name, value, "line 2") for name, value in zip(header, values, strict=True)]


# --- Scoring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocusComparison:
    """One locus of a query against one reference, for display."""

    locus: str
    query: Alleles
    reference: Alleles
    shared: Alleles
    status: Status  # match: same alleles; partial: some shared; mismatch: none; not_typed
    scored: bool  # False when a side lacks the locus, or it is amelogenin and left out


@dataclass(frozen=True)
class Scores:
    tanabe: float  # percent: 2 x shared / (query alleles + reference alleles)
    masters_query: float  # percent: shared / query alleles
    masters_reference: float  # percent: shared / reference alleles
    shared_alleles: int
    query_alleles: int
    reference_alleles: int
    loci_compared: int

    def of(self, algorithm: Algorithm) -> float:
        return float(getattr(self, algorithm))

    @classmethod
    def counted(cls, shared: int, in_query: int, in_reference: int, loci: int) -> Scores:
        """The three scores from the allele counts over the loci compared."""
        return cls(
            tanabe=_percent(2 * shared, in_query + in_reference),
            masters_query=_percent(shared, in_query),
            masters_reference=_percent(shared, in_reference),
            shared_alleles=shared,
            query_alleles=in_query,
            reference_alleles=in_reference,
            loci_compared=loci,
        )


@dataclass(frozen=True)
class Match:
    reference: str
    score: float  # by the algorithm asked for
    scores: Scores
    asn0002: str  # related, ambiguous or unrelated
    clastr: str  # related, ambiguous or unrelated, by CLASTR's colour thresholds
    comparisons: tuple[LocusComparison, ...]


def compare(
    query: Profile, reference: Profile, include_amelogenin: bool = False
) -> tuple[LocusComparison, ...]:
    """Locus by locus, query loci first (in their order), then those only the reference types."""
    loci = list(query) + [locus for locus in reference if locus not in query]
    rows = []
    for locus in loci:
        q, r = query.get(locus, ()), reference.get(locus, ())
        shared = tuple(a for a in q if a in r)
        status: Status
        if not q or not r:
            status = "not_typed"
        elif set(q) == set(r):
            status = "match"
        else:
            status = "partial" if shared else "mismatch"
        scored = status != "not_typed" and (include_amelogenin or locus != AMELOGENIN)
        rows.append(LocusComparison(locus, q, r, shared, status, scored))
    return tuple(rows)


def score(
    query: Profile, reference: Profile, include_amelogenin: bool = False
) -> tuple[Scores, tuple[LocusComparison, ...]]:
    """Tanabe and both Masters scores over the loci both profiles type ("non-empty markers")."""
    rows = compare(query, reference, include_amelogenin)
    used = [row for row in rows if row.scored]
    shared = sum(len(row.shared) for row in used)
    in_query = sum(len(row.query) for row in used)
    in_reference = sum(len(row.reference) for row in used)
    return Scores.counted(shared, in_query, in_reference, len(used)), rows


def quick_scores(query: Profile, reference: Profile, include_amelogenin: bool = False) -> Scores:
    """The scores of :func:`score` without the locus-by-locus rows: for ranking many
    references, then comparing only those shown."""
    shared = in_query = in_reference = loci = 0
    for locus, q in query.items():
        r = reference.get(locus)
        if not r or not q or (locus == AMELOGENIN and not include_amelogenin):
            continue
        loci += 1
        in_query += len(q)
        in_reference += len(r)
        shared += sum(1 for a in q if a in r)
    return Scores.counted(shared, in_query, in_reference, loci)


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def asn0002_verdict(value: float) -> str:
    """ANSI/ATCC ASN-0002 reading of a score in percent."""
    if value >= ASN0002_RELATED:
        return "related"
    return "ambiguous" if value >= ASN0002_AMBIGUOUS else "unrelated"


def clastr_verdict(value: float, algorithm: Algorithm = "tanabe") -> str:
    """CLASTR's colour of a score: green related, orange ambiguous, red unrelated."""
    if value >= CLASTR_RELATED[algorithm]:
        return "related"
    return "ambiguous" if value >= CLASTR_AMBIGUOUS[algorithm] else "unrelated"


def rank(
    query: Profile,
    references: Mapping[str, Profile] | Iterable[tuple[str, Profile]],
    algorithm: Algorithm = "tanabe",
    include_amelogenin: bool = CLASTR_INCLUDE_AMELOGENIN,
    min_score: float = 0.0,
    min_loci: int = 1,
    limit: int | None = None,
) -> list[Match]:
    """The references scoring at least ``min_score`` over at least ``min_loci`` shared loci,
    best first (then by more shared alleles, then by reference id)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    items = references.items() if isinstance(references, Mapping) else references
    matches = []
    for ref_id, profile in items:
        scores, rows = score(query, profile, include_amelogenin)
        if scores.loci_compared < min_loci:
            continue
        value = scores.of(algorithm)
        if value < min_score:
            continue
        verdicts = (asn0002_verdict(value), clastr_verdict(value, algorithm))
        matches.append(Match(ref_id, value, scores, *verdicts, rows))
    matches.sort(key=lambda m: (-m.score, -m.scores.shared_alleles, m.reference))
    return matches[:limit] if limit is not None else matches


def format_profile(profile: Profile) -> dict[str, str]:
    """The catalogue's stored form (``str_profile.loci``): locus -> ``"11,12"``."""
    return {locus: ",".join(alleles) for locus, alleles in profile.items()}
