"""The widget's line that says what the form's settings will cost, from the plan alone."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from magicgui.widgets import Label
from qtpy.QtCore import QTimer

from .worker import warm_up

if TYPE_CHECKING:
    from .._plan import Plan, RunEstimate

__all__ = ["EstimateLine"]

#: The estimate waits for the form to be still this long (ms) ...
ESTIMATE_DELAY_MS = 300
#: ... and its thread is polled this often (ms).
ESTIMATE_POLL_MS = 50


class EstimateLine:
    """A label that says what the form's settings will cost, kept up to date.

    ``schedule()`` on every change; once the form has not changed for
    ``ESTIMATE_DELAY_MS``, ``planner()`` is called (cheap: shapes only; its
    errors are shown in the line) and the plan and its estimate are made in a
    plain Python thread, polled from here.  That thread first warms up what
    the first plan of a process needs (``warm_up``, about 2 s, when the
    widget opens) and measures the machine's speed with the first estimate
    (about a second).  It touches no Qt object, and Python waits for
    it at exit (a Qt worker thread still running then aborts the process).
    One estimate runs at a time; changes meanwhile start another when it ends.
    """

    def __init__(self, label: Label, planner: Callable[[], Callable[[], Plan] | None]):
        self._label, self._planner = label, planner
        #: The estimate shown, if any.
        self.estimate: RunEstimate | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="napari-dip")
        self._executor.submit(warm_up)
        self._future: Future | None = None
        self._stale = False
        self._timer = QTimer(label.native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(ESTIMATE_DELAY_MS)
        self._timer.timeout.connect(self._start)
        self._poll = QTimer(label.native)
        self._poll.setInterval(ESTIMATE_POLL_MS)
        self._poll.timeout.connect(self._check)

    def schedule(self) -> None:
        """Estimate once the form has not changed for ``ESTIMATE_DELAY_MS``."""
        self._timer.start()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _show(self, line: str, tooltip: str) -> None:
        self._label.value, self._label.tooltip = line, tooltip

    def _show_estimate(self, estimate: RunEstimate, what: str = "Estimate") -> None:
        line = f"{what}: {estimate.describe()}"
        self._show(line, f"{line}; where the automatic stop ends depends on the image")

    def measured(self, seconds_per_iteration: float) -> None:
        """Correct the estimate with the speed a run measures."""
        if self.estimate is not None:
            measured = replace(self.estimate, seconds_per_iteration=seconds_per_iteration)
            self._show_estimate(measured, "Measured")

    def _start(self) -> None:
        if self._future is not None:
            self._stale = True
            return
        self.estimate = None
        try:
            planner = self._planner()
        except (ValueError, TypeError) as error:
            self._show(*_no_estimate(error))
            return
        if planner is None:
            self._show("", "")
            return
        self._future = self._executor.submit(_estimate, planner)
        self._poll.start()

    def _check(self) -> None:
        if not self._future.done():
            return
        self._poll.stop()
        result = self._future.result()
        self._future = None
        if self._stale:
            self._stale = False
            self._start()
        elif isinstance(result, Exception):
            self.estimate = None
            self._show(*_no_estimate(result))
        else:
            self.estimate = result
            self._show_estimate(result)


def _estimate(planner: Callable[[], Plan]) -> RunEstimate | Exception:
    """In a background thread: the estimate of the plan ``planner`` makes, or why there is none."""
    try:
        return planner().estimate()
    except Exception as error:  # shown in the line, never raised
        return error


def _no_estimate(error: Exception) -> tuple[str, str]:
    """The first sentence of why there is no estimate, and the whole message as the tooltip."""
    message = str(error)
    return f"No estimate: {message.split('. ')[0]}", message
