"""Co-applicants in a real browser with scripts switched off, through Keycloak's real login
page: Alice adds Erin by e-mail with the labelled form on her request's page, Erin signs in,
reads the request and writes to the biobank, and loses it when Alice removes her."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from search.aliases import drop_indices
from tests.access.conftest import start_alliance
from tests.browser.test_access_requests import sign_in, submit_without_scripts

pytestmark = [pytest.mark.browser, pytest.mark.keycloak, pytest.mark.engine]

UK_LINE = "uk-hipsci:cell_line:WAe001-A"  # biobank uk-pscbank (dave's)


@pytest.fixture(scope="module")
def alliance(idp, engine_url, tmp_path_factory):
    running = start_alliance(idp, engine_url, tmp_path_factory.mktemp("co"), ("uk-hipsci",))
    yield running
    running.stop()
    drop_indices(running.engine, running.index_prefix)


def test_a_co_applicant_is_added_reads_writes_and_is_removed_without_javascript(alliance, new_page):
    portal = alliance.portal_url
    alice = submit_without_scripts(
        new_page, portal, UK_LINE, "Shared with a colleague", "Two labs study one line together.",
        "EC-7",
    )  # fmt: skip
    request_url = alice.url

    alice.get_by_label(re.compile("Add a co-applicant by the e-mail address")).fill(
        "erin@example.org"
    )
    alice.get_by_role("button", name="Add co-applicant").click()
    expect(alice.get_by_role("status")).to_contain_text("erin@example.org is a co-applicant now")
    expect(alice.locator("#co-applicants")).to_contain_text("not signed in yet")
    alliance.deliver()

    erin = new_page(java_script_enabled=False)
    erin.goto(request_url)
    sign_in(erin, "erin")
    expect(erin).to_have_url(request_url)
    expect(erin.locator("#co-applicants")).to_contain_text("You are a co-applicant")
    part = erin.locator("section.part[data-biobank=uk-pscbank]")
    expect(part.get_by_role("button", name="Withdraw this part")).to_have_count(0)
    expect(erin.get_by_role("button", name="Add co-applicant")).to_have_count(0)
    part.get_by_label(re.compile("Message to")).fill("Erin here: I will run the assays.")
    part.get_by_role("button", name="Send a message").click()
    expect(erin.get_by_role("status")).to_contain_text("Sent to the biobank")
    expect(part).to_contain_text("Erin here: I will run the assays.")

    alice.reload()
    expect(alice.locator("#co-applicants")).to_contain_text("Erin Researcher")
    alice.get_by_role("button", name="Remove Erin Researcher as co-applicant").click()
    expect(alice.get_by_role("status")).to_contain_text("is no longer a co-applicant")
    erin.goto(request_url)
    expect(erin.get_by_role("alert")).to_contain_text("404")
