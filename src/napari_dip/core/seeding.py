"""torch's global random generator, used by one thread at a time.

Networks draw their initial weights from torch's global generator.  A fit
seeds it to build its networks and input codes, and the speed measurement
builds a network too: done at once in several threads (napari's thread pool,
the widget's estimate, Dask's threads), they would draw from each other's
sequence, and a seed would no longer give its result.  ``seeded`` holds a
lock for the draws, and leaves the generator as the caller had it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["seeded"]

_GLOBAL_RNG = threading.Lock()


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Draw from torch's global generator, seeded with ``seed`` (None: as it is), alone.

    The generator's state is restored afterwards, so the caller's random
    numbers are left alone.
    """
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield
