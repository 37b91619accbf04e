"""CPU thread settings: how many cores this process may use, and single-threaded BLAS on demand.

Multi-threaded BLAS on small matrices is slow on a busy 2-core machine: a
16-token question took seconds instead of milliseconds when another process
held a core (OpenBLAS threads spin waiting for each other). The encoder runs
its float32 numpy pass with numpy's OpenBLAS on one thread and, for many
texts, one batch per core in Python threads instead.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

_lock = threading.Lock()
_users = 0
_saved = 0


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@lru_cache(maxsize=1)
def _openblas() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    """``(set_num_threads, get_num_threads)`` of the OpenBLAS that numpy loaded, or ``None`` if not found."""
    import numpy  # noqa: F401 - numpy must be loaded for its BLAS to be in the maps

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.rsplit("/", 1)[-1].lower()
                    and "numpy" in line})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                    return setter, getter
    return None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run numpy's BLAS on one thread inside the block (process-wide; nested and concurrent uses are counted)."""
    global _users, _saved
    blas = _openblas()
    if blas is None:
        yield
        return
    setter, getter = blas
    with _lock:
        if _users == 0:
            _saved = getter()
            setter(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                setter(_saved)


@lru_cache(maxsize=1)
def _libc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_memory() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Bulk embedding frees and reallocates many tens-of-MB arrays from several threads;
    without this, glibc keeps the freed pages and a 10,000-document build peaked at 3 GB.
    """
    trim = _libc_trim()
    if trim is not None:
        trim(0)
