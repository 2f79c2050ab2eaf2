"""Seeds: drawn and checked, and torch's global random generator used by one thread at a time.

Networks draw their initial weights from torch's global generator.  A fit
seeds it to build its networks and input codes, and the speed measurement
builds a network too: done at once in several threads (napari's thread pool,
the widget's estimate, Dask's threads), they would draw from each other's
sequence, and a seed would no longer give its result.  ``seeded`` holds a
lock for the draws, and leaves the generator as the caller had it.
"""

from __future__ import annotations

import numbers
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["check_seed", "new_seed", "seeded"]

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


def new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


def check_seed(seed) -> int:
    """``seed`` as an int in [0, 2**64 - 1], the range of torch's generators."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer or None, got {seed!r}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be between 0 and 2**64 - 1, got {seed}")
    return int(seed)
