"""Handing freed memory back to the system, for a server that runs for weeks.

Python frees a visitor's session, pictures and audio when they go, but glibc's allocator keeps the
freed pages in its heaps: one heap (arena) per thread that ever allocated, up to eight per core,
and a page is returned only when nothing else lives on it. A gradio server answers from a pool of
worker threads, so the process grew about 40 MB per 1 000 answers while the live Python objects
stayed level (``scripts/soak.py --tracemalloc``; README "Running for weeks"). Two glibc calls
bound it: ``mallopt(M_ARENA_MAX)`` caps the number of heaps at start-up, before the threads start,
and ``malloc_trim(0)`` returns every wholly free page of every heap. Elsewhere (macOS, musl) both
are no-ops that say so.

>>> isinstance(trim(), bool)
True
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8  # glibc's mallopt parameter number


@functools.lru_cache(maxsize=1)
def _glibc():
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return lib if lib is not None and hasattr(lib, "malloc_trim") and hasattr(lib, "mallopt") else None


def cap_arenas(n: int = 2) -> bool:
    """At most ``n`` allocator heaps for the process's threads (call before they start). True
    when glibc took it."""
    lib = _glibc()
    return bool(lib and lib.mallopt(M_ARENA_MAX, int(n)) == 1)


def trim() -> bool:
    """Return every wholly free page to the system. True when glibc released some."""
    lib = _glibc()
    return bool(lib and lib.malloc_trim(0) == 1)
