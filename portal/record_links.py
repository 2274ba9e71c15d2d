"""Links to record pages, many a search page: one ``url_for`` a page, then each record's
uid quoted onto it (``url_for`` costs more than the rest of a hit's card).

The text is what ``url_for("views.record_page", uid=...)`` gives: the route is
``/records/<path:uid>``, and Werkzeug's path converter quotes a uid with the safe
characters below (werkzeug/routing/converters.py, ``BaseConverter.to_url``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

PATH_SAFE = "!$&'()*+,/:;=@"


def record_links(placeholder_link: str) -> Callable[[str], str]:
    """The link builder for this request, from ``url_for("views.record_page", uid="-")``."""
    base = placeholder_link.removesuffix("-")

    def record_url(uid: str) -> str:
        return base + quote(str(uid), safe=PATH_SAFE)

    return record_url
