"""The transactional outbox on a real SQLite database: order per key, retries with backoff,
permanent refusals, leases, and nothing sent for a transaction that rolled back."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from federation.database import utcnow
from federation.outbox import Outbox, OutboxMixin, Refused, Retry


class Base(DeclarativeBase):
    pass


class Box(OutboxMixin, Base):
    __tablename__ = "box"


class Receiver:
    """Records what arrives; fails on demand, like a node that is down or says no."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.down = False
        self.refuse: set[str] = set()

    def __call__(self, message: OutboxMixin) -> None:
        name = message.payload["name"]
        if self.down:
            raise Retry("connection refused")
        if name in self.refuse:
            raise Refused(f"{name} is not acceptable")
        self.got.append(name)


@pytest.fixture
def sessions(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'box.sqlite3'}")
    Base.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def put(outbox: Outbox, sessions, name: str, key: str | None = None) -> None:
    with sessions.begin() as session:
        outbox.enqueue(session, "note", "somewhere", {"name": name}, key=key)


def later(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


def test_messages_are_sent_once(sessions):
    rx = Receiver()
    outbox = Outbox(Box, sessions, {"note": rx})
    for name in ("a", "b", "c"):
        put(outbox, sessions, name)
    report = outbox.run_once()
    assert (report.delivered, rx.got) == (3, ["a", "b", "c"])
    assert outbox.run_once(later(3600)).attempted == 0
    assert rx.got == ["a", "b", "c"]


def test_a_rolled_back_transaction_sends_nothing(sessions):
    rx = Receiver()
    outbox = Outbox(Box, sessions, {"note": rx})
    with pytest.raises(RuntimeError), sessions.begin() as session:
        outbox.enqueue(session, "note", "x", {"name": "ghost"})
        raise RuntimeError("the change failed")
    assert outbox.run_once().attempted == 0 and rx.got == []


def test_a_down_receiver_gets_everything_in_order_when_it_is_back(sessions):
    rx = Receiver()
    outbox = Outbox(Box, sessions, {"note": rx}, base_backoff=2, max_backoff=60)
    put(outbox, sessions, "part", key="p1")
    put(outbox, sessions, "withdraw", key="p1")
    put(outbox, sessions, "other", key="p2")
    rx.down = True
    first = outbox.run_once()
    # Only the first message of each key was tried: the withdrawal waits behind its part.
    assert (first.attempted, first.retried) == (2, 2)
    assert outbox.run_once().attempted == 0  # backing off: nothing due right now
    for hour in (1, 2, 3):
        outbox.run_once(later(3600 * hour))  # still down, an hour later each time
    rx.down = False
    outbox.run_once(later(3600 * 4))
    outbox.run_once(later(3600 * 4))
    assert rx.got.index("part") < rx.got.index("withdraw")
    assert sorted(rx.got) == ["other", "part", "withdraw"]
    with sessions() as session:
        attempts = {m.payload["name"]: m.attempts for m in session.query(Box)}
    assert attempts["part"] == 5 and attempts["withdraw"] == 1


def test_backoff_grows_and_is_capped(sessions):
    outbox = Outbox(Box, sessions, {"note": Receiver()}, base_backoff=2, max_backoff=60)
    waits = [outbox.backoff(n).total_seconds() for n in range(1, 10)]
    assert 1.6 <= waits[0] <= 2 and 3.2 <= waits[1] <= 4
    assert all(w <= 60 for w in waits) and waits[-1] >= 48


def test_a_refused_message_stops_and_is_reported(sessions):
    rx = Receiver()
    rx.refuse = {"bad"}
    failed = []
    outbox = Outbox(Box, sessions, {"note": rx}, on_failed=lambda m, why: failed.append(why))
    put(outbox, sessions, "bad", key="k")
    put(outbox, sessions, "next", key="k")
    report = outbox.run_once()
    assert report.failed == 1 and failed == ["bad is not acceptable"]
    outbox.run_once()
    assert rx.got == ["next"]  # a refusal does not block the rest of its key forever
    assert outbox.run_once(later(3600)).attempted == 0
    with sessions() as session:
        bad = session.query(Box).filter(Box.payload["name"].as_string() == "bad").one()
    assert bad.status == "failed" and bad.last_error == "bad is not acceptable"


def test_an_operator_can_retry_a_refused_message(sessions):
    rx = Receiver()
    rx.refuse = {"x"}
    outbox = Outbox(Box, sessions, {"note": rx})
    put(outbox, sessions, "x")
    outbox.run_once()
    rx.refuse = set()
    with sessions() as session:
        message_id = session.query(Box).one().id
    assert outbox.retry_now(message_id)
    outbox.run_once()
    assert rx.got == ["x"]


def test_a_leased_message_is_not_taken_twice(sessions):
    rx = Receiver()
    outbox = Outbox(Box, sessions, {"note": rx})
    put(outbox, sessions, "once")
    now = utcnow()
    with sessions() as session:
        [message_id] = outbox.due(session, now)
    assert outbox._claim(message_id, now) is not None  # worker A takes it ...
    assert outbox._claim(message_id, now) is None  # ... so worker B cannot
    assert outbox.run_once(now).attempted == 0
    # Worker A died: after the lease, another pass takes the message over.
    assert outbox.run_once(later(120)).delivered == 1
    assert rx.got == ["once"]


def test_a_lease_runs_from_the_wall_clock_when_a_pass_is_slow(sessions):
    """A pass that started long ago (receivers timing out) still hands out a full lease."""
    outbox = Outbox(Box, sessions, {"note": Receiver()})
    put(outbox, sessions, "once")
    started = utcnow() - dt.timedelta(seconds=300)
    with sessions() as session:
        [message_id] = outbox.due(session, utcnow())
    assert outbox._claim(message_id, started) is not None
    assert outbox._claim(message_id, utcnow()) is None  # a second worker, right now


def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_new_owner(sessions):
    outbox = Outbox(Box, sessions, {"note": Receiver()})
    put(outbox, sessions, "x")
    now = utcnow()
    with sessions() as session:
        [message_id] = outbox.due(session, now)
        message = session.get(Box, message_id)
        session.expunge(message)
    first = outbox._claim(message_id, now)
    second = outbox._claim(message_id, later(120))  # the first lease ran out
    assert first is not None and second is not None
    outbox._settle(message, "failed", "late", now, first)  # the first worker, too late
    with sessions() as session:
        row = session.get(Box, message_id)
        assert row.failed_at is None and row.lease_until is not None


def test_a_crashing_sender_keeps_the_message(sessions):
    def broken(message):
        raise KeyError("payload field")

    outbox = Outbox(Box, sessions, {"note": broken})
    put(outbox, sessions, "x")
    report = outbox.run_once()
    assert report.retried == 1 and "KeyError" in report.errors[0]


def test_unknown_kinds_are_refused_at_once(sessions):
    outbox = Outbox(Box, sessions, {"note": Receiver()})
    with pytest.raises(ValueError, match="no sender"), sessions.begin() as session:
        outbox.enqueue(session, "fax", "x", {})
