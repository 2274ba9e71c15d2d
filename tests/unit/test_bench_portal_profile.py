"""bench/portal_profile.py's accounting, without an engine or timings: each function's own
time lands in the group its file belongs to, and a built-in's in its caller's group."""

from __future__ import annotations

import cProfile
import json

from bench.portal_profile import group_of, shares


def test_files_are_grouped_by_where_they_live():
    assert group_of("/x/site-packages/opensearchpy/transport.py").startswith("engine client")
    assert group_of("/repo/search/queries.py").startswith("search/")
    assert group_of("/repo/portal/service.py").startswith("portal/")
    assert group_of("/x/site-packages/flask_limiter/_extension.py").startswith("rate limiter")
    assert group_of("/x/lib/python3.11/threading.py").startswith("other")


def test_a_builtins_time_counts_where_it_was_called_from():
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(200):
        json.dumps({"a": list(range(50))})
        sorted(range(500), reverse=True)  # a built-in called from this test file
    profile.disable()
    by = shares(profile)
    assert by["JSON (orjson, json)"] > 0
    assert not any("built-in" in name for name in by)
    assert sum(by.values()) > 0
