"""Who may see and do what, on real parts: object-level checks on every object endpoint
(another user gets 404 or 403), tokens the nodes must refuse, forged forms, bad uploads and
transitions the state machine forbids. Each refusal must leave everything as it was."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from federation.trust import ExpiredToken, TokenVerifier
from federation.web.login import User
from portal.access.models import AccessRequest, Attachment, PortalOutbox
from tests.access.conftest import (
    Alliance,
    LoopbackSession,
    csrf,
    login,
    machine_token,
    request_id_from,
    submit_request,
)

pytestmark = [pytest.mark.keycloak, pytest.mark.engine]

DE_LINE = "de-stemcellbank:cell_line:UKBi001-A"
UK_PSC_LINE = "uk-hipsci:cell_line:WAe007-A"  # biobank uk-pscbank (dave's)
UK_HIPSCI_LINE = "uk-hipsci:cell_line:HPSI0114i-kolf_2"  # biobank uk-hipsci-resource
PDF = b"%PDF-1.7\n% ethics approval\n%%EOF\n"


@pytest.fixture(scope="module")
def people(alliance: Alliance) -> dict[str, requests.Session]:
    return {name: login(alliance.portal_url, name) for name in ("alice", "erin", "bob", "carol")}


@pytest.fixture(scope="module")
def alices_request(alliance: Alliance, people) -> dict:
    """One request of alice's to three biobanks (two at the UK node), with an attachment."""
    resp = submit_request(
        people["alice"],
        alliance.portal_url,
        [DE_LINE, UK_PSC_LINE, UK_HIPSCI_LINE],
        title="iPSC-derived microglia",
        files=[("ethics.pdf", PDF)],
    )
    request_id = request_id_from(resp)
    alliance.deliver()
    with alliance.access.sessions() as session:
        row = session.get(AccessRequest, request_id)
        owner = User(row.owner_iss, row.owner_sub, row.owner_name, None, frozenset(), frozenset())
    req = alliance.access.service.request_of(owner, request_id)
    return {
        "id": request_id,
        "owner": owner,
        "parts": {p.biobank_id: p.id for p in req.parts},
        "attachment": req.attachments[0].id,
    }


def state_at_node(alliance: Alliance, node: str, biobank: str, part_id: str) -> str:
    return alliance.nodes[node].inbox.part(part_id, {biobank}).state


# -- researchers see only their own requests ---------------------------------------------
def test_another_researcher_cannot_see_or_touch_a_request(alliance, people, alices_request):
    portal, erin, alice = alliance.portal_url, people["erin"], people["alice"]
    rid, part = alices_request["id"], alices_request["parts"]["de-ipsc-bank"]
    assert alice.get(f"{portal}/requests/{rid}", timeout=30).status_code == 200

    assert erin.get(f"{portal}/requests/{rid}", timeout=30).status_code == 404
    assert rid not in erin.get(f"{portal}/requests", timeout=30).text
    attachment = f"{portal}/requests/{rid}/attachments/{alices_request['attachment']}"
    assert erin.get(attachment, timeout=30).status_code == 404
    assert alice.get(attachment, timeout=30).content == PDF
    token = csrf(erin, f"{portal}/cart")
    for action in ("withdraw", "message", "provide_info"):
        resp = erin.post(
            f"{portal}/requests/{rid}/parts/{part}/{action}",
            data={"text": "mine now", "csrf_token": token},
            timeout=30,
        )
        assert resp.status_code == 404, action
    # Nothing happened to alice's part.
    alliance.deliver()
    assert state_at_node(alliance, "de-stemcellbank", "de-ipsc-bank", part) == "under_review"


def test_a_part_id_does_not_open_another_request(alliance, people, alices_request):
    """Pairing one's own request id with someone else's part id does not work either."""
    portal, erin = alliance.portal_url, people["erin"]
    resp = submit_request(erin, portal, ["cn-nsccr:cell_line:WAe009-A"], title="Erin's own")
    own = request_id_from(resp)
    alices_part = alices_request["parts"]["de-ipsc-bank"]
    resp = erin.post(
        f"{portal}/requests/{own}/parts/{alices_part}/withdraw",
        data={"csrf_token": csrf(erin, f"{portal}/cart")},
        timeout=30,
    )
    assert resp.status_code == 404


def test_pages_need_a_login(alliance):
    anonymous = LoopbackSession()
    for path in ("/requests", "/notifications", "/admin/deliveries"):
        resp = anonymous.get(f"{alliance.portal_url}{path}", allow_redirects=False, timeout=30)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], path


def test_only_operators_see_the_broker(alliance, people):
    assert people["alice"].get(f"{alliance.portal_url}/admin/deliveries").status_code == 403
    page = people["carol"].get(f"{alliance.portal_url}/admin/deliveries", timeout=30)
    assert page.status_code == 200 and "Recently delivered" in page.text


def test_only_researchers_submit(alliance, people):
    resp = submit_request(people["bob"], alliance.portal_url, [DE_LINE], title="Bob's")
    assert resp.status_code == 403 and "Only researchers" in resp.text


# -- admins see only their biobanks' parts -----------------------------------------------
def test_an_admin_sees_only_parts_of_their_biobanks(alliance, alices_request):
    uk = alliance.nodes["uk-hipsci"].url
    dave = login(uk, "dave")  # administers uk-pscbank, not uk-hipsci-resource
    parts = alices_request["parts"]
    mine, other = parts["uk-pscbank"], parts["uk-hipsci-resource"]
    inbox = dave.get(f"{uk}/inbox", timeout=30).text
    assert mine in inbox and other not in inbox
    assert dave.get(f"{uk}/inbox/{mine}", timeout=30).status_code == 200
    assert dave.get(f"{uk}/inbox/{other}", timeout=30).status_code == 404
    token = csrf(dave, f"{uk}/inbox/{mine}")
    resp = dave.post(f"{uk}/inbox/{other}/approve", data={"csrf_token": token}, timeout=30)
    assert resp.status_code == 404
    attachment = alices_request["attachment"]
    assert dave.get(f"{uk}/inbox/{other}/attachments/{attachment}").status_code == 404
    got = dave.get(f"{uk}/inbox/{mine}/attachments/{attachment}", timeout=30)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert state_at_node(alliance, "uk-hipsci", "uk-hipsci-resource", other) == "under_review"


def test_an_admin_of_another_node_gets_nothing_here(alliance, alices_request):
    uk = alliance.nodes["uk-hipsci"].url
    bob = login(uk, "bob")  # administers biobanks at de-stemcellbank only
    resp = bob.get(f"{uk}/inbox", timeout=30)
    assert resp.status_code == 403 and "administers no biobank" in resp.text
    part = alices_request["parts"]["uk-pscbank"]
    assert bob.get(f"{uk}/inbox/{part}", timeout=30).status_code == 403
    alice = login(uk, "alice")
    assert alice.get(f"{uk}/inbox/{part}", timeout=30).status_code == 403


def test_the_alliance_operator_runs_each_demo_nodes_admin_pages_and_dave_one_biobank(alliance):
    """node-operator counts at a node with ``<node>:*`` in the biobanks claim: the realm gives
    carol one for every demo node; dave (a biobank admin) stays an admin of his biobank."""
    for node_id, node in alliance.nodes.items():
        page = login(node.url, "carol").get(f"{node.url}/admin/", timeout=30)
        assert page.status_code == 200 and "node operator" in page.text, node_id
    uk = alliance.nodes["uk-hipsci"].url
    page = login(uk, "dave").get(f"{uk}/admin/", timeout=30)
    assert page.status_code == 200 and "administrator of uk-pscbank" in page.text


def test_a_node_reaches_only_its_own_parts_at_the_portal(alliance, alices_request):
    portal = alliance.portal_url
    de_part = alices_request["parts"]["de-ipsc-bank"]
    cn_token = machine_token(alliance.idp, "cn-nsccr")
    event = {
        "id": "f" * 32,
        "part_id": de_part,
        "seq": 99,
        "type": "approve",
        "actor": "biobank",
        "actor_name": "Mallory",
        "at": "2026-01-01T00:00:00+00:00",
        "state": "approved",
    }
    auth = {"Authorization": f"Bearer {cn_token}"}
    resp = requests.post(f"{portal}/api/v1/access/events", json=event, headers=auth, timeout=30)
    assert resp.status_code == 404
    attachment = alices_request["attachment"]
    url = f"{portal}/api/v1/access/parts/{de_part}/attachments/{attachment}"
    assert requests.get(url, headers=auth, timeout=30).status_code == 404
    de_token = machine_token(alliance.idp, "de-stemcellbank")
    got = requests.get(url, headers={"Authorization": f"Bearer {de_token}"}, timeout=30)
    assert got.status_code == 200 and got.content == PDF
    # A node speaks for its biobank, not for the researcher: it cannot invent her actions.
    own = {**event, "part_id": de_part, "id": "e" * 32, "type": "withdraw"}
    own.update(actor="researcher", actor_name="Alice Researcher", state="withdrawn")
    de_auth = {"Authorization": f"Bearer {machine_token(alliance.idp, 'de-stemcellbank')}"}
    resp = requests.post(f"{portal}/api/v1/access/events", json=own, headers=de_auth, timeout=30)
    assert resp.status_code == 409 and "no action the researcher took" in resp.text
    # The portal token is not a node's: it cannot report events (and, L12, it does not
    # even carry the central audience).
    portal_token = machine_token(alliance.idp, "portal")
    resp = requests.post(
        f"{portal}/api/v1/access/events",
        json=event,
        headers={"Authorization": f"Bearer {portal_token}"},
        timeout=30,
    )
    assert resp.status_code == 401 and resp.json()["error"] == "audience"
    assert alliance.access.service.node_part("de-stemcellbank", de_part).state == "under_review"


# -- the nodes' API accepts only the portal's tokens minted for that node ----------------
def part_body(alliance: Alliance, part_id: str = "e" * 32) -> dict:
    return {
        "id": part_id,
        "request_id": "d" * 32,
        "node_id": "de-stemcellbank",
        "biobank_id": "de-ipsc-bank",
        "biobank_name": "German iPSC bank",
        "submitted_at": "2026-11-01T10:00:00+00:00",
        "researcher": {
            "iss": alliance.idp.issuer,
            "sub": "someone",
            "name": "Mallory",
            "email": None,
        },
        "project": {
            "title": "Injected request",
            "description": "This part was never submitted at the portal at all.",
            "intended_use": "DUO:0000042",
            "ethics_ref": "none",
        },
        "items": [{"kind": "cell_line", "id": "UKBi001-A", "name": "UKBi001-A"}],
    }


def put_part(alliance: Alliance, token: str | None, body: dict | None = None):
    body = body or part_body(alliance)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    url = f"{alliance.nodes['de-stemcellbank'].url}/api/v1/access/parts/{body['id']}"
    return requests.put(url, json=body, headers=headers, timeout=30)


def tamper(token: str, **claims) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def header_of(token: str) -> dict:
    raw = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def claims_of(token: str) -> dict:
    raw = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))


def test_node_api_refuses_every_untrusted_token(alliance):
    idp = alliance.idp
    good = machine_token(idp, "portal", "node-de-stemcellbank")
    assert claims_of(good)["aud"] == "de-stemcellbank"  # the node's alone (L12)

    refusals = {}
    refusals["none"] = put_part(alliance, None)
    # A token of another issuer: the master realm of the same Keycloak (if we are its
    # admin), else one signed by a key of our own.
    foreign = RSAKey.generate_key(2048, parameters={"kid": "foreign"})
    other = jwt.encode(
        {"alg": "RS256", "kid": "foreign"},
        {**claims_of(good), "iss": f"{idp.base_url}/realms/master"},
        foreign,
    )
    if idp.admin_password:
        other = requests.post(
            f"{idp.base_url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": "admin",
                "password": idp.admin_password,
            },
            timeout=30,
        ).json()["access_token"]
    refusals["issuer"] = put_part(alliance, other)
    refusals["audience"] = put_part(alliance, machine_token(idp, "portal", "node-uk-hipsci"))
    refusals["audience-default"] = put_part(alliance, machine_token(idp, "portal"))
    refusals["signature"] = put_part(alliance, tamper(good, aud="de-stemcellbank"))
    impostor = RSAKey.generate_key(2048, parameters={"kid": header_of(good)["kid"]})
    refusals["signature-key"] = put_part(
        alliance, jwt.encode({"alg": "RS256", "kid": impostor.kid}, claims_of(good), impostor)
    )
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    refusals["algorithm"] = put_part(alliance, f"{none_header}.{good.split('.')[1]}.")
    for why, resp in refusals.items():
        assert resp.status_code == 401, (why, resp.status_code, resp.text)
        assert "Bearer" in resp.headers.get("WWW-Authenticate", ""), why
    assert refusals["issuer"].json()["error"] == "issuer"
    assert refusals["audience"].json()["error"] == "audience"
    assert refusals["signature"].json()["error"] == "signature"
    assert refusals["algorithm"].json()["error"] == "algorithm"

    # The right audience, but not the portal's client: the indexer cannot deliver parts.
    indexer = machine_token(idp, "indexer", "node-de-stemcellbank")
    assert put_part(alliance, indexer).status_code == 403

    # None of that stored anything.
    inbox = alliance.nodes["de-stemcellbank"].inbox
    assert all(p.id != "e" * 32 for p in inbox.parts({"de-ipsc-bank"}))


def test_the_portal_token_for_one_node_replayed_at_another_is_refused(alliance):
    uk_token = machine_token(alliance.idp, "portal", "node-uk-hipsci")
    resp = put_part(alliance, uk_token)
    assert resp.status_code == 401 and resp.json()["error"] == "audience"


def test_a_real_token_past_its_expiry_is_refused(alliance):
    token = machine_token(alliance.idp, "portal", "node-de-stemcellbank")
    lifetime = claims_of(token)["exp"] - claims_of(token)["iat"]
    tomorrow = TokenVerifier(
        alliance.idp.issuer, "de-stemcellbank", leeway=30, now=lambda: int(time.time()) + 86400
    )
    with pytest.raises(ExpiredToken):
        tomorrow.verify(token)
    assert lifetime <= 600  # short-lived, as the realm says
    assert TokenVerifier(alliance.idp.issuer, "de-stemcellbank").verify(token)


def test_a_valid_delivery_is_still_checked_against_the_catalogue(alliance):
    token = machine_token(alliance.idp, "portal", "node-de-stemcellbank")
    body = part_body(alliance, "c" * 32)
    body["items"] = [{"kind": "cell_line", "id": "UKKi006-A", "name": "UKKi006-A"}]
    resp = put_part(alliance, token, body)  # a line of de-uniklinik-core, not de-ipsc-bank
    assert resp.status_code == 422 and "belongs to biobank 'de-uniklinik-core'" in resp.text
    body["items"] = [{"kind": "cell_line", "id": "NOPE-1", "name": "NOPE-1"}]
    assert "not in the catalogue" in put_part(alliance, token, body).text
    body["project"]["intended_use"] = "DUO:9999999"
    bad = put_part(alliance, token, body)
    assert bad.status_code == 400 and "project.intended_use" in bad.text
    inbox = alliance.nodes["de-stemcellbank"].inbox
    assert all(p.id != "c" * 32 for p in inbox.parts({"de-ipsc-bank", "de-uniklinik-core"}))


def test_repeating_a_delivery_stores_it_once_and_a_changed_repeat_is_a_conflict(alliance):
    token = machine_token(alliance.idp, "portal", "node-de-stemcellbank")
    body = part_body(alliance, "b" * 32)
    first, again = put_part(alliance, token, body), put_part(alliance, token, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["events"] == again.json()["events"]
    body["project"]["title"] = "Changed on the way"
    assert put_part(alliance, token, body).status_code == 409
    part = alliance.nodes["de-stemcellbank"].inbox.part("b" * 32, {"de-ipsc-bank"})
    assert part.payload["project"]["title"] == "Injected request" and len(part.events) == 1


# -- forged forms ------------------------------------------------------------------------
def test_forms_without_this_sites_token_are_refused_and_change_nothing(
    alliance, people, alices_request
):
    portal, alice, owner = alliance.portal_url, people["alice"], alices_request["owner"]
    before = len(alliance.access.service.requests_of(owner))
    form = {
        "title": "Forged",
        "description": "A request that a malicious page submits for alice.",
        "intended_use": "DUO:0000042",
        "ethics_ref": "none",
    }
    assert alice.post(f"{portal}/requests", data=form, timeout=30).status_code == 400
    erin_token = csrf(people["erin"], f"{portal}/cart")  # a token, but from another session
    resp = alice.post(f"{portal}/requests", data={**form, "csrf_token": erin_token}, timeout=30)
    assert resp.status_code == 400 and "Nothing was changed" in resp.text
    assert len(alliance.access.service.requests_of(owner)) == before
    resp = alice.post(f"{portal}/logout", timeout=30)
    assert resp.status_code == 400
    assert alice.get(f"{portal}/requests", timeout=30).url.endswith("/requests")  # still in


def test_a_forged_decision_at_the_node_is_refused(alliance, alices_request):
    de = alliance.nodes["de-stemcellbank"].url
    bob = login(de, "bob")
    part = alices_request["parts"]["de-ipsc-bank"]
    resp = bob.post(f"{de}/inbox/{part}/reject", data={"text": "forged"}, timeout=30)
    assert resp.status_code == 400
    assert state_at_node(alliance, "de-stemcellbank", "de-ipsc-bank", part) == "under_review"


# -- bad uploads -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def strict(idp, engine_url, tmp_path_factory):
    """A portal with small upload limits: 1 MB per file, 2 files."""
    from tests.access.conftest import start_alliance

    running = start_alliance(
        idp,
        engine_url,
        tmp_path_factory.mktemp("uploads"),
        ("de-stemcellbank",),
        ATTACHMENT_MAX_BYTES=1024 * 1024,
        ATTACHMENT_MAX_COUNT=2,
    )
    running.extra["alice"] = login(running.portal_url, "alice")
    yield running
    running.stop()


def stored(strict: Alliance) -> tuple[int, int, int, int]:
    files = Path(strict.portal_app.config["ATTACHMENTS_DIR"])
    with strict.access.sessions() as session:
        return (
            session.query(AccessRequest).count(),
            session.query(Attachment).count(),
            session.query(PortalOutbox).count(),
            len(list(files.iterdir())) if files.exists() else 0,
        )


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ([("tool.pdf", b"MZ\x90\x00" + b"\x00" * 100)], "tool.pdf: only PDF"),
        ([("big.pdf", b"%PDF-" + b"x" * (1024 * 1024 + 10))], "big.pdf: larger than the limit"),
        ([(f"f{i}.txt", b"ethics") for i in range(3)], "attach at most 2 files"),
        ([("empty.txt", b"")], "empty.txt: the file is empty"),
        ([("ok.pdf", PDF), ("bad.png", b"GIF89a")], "bad.png: the content is plain text"),
    ],
)
def test_bad_attachments_are_refused_with_nothing_stored(strict, files, problem):
    alice, before = strict.extra["alice"], stored(strict)
    resp = submit_request(alice, strict.portal_url, [DE_LINE], files=files)
    assert resp.status_code == 400 and problem in resp.text
    assert "The request was not submitted" in resp.text
    assert stored(strict) == before
    # The cart is kept, so the researcher can fix the form and submit again.
    assert "UKBi001-A" in alice.get(f"{strict.portal_url}/cart", timeout=30).text


def test_a_body_beyond_every_limit_is_cut_off(strict):
    alice, before = strict.extra["alice"], stored(strict)
    huge = [("a.pdf", b"%PDF-" + b"x" * (3 * 1024 * 1024 + 10))]  # > 2 files x 1 MB + 1 MB
    resp = submit_request(alice, strict.portal_url, [DE_LINE], files=huge)
    assert resp.status_code == 413
    assert stored(strict) == before


def test_a_good_attachment_is_kept_and_served_as_a_download(strict):
    alice = strict.extra["alice"]
    resp = submit_request(alice, strict.portal_url, [DE_LINE], files=[("Ethik votum.pdf", PDF)])
    request_id = request_id_from(resp)
    link = re.search(rf'href="(/requests/{request_id}/attachments/[0-9a-f]{{32}})"', resp.text)
    got = alice.get(strict.portal_url + link.group(1), timeout=30)
    assert got.content == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert 'attachment; filename="Ethik votum.pdf"' in got.headers["Content-Disposition"]
