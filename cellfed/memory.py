"""Keep a threaded Python process's memory flat under glibc.

Each thread that allocates gets its own malloc arena (up to 8 per core), and the harvest's
megabyte-sized JSON pages and bulk bodies fragment them: a 1M-record rebuild peaked at
4.4 GB with the default, and a 200k one at 125 MB instead of 980 MB with two arenas
(bench/harvest.py). glibc reads the limit from the environment when the process starts,
so the indexer's commands start themselves again with it set.
"""

from __future__ import annotations

import os
import sys

ARENAS = "2"


def few_malloc_arenas() -> dict[str, str]:
    """The environment for a child process that should use few malloc arenas."""
    return {**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", ARENAS)}


def restart_with_few_malloc_arenas() -> None:
    """Re-exec this `cellfed` command with MALLOC_ARENA_MAX set, unless it already is."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    os.execve(sys.executable, [sys.executable, "-m", "cellfed", *sys.argv[1:]], few_malloc_arenas())
