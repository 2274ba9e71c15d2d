"""The limiter's in-process counters (federation/web/limit_storage.py): they count and expire
as limits' own memory store does, and start no thread per request."""

from __future__ import annotations

import threading

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from federation.web import limit_storage
from federation.web.limit_storage import SweptMemoryStorage, storage_uri
from portal.app import create_app


def test_memory_means_this_store_and_other_stores_stay_as_configured():
    assert storage_uri("memory://") == "cellfed-memory://"
    assert storage_uri("redis://cache:6379/0") == "redis://cache:6379/0"
    assert isinstance(storage_from_string(storage_uri("memory://")), SweptMemoryStorage)


def test_it_limits_and_starts_no_thread_per_hit():
    storage = SweptMemoryStorage()
    storage.timer.join()  # the one timer its base class starts when built has ended
    limiter = FixedWindowRateLimiter(storage)
    rule = parse("5/minute")
    started = []
    original = threading.Timer.start
    threading.Timer.start = lambda self: started.append(self) or original(self)
    try:
        allowed = [limiter.hit(rule, "ip:10.0.0.1") for _ in range(8)]
    finally:
        threading.Timer.start = original
    assert allowed == [True] * 5 + [False] * 3
    assert limiter.hit(rule, "ip:10.0.0.2")  # another client has its own budget
    assert started == []


def test_expired_counters_are_dropped_by_the_sweep(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(limit_storage.time, "monotonic", lambda: clock[0])
    storage = SweptMemoryStorage()
    storage.incr("gone", expiry=1)
    storage.expirations["gone"] = 0  # its window is over
    clock[0] += 0.5
    storage.incr("kept", expiry=60)
    assert "gone" in storage.storage  # not swept yet: under a second since the last sweep
    clock[0] += 1
    storage.incr("kept", expiry=60)
    assert "gone" not in storage.storage and storage.get("kept") == 2


def test_the_portal_limits_with_it_and_starts_no_thread_per_request(tmp_path):
    app = create_app(
        {"RATE_LIMIT_API": "2/minute", "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    )
    client = app.test_client()
    client.get("/api/v1/openapi.json")  # the first hit may start the base class's one timer
    started = []
    original = threading.Timer.start
    threading.Timer.start = lambda self: started.append(self) or original(self)
    try:
        statuses = [client.get("/api/v1/openapi.json").status_code for _ in range(3)]
    finally:
        threading.Timer.start = original
    assert statuses == [200, 429, 429] and started == []


def test_the_sweep_drops_expired_moving_window_entries_and_tolerates_vanished_keys():
    storage = SweptMemoryStorage()
    assert storage.acquire_entry("ip:1", limit=3, expiry=60)
    assert storage.acquire_entry("ip:2", limit=3, expiry=60)
    for entry in storage.events["ip:1"]:
        entry.expiry = 0  # its window is over
    storage.expirations["vanished"] = 0  # a counter whose other parts are already gone
    storage.sweep()
    assert "ip:1" not in storage.events and len(storage.events["ip:2"]) == 1
    assert "vanished" not in storage.expirations
