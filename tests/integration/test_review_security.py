"""The security review's §10.12 output-encoding checks (L3, L4, L5) end to end: a member node
whose line carries markup and a formula, served over HTTP, synced by the indexer into a real
OpenSearch, and the portal's search page, record page and CSV export as a browser and a
spreadsheet would get them."""

from __future__ import annotations

import csv
import io
import re

import pytest

from portal.app import create_app as create_portal_app
from search.engine import SearchEngine
from search.indexer.sync import Indexer
from tests.builders import catalogue, cell_line

pytestmark = pytest.mark.engine

MARKUP = "zebraxss <img src=x onerror=alert(1)> <!--<script>"
FORMULA = "kolf;=1+1"
UID = "hostile:cell_line:XSS1"


@pytest.fixture
def portal(start_node, engine_url, index_prefix):
    line = cell_line("XSS1", name=FORMULA, description=f"{MARKUP} reprogrammed kolf line")
    node = start_node("hostile", catalogue(line))
    [report] = Indexer(SearchEngine(engine_url), [node.member], index_prefix, timeout=5).sync_all()
    assert report.ok and not report.quarantined, report.summary()
    app = create_portal_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": index_prefix})
    return app.test_client()


def test_a_highlighted_description_is_text_inside_its_marks(portal):
    page = portal.get("/?q=zebraxss")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<mark>zebraxss</mark>" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html and "<!--<script>" not in html


def test_the_record_page_keeps_its_body_after_the_json_ld(portal):
    page = portal.get(f"/records/{UID}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    [block] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert "zebraxss" in block and not set(block) & set("<>&")  # \u003c etc.
    after = html[html.index(block) + len(block) :]
    assert after.startswith("</script>") and "</footer>" in after  # the page is whole
    assert "<img src=x" not in html and "<!--<script>" not in html.replace(block, "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_csv_export_defuses_a_formula_after_a_semicolon(portal):
    resp = portal.get("/api/v1/export.csv?q=kolf")
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    header, *rows = list(csv.reader(io.StringIO(text)))
    [row] = [r for r in rows if r[0] == UID]
    assert dict(zip(header, row, strict=True))["name"] == "kolf;'=1+1"
    assert '"kolf;\'=1+1"' in text  # quoted: Excel's ";" locales keep it in one cell
    assert ";=1+1" not in text
