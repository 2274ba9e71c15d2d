"""The access-request story in a real browser, through Keycloak's real login page:
a researcher fills a cart from two biobanks and submits; the admin of one biobank logs in
at that node and approves; the researcher sees one part approved and one under review."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from search.aliases import drop_indices
from tests.access.conftest import start_alliance

pytestmark = [pytest.mark.browser, pytest.mark.keycloak, pytest.mark.engine]

DE_LINE = "de-stemcellbank:cell_line:BIONi010-C"
UK_LINE = "uk-hipsci:cell_line:WAe001-A"


@pytest.fixture(scope="module")
def alliance(idp, engine_url, tmp_path_factory):
    running = start_alliance(
        idp, engine_url, tmp_path_factory.mktemp("browser"), ("de-stemcellbank", "uk-hipsci")
    )
    yield running
    running.stop()
    drop_indices(running.engine, running.index_prefix)


def sign_in(page, username: str) -> None:
    """Keycloak's own login page, filled in as a person would."""
    expect(page.get_by_label("Username or email")).to_be_visible()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password", exact=True).fill(username)
    page.get_by_role("button", name="Sign In").click()


def submit_without_scripts(new_page, portal: str, uid: str, title: str, what: str, ethics: str):
    """Alice, scripts off: puts one record in the cart, logs in, and submits the request."""
    alice = new_page(java_script_enabled=False)
    alice.goto(f"{portal}/records/{uid}")
    alice.get_by_role("button", name="Add to request").click()
    alice.goto(f"{portal}/cart")
    alice.get_by_role("link", name="Log in").first.click()
    sign_in(alice, "alice")
    alice.get_by_label("Project title").fill(title)
    alice.get_by_label(re.compile("What you will do")).fill(what)
    alice.get_by_label("Ethics approval reference").fill(ethics)
    alice.get_by_role("button", name="Submit the request").click()
    return alice


def test_researcher_asks_two_biobanks_and_one_approves(alliance, new_page):
    portal = alliance.portal_url
    alice = new_page()

    # The cart fills before login, from two biobanks' record pages.
    for uid in (DE_LINE, UK_LINE):
        alice.goto(f"{portal}/records/{uid}")
        alice.get_by_role("button", name="Add to request").click()
        expect(alice.get_by_role("status")).to_contain_text("Added")
    alice.get_by_role("link", name=re.compile("Request cart")).click()
    expect(alice.locator("section.cart-group")).to_have_count(2)

    alice.get_by_role("link", name="Log in").first.click()
    sign_in(alice, "alice")
    expect(alice).to_have_url(re.compile(r"/cart$"))
    expect(alice.locator("section.cart-group")).to_have_count(2)  # kept across the login

    alice.get_by_label("Project title").fill("Organoids of the cortex")
    alice.get_by_label(re.compile("What you will do")).fill(
        "Differentiate into cortical organoids and compare neuronal migration."
    )
    alice.get_by_label(re.compile("Intended use")).select_option("DUO:0000006")
    alice.get_by_label("Ethics approval reference").fill("EC-2026-117")
    alice.get_by_role("button", name="Submit the request").click()
    expect(alice.get_by_role("status")).to_contain_text("Your request was submitted")
    request_url = alice.url

    alliance.deliver()  # the broker carries both parts to their nodes
    alice.reload()
    expect(alice.locator("[data-state=under_review]")).to_have_count(2)

    # Bob, admin of the German biobank, logs in at his node and approves.
    de = alliance.nodes["de-stemcellbank"].url
    bob = new_page()
    bob.goto(f"{de}/inbox")
    sign_in(bob, "bob")
    expect(bob).to_have_url(re.compile(r"/inbox$"))
    bob.get_by_role("link", name="Organoids of the cortex").click()
    expect(bob.locator("#part-state")).to_have_text("Under review")
    bob.get_by_label(re.compile("material transfer agreement")).check()
    bob.get_by_role("button", name="Approve", exact=True).click()
    expect(bob.get_by_role("status")).to_contain_text("Approved: saved")
    expect(bob.locator("#part-state")).to_have_text("Approved")

    alliance.deliver()  # the node reports the decision back to the portal
    alice.goto(request_url)
    de_part = alice.locator("section.part[data-biobank=de-ipsc-bank]")
    uk_part = alice.locator("section.part[data-biobank=uk-pscbank]")
    expect(de_part.locator("[data-state]")).to_have_text("Approved")
    expect(de_part).to_contain_text("A material transfer agreement (MTA) must be signed")
    expect(uk_part.locator("[data-state]")).to_have_text("Under review")
    # Submitted, received by each biobank, approved by one: four notifications.
    expect(alice.get_by_role("link", name=re.compile("Notifications"))).to_contain_text("4")


def test_the_whole_conversation_works_without_javascript(alliance, new_page):
    """Ask for information, answer, withdraw: plain forms all the way, scripts switched off."""
    portal, uk = alliance.portal_url, alliance.nodes["uk-hipsci"].url
    alice = submit_without_scripts(
        new_page,
        portal,
        UK_LINE,
        "Without scripts",
        "A request made with plain HTML forms.",
        "EC-1",
    )
    expect(alice.get_by_role("status")).to_contain_text("Your request was submitted")
    request_url = alice.url
    alliance.deliver()

    dave = new_page(java_script_enabled=False)
    dave.goto(f"{uk}/inbox")
    sign_in(dave, "dave")
    dave.get_by_role("link", name="Without scripts").click()
    dave.get_by_label("Question (required)").fill("Which differentiation protocol?")
    dave.get_by_role("button", name="Ask for information").click()
    expect(dave.locator("#part-state")).to_have_text("Information requested")
    alliance.deliver()

    alice.goto(request_url)
    part = alice.locator("section.part[data-biobank=uk-pscbank]")
    expect(part.locator("[data-state]")).to_have_text("Information requested")
    expect(part).to_contain_text("Which differentiation protocol?")
    part.get_by_label(re.compile("Your answer")).fill("Dual SMAD inhibition.")
    part.get_by_role("button", name="Send the information").click()
    expect(alice.get_by_text("waiting for the biobank's confirmation")).to_be_visible()
    alliance.deliver()
    alice.reload()
    expect(part.locator("[data-state]")).to_have_text("Under review")
    part.get_by_role("button", name="Withdraw this part").click()
    alliance.deliver()
    alice.reload()
    expect(part.locator("[data-state]")).to_have_text("Withdrawn")

    dave.reload()
    expect(dave.locator("#part-state")).to_have_text("Withdrawn")
    expect(dave.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
