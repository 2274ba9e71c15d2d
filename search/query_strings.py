"""Query strings of the links a search page shows (chips, bands, pages, suggestions).

A page links to the same search many times over, one parameter changed each time, so the
same few values are quoted again and again: each is quoted once (an LRU cache of
``quote_plus``), then pairs are joined. The text is exactly what ``urllib.parse.urlencode``
gives for a list of pairs. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

# Bounded: values come from URLs (each at most a few hundred characters, search/facets.py).
_quoted = lru_cache(maxsize=8192)(quote_plus)


def query_string(pairs: Iterable[tuple[Any, Any]]) -> str:
    """``urlencode(pairs)`` for (name, value) pairs of strings or numbers."""
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in pairs)


def _quote(value: Any) -> str:
    return _quoted(value if isinstance(value, str) else str(value))
