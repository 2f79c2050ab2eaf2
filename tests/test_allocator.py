"""The fit keeps freed CPU memory for reuse while it runs, and gives it back afterwards."""

import ctypes

import numpy as np
import pytest
import torch

from napari_dip.core import allocator
from napari_dip.core.devices import preferred_memory_format
from napari_dip.core.fit import Fit
from napari_dip.core.operators import Identity
from napari_dip.core.presets import PRESETS

glibc_only = pytest.mark.skipif(allocator._glibc is None, reason="needs glibc's malloc")
BLOCK = 96 * 2**20  # above glibc's largest automatic mmap threshold (32 MiB)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _served_by_mmap() -> bool:
    """Whether glibc serves a ``BLOCK`` with fresh pages from the system (else from its heap)."""
    libc = allocator._glibc
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallinfo2.restype = _Mallinfo2
    before = libc.mallinfo2().hblkhd  # bytes in blocks mapped on their own
    pointer = libc.malloc(BLOCK)
    mapped = libc.mallinfo2().hblkhd - before >= BLOCK
    libc.free(pointer)
    return mapped


@glibc_only
def test_freed_blocks_are_kept_only_inside_the_block_and_nested_uses_count():
    assert _served_by_mmap()  # outside a fit, a block this big comes from the system
    with allocator.reuse_freed_memory():
        assert not _served_by_mmap()  # from the heap, where freed blocks are kept for reuse
        with allocator.reuse_freed_memory():
            pass
        assert not _served_by_mmap()  # the outer fit still runs
    assert _served_by_mmap()
    with allocator.reuse_freed_memory(enabled=False):
        assert _served_by_mmap()


@glibc_only
def test_a_fit_restores_the_defaults_when_it_ends_or_is_abandoned():
    target = torch.rand(1, 1, 32, 32)
    fit = Fit(target, Identity(), PRESETS["fast"], (32, 32), max_iter=3, auto_stop=False, seed=0)
    snapshots = fit.snapshots(every=1)
    next(snapshots)
    assert allocator._active == 1
    snapshots.close()
    assert allocator._active == 0
    list(
        Fit(
            target, Identity(), PRESETS["fast"], (32, 32), max_iter=2, auto_stop=False, seed=0
        ).snapshots()
    )
    assert allocator._active == 0 and _served_by_mmap()


def _resident_bytes() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


@glibc_only
def test_released_memory_leaves_the_process_while_freed_blocks_are_kept():
    with allocator.reuse_freed_memory():
        block = np.ones(BLOCK // 8)  # written: resident, from the heap
        del block
        kept = _resident_bytes()  # freed, but kept for the next iteration
        allocator.release_freed_memory()  # as a fit does before its fusion
        assert _resident_bytes() < kept - BLOCK // 2
        assert not _served_by_mmap()  # still reusing freed blocks


def test_channels_last_on_the_cpu_in_2d_only():
    cpu = torch.device("cpu")
    assert preferred_memory_format(cpu, 2) == torch.channels_last
    assert preferred_memory_format(cpu, 3) == torch.contiguous_format
    target = torch.rand(1, 2, 32, 32)
    fit = Fit(target, Identity(), PRESETS["fast"], (32, 32), max_iter=1, auto_stop=False, seed=0)
    weight = fit.net[0].body.down[0].weight  # a 3x3 convolution
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()
    result = next(iter(fit.snapshots(every=1))).image
    assert result.shape == (2, 32, 32) and np.isfinite(result).all()
