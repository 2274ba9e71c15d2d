"""Terms that match, wired in: the cart's verdicts and the submission's refusal at the portal
(portal/access/terms.py), and the node's own check and guard on approving
(federation/node/inbox/terms.py). Real apps on SQLite; the portal's catalogue lookup is a
dict of search documents, as in test_access_schemas.py (the engine's side is tested in
tests/access/test_terms.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from werkzeug.datastructures import MultiDict

from federation.database import database_engine
from federation.node.importer import import_catalogue
from federation.node.inbox.holds import approve_with_holds
from federation.node.inbox.service import Acting, inbox_of
from federation.node.store import store_of
from federation.outbox import Outbox
from federation.registry import Member
from federation.web.login import User
from portal.access.attachments import AttachmentStore
from portal.access.models import AccessRequest, PortalBase, PortalOutbox, RequestPart
from portal.access.service import AccessService, SubmissionInvalid
from portal.access.terms import cart_context, project_terms
from portal.app import create_app as create_portal_app
from schemas.access import PartSchema
from schemas.consent import DIMENSIONS
from schemas.lifecycle import Actor, TransitionRefused
from search.indexer.derived import access_fields
from tests.builders import BIOBANK, catalogue, cell_line
from tests.builders.sent_part import sent_part

CN = "cn-hgr-2019"
ALL_ALLOWED = {name: "allowed" for name in DIMENSIONS}
NO_MODIFICATION = {**ALL_ALLOWED, "genetic_modification": "not_allowed"}
TERMS = {
    "commercial_use": False,
    "duo_permission": "DUO:0000042",
    "consent_scope": NO_MODIFICATION,
}
HGR_TERMS = {**TERMS, "consent_scope": ALL_ALLOWED, "export_rules": [CN]}
ALICE = User(
    "https://idp.example.org", "s1", "Alice", "alice@example.org", frozenset(), frozenset()
)


def doc(local_id: str, access: dict[str, Any], country: str = "DE") -> dict[str, Any]:
    """A search document as the indexer writes it (the effective terms via access_fields)."""
    return {
        "kind": "cell_line",
        "name": local_id,
        "local_id": local_id,
        "node_id": "n1",
        "biobank_id": "bb-berlin",
        "biobank_name": "Berlin iPSC Bank",
        "country": country,
        **access_fields({"duo_modifiers": [], **access}),
    }


FORM = {
    "title": "Organoids",
    "description": "Derive cortical organoids to study neuronal migration defects.",
    "intended_use": "DUO:0000006",
    "ethics_ref": "EC-2026-042",
    "country": "DE",
    "institution": "Charité Berlin",
    **{f"consent_{name}": "no" for name in [*DIMENSIONS, "not_for_profit"]},
    "consent_research_use": "yes",
    "consent_not_for_profit": "yes",
}


def project(**form: str) -> dict[str, Any]:
    data = {**FORM, **form}
    return {
        **{k: data[k] for k in ("title", "description", "intended_use", "ethics_ref")},
        **project_terms(MultiDict(data)),
    }


# -- the portal --------------------------------------------------------------------------
def never_sent(message) -> None:
    raise AssertionError("these tests run no delivery; only what is queued counts")


@pytest.fixture
def portal(tmp_path):
    engine = database_engine(f"sqlite:///{tmp_path / 'portal.sqlite3'}")
    PortalBase.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    outbox = Outbox(PortalOutbox, sessions, {"deliver_part": never_sent})
    docs = {
        "n1:cell_line:L1": doc("L1", TERMS),
        "n1:cell_line:HGR1": doc("HGR1", HGR_TERMS, country="CN"),
    }
    members = [Member("n1", "Node one", "https://n1.example.org")]
    files = AttachmentStore(tmp_path / "files")
    service = AccessService(sessions, outbox, files, docs.get, lambda: members)
    yield service, docs
    engine.dispose()


def test_the_cart_shows_each_items_verdict_for_the_declared_project(portal):
    service, _ = portal
    uids = ["n1:cell_line:L1", "n1:cell_line:HGR1"]
    form = MultiDict({**FORM, "consent_genetic_modification": "yes"})
    context = cart_context(service.lookup, uids, form)
    assert context["terms_problems"] == []
    line = context["verdicts"]["n1:cell_line:L1"]
    assert line["outcome"] == "incompatible"
    assert line["reasons"] == [
        "the line's consent excludes genetic modification; "
        "the project involves genetic modification"
    ]
    hgr = context["verdicts"]["n1:cell_line:HGR1"]
    assert hgr["requirements"][0]["rule"] == CN and hgr["requirements"][0]["reference"] is None
    assert [r.id for r in context["cart_rules"]] == [CN]
    assert cart_context(service.lookup, uids, None)["verdicts"] == {}


def test_a_half_answered_declaration_is_named_not_guessed(portal):
    service, _ = portal
    form = MultiDict({**FORM, "consent_commercial_use": ""})
    context = cart_context(service.lookup, ["n1:cell_line:L1"], form)
    assert context["verdicts"] == {}
    assert context["terms_problems"] == ["consent.commercial_use: Missing data for required field."]


def count(service: AccessService) -> tuple[int, int]:
    with service.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(AccessRequest)),
            session.scalar(select(func.count()).select_from(RequestPart)),
        )


def test_a_missing_approval_reference_refuses_the_submission_and_stores_nothing(portal):
    service, _ = portal
    with pytest.raises(SubmissionInvalid) as refused:
        service.submit(ALICE, project(), ["n1:cell_line:HGR1"], [])
    [problem] = refused.value.problems
    assert problem.startswith(f"jurisdiction_references.{CN}: Human genetic resources approval")
    assert "the requester is in DE, outside CN" in problem
    assert count(service) == (0, 0)
    request_id = service.submit(
        ALICE, project(hgr_approval_reference="HGR-2026-0118"), ["n1:cell_line:HGR1"], []
    )
    [part] = service.request_of(ALICE, request_id).parts
    assert count(service) == (1, 1) and part.items[0]["id"] == "HGR1"


def test_the_check_button_renders_the_verdicts_without_javascript(tmp_path):
    app = create_portal_app({"PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"})
    docs = {"n1:cell_line:L1": doc("L1", TERMS)}
    app.extensions["cellfed.access"].service.lookup = docs.get
    client = app.test_client()
    with client.session_transaction() as session:
        session["_csrf"] = token = "a-csrf-token-of-this-session"
        session["cart"] = ["n1:cell_line:L1"]
    form = {**FORM, "consent_genetic_modification": "yes", "csrf_token": token}
    page = client.post("/cart/check", data=form)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="verdict verdict-incompatible"' in html
    assert "the line&#39;s consent excludes genetic modification" in html


# -- the node ----------------------------------------------------------------------------
def part(items: list[str], **project_form: str) -> dict[str, Any]:
    return PartSchema().load(
        sent_part(
            "c" * 32,
            "d" * 32,
            {**project(**project_form), "disease": None, "commercial": False},
            [{"kind": "cell_line", "id": i, "name": i} for i in items],
        )
    )


@pytest.fixture
def inbox(node_app):
    lines = [cell_line("L1", access=TERMS), cell_line("HGR1", access=HGR_TERMS)]
    cn_bank = {**BIOBANK, "country": "CN"}
    assert import_catalogue(store_of(node_app), catalogue(*lines, biobank=cn_bank), "test").ok
    return inbox_of(node_app)


BOB = Acting(Actor.BIOBANK, "Bob", "bob-sub")


@pytest.fixture(params=["approve", "approve with holds"])
def approve(request):
    """Both ways a node's admin approves: the plain decision, and the approval that holds
    vials (inbox/holds.py, the part page's form): each checks the terms the same way."""

    def plain(inbox, **kw: Any) -> dict[str, Any]:
        return inbox.decide("c" * 32, {"bb-berlin"}, BOB, "approve", **kw)

    def with_holds(inbox, **kw: Any) -> dict[str, Any]:
        return approve_with_holds(inbox, "c" * 32, {"bb-berlin"}, BOB, [], None, **kw)

    return plain if request.param == "approve" else with_holds


def test_an_incompatible_item_cannot_be_approved_where_the_policy_allows_no_override(
    inbox, approve
):
    inbox.receive(part(["L1"], consent_genetic_modification="yes"))
    with pytest.raises(TransitionRefused, match="L1 is incompatible .* does not allow"):
        approve(inbox, override_reason="we trust them")
    assert inbox.part("c" * 32, {"bb-berlin"}).state == "under_review"


def test_with_override_allowed_the_admin_must_write_the_reason_kept_in_the_event(inbox, approve):
    inbox.consent_override_allowed = True
    inbox.receive(part(["L1"], consent_genetic_modification="yes"))
    with pytest.raises(TransitionRefused, match="write the reason"):
        approve(inbox, text="Enjoy.", override_reason="  ")
    event = approve(inbox, text="Enjoy.", override_reason="Donor re-consented in 2026.")
    assert event["state"] == "approved"
    assert event["text"] == (
        "Enjoy.\n\nApproved although the terms do not match (L1): Donor re-consented in 2026."
    )


def test_a_compatible_item_is_approved_as_before(inbox, approve):
    inbox.receive(part(["L1"]))
    assert approve(inbox)["state"] == "approved"


def test_the_node_checks_references_on_its_own_records(inbox, approve):
    # The portal's copy of the terms may lag: the node refuses what its own record requires.
    inbox.receive(part(["HGR1"]))
    with pytest.raises(TransitionRefused, match="no reference for HGR1: Human genetic"):
        approve(inbox)


def test_with_the_reference_the_admin_sees_it_and_may_approve(inbox, node_app, approve):
    from federation.node.inbox.terms import part_context

    inbox.receive(part(["HGR1"], hgr_approval_reference="HGR-2026-0118"))
    payload = inbox.part("c" * 32, {"bb-berlin"}).payload
    [(item, verdict)] = part_context(inbox.store, payload, False)["item_verdicts"]
    assert item["id"] == "HGR1"
    assert verdict["requirements"][0]["reference"] == "HGR-2026-0118"
    assert approve(inbox)["state"] == "approved"
