"""Keep a threaded Python process's memory flat under glibc.

Each thread that allocates gets its own malloc arena (up to 8 per core), and the harvest's
megabyte-sized JSON pages and bulk bodies fragment them: a 1M-record rebuild peaked at
4.4 GB with the default and at about 125 MB with two arenas (bench/harvest.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8  # from glibc's malloc.h


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (call before starting threads); False where not glibc.

    An explicit MALLOC_ARENA_MAX in the environment wins.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
