"""Issue 11's whole path in Chromium, through Keycloak's real login page: alice asks two
biobanks for vials; the cart flags the line whose consent conflicts with her project before
she submits; bob holds vials and asks for an MTA; alice uploads her signed copy; bob
countersigns and ships; alice confirms receipt; search shows the lower stock; the other
biobank never answers, and once the clock has run (the escalation passes are given a later
``now``, as ``cellfed node|portal escalate --now`` does) carol, the alliance's operator, is
told by e-mail and sees it in the figures, and alice sees the part marked unresponsive.

Every MTA document is a real PDF that Chromium prints from a page the test writes. Alice's
browser runs the portal's scripts; bob's and carol's have them switched off."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from cellfed.config import PROJECT_ROOT
from cellfed.launch.mailsink import MailSink
from federation.node.importer import import_catalogue
from federation.node.inbox.escalation import node_escalation_pass
from federation.node.store import store_of
from federation.registry import Member
from portal.access.escalation import escalation_of
from schemas.consent import DIMENSIONS
from search.aliases import drop_indices
from search.indexer.sync import Indexer
from tests.access.conftest import Alliance, start_alliance
from tests.conftest import SmtpSink

pytestmark = [pytest.mark.browser, pytest.mark.keycloak, pytest.mark.engine]

DE, UK = "de-stemcellbank", "uk-hipsci"
DE_LINE, DE_LOT = f"{DE}:cell_line:BIONi010-B", "BIONi010-B-L01"  # 28 of the line's 64 vials
UK_LINE, UK_LOT = f"{UK}:cell_line:WAe009-A", "WAe009-A-L01"
UK_NAME = "H9 (WAe009-A)"
UK_CONTACT = "requests@hipsci.example.org"
CAROL = "carol@example.org"
ALLOWED = {name: "allowed" for name in DIMENSIONS}
SCOPES = {  # what each line's consent allows: the UK line excludes genetic modification
    (DE, "BIONi010-B"): ALLOWED,
    (UK, "WAe009-A"): ALLOWED | {"genetic_modification": "not_allowed"},
}
PROJECT = {  # alice's answers to the consent questions (label -> answer)
    "Is it research?": "yes",
    "Is it commercial (the results or material used for profit)?": "no",
    "Will the cells be genetically modified?": "yes",
    "Will cells or derivatives be transplanted into humans?": "no",
    "Will cells or derivatives be transplanted into animals?": "no",
    "Will genomes be sequenced and the data shared?": "no",
    "Will material be passed on to another country?": "no",
    "Is your institution not for profit?": "yes",
}
TITLE = "Edited cortical organoids"


@pytest.fixture(scope="module")
def mail() -> Iterator[SmtpSink]:
    """An SMTP sink for the whole story (the shared ``smtp_sink`` lives one test only)."""
    messages: list[dict] = []

    def keep(to: list[str], message) -> None:
        messages.append(
            {"to": to, "subject": str(message["Subject"]), "body": message.get_content()}
        )

    sink = MailSink(keep).start()
    yield SmtpSink(messages, sink.port)
    sink.stop()


def mark_consent(alliance: Alliance) -> None:
    """Each node states its line's consent scope (a re-import), and the index takes it."""
    for node_id in (DE, UK):
        doc = json.loads((PROJECT_ROOT / "config" / "demo" / f"{node_id}.json").read_text())
        doc = copy.deepcopy(doc)
        for line in doc["cell_lines"]:
            if (node_id, line["id"]) in SCOPES:
                line["access"] = {**line["access"], "consent_scope": SCOPES[node_id, line["id"]]}
        store = store_of(alliance.nodes[node_id].app)
        assert import_catalogue(store, doc, f"{node_id}-consent.json").ok
    reindex(alliance)


@pytest.fixture(scope="module")
def alliance(idp, engine_url, tmp_path_factory, mail) -> Iterator[Alliance]:
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": mail.port, "SMTP_FROM": "p@example.org"}
    running = start_alliance(
        idp,
        engine_url,
        tmp_path_factory.mktemp("bench-story"),
        (DE, UK),
        ALLIANCE_OPERATOR_EMAILS=[CAROL],
        **smtp,
    )
    uk = running.nodes[UK]
    uk.stop()  # the UK node mails its contact when it escalates
    uk.config.update(smtp, NODE_CONTACT_EMAIL=UK_CONTACT)
    uk.start()
    mark_consent(running)
    yield running
    running.stop()
    drop_indices(running.engine, running.index_prefix)


def reindex(alliance: Alliance) -> None:
    """One pass of the indexer over the nodes' feeds, as its daemon makes after a poke."""
    members = [Member(n, n, node.url) for n, node in alliance.nodes.items()]
    indexer = Indexer(alliance.engine, members, alliance.index_prefix, page_size=500, timeout=10)
    assert all(r.ok for r in indexer.sync_all())
    alliance.engine.refresh(f"{alliance.index_prefix}*")


def pdf(browser, words: str) -> bytes:
    """A real PDF: Chromium prints a one-page agreement written here."""
    page = browser.new_page()
    try:
        page.set_content(f"<h1>Material transfer agreement</h1><p>{words}</p>")
        return page.pdf()
    finally:
        page.close()


def downloaded(page: Page, link) -> bytes:
    """Click a document's link and read what the browser saved (served as an attachment)."""
    with page.expect_download() as download:
        link.click()
    return Path(download.value.path()).read_bytes()


def upload(name: str, data: bytes) -> dict:
    return {"name": name, "mimeType": "application/pdf", "buffer": data}


def sign_in(page: Page, username: str) -> None:
    """Keycloak's own login page, filled in as a person would."""
    expect(page.get_by_label("Username or email")).to_be_visible()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password", exact=True).fill(username)
    page.get_by_role("button", name="Sign In").click()


def cart_line(page: Page, name: str):
    return page.locator("li", has=page.get_by_role("link", name=name, exact=True))


def set_amount(page: Page, name: str, vials: str, lot: str) -> None:
    """Each line's amount fields are labelled with the line (a cart holds several)."""
    page.get_by_label(f"Vials of {name}", exact=True).fill(vials)
    page.get_by_label(f"Lot of {name}", exact=True).select_option(lot)
    page.get_by_role("button", name=f"Set the amount of {name}", exact=True).click()
    expect(page.get_by_label(f"Vials of {name}", exact=True)).to_have_value(vials)
    expect(page.get_by_label(f"Lot of {name}", exact=True)).to_have_value(lot)


def fill_project(page: Page) -> None:
    page.get_by_label("Project title").fill(TITLE)
    page.get_by_label(re.compile("What you will do")).fill(
        "Edit cortical organoids with CRISPR and compare neuronal migration."
    )
    page.get_by_label(re.compile("Intended use")).select_option("DUO:0000006")
    page.get_by_label("Ethics approval reference").fill("EC-2026-311")
    for question, answer in PROJECT.items():
        page.get_by_label(question, exact=True).select_option(answer)
    page.get_by_label("Your institution's country").select_option("DE")
    page.get_by_label("Your institution", exact=True).fill("Charité Berlin")


def alice_asks(alliance: Alliance, alice: Page) -> str:
    """Two lines in the cart with vials of a lot each; the check flags the UK line; submit."""
    portal = alliance.portal_url
    for uid in (DE_LINE, UK_LINE):
        alice.goto(f"{portal}/records/{uid}")
        alice.get_by_role("button", name="Add to request").click()
        expect(alice.get_by_role("status")).to_contain_text("Added")
    alice.get_by_role("link", name=re.compile("Request cart")).click()
    alice.get_by_role("link", name="Log in").first.click()
    sign_in(alice, "alice")
    expect(alice).to_have_url(re.compile(r"/cart$"))
    expect(cart_line(alice, "BIONi010-B")).to_contain_text(f"lot {DE_LOT}: 28 vials")
    set_amount(alice, "BIONi010-B", "3", DE_LOT)
    set_amount(alice, UK_NAME, "2", UK_LOT)

    fill_project(alice)
    alice.get_by_role("button", name=re.compile("Check my project")).click()
    flagged = cart_line(alice, UK_NAME).locator(".verdict")
    expect(flagged).to_contain_text("Incompatible with your project")
    expect(flagged).to_contain_text("the line's consent excludes genetic modification")
    expect(cart_line(alice, "BIONi010-B").locator(".verdict")).to_contain_text(
        "Compatible with your project"
    )
    expect(alice.get_by_label("Project title")).to_have_value(TITLE)  # what she typed is kept
    expect(alice.get_by_label("Will the cells be genetically modified?")).to_have_value("yes")

    alice.get_by_role("button", name="Submit the request").click()
    expect(alice.get_by_role("status")).to_contain_text("Your request was submitted")
    match = re.search(r"/requests/([0-9a-f]{32})", alice.url)
    assert match, alice.url
    return match.group(1)


def vials_in_search(alliance: Alliance, page: Page, count: int) -> None:
    """The search page's hit for the German line says how many vials are free."""
    page.goto(f"{alliance.portal_url}/?q=BIONi010-B")
    hit = page.locator("li.card", has=page.get_by_role("link", name="BIONi010-B", exact=True))
    expect(hit).to_contain_text(f"{count} vials")


def checklist(bob: Page):
    """The MTA's item in the part's conditions (the history names the condition too)."""
    items = bob.locator("#conditions + ul > li")
    return items.filter(has_text="A material transfer agreement (MTA) must be signed")


def bob_holds(alliance: Alliance, bob: Page) -> None:
    """Bob approves with an MTA and holds the 3 vials alice asked for, for ten days."""
    bob.goto(f"{alliance.nodes[DE].url}/inbox")
    sign_in(bob, "bob")
    expect(bob).to_have_url(re.compile(r"/inbox$"))
    bob.get_by_role("link", name=TITLE).click()
    expect(bob.locator("#part-state")).to_have_text("Under review")
    expect(bob.get_by_text(f"3 vial(s) of lot {DE_LOT}")).to_be_visible()
    bob.get_by_label(re.compile("material transfer agreement")).check()
    hold = bob.get_by_label(f"BIONi010-B, lot {DE_LOT}: vials to hold (28 free of 28)")
    expect(hold).to_have_value("3")  # prefilled with what alice asked
    until = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    bob.get_by_label("Hold until (YYYY-MM-DD)").fill(until)
    bob.get_by_role("button", name="Approve", exact=True).click()
    expect(bob.get_by_role("status")).to_contain_text("the vials are held")
    expect(bob.locator("#part-state")).to_have_text("Approved")
    held = bob.get_by_role("table", name="Vials held")
    expect(held.get_by_role("row").filter(has_text=DE_LOT)).to_contain_text("active")
    expect(checklist(bob)).to_contain_text("not met yet")
    expect(checklist(bob)).to_contain_text("The biobank's MTA document: missing")


def bob_adds(bob: Page, kind: str, name: str, data: bytes) -> None:
    """Bob saves one MTA document of the checklist (his MTA or his countersignature)."""
    bob.get_by_label("Evidence", exact=True).select_option(kind)
    bob.get_by_label("Document (PDF, for the MTA)").set_input_files(upload(name, data))
    bob.get_by_role("button", name="Save evidence").click()
    expect(bob.get_by_role("status")).to_contain_text("Evidence saved")


def de_part(alice: Page):
    return alice.locator("section.part").filter(
        has=alice.get_by_role("link", name="BIONi010-B", exact=True)
    )


def uk_part(alice: Page):
    return alice.locator("section.part").filter(
        has=alice.get_by_role("link", name=UK_NAME, exact=True)
    )


def the_mta_round_trip(alliance: Alliance, browser, alice: Page, bob: Page, request_url: str):
    """Bob's MTA reaches alice; her signed copy reaches bob; his countersignature meets it."""
    mta, signed, final = (
        pdf(browser, "Draft from the German biobank."),
        pdf(browser, "Signed by alice for her institution."),
        pdf(browser, "Countersigned by the German biobank."),
    )
    bob_adds(bob, "mta_document", "mta.pdf", mta)
    expect(checklist(bob)).to_contain_text("The researcher's signed copy: missing")
    alliance.deliver()

    alice.goto(request_url)
    part = de_part(alice)
    expect(part.locator("[data-state]")).to_have_text("Approved")
    expect(part).to_contain_text("Held for you until")
    document = part.get_by_role("link", name=re.compile(r"mta\.pdf"))
    expect(document).to_be_visible()
    assert downloaded(alice, document) == mta  # alice downloads bob's very document
    part.get_by_label("Your signed copy of the biobank's MTA (PDF)").set_input_files(
        upload("mta-signed.pdf", signed)
    )
    part.get_by_role("button", name="Send the signed MTA").click()
    expect(alice.get_by_role("status")).to_contain_text("Signed MTA sent to the biobank")
    alliance.deliver()

    bob.reload()
    expect(checklist(bob)).to_contain_text("The researcher's signed copy: mta-signed.pdf")
    copy_link = checklist(bob).get_by_role("link", name="mta-signed.pdf")
    assert downloaded(bob, copy_link) == signed  # alice's copy, fetched through the portal
    bob_adds(bob, "countersignature", "mta-final.pdf", final)
    expect(checklist(bob)).to_contain_text(
        "A material transfer agreement (MTA) must be signed: met"
    )


def bob_ships(bob: Page) -> None:
    bob.get_by_label("Carrier").fill("World Courier")
    bob.get_by_label("Tracking number").fill("WC 4711")
    expect(bob.get_by_label("Shipped on (YYYY-MM-DD)")).to_have_value(dt.date.today().isoformat())
    bob.get_by_label("Shipping conditions").select_option("dry_ice")
    sent = bob.get_by_label(f"BIONi010-B, lot {DE_LOT}: vials sent (at most 3 held)")
    expect(sent).to_have_value("3")
    bob.get_by_role("button", name="Record the shipment").click()
    expect(bob.get_by_role("status")).to_contain_text("Shipment recorded")
    expect(bob.locator("#part-state")).to_have_text("Shipped")
    expect(bob.locator("#shipment + p")).to_contain_text(f"3 vial(s) of lot {DE_LOT} of BIONi010-B")


def alice_receives(alliance: Alliance, alice: Page, request_url: str) -> None:
    alice.goto(request_url)
    part = de_part(alice)
    expect(part.locator("[data-state]")).to_have_text("Shipped")
    expect(part).to_contain_text("tracking number WC 4711")
    part.get_by_label("Received on (YYYY-MM-DD)").fill(dt.date.today().isoformat())
    part.get_by_label("Good: frozen, intact, as described").check()
    part.get_by_label("Note (optional)").fill("All vials frozen.")
    part.get_by_role("button", name="Confirm receipt").click()
    expect(alice.get_by_role("status").filter(has_text="Receipt sent to")).to_be_visible()
    alliance.deliver()
    alice.reload()
    expect(de_part(alice).locator("[data-state]")).to_have_text("Fulfilled")


def the_clock_runs_out(alliance: Alliance, mail: SmtpSink) -> None:
    """Sixty days on, the UK node reminds and tells its contact; the portal tells carol."""
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=60)
    assert node_escalation_pass(alliance.nodes[DE].app, later) == []  # fulfilled: no clock
    taken = node_escalation_pass(alliance.nodes[UK].app, later)
    assert [key for _, key in taken][-1] == "first_answer:contact"
    steps = [key for _, key in escalation_of(alliance.portal_app).run(later)]
    assert steps == ["first_answer:operators", "first_answer:unresponsive"]
    alliance.deliver()
    to_carol = [m for m in mail.messages if CAROL in m["to"]]
    assert len(to_carol) == 1
    assert "No answer from" in to_carol[0]["subject"] + to_carol[0]["body"]
    assert TITLE in to_carol[0]["subject"] + to_carol[0]["body"]
    to_contact = [m["subject"] for m in mail.messages if UK_CONTACT in m["to"]]
    assert any("has not answered" in subject for subject in to_contact)
    to_alice = [m["subject"] + m["body"] for m in mail.messages if "alice@example.org" in m["to"]]
    assert any("has not answered your request" in body for body in to_alice)


def test_from_cart_to_bench_and_the_silent_biobank_reaches_carol(alliance, browser, new_page, mail):
    portal = alliance.portal_url
    # alice's browser runs the portal's scripts; bob's and carol's do not: plain forms only.
    alice, bob = new_page(), new_page(java_script_enabled=False)
    vials_in_search(alliance, alice, 64)
    request_id = alice_asks(alliance, alice)
    request_url = f"{portal}/requests/{request_id}"
    alliance.deliver()  # the broker carries each part to its node
    alice.reload()
    expect(alice.locator("[data-state=under_review]")).to_have_count(2)
    expect(uk_part(alice)).to_contain_text(f"2 vial(s) of lot {UK_LOT}")

    bob_holds(alliance, bob)
    reindex(alliance)  # the node poked the indexer; its pass, here and now
    vials_in_search(alliance, alice, 61)  # 3 held of 64
    the_mta_round_trip(alliance, browser, alice, bob, request_url)
    bob_ships(bob)
    reindex(alliance)
    vials_in_search(alliance, alice, 61)  # shipped: gone from the lot for good
    alice.goto(f"{portal}/records/{DE_LINE}")
    lot_row = alice.get_by_role("row", name=re.compile(DE_LOT))
    expect(lot_row.get_by_role("cell").first).to_have_text("25")  # 28 less the 3 shipped
    alliance.deliver()
    alice_receives(alliance, alice, request_url)

    # The UK biobank never answers: the part waits on it until the clock has run out.
    expect(uk_part(alice).locator("[data-state]")).to_have_text("Under review")
    expect(uk_part(alice).locator("[data-waiting-on]")).to_have_attribute(
        "data-waiting-on", "biobank"
    )
    the_clock_runs_out(alliance, mail)
    alice.reload()
    expect(uk_part(alice).locator(".unresponsive")).to_contain_text(
        "has not answered past its response targets"
    )
    expect(uk_part(alice).locator(".unresponsive")).to_contain_text("operators were told")

    carol = new_page(java_script_enabled=False)
    carol.goto(f"{portal}/figures")
    sign_in(carol, "carol")
    expect(carol).to_have_url(re.compile(r"/figures"))
    [part] = [p for p in alliance.request(request_id).parts if p.node_id == UK]
    row = carol.locator(f"tr[data-biobank='{part.biobank_id}']")
    expect(row.get_by_role("cell").nth(4)).to_have_text("1")  # unanswered
    expect(row.get_by_role("cell").nth(5)).to_have_text("1")  # unresponsive
