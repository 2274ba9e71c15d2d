"""A researcher's path in a real browser: search, pick facets, open a record, come back with
the filters kept, export; with and without JavaScript, by keyboard, on a small screen."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import uuid

import pytest
from playwright.sync_api import expect

from cellfed.serve import serve_in_thread
from portal.app import create_app
from search.aliases import drop_indices
from search.engine import SearchEngine
from tests.builders.alliance import index_alliance

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def portal_url(engine_url, tmp_path_factory):
    """The portal as a real HTTP server over an index of both member nodes."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    prefix = f"test-browser-{uuid.uuid4().hex[:8]}-"
    index_alliance(engine_url, prefix, tmp_path_factory.mktemp("alliance"))
    server = serve_in_thread(create_app({"SEARCH_URL": engine_url, "INDEX_PREFIX": prefix}))
    yield server.url
    server.stop()
    drop_indices(SearchEngine(engine_url), prefix)


def heading(page):
    return page.locator("#results-heading")


def facet_box(page, label: str):
    return page.locator("details.facet", has=page.locator("summary", has_text=label))


def test_search_pick_facets_open_a_record_and_go_back_with_filters_kept(new_page, portal_url):
    page = new_page()
    page.goto(portal_url + "/")
    page.get_by_label("Search words").fill("iPSC")
    page.get_by_label("Search words").press("Enter")
    page.wait_for_url(re.compile(r"q=iPSC"))
    # The word names a cell type, so it is read as that filter (a chip says so): the three
    # iPSC lines, not H9 whose bank's name merely contains the word.
    expect(heading(page)).to_contain_text("3 cell lines")

    country = facet_box(page, "Country")
    country.locator("summary").click()  # closed by default: open it like a user would
    country.get_by_label(re.compile(r"^DE")).check()  # JavaScript runs the search at once
    page.wait_for_url(re.compile(r"country=DE"))
    facet_box(page, "Quality control passed").get_by_label(
        re.compile("Mycoplasma negative")
    ).check()
    page.wait_for_url(re.compile(r"qc=mycoplasma_negative"))
    expect(heading(page)).to_contain_text("2 cell lines")
    filtered_url = page.url
    assert "q=iPSC" in filtered_url

    page.get_by_role("link", name="BIONi010-A", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("BIONi010-A")
    expect(page.get_by_role("heading", name="Quality control")).to_be_visible()
    expect(page.get_by_text("15 vials in 2 lots")).to_be_visible()

    page.go_back()
    assert page.url == filtered_url
    expect(heading(page)).to_contain_text("2 cell lines")
    expect(page.get_by_label("Search words")).to_have_value("iPSC")
    expect(facet_box(page, "Country").get_by_label(re.compile(r"^DE"))).to_be_checked()
    expect(
        facet_box(page, "Quality control passed").get_by_label(re.compile("Mycoplasma negative"))
    ).to_be_checked()

    # The "back to results" link on a record page returns to the same search too.
    page.get_by_role("link", name="UKKi011-A", exact=True).click()
    page.get_by_role("link", name="← Back to results").click()
    assert page.url == filtered_url


def test_without_javascript_the_apply_button_runs_the_search(new_page, portal_url):
    page = new_page(java_script_enabled=False)
    page.goto(portal_url + "/?q=iPSC")
    country = facet_box(page, "Country")
    country.locator("summary").click()
    country.get_by_label(re.compile(r"^GB")).check()
    assert "country=GB" not in page.url  # nothing happens until the form is sent
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"country=GB"))
    expect(heading(page)).to_contain_text("1 cell line")
    expect(page.get_by_role("link", name="HPSI0114i-kolf_2")).to_be_visible()


def test_export_downloads_the_current_results(new_page, portal_url):
    page = new_page()
    page.goto(portal_url + "/?kind=cell_line&country=GB")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert sorted(r["name"] for r in rows) == ["H9", "HPSI0114i-kolf_2", "MSC-LON-1"]

    with page.expect_download() as download:
        page.get_by_role("link", name="JSON").click()
    data = json.loads(download.value.path().read_text())
    assert data["total"] == 3 and {r["country"] for r in data["records"]} == {"GB"}


def test_a_line_held_twice_shows_both_sources_and_help_for_zero_results(new_page, portal_url):
    page = new_page()
    page.goto(portal_url + "/?q=H9")
    expect(heading(page)).to_contain_text("1 cell line")
    expect(page.get_by_text("Held by 2 biobanks:")).to_be_visible()

    page.goto(portal_url + "/?q=xarkinson")
    page.get_by_role("link", name="parkinson").click()
    page.wait_for_url(re.compile(r"q=parkinson"))
    expect(page.get_by_role("link", name="BIONi010-A", exact=True)).to_be_visible()


def test_keyboard_users_can_filter_and_keep_their_place(new_page, portal_url):
    page = new_page()
    page.goto(portal_url + "/?q=iPSC")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    box = page.get_by_label(re.compile("Mycoplasma negative"))
    box.focus()
    page.keyboard.press("Space")
    page.wait_for_url(re.compile(r"qc=mycoplasma_negative"))
    # After the new page loads, focus is back on the box that was changed.
    page.wait_for_function(
        "document.activeElement && document.activeElement.value === 'mycoplasma_negative'"
    )

    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, button')]
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == []


def test_pages_fit_a_small_screen(new_page, portal_url):
    page = new_page(viewport={"width": 375, "height": 800})
    for path in ("/?q=iPSC", "/records/berlin:cell_line:BIONi010-A"):
        page.goto(portal_url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
    page.goto(portal_url + "/?q=iPSC")
    # The filters start folded above the results, and open on demand.
    first_hit = page.locator("li.card").first.bounding_box()
    assert first_hit["y"] < 800, "the first result should be on the first screen"
    expect(facet_box(page, "Cell type").get_by_label(re.compile("^Stem cells"))).to_be_hidden()
    page.get_by_role("heading", name="Filters").click()
    expect(facet_box(page, "Cell type").get_by_label(re.compile("^Stem cells"))).to_be_visible()
