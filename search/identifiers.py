"""Registry identifiers in a search query: recognised by their shape, searched exactly.

A query is read as words (:func:`tokens`): runs of text between spaces, or a phrase in
double quotes. A word that has the shape of a registry identifier is an :class:`Identifier`:

* hPSCreg name: ``WAe009-A``, ``UKKi011-A``, ``BIONi010-C-25`` (institute, ``e``/``i``, donor
  number, clone letter, optional subclone), as ``schemas.validators.HPSCREG_NAME`` checks;
* Cellosaurus accession: ``CVCL_9773``;
* BioSamples id: ``SAMEA3158083``, ``SAMN…``, ``SAMD…``;
* HipSci name: ``HPSI0114i-kolf_2`` (date, cell kind, donor, clone);
* lot number as the demo catalogues and hPSCreg number them: a line's identifier and
  ``-L<number>`` (``WAe009-A-L01``).

Any case is accepted (``wae009-a``). Identifiers and allele-like words (a digit, an
underscore, or written in capitals: ``G2019S``, ``HTT``) are matched exactly, never with typo
tolerance (:func:`exact_word`). Identifiers that have no recognisable shape (a biobank's own
id, a lot number of another scheme) are found by the search service, which asks the index
whether a code-like word (:func:`code_like`) is any record's identifier.

Relations of a line follow from its identifiers: a derivative or subclone is named after its
parent (``WAe009-A-NPC``, ``BIONi010-C-25``) or mentions it; lines of the same donor share the
hPSCreg donor part (``UKKi009-A``, ``UKKi009-B``) or the HipSci donor (``kolf_2``, ``kolf_3``).
Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HPSCREG = re.compile(r"(?P<donor>[A-Z]{2,6}[EI]\d{3})-[A-Z](-\d+)?", re.I)
CELLOSAURUS = re.compile(r"CVCL_[A-Z0-9]{4}", re.I)
BIOSAMPLES = re.compile(r"SAM[NEAD][AG]?\d+", re.I)
HIPSCI = re.compile(r"HPSI\d{4}[a-z]{1,2}-(?P<donor>[a-z]{4})_\d+", re.I)
LOT = re.compile(r"(?P<line>[A-Za-z0-9][A-Za-z0-9._-]*?)-L\d{1,4}", re.I)

KINDS = ("hpscreg", "cellosaurus", "biosamples", "hipsci", "lot", "code")
LINE_ID_PREFIX = {"hpscreg": "hpscreg", "cellosaurus": "cellosaurus", "biosamples": "biosamples"}
"""Kinds that are also a line's registry id (``line_ids``, search/indexer/derived.py)."""

_EDGE = "()[]{}<>,;:!?'\"“”‘’"
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


@dataclass(frozen=True)
class Token:
    """A word of a query, or a phrase the researcher quoted (``quoted``: taken literally)."""

    text: str
    quoted: bool = False


def tokens(q: str) -> list[Token]:
    """The query's words and quoted phrases, in order; punctuation around a word dropped
    (``(WAe009-A),`` is ``WAe009-A``); an unclosed quote is an ordinary character."""
    out = []
    for match in _TOKEN.finditer(q):
        if match.group(1) is not None:
            text = " ".join(match.group(1).split())
            if text:
                out.append(Token(text, quoted=True))
        else:
            text = match.group(2).strip(_EDGE)
            if text:
                out.append(Token(text))
    return out


def quote(text: str) -> str:
    """A word or phrase as a quoted token (taken literally when searched again)."""
    return '"' + text.replace('"', "") + '"'


def join(parts: list[Token]) -> str:
    """Tokens back into a query string (quoted ones quoted)."""
    return " ".join(quote(t.text) if t.quoted else t.text for t in parts)


@dataclass(frozen=True)
class Identifier:
    kind: str  # one of KINDS
    text: str  # as typed

    @property
    def value(self) -> str:
        """As the ``identifiers`` field holds it (folded: lower case)."""
        return self.text.lower()

    @property
    def line_id(self) -> str | None:
        """As ``line_ids`` holds it (``hpscreg:wae009-a``), for registry kinds."""
        prefix = LINE_ID_PREFIX.get(self.kind)
        return f"{prefix}:{self.value}" if prefix else None

    def derivative_prefixes(self) -> list[str]:
        """Identifiers of lines derived from this one start with it and a hyphen."""
        if self.kind in ("hpscreg", "hipsci", "code"):
            return [f"{self.value}-"]
        return []

    def donor_patterns(self) -> list[str]:
        """Wildcard patterns (over folded identifiers) of lines from the same donor."""
        if self.kind == "hpscreg":
            match = HPSCREG.fullmatch(self.text)
            assert match
            return [f"{match['donor'].lower()}-*"]
        if self.kind == "hipsci":
            match = HIPSCI.fullmatch(self.text)
            assert match
            return [f"hpsi*-{match['donor'].lower()}_*"]
        return []


def classify(word: str) -> Identifier | None:
    """The identifier ``word`` is, by its shape, or None."""
    for kind, pattern in (
        ("hpscreg", HPSCREG),
        ("cellosaurus", CELLOSAURUS),
        ("biosamples", BIOSAMPLES),
        ("hipsci", HIPSCI),
    ):
        if pattern.fullmatch(word):
            return Identifier(kind, word)
    lot = LOT.fullmatch(word)
    if lot and (classify(lot["line"]) or code_like(lot["line"])):
        return Identifier("lot", word)
    return None


def code_like(word: str) -> bool:
    """Could be an identifier of some scheme: letters and digits, no spaces (``K1P53``,
    ``NSCCR-iPSC-0101``, ``ECACC`` numbers). Not a plain number of fewer than 5 digits."""
    if " " in word or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:#/-]*", word):
        return False
    has_digit = any(c.isdigit() for c in word)
    has_alpha = any(c.isalpha() for c in word)
    return has_digit and (has_alpha or len(word) >= 5)


def exact_word(word: str) -> bool:
    """Matched as typed, without typo tolerance: identifiers, codes and alleles (a digit or
    an underscore: ``G2019S``, ``CVCL_9773``) and symbols written in capitals (``HTT``)."""
    if any(c.isdigit() or c == "_" for c in word):
        return True
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def recognise(q: str) -> tuple[list[Identifier], list[Token]]:
    """The identifiers in a query (by shape, unquoted or quoted) and the other tokens."""
    ids: list[Identifier] = []
    rest: list[Token] = []
    for token in tokens(q):
        found = None if " " in token.text else classify(token.text)
        if found and found not in ids:
            ids.append(found)
        elif not found:
            rest.append(token)
    return ids, rest
