"""The "Deep Image Prior" dock widget: a magicgui form around ``restore_layer``.

The form shows the controls that apply to the chosen task and image axes
only; Run starts a ``LayerRestoration`` (thread worker, live preview, progress
bar, result layer) and Stop ends it early, keeping the best result so far.  An
estimate line gives the fits, memory and time the settings need.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)
from napari.layers import Image, Labels
from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, QObject, QTimer

import napari_dip

from ._scripting import LayerRestoration, _fit_pool, _prepare, restore_layer

if TYPE_CHECKING:
    import napari

TASKS = [
    ("Denoise", "denoise"),
    ("Inpaint", "inpaint"),
    ("Super-resolve", "super_resolve"),
    ("Deconvolve", "deconvolve"),
]
PSF_GAUSSIAN, PSF_LAYER = "Gaussian", "Image layer"
NOISE_TASKS = ("denoise", "deconvolve")
AXES_HELP = "T (time), Z (depth), C (channels), Y and X in the layer's order, e.g. ZYX or TZCYX"
STOP_REASONS = {
    "max_iter": "iteration cap reached",
    "auto": "stopped automatically",
    "stopped": "stopped",
}
#: How long the form must stay unchanged (e.g. while typing) before the estimate is computed.
ESTIMATE_DELAY_MS = 300
#: How often a running estimate is checked for its result.
ESTIMATE_POLL_MS = 50


class DeepImagePriorWidget(Container):
    """Restore an image layer with Deep Image Prior, watching a live preview.

    Scripts can fill the form (``widget.task.value = "inpaint"``, ...) and call
    ``widget.run()``, which returns the ``LayerRestoration`` (``.wait()``).
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self.current_run: LayerRestoration | None = None
        self._starting = ""  # the status line of the current run once it has a thread
        self._recipe_name: str | None = None
        self.task = ComboBox(label="Task", choices=TASKS, value="denoise")
        self.image = ComboBox(label="Image", choices=self._layers_of(Image))
        self.axes = LineEdit(label="Axes", tooltip=AXES_HELP)
        self.mask = ComboBox(
            label="Mask",
            choices=self._layers_of(Labels),
            tooltip="Labels layer: nonzero = pixels to fill",
        )
        self.factor = SpinBox(
            label="Factor", min=2, max=16, value=2, tooltip="Upscaling of Y and X"
        )
        self.kernel = ComboBox(
            label="Kernel",
            choices=["lanczos2", "box"],
            tooltip="Low-pass filter of the forward model",
        )
        self.psf = ComboBox(label="PSF", choices=[PSF_GAUSSIAN, PSF_LAYER])
        self.psf_sigma = FloatSpinBox(
            label="PSF sigma",
            min=0.1,
            max=50.0,
            step=0.1,
            value=1.5,
            tooltip="Gaussian PSF, in pixels",
        )
        self.psf_layer = ComboBox(label="PSF layer", choices=self._layers_of(Image))
        self.noise = ComboBox(
            label="Noise",
            choices=[("Gaussian", "gaussian"), ("Poisson (photon counts)", "poisson")],
            tooltip="Poisson: values proportional to photon counts, camera offset subtracted",
        )
        self.channels = ComboBox(
            label="Channels",
            choices=[("Joint", "joint"), ("Independent", "independent")],
            tooltip="One network for all channels (they share structure), or one per channel",
        )
        self.stack = ComboBox(
            label="Z",
            choices=[("Volume (3D)", "volume"), ("Plane by plane", "planes")],
            tooltip="Fit the Z-stack with a 3D network, or each plane with a 2D one",
        )
        self.warm_start = CheckBox(
            value=True,
            text="Warm start",
            tooltip="Start each frame or plane from the fit of the previous one: faster",
        )
        self.current_plane = CheckBox(
            text="Current plane only",
            tooltip="Restore only the plane (and frame) the viewer shows",
        )
        self.preset = ComboBox(label="Preset", choices=napari_dip.preset_names())
        self.max_iter = SpinBox(label="Max iterations", min=1, max=1_000_000)
        self.auto_stop = CheckBox(
            text="Stop automatically", tooltip="When the result stops improving"
        )
        self.memory_budget = LineEdit(
            label="Memory budget",
            value="auto",
            tooltip=(
                "Peak memory of one fit, e.g. 4GB; bigger images are cut into tiles. "
                "auto: half the RAM on the CPU, 80% of the free GPU memory"
            ),
        )
        self.device = ComboBox(label="Device", choices=napari_dip.available_devices())
        self.seed = SpinBox(
            label="Seed", min=-1, max=2**31 - 1, value=-1, tooltip="Same seed, same result"
        )
        self.seed.native.setSpecialValueText("random")  # shown for -1
        self.every = SpinBox(
            label="Preview every", min=1, max=100_000, value=25, tooltip="Iterations"
        )
        self.new_layer = CheckBox(
            text="New result layer", tooltip="Keep earlier results of this input and task"
        )
        self.uncertainty = CheckBox(
            text="Uncertainty layer",
            tooltip=(
                "Add, over the result, how much the ensemble's members disagree "
                "(their standard deviation, in the image's units): where the result "
                "is least certain. Presets with several members only"
            ),
        )
        self.estimate = Label(value="")
        self.run_button = PushButton(text="Run")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.status = Label(value="")
        for label in (self.estimate, self.status):
            label.native.setWordWrap(True)  # long messages must not widen the dock
        self.extend(
            [
                self.task,
                self.image,
                self.axes,
                self.mask,
                self.factor,
                self.kernel,
                self.psf,
                self.psf_sigma,
                self.psf_layer,
                self.noise,
                self.channels,
                self.stack,
                self.warm_start,
                self.current_plane,
                self.preset,
                self.max_iter,
                self.auto_stop,
                self.memory_budget,
                self.device,
                self.seed,
                self.every,
                self.new_layer,
                self.uncertainty,
                self.estimate,
                Container(
                    widgets=[self.run_button, self.stop_button], layout="horizontal", labels=False
                ),
                self.status,
            ]
        )
        self._closed = False
        self._estimates = ThreadPoolExecutor(max_workers=1, thread_name_prefix="napari-dip")
        self._estimate_future: Future | None = None
        self._estimate_stale = False
        self._estimate_timer = QTimer(self.native)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(ESTIMATE_DELAY_MS)
        self._estimate_timer.timeout.connect(self._start_estimate)
        self._estimate_poll = QTimer(self.native)
        self._estimate_poll.setInterval(ESTIMATE_POLL_MS)
        self._estimate_poll.timeout.connect(self._poll_estimate)
        for control in (self.task, self.preset, self.factor):
            control.changed.connect(self._apply_preset)
        self.image.changed.connect(self._guess_axes)
        for control in (self.task, self.psf, self.axes, self.stack, self.current_plane):
            control.changed.connect(self._show_controls)
        for control in (
            self.task,
            self.image,
            self.axes,
            self.mask,
            self.factor,
            self.kernel,
            self.psf,
            self.psf_sigma,
            self.psf_layer,
            self.channels,
            self.stack,
            self.current_plane,
            self.preset,
            self.max_iter,
            self.memory_budget,
            self.device,
        ):
            control.changed.connect(self._schedule_estimate)
        self.run_button.changed.connect(self._on_run_clicked)
        self.stop_button.changed.connect(self.stop)
        for event in ("inserted", "removed", "reordered", "renamed"):
            getattr(viewer.layers.events, event).connect(self.reset_choices)
        viewer.dims.events.current_step.connect(self._on_position_changed)
        self._apply_preset()
        self._guess_axes()
        self._show_controls()
        self._schedule_estimate()
        _CloseWatcher(self.native, self._on_closed)
        self.native.destroyed.connect(self._on_destroyed)

    def run(self) -> LayerRestoration:
        """Start restoring with the form's settings and return the run.

        Raises ``ValueError`` or ``TypeError`` (nothing is added to the viewer)
        when the settings are invalid, e.g. axes that do not fit the image or
        a mask whose shape differs from the image's, and ``MemoryError`` when
        even the smallest tile needs more than the memory budget.
        """
        if self.current_run is not None and not self.current_run.done:
            raise RuntimeError("a restoration is already running; stop it first")
        run = restore_layer(
            self._viewer,
            self.image.value,
            self.task.value,
            **self._options(),
            every=self.every.value,
            new_layer=self.new_layer.value,
            uncertainty=self.uncertainty.value and self.uncertainty.enabled,
        )
        self.current_run = run
        run.started.connect(self._on_started)
        run.snapshot.connect(self._show_snapshot)
        run.finished.connect(self._on_finished)
        self.run_button.enabled = False
        self.stop_button.enabled = True
        what = f"{self.task.current_choice.lower()} of {run.source.name}"
        self._starting = f"Starting {what}..."
        if run.queued:
            self.status.value = (
                f"Waiting: {_fit_pool().maxThreadCount()} runs are in progress already; "
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

    def _options(self) -> dict:
        """The form's settings as keywords of ``restore_layer``, read in the main thread."""
        if self.image.value is None:
            raise ValueError("choose an image layer to restore")
        task = self.task.value
        if task == "deconvolve" and self.psf.value == PSF_LAYER and self.psf_layer.value is None:
            raise ValueError("choose the image layer that holds the PSF")
        budget = self.memory_budget.value.strip()
        return {
            "mask": self.mask.value,
            "factor": self.factor.value,
            "kernel": self.kernel.value,
            "psf": self.psf_sigma.value if self.psf.value == PSF_GAUSSIAN else self.psf_layer.value,
            "axes": self.axes.value.strip(),
            "channels": self.channels.value,
            "stack": self.stack.value,
            "noise": self.noise.value if task in NOISE_TASKS else "gaussian",
            "preset": self.preset.value,
            "max_iter": self.max_iter.value,
            "auto_stop": self.auto_stop.value,
            "warm_start": self.warm_start.value,
            "memory_budget": None if budget.lower() in ("", "auto") else budget,
            "plane": "current" if self.current_plane.value and self._has_planes() else None,
            "seed": None if self.seed.value < 0 else self.seed.value,
            "device": self.device.value,
        }

    def _letters(self) -> set[str]:
        return set(self.axes.value.strip().upper())

    def _has_planes(self) -> bool:
        """Whether the axes have T or Z, whose planes can be restored one at a time."""
        return bool(self._letters() & {"T", "Z"})

    def _layers_of(self, kind):
        def choices(_widget):
            return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, kind)]

        return choices

    def _apply_preset(self) -> None:
        """Show the recipe's iteration cap and stopping rule when the recipe changes.

        Presets resolve per task (and factor), so the recipe can change with
        them; the user's own edits stay while it does not.
        """
        from .core.presets import resolve_preset

        recipe = resolve_preset(self.preset.value, self.task.value, self.factor.value)
        if recipe.name != self._recipe_name:
            self._recipe_name = recipe.name
            self.max_iter.value = recipe.max_iter
            self.auto_stop.value = recipe.auto_stop
        self.uncertainty.enabled = recipe.members > 1

    def _guess_axes(self) -> None:
        """Fill in the axes guessed for the chosen image; its reason goes to the tooltip."""
        layer = self.image.value
        if layer is None:
            return
        try:
            axes, reason = napari_dip.guess_axes(
                layer.data.shape, rgb=layer.rgb, axis_labels=layer.axis_labels
            )
        except ValueError as error:
            axes, reason = "", str(error)
        self.axes.value = axes
        self.axes.tooltip = f"{AXES_HELP}.\n{layer.name}: {reason}"
        if self.current_run is None or self.current_run.done:
            self.status.value = f"Axes of {layer.name}: {reason}"

    def _show_controls(self) -> None:
        """Show the controls that apply to the task and the axes."""
        task = self.task.value
        letters = self._letters()
        one_plane = self.current_plane.value and self._has_planes()
        self.mask.visible = task == "inpaint"
        self.factor.visible = self.kernel.visible = task == "super_resolve"
        self.psf.visible = task == "deconvolve"
        self.psf_sigma.visible = task == "deconvolve" and self.psf.value == PSF_GAUSSIAN
        self.psf_layer.visible = task == "deconvolve" and self.psf.value == PSF_LAYER
        self.noise.visible = task in NOISE_TASKS
        self.channels.visible = "C" in letters
        self.stack.visible = "Z" in letters and not one_plane
        planes = "Z" in letters and self.stack.value == "planes"
        self.warm_start.visible = ("T" in letters or planes) and not one_plane
        self.current_plane.visible = self._has_planes()

    def _on_position_changed(self) -> None:
        """The current plane moved: it may now be inside or outside the image."""
        if not self._closed and self.current_plane.value:
            self._schedule_estimate()

    def _schedule_estimate(self) -> None:
        """Estimate once the form has not changed for ``ESTIMATE_DELAY_MS``."""
        self._estimate_timer.start()

    def _start_estimate(self) -> None:
        """Estimate the run in a background thread.

        Building the ``Restoration`` copies and normalises the image: 0.05 to
        0.4 s for a 2048x2048 plane and 0.2 to 2 s for a 20x3x512x512 stack on
        a shared 2-core CPU, plus about 3 s the first time (PyTorch's import
        and speed measurement).  A plain Python thread, polled from here,
        touches no Qt object, and Python waits for it at exit (a Qt worker
        thread still running then aborts the process).  One estimate runs at a
        time; changes meanwhile start another when it ends.
        """
        if self._estimate_future is not None:
            self._estimate_stale = True
            return
        if self.image.value is None:
            self.estimate.value = ""
            return
        try:
            arguments, _, _ = _prepare(
                self._viewer, self.image.value, self.task.value, **self._options()
            )
        except (ValueError, TypeError) as error:
            self.estimate.value, self.estimate.tooltip = _no_estimate(error)
            return
        self._estimate_future = self._estimates.submit(_estimate, arguments)
        self._estimate_poll.start()

    def _poll_estimate(self) -> None:
        future = self._estimate_future
        if not future.done():
            return
        self._estimate_poll.stop()
        self._estimate_future = None
        if self._estimate_stale:
            self._estimate_stale = False
            self._start_estimate()
        else:
            self.estimate.value, self.estimate.tooltip = future.result()

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
        if snapshot.done:
            return
        run = self.current_run
        info = run.restoration.info
        rate = snapshot.iteration / snapshot.elapsed if snapshot.elapsed > 0 else 0.0
        left = (snapshot.max_iter - snapshot.iteration) / rate if rate > 0 else float("nan")
        at_most = "at most " if info["auto_stop"] else ""
        fit = f" (fit {run.fit}/{info['fits']})" if info["fits"] > 1 else ""
        self.status.value = (
            f"Iteration {snapshot.iteration}/{snapshot.max_iter}{fit}, loss {snapshot.loss:.3g}, "
            f"{rate:.1f} it/s, {at_most}{_duration(left)} left"
        )

    def _on_finished(self) -> None:
        run = self.current_run
        self.run_button.enabled = True
        self.stop_button.enabled = False
        if run.error is not None:
            self.status.value = f"Failed: {run.error}"
        elif run.result_layer is None:
            self.status.value = "Cancelled"
        else:
            info = run.result_layer.metadata["napari_dip"]
            fits = f"{info['fits']} fits, " if info["fits"] > 1 else ""
            self.status.value = (
                f"{run.result_layer.name}: {STOP_REASONS[info['stop_reason']]} after "
                f"{fits}{info['iterations']} iterations, {_duration(info['wall_time_s'])} "
                f"(seed {info['seed']}, {info['device']})"
            )

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
        self._estimates.shutdown(wait=False, cancel_futures=True)
        run = self.current_run
        if run is not None:
            run.started.disconnect(self._on_started)
            run.snapshot.disconnect(self._show_snapshot)
            run.finished.disconnect(self._on_finished)
            run.worker.quit()


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


def _duration(seconds: float) -> str:
    if math.isnan(seconds):  # not measured yet
        return "?"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _estimate(arguments: dict) -> tuple[str, str]:
    """In a background thread: the estimate line for ``Restoration(**arguments)``, and its tooltip."""
    try:
        estimate = napari_dip.Restoration(**arguments).estimate()
    except Exception as error:  # invalid settings: shown in the line, never raised
        return _no_estimate(error)
    line = f"Estimate: {estimate.describe()}"
    return line, f"{line}; the automatic stop usually ends fits sooner"


def _no_estimate(error: Exception) -> tuple[str, str]:
    """The first sentence of why there is no estimate, and the whole message as the tooltip."""
    message = str(error)
    return f"No estimate: {message.split('. ')[0]}", message
