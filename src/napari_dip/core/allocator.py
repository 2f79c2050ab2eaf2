"""Reuse freed CPU memory while a fit runs (Linux with glibc; elsewhere a no-op).

Every iteration frees and allocates the same large activations again.  By
default glibc serves big blocks with fresh ``mmap`` pages, which the kernel
zeroes on first touch, and hands the top of its heap back to the system as
soon as it is free, so each iteration pays page faults on its whole working
set: a quarter to a half of the iteration time in ``benchmarks/run.py``.
While at least one CPU fit runs, ``reuse_freed_memory`` raises glibc's mmap
and trim thresholds so freed blocks are reused; when the last fit ends they
return to the values glibc itself adapts them to, and the free memory goes
back to the system.  ``release_freed_memory`` hands it back meanwhile, when a fit
moves on to work whose buffers have other sizes (the fusion after the iterations),
which would otherwise come on top of the kept blocks instead of reusing them.

glibc serves large blocks requested from threads other than the main one
from separate arenas of at most 64 MiB, so blocks above that size (networks
on planes over about half a megapixel, in a worker thread) still come from
``mmap``; the environment variable ``MALLOC_ARENA_MAX=1``, set before Python
starts, sends them to the main heap as well.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["release_freed_memory", "reuse_freed_memory"]

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# After a fit: the values glibc's own adaptive thresholds grow to on 64-bit systems (setting either
# turns the adaptation off for good, so the adapted values are restored rather than the initial ones).
_MMAP_THRESHOLD_AFTER = 32 * 2**20
_TRIM_THRESHOLD_AFTER = 2 * _MMAP_THRESHOLD_AFTER
_RAISED_MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB come from the heap
_RAISED_TRIM_THRESHOLD = 2**31 - 1  # never trim the heap top while fitting

_lock = threading.Lock()
_active = 0


def _load_glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


_glibc = _load_glibc()


@contextmanager
def reuse_freed_memory(enabled: bool = True) -> Iterator[None]:
    """Keep freed heap memory for reuse inside the block (nested and threaded uses count)."""
    global _active
    if _glibc is None or not enabled:
        yield
        return
    with _lock:
        _active += 1
        if _active == 1:
            _glibc.mallopt(_M_MMAP_THRESHOLD, _RAISED_MMAP_THRESHOLD)
            _glibc.mallopt(_M_TRIM_THRESHOLD, _RAISED_TRIM_THRESHOLD)
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                _glibc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_AFTER)
                _glibc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_AFTER)
                _glibc.malloc_trim(0)


def release_freed_memory() -> None:
    """Hand the heap's free memory back to the system now (glibc; elsewhere a no-op).

    Inside ``reuse_freed_memory`` freed blocks are kept for the next iteration; a
    different workload after the last one (a 512x512 fit's fusion) cannot reuse them: its
    peak measured 0.38 GB above the iterations' with them kept, 0.11 GB with them released.
    """
    if _glibc is not None:
        _glibc.malloc_trim(0)
