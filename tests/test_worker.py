"""The fits' worker against the installed napari and superqt.

``FitWorker.start`` queues the worker on napari-dip's own thread pool instead
of Qt's global one, so it copies what superqt's ``WorkerBase.start`` does
besides: ``register_with_superqt`` and ``end_unstarted``, the one place that
uses superqt's private names.  These tests check what it relies on, so that an upgrade of napari or
superqt that breaks it fails here with a message that says where to look.
Run under a virtual X server: ``xvfb-run -a python -m pytest tests/test_worker.py``.
"""

import threading

import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

import napari
import superqt
from helpers import blobs
from pytestqt.exceptions import TimeoutError as WaitTimedOut
from superqt.utils import GeneratorWorker, WorkerBase

import napari_dip
from napari_dip._napari.worker import (
    FitWorker,
    PendingRestoration,
    end_unstarted,
    register_with_superqt,
)

VERSIONS = f"napari {napari.__version__} with superqt {superqt.__version__}"
FIX = (
    "napari_dip._napari.worker.register_with_superqt relies on it: adapt it, and the versions "
    "tested named there and in pyproject.toml"
)


class Stoppable:
    """Stands for a ``PendingRestoration``: ``FitWorker.quit`` stops it."""

    def __init__(self):
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()


def until_stopped(pending: Stoppable, every: int):
    """A fit's generator that runs until it is stopped."""
    while not pending.stopped.wait(0.01):
        yield


def wait_until_unregistered(qtbot, worker) -> None:
    """The worker leaves superqt's set once its run has ended (``_finished``, ``_set_discard``)."""
    try:
        qtbot.waitUntil(lambda: worker not in WorkerBase._worker_set, timeout=10_000)
    except WaitTimedOut:
        pytest.fail(
            f"{VERSIONS}: a worker that ended stays in WorkerBase._worker_set (its _finished "
            f"signal no longer reaches WorkerBase._set_discard); {FIX}"
        )


@pytest.fixture
def fit_worker(qtbot):
    """A started ``FitWorker``, quit and waited for at the end."""
    pending = Stoppable()
    worker = FitWorker(until_stopped, pending, 1)
    worker.start()
    yield worker
    worker.quit()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)


def test_superqt_has_the_private_names_the_fits_worker_uses():
    worker_set = getattr(WorkerBase, "_worker_set", None)
    assert isinstance(worker_set, set), f"{VERSIONS}: no set WorkerBase._worker_set; {FIX}"
    assert FitWorker._worker_set is worker_set, f"{VERSIONS}: a worker set per class; {FIX}"
    assert callable(getattr(WorkerBase, "_set_discard", None)), (
        f"{VERSIONS}: no WorkerBase._set_discard; {FIX}"
    )
    worker = GeneratorWorker(until_stopped, Stoppable(), 1)
    assert hasattr(worker, "_finished"), f"{VERSIONS}: a worker has no _finished signal; {FIX}"


def test_superqt_s_own_start_registers_a_worker_until_its_run_ends(qtbot):
    """What ``register_with_superqt`` copies, done by superqt itself."""
    pending = Stoppable()
    worker = GeneratorWorker(until_stopped, pending, 1)
    worker.start()  # the test's thread runs no event loop: started at once, on Qt's pool
    try:
        assert worker in WorkerBase._worker_set, (
            f"{VERSIONS}: WorkerBase.start no longer adds the worker to _worker_set; {FIX}"
        )
    finally:
        pending.stop()
        qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    wait_until_unregistered(qtbot, worker)


def test_a_fit_worker_is_registered_while_it_runs_and_starts_once(qtbot, fit_worker):
    assert fit_worker in WorkerBase._worker_set
    with pytest.raises(RuntimeError, match="already started"):
        fit_worker.start()
    with pytest.raises(RuntimeError, match="already started"):
        register_with_superqt(fit_worker)
    fit_worker.quit()
    qtbot.waitUntil(lambda: not fit_worker.is_running, timeout=10_000)
    wait_until_unregistered(qtbot, fit_worker)


def test_a_worker_ended_before_it_ran_says_so_and_leaves_superqt_s_set(qtbot):
    """What a run taken out of the pool's queue does (``LayerRestoration.stop``)."""
    pending = Stoppable()
    worker = FitWorker(until_stopped, pending, 1)
    register_with_superqt(worker)  # as start() does, without queueing it
    emitted = []
    worker.aborted.connect(lambda: emitted.append("aborted"))
    worker.finished.connect(lambda: emitted.append("finished"))
    end_unstarted(worker)
    assert pending.stopped.is_set() and emitted == ["aborted", "finished"]
    wait_until_unregistered(qtbot, worker)


def test_napari_asks_the_registered_fits_to_quit_when_the_application_quits(qtbot, fit_worker):
    """The reason for registering: napari connects this function to ``aboutToQuit``."""
    try:
        from napari._qt.qthreading import wait_for_workers_to_quit
    except ImportError as error:
        pytest.fail(f"{VERSIONS}: {error}; {FIX}")
    wait_for_workers_to_quit(10_000)
    assert fit_worker._pending.stopped.is_set(), (
        f"{VERSIONS}: quitting the application no longer quits the workers in "
        f"WorkerBase._worker_set; {FIX}"
    )
    qtbot.waitUntil(lambda: not fit_worker.is_running, timeout=10_000)


def test_a_stop_before_the_restoration_is_built_stops_it_once_built():
    pending = PendingRestoration(lambda: napari_dip.Restoration("denoise", blobs(), max_iter=50))
    pending.stop()
    restoration = pending.build()
    restoration.run()
    assert restoration.info.iterations == 0 and restoration.info.stop_reason == "stopped"
