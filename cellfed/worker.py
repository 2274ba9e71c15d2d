"""Background work: the periodic jobs of `cellfed portal worker` and `cellfed node worker`.

The web processes answer requests and nothing else (in production gunicorn runs them, with
no background threads); what runs on a clock lives here, one registry per app (``JOBS``):

* ``portal``: ``outbox``, the request broker's deliveries (parts and actions to the nodes,
  e-mail), every ``DELIVERY_INTERVAL`` seconds; ``attachment-retention``, the deletion of
  attachments under the retention rule (portal/access/retention.py), every
  ``ATTACHMENT_RETENTION_INTERVAL`` seconds; ``alerts``, saved searches' alerts and feeds
  (portal/alerts/jobs.py), every ``ALERT_INTERVAL`` seconds;
* ``node``: ``outbox``, the node's events to the portal and its e-mail; ``push``, in push
  mode (``NODE_MODE``), its feed pages to the indexer every ``PUSH_INTERVAL`` seconds;
  ``mailbox``, in push mode, the long poll of the portal's mailbox for its request parts and
  actions (federation/node/mailbox_client.py);
  ``lot-holds``, the end of lot holds past their date (federation/node/inbox/holds.py), every
  ``HOLD_EXPIRY_INTERVAL`` seconds;
* ``escalation`` at both (every ``ESCALATION_INTERVAL`` seconds): requests that never stall
  (schemas/clocks.py; the node's reminders and contact, the portal's operators and
  unresponsive mark).

A later clock-driven job is one function, registered with :func:`job`::

    @job("portal", "expire-requests", "EXPIRY_INTERVAL")   # interval: a setting, in seconds
    def expire_requests(app):
        ...                                                # one pass; exceptions are logged

**Run one worker per deployment** (per database: a node's ``DATABASE_URL``, the portal's
``PORTAL_DATABASE_URL``). One started by mistake beside it does no harm: a worker runs its
jobs only while it holds the deployment's worker lock (:class:`WorkerLock`: a lock file
beside a SQLite database, a PostgreSQL advisory lock); any other waits, checks again every
``STANDBY_SECONDS`` and takes over when the first one stops or dies, so the jobs never run
twice at once. Without that lock the outbox alone would mostly cope (a worker claims each
message with a conditional UPDATE, a 60 s lease, and receivers are idempotent by the ids in
the payload), but not always: a pass computes its leases from the time it started, so a pass
slowed by unreachable receivers hands out leases that have already run out, and another
worker would send those messages again (e-mails twice); clock jobs have no lease at all.
For other database kinds there is no lock: run exactly one worker.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STANDBY_SECONDS = 5.0  # how often a waiting worker tries the lock, and a running one checks it

Pass = Callable[[Any], Any]  # one pass of a job, given the app
Loop = Callable[[Any, threading.Event, float], None]  # runs until the event is set


@dataclass(frozen=True)
class Job:
    """``run(app, stop, seconds)`` runs until ``stop`` is set, a pass every ``seconds``
    (the setting ``interval``)."""

    name: str
    interval: str
    run: Loop


@dataclass(frozen=True)
class Role:
    """An app's background work: how the worker builds the app, where its lock lives."""

    name: str
    database: str  # the setting naming the database the worker lock is taken in
    make_app: Callable[[Mapping[str, Any]], Any]
    jobs: list[Job] = field(default_factory=list)


def _portal_app(config: Mapping[str, Any]) -> Any:
    from portal.app import create_app

    return create_app(config)


def _node_app(config: Mapping[str, Any]) -> Any:
    from federation.node.app import create_app

    return create_app(config)


JOBS: dict[str, Role] = {
    "portal": Role("portal", "PORTAL_DATABASE_URL", _portal_app),
    "node": Role("node", "DATABASE_URL", _node_app),
}


def periodic(name: str, one_pass: Pass) -> Loop:
    """A loop of ``one_pass(app)``; a pass that raises is logged and the loop goes on."""

    def run(app: Any, stop: threading.Event, seconds: float) -> None:
        while not stop.is_set():
            try:
                one_pass(app)
            except Exception:
                log.exception("job %s: the pass failed", name)
            stop.wait(seconds)

    return run


def job(role: str, name: str, interval: str) -> Callable[[Pass], Pass]:
    """Register ``fn(app)`` as a pass of ``role``'s job ``name``, every ``interval``."""

    def register(fn: Pass) -> Pass:
        JOBS[role].jobs.append(Job(name, interval, periodic(name, fn)))
        return fn

    return register


def _portal_outbox(app: Any, stop: threading.Event, seconds: float) -> None:
    from portal.access.context import access_of

    access_of(app).outbox.run_forever(stop, seconds)


def _node_outbox(app: Any, stop: threading.Event, seconds: float) -> None:
    from federation.node.inbox.service import inbox_of

    inbox_of(app).outbox.run_forever(stop, seconds)


def _node_push(app: Any, stop: threading.Event, seconds: float) -> None:
    """Push mode: the node's feed pages to the indexer (federation/node/push.py)."""
    from federation.node.push import PushError, pusher_for, run_pusher

    try:
        pusher = pusher_for(app)
    except PushError as exc:  # a setting is missing: say which, once, and push nothing
        log.error("job push: %s", exc)
        return
    if pusher is not None:  # pull mode: the indexer reads the feed; nothing to do here
        run_pusher(pusher, stop, seconds, float(app.config["PUSH_MAX_BACKOFF"]))


def _node_mailbox(app: Any, stop: threading.Event, seconds: float) -> None:
    """Push mode: fetch the portal's parts and actions (federation/node/mailbox_client.py)."""
    from federation.node.mailbox_client import MailboxError, mailbox_client_for, run_mailbox

    try:
        client = mailbox_client_for(app)
    except MailboxError as exc:  # a setting is missing: say which, once, and poll nothing
        log.error("job mailbox: %s", exc)
        return
    if client is not None:  # pull mode: the portal calls the node's access API
        run_mailbox(client, stop, float(app.config["PUSH_MAX_BACKOFF"]))


JOBS["portal"].jobs.append(Job("outbox", "DELIVERY_INTERVAL", _portal_outbox))
JOBS["node"].jobs.append(Job("outbox", "DELIVERY_INTERVAL", _node_outbox))
JOBS["node"].jobs.append(Job("push", "PUSH_INTERVAL", _node_push))
JOBS["node"].jobs.append(Job("mailbox", "MAILBOX_WAIT", _node_mailbox))


@job("portal", "attachment-retention", "ATTACHMENT_RETENTION_INTERVAL")
def _attachment_retention(app: Any) -> Any:
    from portal.access.retention import retention_pass

    return retention_pass(app)


@job("portal", "alerts", "ALERT_INTERVAL")
def _portal_alerts(app: Any) -> None:
    """Saved searches: announce new and newly available lines (portal/alerts/jobs.py)."""
    from portal.alerts.jobs import alert_pass

    alert_pass(app)


@job("portal", "escalation", "ESCALATION_INTERVAL")
def _portal_escalation(app: Any) -> Any:
    """Requests that never stall: the operators' step and the unresponsive mark."""
    from portal.access.escalation import escalation_of

    return escalation_of(app).run()


@job("node", "escalation", "ESCALATION_INTERVAL")
def _node_escalation(app: Any) -> Any:
    """Requests that never stall: reminders to the biobank's admins, then its contact."""
    from federation.node.inbox.escalation import node_escalation_pass

    return node_escalation_pass(app)


@job("node", "lot-holds", "HOLD_EXPIRY_INTERVAL")
def _lot_holds(app: Any) -> int:
    """Holds past their date end: their vials are free again (issue 11)."""
    from federation.node.inbox.holds import expire_holds
    from federation.node.inbox.service import inbox_of

    return expire_holds(inbox_of(app))


# -- the worker lock ---------------------------------------------------------------------
class WorkerLock:
    """One holder per deployment: see the module docstring. ``acquire`` never blocks."""

    def __init__(self, database_url: str, role: str) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(database_url)
        self.role = role
        self.kind = self.url.get_backend_name()
        self._file: Any = None
        self._connection: Any = None
        self._engine: Any = None

    @property
    def where(self) -> str:
        if self.kind == "sqlite":
            return str(self._lock_path() or "an in-memory database")
        return self.url.render_as_string(hide_password=True)

    def _lock_path(self) -> Path | None:
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None  # in memory: only this process sees it
        return Path(database).with_name(Path(database).name + f".{self.role}-worker.lock")

    def _key(self) -> int:
        seed = f"cellfed-worker:{self.role}:{self.url.render_as_string(hide_password=True)}"
        return int.from_bytes(
            hashlib.blake2b(seed.encode(), digest_size=8).digest(), "big", signed=True
        )

    def acquire(self) -> bool:
        if self.kind == "sqlite":
            return self._acquire_file()
        if self.kind == "postgresql":
            return self._acquire_advisory()
        log.warning("no worker lock on %s databases: run exactly one worker", self.kind)
        return True

    def _acquire_file(self) -> bool:
        import fcntl

        path = self._lock_path()
        if path is None:
            return True
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def _acquire_advisory(self) -> bool:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        self._engine = self._engine or create_engine(self.url, poolclass=NullPool)
        connection = self._engine.connect()
        try:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key()})
            held = bool(got.scalar())
            connection.commit()
        except Exception:
            connection.close()
            raise
        if not held:
            connection.close()
            return False
        self._connection = connection  # the lock lives as long as this session
        return True

    def held(self) -> bool:
        """Still ours (a PostgreSQL session can be cut, and its lock with it)."""
        if self._connection is None:
            return True
        from sqlalchemy import text

        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
            return True
        except Exception:
            log.warning("the worker lock's database session was lost", exc_info=True)
            return False

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the flock
            self._file = None
        if self._connection is not None:
            try:
                self._connection.close()  # the session ends, and its advisory lock
            except Exception:
                pass
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


# -- running -----------------------------------------------------------------------------
def _run_jobs(
    app: Any, role: Role, lock: WorkerLock, stop: threading.Event, standby: float
) -> None:
    """The role's jobs, each in its thread, until ``stop`` is set or the lock is lost."""
    config = app.config
    halt = threading.Event()
    threads = [
        threading.Thread(
            target=j.run,
            args=(app, halt, float(config[j.interval])),
            name=f"{role.name}-{j.name}",
            daemon=True,
        )
        for j in role.jobs
    ]
    for thread in threads:
        thread.start()
    log.info("worker: running %s", ", ".join(j.name for j in role.jobs))
    while not stop.wait(standby):
        if not lock.held():
            break
    halt.set()
    for thread in threads:
        thread.join(30)
        if thread.is_alive():
            log.warning("worker: job %s is still in its pass; leaving it", thread.name)


def run_worker(
    role_name: str, app: Any, stop: threading.Event, standby: float = STANDBY_SECONDS
) -> None:
    """Run ``role_name``'s jobs for ``app`` while this worker holds the lock, until ``stop``;
    ``standby``: seconds between tries of the lock, and between checks that it is held."""
    role = JOBS[role_name]
    lock = WorkerLock(app.config[role.database], role.name)
    waiting = False
    while not stop.is_set():
        try:
            acquired = lock.acquire()
        except Exception:  # the database is not there yet: try again
            log.exception("worker: cannot take the lock in %s", lock.where)
            acquired = False
            waiting = True
        if not acquired:
            if not waiting:
                log.warning(
                    "worker: another %s worker holds %s; standing by", role.name, lock.where
                )
                waiting = True
            stop.wait(standby)
            continue
        waiting = False
        try:
            _run_jobs(app, role, lock, stop, standby)
        finally:
            lock.release()


def start_worker(role_name: str, app: Any, stop: threading.Event) -> threading.Thread:
    """:func:`run_worker` in a background thread (the development server's way)."""
    thread = threading.Thread(
        target=run_worker, args=(role_name, app, stop), name=f"{role_name}-worker", daemon=True
    )
    thread.start()
    return thread
