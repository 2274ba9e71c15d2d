"""Requests that never stall, on real parts (Keycloak, the engine, two member nodes, the
portal, a real SMTP sink): one biobank answers, the other does not, and the escalation climbs
from its admins to its contact to the alliance's operator carol; alice sees whom each part
waits on, is told, and keeps waiting; the figures show it, each to whom they belong.
The clock is given to each pass (``now``), as ``cellfed node|portal escalate --now`` does."""

from __future__ import annotations

import datetime as dt

import pytest

from federation.node.inbox.escalation import node_escalation_pass
from portal.access.escalation import escalation_of
from search.aliases import drop_indices
from tests.access.conftest import csrf, login, request_id_from, start_alliance, submit_request

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

DE_LINE = "de-stemcellbank:cell_line:BIONi010-B"
UK_LINE = "uk-hipsci:cell_line:WAe009-A"
UK_CONTACT = "requests@hipsci.example.org"


@pytest.fixture
def alliance(idp, engine_url, tmp_path, smtp_sink):
    mail = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_sink.port, "SMTP_FROM": "p@example.org"}
    running = start_alliance(
        idp,
        engine_url,
        tmp_path,
        ("de-stemcellbank", "uk-hipsci"),
        ALLIANCE_OPERATOR_EMAILS=["carol@example.org"],
        **mail,
    )
    uk = running.nodes["uk-hipsci"]
    uk.stop()
    uk.config.update(mail, NODE_CONTACT_EMAIL=UK_CONTACT)
    uk.start()
    yield running
    running.stop()
    drop_indices(running.engine, running.index_prefix)


def mail_to(smtp_sink, address: str) -> list[str]:
    return [f"{m['subject']}\n{m['body']}" for m in smtp_sink.messages if address in m["to"]]


def test_the_unanswered_biobank_is_escalated_to_carol(alliance, smtp_sink):
    portal = alliance.portal_url
    alice = login(portal, "alice")
    request_id = request_id_from(submit_request(alice, portal, [DE_LINE, UK_LINE]))
    alliance.deliver()
    parts = {p.node_id: p for p in alliance.request(request_id).parts}
    de_url, de_part, uk_part = (
        alliance.nodes["de-stemcellbank"].url,
        parts["de-stemcellbank"],
        parts["uk-hipsci"],
    )

    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    assert page.count('data-waiting-on="biobank"') == 2

    bob = login(de_url, "bob")  # the German biobank answers
    token = csrf(bob, f"{de_url}/inbox/{de_part.id}")
    asked = bob.post(
        f"{de_url}/inbox/{de_part.id}/request_info",
        data={"text": "Which passage do you need?", "csrf_token": token},
        timeout=30,
    )
    assert asked.status_code == 200
    alliance.deliver()

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=60)  # far past every step
    uk_app = alliance.nodes["uk-hipsci"].app
    de_app = alliance.nodes["de-stemcellbank"].app
    taken = node_escalation_pass(uk_app, later)
    assert [key for _, key in taken] == ["first_answer:remind:3", "first_answer:contact"]
    assert node_escalation_pass(de_app, later) == []  # it waits on alice, not on the bank
    portal_steps = escalation_of(alliance.portal_app).run(later)
    assert portal_steps == [
        (uk_part.id, "first_answer:operators"),
        (uk_part.id, "first_answer:unresponsive"),
    ]
    assert escalation_of(alliance.portal_app).run(later) == []  # nothing twice
    alliance.deliver()

    [carol_mail] = mail_to(smtp_sink, "carol@example.org")
    assert "No answer from" in carol_mail and "Neurodevelopment organoids" in carol_mail
    uk_mail = mail_to(smtp_sink, UK_CONTACT)
    assert any(m.startswith("Reminder 3:") for m in uk_mail)  # no admins' mailbox: the contact
    assert any("has not answered" in m for m in uk_mail)
    assert any(
        "has not answered your request" in m for m in mail_to(smtp_sink, "alice@example.org")
    )

    page = alice.get(f"{portal}/requests/{request_id}", timeout=30).text
    assert 'data-waiting-on="researcher"' in page  # the German part waits on alice's answer
    assert "has not answered past its response targets" in page
    waiting = alice.get(f"{portal}/api/v1/requests/{request_id}/waiting", timeout=30).json()
    by_node = {p["node_id"]: p for p in waiting["parts"]}
    assert by_node["de-stemcellbank"]["waiting_on"] == "researcher"
    assert by_node["uk-hipsci"]["unresponsive_at"] is not None
    kept = alice.post(
        f"{portal}/requests/{request_id}/parts/{uk_part.id}/keep-waiting",
        data={"csrf_token": csrf(alice, f"{portal}/requests/{request_id}")},
        timeout=30,
    )
    assert kept.status_code == 200 and "You chose to keep waiting" in kept.text

    carol = login(portal, "carol")
    figures = carol.get(f"{portal}/api/v1/figures", timeout=30).json()
    uk_row = next(r for r in figures["biobanks"] if r["node_id"] == "uk-hipsci")
    assert (uk_row["unresponsive"], uk_row["unanswered"]) == (1, 1)
    assert figures["alliance"]["requests_received"] == 1
    assert "uk-hipsci" in carol.get(f"{portal}/figures", timeout=30).text

    bob_portal = login(portal, "bob")
    mine = bob_portal.get(f"{portal}/api/v1/figures", timeout=30).json()
    assert {r["node_id"] for r in mine["biobanks"]} == {"de-stemcellbank"}
    assert mine["alliance"] is None
    assert alice.get(f"{portal}/api/v1/figures", timeout=30).status_code == 403
