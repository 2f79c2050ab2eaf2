"""The "Deep Image Prior" dock widget: the form (``form.py``), and its runs.

``DeepImagePriorWidget`` adds the runs to the form: Run starts a
``LayerRestoration`` with its settings (``run_layer``: thread worker, live
preview, progress bar, result layer), Stop ends it early, keeping the best
result so far; ``EstimateLine`` says what the settings will cost, from the
plan alone (no pixel is read); the status line says how a run goes and how
it ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, Container, Label, PushButton, SpinBox
from napari.layers import Image
from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QApplication

from .._records import RunInfo
from .._tasks import task_spec
from ..core.stop_reason import StopReason
from ..core.units import format_duration
from .estimate_line import EstimateLine
from .form import PSF_GAUSSIAN, Form
from .layer_run import LayerRestoration, run_layer
from .plot import ScorePlot
from .worker import fit_pool

if TYPE_CHECKING:
    import napari

    from ..core.presets import Recipe


class DeepImagePriorWidget(Form):
    """Restore an image layer with Deep Image Prior, watching a live preview.

    The form, then its runs: Run and Stop, the status line, the plot of the
    scores, Copy as Python and Settings from result.  Scripts can fill the
    form (``widget.task.value = "inpaint"``, ...) and call ``widget.run()``,
    which returns the ``LayerRestoration`` (``.wait()``).
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer)
        self.current_run: LayerRestoration | None = None
        self._starting = ""  # the status line of the current run once it has a thread
        self._add_run_controls()
        self._closed = False
        self._estimate_line = EstimateLine(self.estimate, self.planner)
        for control in self.controls:
            control.changed.connect(self._estimate_line.schedule)
        self.run_button.changed.connect(self._on_run_clicked)
        self.stop_button.changed.connect(self.stop)
        self.copy_button.changed.connect(self._on_copy_clicked)
        self.settings_button.changed.connect(self._on_settings_clicked)
        self.recipe_changed.connect(self._show_recipe)
        self.auto_stop.changed.connect(lambda _: self._show_recipe(self.recipe))
        self.axes_guessed.connect(self._show_axes_guess)
        for event in ("inserted", "removed", "reordered", "renamed"):
            getattr(viewer.layers.events, event).connect(self.reset_choices)
        viewer.dims.events.current_step.connect(self._on_position_changed)
        self._show_recipe(self.recipe)  # the form's, chosen before the runs' controls existed
        if self.axes_guess is not None:
            self._show_axes_guess(self.axes_guess)
        self._estimate_line.schedule()
        _CloseWatcher(self.native, self._on_closed)
        self.native.destroyed.connect(self._on_destroyed)

    def _add_run_controls(self) -> None:
        """Below the form: the preview interval, the result's layers, the estimate, the
        buttons, the status line and the plot of the scores."""
        self.every = SpinBox(
            label="Preview every", min=1, max=100_000, value=25, tooltip="Iterations"
        )
        self.new_layer = CheckBox(
            text="New result layer", tooltip="Keep earlier results of this input and task"
        )
        self.uncertainty = CheckBox(
            text="Uncertainty layer",
            tooltip=(
                "Add, over the result, where it is least certain, in the image's units: "
                "a denoising's expected error, predicted by its Wiener fusion (the default), "
                "an inpainting's, calibrated on held-out holes (with the automatic stop), "
                "or how much an ensemble's members disagree (presets with several members)"
            ),
        )
        self.estimate = Label(value="")
        self.run_button = PushButton(text="Run")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.copy_button = PushButton(
            text="Copy as Python",
            tooltip="Python that reproduces the last result (or these settings), seed included",
        )
        self.status = Label(value="")
        for label in (self.estimate, self.status):
            label.native.setWordWrap(True)  # long messages must not widen the dock
        self.settings_button = PushButton(
            text="Settings from result",
            tooltip="Fill the form with the settings of the selected result layer (saved or not)",
        )
        buttons = Container(
            widgets=[self.run_button, self.stop_button], layout="horizontal", labels=False
        )
        records = Container(
            widgets=[self.copy_button, self.settings_button], layout="horizontal", labels=False
        )
        self.extend(
            [
                self.every,
                self.new_layer,
                self.uncertainty,
                self.estimate,
                buttons,
                records,
                self.status,
            ]
        )
        self.plot = ScorePlot()
        self.native.layout().addWidget(self.plot)

    def run(self) -> LayerRestoration:
        """Start restoring with the form's settings and return the run.

        Raises ``ValueError`` or ``TypeError`` (nothing is added to the viewer)
        when the settings are invalid, e.g. axes that do not fit the image or
        a mask whose shape differs from the image's, and ``MemoryError`` when
        even the smallest tile needs more than the memory budget.
        """
        if self.current_run is not None and not self.current_run.done:
            raise RuntimeError("a restoration is already running; stop it first")
        settings = self.settings()
        run = run_layer(
            self._viewer,
            settings.layer,
            settings.task,
            settings.options,
            **settings.data,
            every=self.every.value,
            new_layer=self.new_layer.value,
            uncertainty=self.uncertainty.value and self.uncertainty.enabled,
        )
        self.current_run = run
        self.plot.clear()
        run.started.connect(self._on_started)
        run.snapshot.connect(self._show_snapshot)
        run.finished.connect(self._on_finished)
        self.run_button.enabled = False
        self.stop_button.enabled = True
        what = f"{self.task.current_choice.lower()} of {run.source.name}"
        self._starting = f"Starting {what}..."
        if run.queued:
            self.status.value = (
                f"Waiting: {fit_pool().maxThreadCount()} runs are in progress already; "
                f"the {what} starts when one of them ends"
            )
        else:
            self.status.value = self._starting
        return run

    def stop(self) -> None:
        """Stop the running fit; the best result so far becomes the result layer.

        Does nothing when no fit is running.
        """
        if self.current_run is not None and not self.current_run.done:
            self.stop_button.enabled = False
            self.status.value = "Stopping..."
            self.current_run.stop()  # a run still waiting for a thread finishes here

    def copy_python(self) -> str:
        """Put on the clipboard, and return, Python that reproduces the last result.

        Before any result, the code of a run with the form's settings (a
        random seed is drawn now and written in).  With ``image`` bound to the
        input array (and ``mask`` or ``psf`` where needed) it leaves the
        restored array in ``result``.
        """
        run = self.current_run
        if run is not None and run.result_layer is not None:
            code = run.result_layer.metadata["napari_dip"]["python"]
        else:
            planner = self.planner()
            if planner is None:
                raise ValueError("choose an image layer to restore")
            plan = planner()
            sigma = self.psf_sigma.value if self.psf.value == PSF_GAUSSIAN else None
            info = RunInfo.of(plan, [], stopped=False, elapsed=0.0, finished_at=None)
            source = f"the data of layer {self.image.value.name!r}{self.guide.described()}"
            code = info.python(psf_sigma=sigma, source=source)
        QApplication.clipboard().setText(code)
        return code

    def _on_copy_clicked(self) -> None:
        try:
            self.copy_python()
        except (ValueError, TypeError, MemoryError) as error:
            self.status.value = f"Nothing copied: {error}"
        else:
            self.status.value = "Copied Python that reproduces this run to the clipboard"

    def _on_settings_clicked(self) -> None:
        layer = self._viewer.layers.selection.active
        record = {} if layer is None else layer.metadata.get("napari_dip", {})
        if "recipe" not in record:
            self.status.value = "Select a result layer of napari-dip (e.g. a saved one, reopened)"
            return
        try:
            to_do = self.apply_record(record)
        except ValueError as error:
            self.status.value = f"Settings not applied: {error}"
        else:
            source = self.image.value.name if self.image.value is not None else "its input"
            self.status.value = f"Settings of {layer.name}: Run restores {source} again{to_do}"

    def _show_recipe(self, recipe: Recipe) -> None:
        """An uncertainty layer needs an ensemble, a denoising's fusion or an inpainting's
        held-out holes."""
        spec = task_spec(self.task.value)
        self.uncertainty.enabled = spec.gives_uncertainty(recipe, self.auto_stop.value)

    def _show_axes_guess(self, reason: str) -> None:
        """Say why the axes were guessed so, unless a run has the status line."""
        if self.current_run is None or self.current_run.done:
            self.status.value = reason

    def _on_position_changed(self) -> None:
        """The current plane moved: it may now be inside or outside the image."""
        if not self._closed and self.current_plane.value:
            self._estimate_line.schedule()

    def _on_run_clicked(self) -> None:
        try:
            self.run()
        except (ValueError, TypeError, MemoryError) as error:
            show_error(f"Deep Image Prior: {error}")
            self.status.value = f"Not started: {error}"

    def _on_started(self) -> None:
        """The run waited for a thread and has one now."""
        if not self.current_run.done and self.stop_button.enabled:
            self.status.value = self._starting

    def _show_snapshot(self, snapshot) -> None:
        self.plot.add(snapshot)
        if snapshot.done:
            return
        seconds = snapshot.elapsed / snapshot.iteration if snapshot.iteration else float("nan")
        plan = self.current_run.restoration.plan
        self.status.value = _progress_line(
            snapshot, seconds, plan.auto_stop, plan.expected_iterations
        )
        self._estimate_line.measured(seconds)

    def _on_finished(self) -> None:
        run = self.current_run
        self.run_button.enabled = True
        self.stop_button.enabled = False
        if run.error is not None:
            self.status.value = f"Failed: {run.error}"
        elif run.result_layer is None:
            self.status.value = "Cancelled"
        else:
            self.status.value = _result_line(run.result_layer)

    def _on_closed(self) -> None:
        """Closed, or taken out of its dock: end the run without a result."""
        if self.current_run is not None:
            self.current_run.cancel()

    def _on_destroyed(self) -> None:
        """The window holding the widget is gone (the viewer closed).

        End the run, and stop following it: its last signals must not reach
        deleted Qt widgets.  No layer is touched, the viewer being gone too.
        """
        self._closed = True
        self._estimate_line.close()
        run = self.current_run
        if run is not None:
            run.started.disconnect(self._on_started)
            run.snapshot.disconnect(self._show_snapshot)
            run.finished.disconnect(self._on_finished)
            run.worker.quit()


def _progress_line(
    snapshot, seconds_per_iteration: float, auto_stop: bool, expected: int | None = None
) -> str:
    """The status line while a fit runs: where it is, and how long it may still take: with
    the automatic stop, until where it usually ends the run (``expected`` iterations, all
    fits together; ``Plan.expected_iterations``) while it has not, and at most (the cap)."""
    left = (snapshot.max_iter - snapshot.iteration) * seconds_per_iteration
    fit = f" (fit {snapshot.fit}/{snapshot.fits})" if snapshot.fits > 1 else ""
    line = (
        f"Iteration {snapshot.iteration}/{snapshot.max_iter}{fit}, loss {snapshot.loss:.3g}, "
        f"{seconds_per_iteration:.2g} s/iteration, "
    )
    if not auto_stop:
        return line + f"{format_duration(left)} left"
    if expected is not None and snapshot.iteration < expected < snapshot.max_iter:
        usual = (expected - snapshot.iteration) * seconds_per_iteration
        line += f"usually ~{format_duration(usual)} left, "
    return line + f"at most {format_duration(left)} left"


def _result_line(result: Image) -> str:
    """The status line once a run has its result: why it stopped, when, and how."""
    info = result.metadata["napari_dip"]
    fits = f"{info['fits']} fits, " if info["fits"] > 1 else ""
    precision = ", bfloat16" if info.get("precision") == "bfloat16" else ""
    return (
        f"{result.name}: {StopReason(info['stop_reason']).description} after "
        f"{fits}{info['iterations']} iterations, {format_duration(info['wall_time_s'])} "
        f"(seed {info['seed']}, {info['device']}{precision}){_guide_weight(info)}"
        f"{_classical_share(info)}"
    )


def _classical_share(info: dict) -> str:
    """For the status line: how much of the result is the network's and how much the
    classical estimate's (averaged over the fits that blended), or ""."""
    blends = info.get("classical_blends") or ()
    if not blends:
        return ""
    network = sum(blend["network_weight"] for blend in blends) / len(blends)
    method = blends[0]["method"]
    # Deconvolution weighs the network where the PSF passes (``Blur.passband``).
    where = " where the PSF passes" if method == "richardson-lucy" else ""
    counts = sorted({blend["setting"] for blend in blends if blend.get("setting") is not None})
    if counts:  # Richardson-Lucy's iteration counts
        span = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        method += f" ({span} iterations)"
    return f"; network {network:.0%}{where} / {method} {1 - network:.0%}"


def _guide_weight(info: dict) -> str:
    """For the status line: the guide's weight in the result (its range over blocks), or ""."""
    weights = sorted(choice["guide_weight"] for choice in info.get("guide_choices") or ())
    if not weights:
        return ""
    spread = (
        f"{weights[0]:.1f}" if weights[0] == weights[-1] else f"{weights[0]:.1f}-{weights[-1]:.1f}"
    )
    return f"; guide weight {spread}"


class _CloseWatcher(QObject):
    """Calls ``on_closed`` when ``widget`` is closed or taken out of its dock.

    napari 0.9 does not close a plugin widget when its dock's close button is
    clicked: it re-parents the widget to nothing (napari/napari#8071).
    """

    def __init__(self, widget, on_closed):
        super().__init__(widget)
        self._on_closed = on_closed
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        removed = event.type() == QEvent.Type.ParentChange and watched.parent() is None
        if removed or event.type() == QEvent.Type.Close:
            self._on_closed()
        return False
