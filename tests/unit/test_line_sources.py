"""The portal's cache of which biobanks hold each line: asks only for what it lacks, and
forgets everything when the index changes or the time is up."""

from __future__ import annotations

from portal import line_sources
from portal.line_sources import LineSources, index_version


def source(uid: str, *ids: str) -> dict:
    return {"uid": uid, "line_ids": list(ids)}


class Engine:
    def __init__(self, records):
        self.records = records
        self.asked: list[list[str]] = []

    def fetch(self, ids):
        self.asked.append(ids)
        return [r for r in self.records if set(ids) & set(r["line_ids"])]


V1 = index_version({"berlin": {"cursor": 4}, "london": {"cursor": 9}})


def test_only_the_ids_not_kept_are_asked_for():
    engine = Engine([source("b:1", "hpscreg:a", "cellosaurus:x"), source("l:1", "cellosaurus:x")])
    cache = LineSources()
    first = cache.lookup(["hpscreg:a", "cellosaurus:x"], V1, engine.fetch)
    assert {s["uid"] for s in first["cellosaurus:x"]} == {"b:1", "l:1"}
    assert [s["uid"] for s in first["hpscreg:a"]] == ["b:1"]
    again = cache.lookup(["cellosaurus:x", "hpscreg:b"], V1, engine.fetch)
    assert engine.asked == [["cellosaurus:x", "hpscreg:a"], ["hpscreg:b"]]
    assert again["hpscreg:b"] == [] and len(again["cellosaurus:x"]) == 2


def test_a_new_cursor_at_any_node_empties_the_cache():
    engine = Engine([source("b:1", "hpscreg:a")])
    cache = LineSources()
    cache.lookup(["hpscreg:a"], V1, engine.fetch)
    engine.records.append(source("l:2", "hpscreg:a"))
    moved = index_version({"berlin": {"cursor": 4}, "london": {"cursor": 10}})
    assert index_version({"london": {"cursor": 9}, "berlin": {"cursor": 4}}) == V1
    assert moved != V1
    found = cache.lookup(["hpscreg:a"], moved, engine.fetch)
    assert {s["uid"] for s in found["hpscreg:a"]} == {"b:1", "l:2"}
    assert len(engine.asked) == 2


def test_nothing_is_kept_longer_than_the_ttl(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(line_sources.time, "monotonic", lambda: now[0])
    engine = Engine([source("b:1", "hpscreg:a")])
    cache = LineSources(ttl=60)
    cache.lookup(["hpscreg:a"], V1, engine.fetch)
    now[0] += 59
    cache.lookup(["hpscreg:a"], V1, engine.fetch)
    assert len(engine.asked) == 1
    now[0] += 2
    cache.lookup(["hpscreg:a"], V1, engine.fetch)
    assert len(engine.asked) == 2


def test_the_cache_holds_at_most_size_ids_dropping_the_oldest():
    engine = Engine([source(f"b:{i}", f"hpscreg:{i}") for i in range(5)])
    cache = LineSources(size=3)
    for i in range(5):
        cache.lookup([f"hpscreg:{i}"], V1, engine.fetch)
    engine.asked.clear()
    cache.lookup(["hpscreg:4", "hpscreg:0"], V1, engine.fetch)
    assert engine.asked == [["hpscreg:0"]]
