"""The thread that runs the fits behind a layer restoration, off the GUI thread.

``FitWorker`` is a napari/superqt generator worker that builds a
``Restoration`` (a ``PendingRestoration``) and yields it, then its
snapshots; ``fit_pool`` is the thread pool it runs on (never Qt's global
one), and ``RUNNING`` keeps the runs in progress alive until they end.

``FitWorker.start`` does what superqt's ``WorkerBase.start`` does but on
``fit_pool``: the parts that use superqt's private names are
``register_with_superqt`` and ``end_unstarted`` alone, tested against the installed napari and
superqt by tests/test_worker.py (napari 0.9.2 and superqt 0.9.0 when written).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable

from qtpy.QtCore import QThread, QThreadPool
from qtpy.QtWidgets import QApplication
from superqt.utils import GeneratorWorker, WorkerBase

__all__ = [
    "RUNNING",
    "FitError",
    "FitWorker",
    "PendingRestoration",
    "fit_pool",
    "fit_snapshots",
    "end_unstarted",
    "register_with_superqt",
    "warm_up",
]


class FitError(Exception):
    """The fit failed in the worker thread (re-raised from a RuntimeError).

    superqt takes a RuntimeError escaping a worker for a deleted Qt object and
    drops it silently, without ``errored`` or ``finished``; this keeps it visible.
    """


class PendingRestoration:
    """A ``Restoration`` built in the worker thread, which can be stopped before it exists.

    ``build`` (called once, in the worker) makes it: reading and checking the
    pixels and choosing the tiles scale with the image, so they stay out of
    the GUI thread.  ``stop()``, from any thread, stops it whether it is
    built already or not.
    """

    def __init__(self, build: Callable[[], object]):
        self._build = build
        self._lock = threading.Lock()
        self._stopped = False
        self.restoration = None

    def build(self):
        restoration = self._build()
        with self._lock:
            self.restoration = restoration
            if self._stopped:
                restoration.stop()  # its run then returns at once
        return restoration

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            restoration = self.restoration
        if restoration is not None:
            restoration.stop()


def fit_snapshots(pending: PendingRestoration, every: int):
    """The worker thread's generator: the ``Restoration`` once built, then its snapshots."""
    try:
        _yield_to_the_gui()
        warm_up()
        restoration = pending.build()
        yield restoration
        yield from restoration.snapshots(every)
    except RuntimeError as error:
        raise FitError(str(error)) from error


#: The niceness of the fits' threads on Linux (0 is the GUI's; 19 the lowest).
FIT_NICENESS = 10


def _yield_to_the_gui() -> None:
    """Give the fit's thread (and the threads PyTorch starts from it) a lower priority.

    On two cores, two fits at full speed leave the GUI thread a third of the
    CPU: napari's own work (adding a layer) then took 0.2-0.3 s.  Linux only,
    where a thread has a niceness of its own; it lasts for the pool's thread.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FIT_NICENESS)


_WARM = threading.Lock()
_warmed = False


def warm_up() -> None:
    """Import and run once what a process's first plan and estimate need, off the GUI thread.

    The cost model behind the tiles (``core.estimate``) uses PyTorch's FLOP
    counter, its compiler and sympy: some 800 modules, about 2 s, the first
    time.  Called when the widget opens and before a layer's restoration is
    built; later calls return at once.  (Python's collector, as those modules'
    objects pile up, pauses every thread once or twice for 0.2-0.3 s: opening
    the widget takes that pause before any Run.)
    """
    global _warmed
    with _WARM:
        if not _warmed:
            from ..core.estimate import estimate_fit
            from ..core.presets import PRESETS

            estimate_fit(PRESETS["fast"], (64, 64), 1, "cpu")
            _warmed = True


class FitWorker(GeneratorWorker):
    """A generator worker whose ``quit()`` also stops the fit, within one iteration.

    napari quits running workers when its window closes; a plain generator
    worker would only notice at the next snapshot, possibly minutes later.
    Derived from superqt's class rather than napari's, whose error
    notifications are never connected under PyQt5 (its mixin's ``__init__``
    is not reached): ``LayerRestoration`` reports errors itself.
    """

    def __init__(self, func, pending: PendingRestoration, every: int):
        super().__init__(func, pending, every)
        self._pending = pending

    def quit(self) -> None:
        self._pending.stop()
        super().quit()

    def start(self) -> None:
        """Queue the worker on the fits' own thread pool (``fit_pool``), not Qt's global one.

        Registered in superqt's worker set as ``WorkerBase.start`` does, so
        napari asks it to quit when the application quits.  Started at once,
        not on the next event loop turn as superqt does in the main thread:
        ``LayerRestoration`` connects its handlers before starting.
        """
        register_with_superqt(self)
        fit_pool().start(self)


def register_with_superqt(worker: WorkerBase) -> None:
    """What superqt's ``WorkerBase.start`` does before it queues a worker, done with its
    private names: the one coupling of napari-dip to superqt's private API.

    The worker joins ``WorkerBase._worker_set``, the workers that
    ``WorkerBase.await_workers`` asks to quit (napari connects it to the
    application's ``aboutToQuit``), and leaves it through the private
    ``_finished`` signal and ``_set_discard`` when its run ends.  A worker
    already started raises ``RuntimeError``, as superqt's does.  Tested
    against the installed napari and superqt by tests/test_worker.py; written
    for superqt 0.9.0 (napari 0.9.2).
    """
    if worker in WorkerBase._worker_set:
        raise RuntimeError("This worker is already started!")
    WorkerBase._worker_set.add(worker)
    worker._finished.connect(worker._set_discard)


def end_unstarted(worker: WorkerBase) -> None:
    """End a worker taken out of the pool's queue before it ran: quit, and emit what an
    aborted run emits (``aborted``, ``finished``: their handlers expect them) and the
    private ``_finished`` that takes it out of superqt's worker set (``register_with_superqt``)."""
    worker.quit()
    worker.aborted.emit()
    worker.finished.emit()
    worker._finished.emit(worker)


#: The fit workers' thread pool (see ``fit_pool``).
POOL: QThreadPool | None = None


def fit_pool() -> QThreadPool:
    """The thread pool that runs the fits, made on first use: never Qt's global one.

    Qt and napari run short tasks of the GUI thread on the global pool, one
    thread per core, and block until they are done (e.g. converting images
    while drawing): fits there froze the window until one of them ended.
    This pool runs as many fits at once as the machine has cores, and at
    least two, so that a second run need not wait for a first long one;
    each fit chooses its own torch thread count.  Further runs wait in the
    pool's queue (``LayerRestoration.queued``) until a running one ends.
    When the application quits or Python exits, the fits are stopped and
    their threads waited for.
    """
    global POOL
    if POOL is None:
        POOL = QThreadPool()
        POOL.setMaxThreadCount(max(2, QThread.idealThreadCount()))
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(_stop_fits)
        atexit.register(_stop_fits)
    return POOL


def _stop_fits() -> None:
    """Stop the fits still running or waiting, and wait until their threads are done.

    Connected to the application's ``aboutToQuit`` and run at Python's exit:
    napari only waits for Qt's global pool, and without this a script that
    ends during a run hangs at exit until the fit reaches its cap.
    """
    if POOL is None:
        return
    for run in list(RUNNING):
        run.worker.quit()
    POOL.waitForDone()


#: Runs in progress.  Qt holds bound-method slots weakly, so a run whose
#: handle the caller dropped would otherwise lose its handlers mid-fit.
RUNNING: set = set()
