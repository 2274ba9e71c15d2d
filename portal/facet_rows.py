"""One value's row of the search page's filter panel (a checkbox and its label).

The panel has a row for every value of every facet, often a hundred a page, and rendering
each through the template's expressions cost more than building the same text here.
``search.html`` calls :func:`facet_value` once a row; the HTML is what the template wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

# Indentation of the rows in search.html, kept so the page's text stays the same.
_ROW = "\n            "
_INSIDE = "\n              "


def facet_value(name: str, value: Mapping[str, Any], index: int) -> Markup:
    """The row of the ``index``-th value (from 1) of facet ``name``."""
    fid = escape(f"f-{name}-{index}")
    checked = "checked" if value.get("selected") else ""
    return Markup(
        f'{_ROW}<div class="facet-value depth-{escape(value.get("depth") or 0)}">'
        f'{_INSIDE}<input type="checkbox" id="{fid}" name="{escape(name)}" '
        f'value="{escape(value.get("value", ""))}" {checked}>'
        f'{_INSIDE}<label for="{fid}">{escape(value.get("label", ""))} '
        f'<span class="count">{escape(value.get("count", ""))}</span></label>'
        f"{_ROW}</div>"
    )
