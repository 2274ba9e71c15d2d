"""A realistic mix of portal searches for the search benchmark, generated reproducibly.

    .venv/bin/python -m bench.query_mix             # rewrites bench/queries/mix.txt

Each line of the mix is a query string of the portal's search (``q=parkinson&country=DE``):
words, typos, registry identifiers, disease names and codes, every facet of search/facets.py,
every sort of search/queries.py, pages, page sizes and the three kinds. The values come from
what bench/catalogue.py generates, so most searches find something: the synthetic lines'
hPSCreg names (``AAAi012-A``), synonyms, own ids and lot ids are taken from its documents, and
kept only if they exist at each of ``CHECK_SIZES`` lines (the catalogue's random stream depends
on its size); its diseases, genes, countries, biobanks, networks and collections. A few
identifiers of real lines the synthetic catalogue does not hold (``CVCL_9773``, ``WAe009-A``)
are there too: researchers paste them, and the portal's answer to nothing found costs more.
Seeded: the same code writes the same file.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlencode

from bench.catalogue import CELL_TYPES, COMMON_DISEASES, COUNTRIES, GENES, documents
from schemas.validators import DUO_PERMISSIONS, STORAGE_TEMPERATURES
from search.facets import CELL_TYPE_NODES, FACETS, FACETS_BY_NAME
from search.queries import SORTS

MIX = Path(__file__).resolve().parent / "queries" / "mix.txt"
CHECK_SIZES = (20_000, 200_000)
LINES = 240
SEED = 13
WORDS = (
    "parkinson",
    "iPSC",
    "hESC",
    "fibroblast",
    "dermal fibroblasts",
    "cardiomyocyte",
    "cardiac differentiation",
    "drug screening",
    "isogenic control",
    "gene editing",
    "neurons",
    "peripheral blood",
    "mononuclear cells",
    "disease modelling",
    "reference line",
    "healthy donors",
    "urine",
    "bone marrow",
    "reprogrammed",
    "huntington",
    "alzheimer",
    "stem cell resource",
    "female",
    "Germany",
    "iPSC female parkinson",
    "hiPSC Germany",
    "male diabetes",
    "blood iPSC cardiac",
    '"disease modelling"',
)
TYPOS = (
    "parkinsn",
    "huntingtn",
    "alzheimers",
    "fibroblats",
    "cardiomyocite",
    "schizofrenia",
    "retinitis pigmentossa",
    "mononuclar cells",
    "reprogramed",
    "diferentiation",
    "cystic fibrossis",
    "duchene muscular",
    "neurones",
    "sclerossis",
    "diabetis",
)
# Real lines' identifiers, absent from the synthetic catalogue: the "nothing found" path.
ELSEWHERE = (
    "CVCL_9773",
    "CVCL_0058",
    "WAe009-A",
    "UKKi009-A",
    "HPSI0114i-kolf_2",
    "SAMEA3158083",
    "BIONi010-C",
    "WAe009-A-L01",
)
CODES = ("G20", "ICD10:G20", "ORPHA:803", "E84", "ICD10:G12.2", "ORPHA:98896")
DISEASE_NODES = ("ICD10-VI", "ICD10-IV", "ICD10-II", "ORPHA") + tuple(c for c, _ in COMMON_DISEASES)
LINE_FACETS = (
    "cell_type",
    "disease",
    "availability",
    "qc",
    "sex",
    "age",
    "modified",
    "gene",
    "derivation",
    "tissue",
    "duo",
    "commercial",
    "accredited",
    "country",
    "biobank",
    "network",
    "storage",
    "vials",
)
COLLECTION_FACETS = ("duo", "commercial", "country", "accredited", "network")
AVAILABLE = ("available", "expand_to_order", "restricted_distribution", "not_available")
DERIVATIONS = ("reprogramming_non_integrating", "reprogramming_integrating", "primary_isolation")
# What people type when they look for biobanks or collections rather than lines.
PLACE_WORDS = ("", "", "stem cell", "resource", "biobank", "collection", "Germany")
BIOBANK_FACETS = ("country", "accredited", "network")


def catalogue_names(sizes: Iterable[int] = CHECK_SIZES, first: int = 20_000) -> dict[str, list]:
    """Identifiers, biobank names and collection uids of bench/catalogue.py's documents that
    exist at every one of ``sizes`` (among its first ``first`` lines)."""
    found: list[dict[str, set[str]]] = []
    for size in sizes:
        seen: dict[str, set[str]] = {
            "hpscreg": set(),
            "synonym": set(),
            "own": set(),
            "lot": set(),
            "biobank": set(),
            "collection": set(),
        }
        for _, doc in documents(size):
            if doc["kind"] == "biobank":
                seen["biobank"].add(doc["name"])
            elif doc["kind"] == "collection":
                seen["collection"].add(doc["uid"])
            elif int(doc["local_id"][1:]) < first:
                seen["hpscreg"].add(doc["hpscreg_name"])
                seen["synonym"].update(doc["synonyms"])
                seen["own"].add(doc["local_id"])
                seen["lot"].update(
                    i for i in doc["identifiers"] if i.startswith(doc["local_id"] + "-")
                )
            else:
                break  # the lines come last, in order
        found.append(seen)
    return {key: sorted(set.intersection(*(f[key] for f in found))) for key in found[0]}


def facet_value(facet: str, rng: random.Random, names: dict[str, list]) -> list[tuple[str, str]]:
    """The URL parameters of one realistic selection in ``facet``."""
    choices = getattr(FACETS_BY_NAME[facet], "choices", None)
    pick = rng.choice
    special: dict[str, list[tuple[str, str]]] = {
        "cell_type": [("cell_type", _cell_type(rng))],
        # The values the synthetic catalogue holds (bench/catalogue.py), not the whole list.
        "availability": [("availability", pick(AVAILABLE))],
        "derivation": [("derivation", pick(DERIVATIONS))],
        "duo": [("duo", d) for d in rng.sample(list(DUO_PERMISSIONS)[:3], pick((1, 1, 2)))],
        "storage": [("storage", pick(STORAGE_TEMPERATURES[4:7]))],
        "disease": [("disease", pick(DISEASE_NODES))],
        "age": _band("age", pick(FACETS_BY_NAME["age"].bands)),  # type: ignore[attr-defined]
        "vials": [("vials_min", pick(("1", "10", "50")))],
        "gene": [("gene", pick(GENES))],
        "tissue": [("tissue", pick(("skin", "blood", "urine", "bone marrow")))],
        "country": [("country", c) for c in rng.sample(COUNTRIES, rng.choice((1, 1, 2, 3)))],
        "biobank": [("biobank", pick(names["biobank"]))],
        "network": [("network", f"net-{rng.randrange(4)}")],
        "resource": [("resource", pick(("HipSci", "EBiSC", "HPSI")))],
        "facts_diagnosis": [("facts_diagnosis", pick(COMMON_DISEASES)[0])],
        "collection": [("collection", pick(names["collection"]))],
    }
    if facet in special:
        pairs = special[facet]
    elif choices:
        pairs = [(facet, v) for v in rng.sample(sorted(choices), rng.choice((1, 1, 2)))]
    else:  # a yes-only flag
        pairs = [(facet, "true")]
    if facet in {"qc", "disease", "gene", "network", "storage", "standard"} and rng.random() < 0.2:
        pairs.append((f"{facet}_op", "or" if facet == "qc" else "and"))
    return pairs


def _cell_type(rng: random.Random) -> str:
    if rng.random() < 0.8:  # as often as the catalogue holds them
        return rng.choices([c for c, _ in CELL_TYPES], [w for _, w in CELL_TYPES])[0]
    return rng.choice(sorted(CELL_TYPE_NODES))  # a branch of the tree: stem, pluripotent...


def _band(facet: str, band: tuple[int | None, int | None]) -> list[tuple[str, str]]:
    low, high = band
    return [(f"{facet}_{end}", str(v)) for end, v in (("min", low), ("max", high)) if v is not None]


def _q(rng: random.Random, names: dict[str, list]) -> tuple[str, str]:
    """A query's words and what they are: none, words, a typo, an identifier (with words
    now and then), a real line's identifier, a disease name or code."""
    roll = rng.random()
    if roll < 0.15:
        return "", "none"
    if roll < 0.45:
        return rng.choice(WORDS), "words"
    if roll < 0.55:
        return rng.choice(TYPOS), "typo"
    if roll < 0.75:
        ident = rng.choice(names[rng.choice(("hpscreg", "hpscreg", "synonym", "own", "lot"))])
        if rng.random() < 0.15:
            ident = f"{ident} {rng.choice(('iPSC', 'derived', 'female'))}"
        return ident, "identifier"
    if roll < 0.8:
        return rng.choice(ELSEWHERE), "identifier"
    if roll < 0.96:
        return rng.choice(COMMON_DISEASES)[1].lower(), "words"
    return rng.choice(CODES), "code"


def _facets_for(kind: str) -> list[str]:
    """The facets a researcher commonly ticks for a kind (the synthetic catalogue fills
    them); the others are used once each, in ``generate``."""
    if kind == "biobank":
        return list(BIOBANK_FACETS)
    if kind == "collection":
        return list(COLLECTION_FACETS)
    return list(LINE_FACETS)


def query(rng: random.Random, names: dict[str, list], must: str | None = None) -> str:
    """One search: words, facets (``must`` among them), maybe a kind, sort, page, size."""
    kind = rng.choices(("cell_line", "collection", "biobank"), (85, 8, 7))[0]
    if must and must.startswith("facts_"):
        kind = "collection"  # facts are what collections publish
    pairs: list[tuple[str, str]] = []
    q, what = _q(rng, names) if kind == "cell_line" else (rng.choice(PLACE_WORDS), "place")
    if q:
        pairs.append(("q", q))
    if kind != "cell_line" or rng.random() < 0.05:
        pairs.append(("kind", kind))
    # An identifier is mostly searched alone; words and codes with a few filters.
    counts = {"none": (1, 1, 2, 3), "identifier": (0, 0, 0, 0, 1)}.get(what, (0, 1, 1, 1, 2))
    wanted = [must] if must else []
    wanted += rng.sample(_facets_for(kind), rng.choice(counts))
    for facet in dict.fromkeys(wanted):
        pairs += facet_value(facet, rng, names)
    if rng.random() < 0.3:
        pairs.append(("sort", rng.choice(sorted(SORTS))))
    if rng.random() < 0.15:
        pairs.append(("size", str(rng.choice((10, 50, 100)))))
    if rng.random() < 0.2:
        pairs.append(("page", str(rng.randrange(2, 6))))
    return urlencode(pairs)


def generate(names: dict[str, list], lines: int = LINES, seed: int = SEED) -> list[str]:
    """``lines`` distinct searches: first one per facet, sort and kind (so each is used),
    then drawn at random."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    for facet in FACETS:
        out[query(rng, names, must=facet.name)] = None
    for sort in SORTS:
        out[urlencode([("q", rng.choice(WORDS)), ("sort", sort), ("page", "2")])] = None
    for kind in ("collection", "biobank"):
        out[urlencode([("q", "stem cell"), ("kind", kind)])] = None
    for word in TYPOS:
        out[urlencode([("q", word)])] = None
    while len(out) < lines:
        out[query(rng, names)] = None
    mixed = list(out)
    rng.shuffle(mixed)  # so that each client's walk mixes the kinds of search
    return mixed


def read_queries(path: Path | str) -> list[str]:
    """The query strings of a mix file: one a line; blank lines and ``#`` comments skipped."""
    text = Path(path).read_text(encoding="utf-8")
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MIX)
    args = parser.parse_args(argv)
    print(
        f"reading bench/catalogue.py's identifiers at {', '.join(map(str, CHECK_SIZES))} lines ..."
    )
    mix = generate(catalogue_names())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    header = "# generated by python -m bench.query_mix (seeded); one portal search a line\n"
    args.out.write_text(header + "\n".join(mix) + "\n", encoding="utf-8")
    print(f"{len(mix)} searches written to {args.out}")


if __name__ == "__main__":
    main()
