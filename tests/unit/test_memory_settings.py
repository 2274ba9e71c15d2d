"""The harvest benchmark's child runs with the memory settings of `cellfed index`
(cellfed/memory.py), so the peak it reports is the product's."""

import subprocess
import sys
import weakref
from types import SimpleNamespace

import pytest

from bench import harvest as bench_harvest
from cellfed import memory


def test_cellfed_index_and_the_bench_child_get_the_same_environment(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    started = {}

    def execve(path, argv, env):
        started["index"] = env
        raise SystemExit  # instead of becoming another process

    def run(argv, **kwargs):
        started["bench"] = kwargs["env"]
        return SimpleNamespace(returncode=0, stdout='{"documents": 0}\n', stderr="")

    monkeypatch.setattr(memory.os, "execve", execve)
    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(SystemExit):
        memory.restart_with_few_malloc_arenas()
    bench_harvest.harvest("http://127.0.0.1:9", "p-", ["http://127.0.0.1:8"], 2)
    assert started["index"] == started["bench"] == memory.few_malloc_arenas()
    assert started["bench"]["MALLOC_ARENA_MAX"] == memory.ARENAS


def test_the_indexer_collects_rarely_and_leaves_start_up_objects_alone():
    import gc

    before = gc.get_threshold()

    class Cycle:  # start-up's cyclic garbage, which freezing would keep for good
        pass

    gc.disable()  # no automatic collection may free it first
    garbage = Cycle()
    garbage.me = garbage
    gone = weakref.ref(garbage)
    del garbage
    try:
        memory.collect_rarely()
        assert gc.get_threshold() == (memory.YOUNG_OBJECTS, *before[1:])
        assert gc.get_freeze_count() > 0  # start-up's objects: out of every collection
        assert gone() is None  # collected before the freeze, not frozen with the rest
    finally:
        gc.enable()
        gc.unfreeze()
        gc.set_threshold(*before)
