"""Attachment retention: a request's files are deleted, and their rows kept and marked, once
every part has been final (or undeliverable) for the time the settings say; pages and nodes
are told when and why. Every pass is given its clock (``now``): nothing here sleeps."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from flask.testing import FlaskClient

from cellfed.config import ConfigError, load_config
from federation.outbox import Refused, as_aware
from federation.trust import Principal, TokenError
from federation.web.login import User
from portal.access import retention
from portal.access.attachments import check_upload
from portal.access.models import Attachment, PortalOutbox
from portal.access.retention import RetentionRule, remove_expired, retention_pass
from schemas.access import EventSchema
from schemas.lifecycle import TRANSITIONS
from tests.builders.portal_app import LINE_ONE, MEMBERS, SqlitePortal, node_event

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
ALICE = User(
    "https://idp.example.org", "alice", "Alice", "alice@example.org", frozenset(), frozenset()
)
NODE_TOKEN = {"Authorization": "Bearer a-token-of-node-n1"}
DOCS = {
    "n1:cell_line:L1": LINE_ONE,
    "n1:cell_line:L2": {
        "kind": "cell_line",
        "name": "Line two",
        "local_id": "L2",
        "node_id": "n1",
        "biobank_id": "bb2",
        "biobank_name": "Biobank two",
    },
}
PROJECT = {
    "title": "Cardiomyocyte maturation",
    "description": "We differentiate iPSC lines into cardiomyocytes and compare them.",
    "intended_use": "DUO:0000042",
    "ethics_ref": "EK-12/2026",
}
PDF = b"%PDF-1.7\nethics approval\n%%EOF\n"
ACTORS = {"receive": "node", "approve": "biobank", "reject": "biobank", "fulfil": "biobank"}


class NodeVerifier:
    """Trusts one token: node n1's own (client-credentials) token."""

    def principal(self, raw: str, audience, roles_claim: str) -> Principal:
        if raw != NODE_TOKEN["Authorization"].split()[1]:
            raise TokenError("bad_signature", "not a token of this test")
        claims = {"iss": ALICE.iss, "sub": "service-account-n1", "azp": "n1", "client_id": "n1"}
        return Principal(claims, frozenset({"member-node"}))


class Portal(SqlitePortal):
    """The portal app on SQLite with a two-biobank catalogue at member node n1, whose token
    the access API trusts; the outbox refuses every delivery (none is made here)."""

    def __init__(self, tmp_path, **config) -> None:
        super().__init__(tmp_path, MEMBERS, DOCS, **config)
        self.access.verifier = NodeVerifier()

    def client(self, user: User = ALICE) -> FlaskClient:
        return super().client(user)

    def submit(self, uids=("n1:cell_line:L1",), files=("ethics.pdf",), user=ALICE) -> str:
        checked = [check_upload(io.BytesIO(PDF), name, 1024) for name in files]
        return self.service.submit(user, PROJECT, list(uids), checked)

    def parts(self, request_id: str):
        return {p.biobank_id: p for p in self.service.request_of(ALICE, request_id).parts}

    def decide(self, part_id: str, *events: str) -> None:
        """The node reports its admins' decisions on a part, in order."""
        seq = self.service.node_part("n1", part_id).node_seq
        for event in events:
            seq += 1
            raw = node_event(
                part_id,
                event,
                ACTORS[event],
                TRANSITIONS[event].target.value,
                seq,
                text="out of scope" if event == "reject" else None,
            )
            self.service.apply_events("n1", part_id, [EventSchema().load(raw)])

    def withdraw(self, request_id: str, part_id: str) -> None:
        """Alice withdraws the part, and its node confirms."""
        self.service.act(ALICE, request_id, part_id, "withdraw", "")
        part = self.parts(request_id)[self.service.node_part("n1", part_id).biobank_id]
        [pending] = [e for e in part.events if e.status == "pending"]
        raw = {
            "id": pending.id,
            "part_id": part_id,
            "seq": part.node_seq + 1,
            "type": "withdraw",
            "actor": "researcher",
            "actor_name": ALICE.name,
            "actor_sub": ALICE.sub,
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "state": "withdrawn",
        }
        self.service.apply_events("n1", part_id, [EventSchema().load(raw)])

    def final_at(self, part_id: str) -> dt.datetime:
        return as_aware(self.service.node_part("n1", part_id).updated_at)

    def attachments(self, request_id: str) -> list[Attachment]:
        return self.service.request_of(ALICE, request_id).attachments

    def files(self) -> set[str]:
        return set(self.service.files.names())

    def sweep(self, now: dt.datetime, rule: RetentionRule | None = None):
        return remove_expired(self.service, rule or RetentionRule(365, 30), now)


@pytest.fixture
def portal(tmp_path) -> Portal:
    portal = Portal(tmp_path)
    yield portal
    portal.access.engine.dispose()


# -- the rule ----------------------------------------------------------------------------
def test_the_files_go_once_every_part_has_been_final_for_a_year(portal):
    request_id = portal.submit(["n1:cell_line:L1", "n1:cell_line:L2"], ["ethics.pdf", "plan.pdf"])
    parts = portal.parts(request_id)
    portal.decide(parts["bb1"].id, "receive", "reject")
    portal.decide(parts["bb2"].id, "receive")  # still under review at Biobank two
    far = portal.final_at(parts["bb1"].id) + 3650 * DAY
    assert portal.sweep(far) == retention.RetentionPass(0, 0, 0)
    assert len(portal.files()) == 2

    portal.decide(parts["bb2"].id, "approve", "fulfil")
    due = portal.final_at(parts["bb2"].id) + 365 * DAY  # the later of the two parts
    assert portal.sweep(due - SECOND).removed == 0 and len(portal.files()) == 2
    kept = {a.id: a for a in portal.attachments(request_id)}
    assert portal.sweep(due) == retention.RetentionPass(removed=2, requests=1, files_deleted=2)
    assert portal.files() == set()
    for row in portal.attachments(request_id):  # the metadata stays, and when it went
        before = kept[row.id]
        assert (row.filename, row.content_type, row.size, row.sha256) == (
            before.filename,
            before.content_type,
            before.size,
            before.sha256,
        )
        assert as_aware(row.removed_at) == due and before.removed_at is None


def test_a_withdrawn_part_is_final_too(portal):
    request_id = portal.submit()
    part = portal.parts(request_id)["bb1"]
    portal.decide(part.id, "receive")
    portal.withdraw(request_id, part.id)
    assert portal.parts(request_id)["bb1"].state == "withdrawn"
    due = portal.final_at(part.id) + 365 * DAY
    assert portal.sweep(due - SECOND).removed == 0
    assert portal.sweep(due).removed == 1 and portal.files() == set()


def test_a_request_that_never_reached_its_node_goes_after_the_shorter_time(portal):
    def node_refuses(message) -> None:
        raise Refused("node n1 refused it (409): no such biobank")

    portal.access.outbox.register("deliver_part", node_refuses)
    request_id = portal.submit()
    portal.access.outbox.run_once()
    assert portal.parts(request_id)["bb1"].delivery == "failed"
    with portal.service.sessions() as session:
        [message] = session.query(PortalOutbox).filter_by(kind="deliver_part").all()
    gave_up = as_aware(message.failed_at)
    assert portal.sweep(gave_up + 30 * DAY - SECOND).removed == 0

    # An operator retries it: it is on its way again, and its files are kept.
    assert portal.access.outbox.retry_now(message.id)
    assert portal.sweep(gave_up + 3650 * DAY).removed == 0
    portal.access.outbox.run_once()  # refused again: the broker gives up once more
    with portal.service.sessions() as session:
        gave_up = as_aware(session.get(PortalOutbox, message.id).failed_at)
    assert portal.sweep(gave_up + 30 * DAY - SECOND).removed == 0
    assert portal.sweep(gave_up + 30 * DAY).removed == 1 and portal.files() == set()


def test_an_open_part_keeps_the_files_however_long_it_takes(portal):
    request_id = portal.submit(["n1:cell_line:L1", "n1:cell_line:L2"])
    parts = portal.parts(request_id)
    portal.decide(parts["bb1"].id, "receive", "reject")
    portal.decide(parts["bb2"].id, "receive", "approve")  # approved, not yet fulfilled
    assert portal.sweep(portal.final_at(parts["bb1"].id) + 3650 * DAY).removed == 0
    assert len(portal.files()) == 1


def test_the_rule_is_in_the_settings(portal):
    env = {
        "CELLFED_ATTACHMENT_RETENTION_DAYS": "7",
        "CELLFED_ATTACHMENT_RETENTION_UNDELIVERED_DAYS": "",  # nothing: that rule is off
        "CELLFED_ATTACHMENT_RETENTION_INTERVAL": "60",
    }
    config = load_config(env=env)
    assert RetentionRule.from_config(config) == RetentionRule(7, None)
    assert config["ATTACHMENT_RETENTION_INTERVAL"] == 60
    assert RetentionRule.from_config(load_config(env={})) == RetentionRule(365, 30)
    for bad in ("-1", "a year", "1.5"):
        with pytest.raises(ConfigError, match="ATTACHMENT_RETENTION_DAYS.*0 or more"):
            load_config(env={"CELLFED_ATTACHMENT_RETENTION_DAYS": bad})

    request_id = portal.submit()
    part = portal.parts(request_id)["bb1"]
    portal.decide(part.id, "receive", "reject")
    final = portal.final_at(part.id)
    keep_for_good = RetentionRule(None, 30)
    assert portal.sweep(final + 36500 * DAY, keep_for_good).removed == 0
    assert portal.sweep(final + 7 * DAY, RetentionRule(7, None)).removed == 1


# -- idempotent, and safe beside another pass --------------------------------------------
def _rejected(portal: Portal) -> tuple[str, dt.datetime]:
    request_id = portal.submit()
    part = portal.parts(request_id)["bb1"]
    portal.decide(part.id, "receive", "reject")
    return request_id, portal.final_at(part.id) + 365 * DAY


def test_a_second_pass_changes_nothing(portal):
    request_id, due = _rejected(portal)
    assert portal.sweep(due).removed == 1
    assert portal.sweep(due + DAY) == retention.RetentionPass(0, 0, 0)
    [row] = portal.attachments(request_id)
    assert as_aware(row.removed_at) == due  # not moved by the later pass


def test_two_passes_at_once_remove_each_attachment_once(portal, monkeypatch):
    request_id, due = _rejected(portal)
    mark, other, raced = retention._mark, [], []

    def another_worker_first(service, rule, rid, now):
        if not raced:  # between this pass's reading and its marking, another one runs
            raced.append(rid)
            other.append(remove_expired(service, rule, now + 60 * SECOND))
        return mark(service, rule, rid, now)

    monkeypatch.setattr(retention, "_mark", another_worker_first)
    this = portal.sweep(due)
    assert other == [retention.RetentionPass(removed=1, requests=1, files_deleted=1)]
    assert this == retention.RetentionPass(0, 0, 0)
    [row] = portal.attachments(request_id)
    assert as_aware(row.removed_at) == due + 60 * SECOND and portal.files() == set()


def test_a_pass_that_stopped_after_marking_is_finished_by_the_next(portal, monkeypatch):
    request_id, due = _rejected(portal)
    delete = portal.service.files.delete

    def disk_trouble(name: str) -> None:
        raise OSError("the attachments volume is read-only")

    monkeypatch.setattr(portal.service.files, "delete", disk_trouble)
    with pytest.raises(OSError):
        portal.sweep(due)
    [row] = portal.attachments(request_id)
    assert row.removed_at is not None and len(portal.files()) == 1  # marked: never offered
    monkeypatch.setattr(portal.service.files, "delete", delete)
    assert portal.sweep(due + DAY) == retention.RetentionPass(0, 0, 1)
    assert portal.files() == set()


def test_files_that_are_not_attachments_rows_are_left_alone(portal):
    _, due = _rejected(portal)
    stray = portal.service.files.save(b"a file being submitted right now")  # no row yet
    (portal.service.files.directory / "README").write_text("not ours")
    assert portal.sweep(due).files_deleted == 1
    assert portal.files() == {stray}


def test_the_clock_must_say_its_zone(portal):
    with pytest.raises(ValueError, match="aware"):
        portal.sweep(dt.datetime(2027, 1, 1))


# -- what pages and nodes see ------------------------------------------------------------
def test_pages_and_nodes_are_told_when_and_why_a_file_was_removed(portal):
    request_id, due = _rejected(portal)
    part = portal.parts(request_id)["bb1"]
    [attachment] = portal.attachments(request_id)
    page_url = f"/requests/{request_id}/attachments/{attachment.id}"
    node_url = f"/api/v1/access/parts/{part.id}/attachments/{attachment.id}"
    alice = portal.client()
    assert page_url in alice.get(f"/requests/{request_id}").text
    with portal.app.test_client().get(node_url, headers=NODE_TOKEN) as got:
        assert got.status_code == 200 and got.data == PDF
        assert got.headers["Content-Length"] == str(len(PDF))
        assert got.headers["Content-Disposition"] == "attachment; filename=ethics.pdf"

    retention_pass(portal.app, now=due)  # the worker's pass, at the clock given

    notice = f"removed under the retention rule on {due.date().isoformat()}"
    page = alice.get(f"/requests/{request_id}")
    assert page.status_code == 200
    assert f'ethics.pdf <span class="meta">({notice})</span>' in page.text
    assert page_url not in page.text  # no download offered
    gone = alice.get(page_url)
    assert gone.status_code == 410 and f"ethics.pdf was {notice}" in gone.text
    gone = portal.app.test_client().get(node_url, headers=NODE_TOKEN)
    assert gone.status_code == 410
    assert gone.json == {"error": "Gone", "detail": f"ethics.pdf was {notice}"}


def test_a_file_missing_from_storage_is_gone_too(portal):
    request_id = portal.submit()
    [attachment] = portal.attachments(request_id)
    portal.service.files.delete(attachment.stored_name)
    gone = portal.client().get(f"/requests/{request_id}/attachments/{attachment.id}")
    assert gone.status_code == 410 and "gone from the portal&#39;s storage" in gone.text


def test_the_portal_worker_runs_the_retention_job():
    from cellfed import worker

    [job] = [j for j in worker.JOBS["portal"].jobs if j.name == "attachment-retention"]
    assert job.interval == "ATTACHMENT_RETENTION_INTERVAL"
    assert load_config(env={})[job.interval] == 3600
