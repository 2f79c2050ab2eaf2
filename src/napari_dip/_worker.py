"""The thread that runs the fits behind a layer restoration, off the GUI thread.

``FitWorker`` is a napari/superqt generator worker over a ``Restoration``'s
snapshots; ``fit_pool`` is the thread pool it runs on (never Qt's global
one), and ``RUNNING`` keeps the runs in progress alive until they end.
"""

from __future__ import annotations

import atexit

from qtpy.QtCore import QThread, QThreadPool
from qtpy.QtWidgets import QApplication
from superqt.utils import GeneratorWorker

__all__ = ["RUNNING", "FitError", "FitWorker", "fit_pool", "fit_snapshots"]


class FitError(Exception):
    """The fit failed in the worker thread (re-raised from a RuntimeError).

    superqt takes a RuntimeError escaping a worker for a deleted Qt object and
    drops it silently, without ``errored`` or ``finished``; this keeps it visible.
    """


def fit_snapshots(restoration, every: int):
    """The worker thread's generator: the restoration's snapshots (each says its fit's number)."""
    try:
        yield from restoration.snapshots(every)
    except RuntimeError as error:
        raise FitError(str(error)) from error


class FitWorker(GeneratorWorker):
    """A generator worker whose ``quit()`` also stops the fit, within one iteration.

    napari quits running workers when its window closes; a plain generator
    worker would only notice at the next snapshot, possibly minutes later.
    Derived from superqt's class rather than napari's, whose error
    notifications are never connected under PyQt5 (its mixin's ``__init__``
    is not reached): ``LayerRestoration`` reports errors itself.
    """

    def __init__(self, func, restoration, every):
        super().__init__(func, restoration, every)
        self._restoration = restoration

    def quit(self) -> None:
        self._restoration.stop()
        super().quit()

    def start(self) -> None:
        """Queue the worker on the fits' own thread pool (``fit_pool``), not Qt's global one.

        Registered in superqt's worker set as ``WorkerBase.start`` does, so
        napari asks it to quit when the application quits.  Started at once,
        not on the next event loop turn as superqt does in the main thread:
        ``LayerRestoration`` connects its handlers before starting.
        """
        if self in self._worker_set:
            raise RuntimeError("This worker is already started!")
        self._worker_set.add(self)
        self._finished.connect(self._set_discard)
        fit_pool().start(self)


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
