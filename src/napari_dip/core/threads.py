"""How many CPU threads a fit uses: chosen per fit, adapted while it runs, restored after.

PyTorch uses one OpenMP thread per core by default.  A Deep Image Prior
iteration is hundreds of small operations, each ending on a barrier where every
thread waits for the slowest; when another process takes a core, a
descheduled thread holds up the others at every barrier.  On a 2-core machine
a default fit of a 128x128 image ran x4-5 slower beside one busy process with
two threads, where one thread would have run at full speed on the free core
(docs/threads.md).  Alone, the second thread gains only 5-10% there.

So each CPU fit chooses its own thread count:

1. A cap: the CPUs this process may use (its affinity mask and cgroup CPU
   quota), no more than the calling thread's ``torch.get_num_threads()``
   (which follows ``OMP_NUM_THREADS`` and the user's ``torch.set_num_threads``),
   one thread per ``PIXELS_PER_THREAD`` pixels of the estimate (small
   images gain nothing from more), and a share of the CPUs when several fits
   run in this process at once.
2. While fitting, the candidates ``cap, cap // 2, ..., 1`` are timed over a few
   iterations each and the fastest is kept; they are timed again when
   iterations slow down and every ``RECHECK_ITERATIONS`` (doubling while the
   choice holds), so a fit follows the load of the machine.

The count is set only in the thread that runs the fit (torch's intra-op
thread count belongs to the calling thread) and only while it iterates: the
caller's own count is back in place at every snapshot handed out and after
the fit.  ``threads=N`` fixes the count instead.

Results depend on the thread count in their last bits (parallel sums add in
another order) and the difference grows along a fit, so bitwise
reproducibility needs a fixed count: ``threads=1`` gives the same result on
every CPU, whatever the load.  Below ``2 * PIXELS_PER_THREAD`` pixels the cap
is 1 anyway.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
from pathlib import Path

import numpy as np
import torch

__all__ = ["ThreadPolicy", "available_cpus", "check_threads"]

#: Pixels (of the estimate, all spatial axes) that make a second thread worth it.
PIXELS_PER_THREAD = 8192
#: Iterations at the cap before timing starts (first allocations, kernel set-up).
WARMUP_ITERATIONS = 2
#: Iterations timed for each candidate; the first after a switch is not counted.
PROBE_ITERATIONS = 4
#: Iterations between two timings of the candidates while the choice holds (then x2, up to x16).
RECHECK_ITERATIONS = 100
#: A median iteration this many times the chosen count's timing starts a new timing.
SLOWDOWN = 1.5
#: A count with more threads must be this much faster to be preferred.
MARGIN = 0.03

_running = 0
_running_lock = threading.Lock()


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup's CPU quota (v2 ``cpu.max`` or v1 CFS), None if unlimited."""
    roots = [Path("/sys/fs/cgroup")]
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                roots.insert(0, Path("/sys/fs/cgroup") / line[3:].lstrip("/"))
    except OSError:
        pass
    for root in roots:
        try:
            quota, period = (root / "cpu.max").read_text().split()[:2]
            if quota != "max":
                return int(quota) / int(period)
        except (OSError, ValueError):
            pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask, within its cgroup's CPU quota."""
    if hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0))
    else:
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def check_threads(threads) -> int | None:
    """``threads`` as a positive int, or None for the automatic choice."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be a positive integer or None (automatic), got {threads!r}")
    if threads < 1:
        raise ValueError(f"threads must be a positive integer or None (automatic), got {threads}")
    return int(threads)


class ThreadPolicy:
    """The thread count of one CPU fit: ``enter``/``leave`` around its iterations, ``step`` after each.

    Parameters
    ----------
    pixels : int
        Spatial size of the estimate (Y * X, or Z * Y * X).
    threads : int, optional
        A fixed count; None chooses and adapts it.
    """

    def __init__(self, pixels: int, threads: int | None = None):
        self.fixed = threads
        self._pixels = pixels
        self._saved: int | None = None
        self._registered = False
        self.current = threads or 1
        self.candidates = [self.current]
        self.used: set[int] = set()
        self._plan: list[int] = []  # counts still to time, the current one first
        self._timings: dict[int, list[float]] = {}
        self._recent: list[float] = []
        self._baseline = math.inf
        self._recheck = RECHECK_ITERATIONS
        self._until_recheck = 0
        self._warmup = 0
        self._choice: int | None = None

    def _cap(self, caller: int) -> int:
        share = available_cpus() // max(1, _running)
        by_size = self._pixels // PIXELS_PER_THREAD
        return max(1, min(caller, share, by_size))

    def enter(self) -> None:
        """Use the fit's count in this thread (the caller's is saved)."""
        if self._saved is not None:
            return
        self._saved = torch.get_num_threads()
        if not self._registered:
            global _running
            with _running_lock:
                _running += 1
            self._registered = True
            if self.fixed is None:
                cap = self._cap(self._saved)
                self.candidates = sorted({max(1, cap >> k) for k in range(cap.bit_length())})[::-1]
                self.current = self.candidates[0]
                self._warmup = WARMUP_ITERATIONS if len(self.candidates) > 1 else 0
                self._plan = list(self.candidates) if len(self.candidates) > 1 else []
        torch.set_num_threads(self.current)
        self.used.add(self.current)

    def leave(self) -> None:
        """Give this thread its caller's count back."""
        if self._saved is not None:
            torch.set_num_threads(self._saved)
            self._saved = None

    def close(self) -> None:
        """The fit is over: restore the caller's count and free this fit's share of the CPUs."""
        self.leave()
        if self._registered:
            global _running
            with _running_lock:
                _running -= 1
            self._registered = False

    def step(self, seconds: float) -> None:
        """Account one iteration that took ``seconds``; may switch the count for the next."""
        if len(self.candidates) < 2:
            return
        if self._warmup:
            self._warmup -= 1
            return
        if self._plan:
            self._time_candidate(seconds)
            return
        self._recent.append(seconds)
        if len(self._recent) > 8:
            self._recent.pop(0)
        self._until_recheck -= 1
        slowed = (
            self.current > 1
            and len(self._recent) == 8
            and statistics.median(self._recent) > SLOWDOWN * self._baseline
        )
        if self._until_recheck <= 0 or slowed:
            self._plan = list(self.candidates)
            self._timings = {}
            self._switch(self._plan[0])

    def _time_candidate(self, seconds: float) -> None:
        times = self._timings.setdefault(self.current, [])
        times.append(seconds)
        if len(times) < PROBE_ITERATIONS:
            return
        self._plan.pop(0)
        if self._plan:
            self._switch(self._plan[0])
            return
        medians = {n: statistics.median(t[1:]) for n, t in self._timings.items()}
        best = min(medians, key=medians.get)
        for n in sorted(medians):  # fewer threads unless more are clearly faster
            if medians[n] <= (1 + MARGIN) * medians[best]:
                best = n
                break
        if best == self._choice:  # the choice holds: time the candidates less often
            self._recheck = min(2 * self._recheck, 16 * RECHECK_ITERATIONS)
        else:
            self._recheck = RECHECK_ITERATIONS
        self._choice = best
        self._baseline = medians[best]
        self._until_recheck = self._recheck
        self._recent = []
        self._switch(best)

    def _switch(self, threads: int) -> None:
        self.current = threads
        if self._saved is not None:
            torch.set_num_threads(threads)
            self.used.add(threads)
