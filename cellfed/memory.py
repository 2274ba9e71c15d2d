"""Keep a threaded Python process's memory flat under glibc.

Each thread that allocates gets its own malloc arena (up to 8 per core), and the harvest's
megabyte-sized JSON pages and bulk bodies fragment them: a 1M-record rebuild peaked at
4.4 GB with the default, and a 200k one at 125 MB instead of 980 MB with two arenas
(bench/harvest.py). glibc reads the limit from the environment when the process starts,
so the indexer's commands start themselves again with it set.
"""

from __future__ import annotations

import gc
import os
import sys

ARENAS = "2"
YOUNG_OBJECTS = 10_000
"""Net allocations of container objects before the collector looks at the youngest ones
(Python's default is 700). A harvest's feed page parses into some hundred thousand dicts
and lists that live until the page is indexed; with the default, the collector scanned them
again and again: a third of the indexer's CPU (bench/README.md, Profile). Not higher: at
100,000 the indexer's peak grew with the harvest (244 MiB at 200k records, 423 at 1M); at
10,000 it stays flat (166 and 169) for some 10% more CPU per record."""


def few_malloc_arenas() -> dict[str, str]:
    """The environment for a child process that should use few malloc arenas."""
    return {**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", ARENAS)}


def restart_with_few_malloc_arenas() -> None:
    """Re-exec this `cellfed` command with MALLOC_ARENA_MAX set, unless it already is."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    os.execve(sys.executable, [sys.executable, "-m", "cellfed", *sys.argv[1:]], few_malloc_arenas())


def collect_rarely() -> None:
    """The indexer's collector settings: what is loaded at start-up (modules, vocabularies,
    standards) is never scanned again, and young objects are looked at rarely. Collect first:
    frozen cyclic garbage of start-up would never be freed."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
