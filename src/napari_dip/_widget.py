"""The "Deep Image Prior" dock widget: a magicgui form around ``restore_layer``.

The form shows the controls of the chosen task only; Run starts a
``LayerRestoration`` (thread worker, live preview, progress bar, result layer)
and Stop ends it early, keeping the best result so far.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Label, PushButton, SpinBox
from napari.layers import Image, Labels
from napari.utils.notifications import show_error
from qtpy.QtCore import QEvent, QObject

import napari_dip

from ._scripting import LayerRestoration, restore_layer

if TYPE_CHECKING:
    import napari

TASKS = [
    ("Denoise", "denoise"),
    ("Inpaint", "inpaint"),
    ("Super-resolve", "super_resolve"),
    ("Deconvolve", "deconvolve"),
]
PSF_GAUSSIAN, PSF_LAYER = "Gaussian", "Image layer"
STOP_REASONS = {
    "max_iter": "iteration cap reached",
    "auto": "stopped automatically",
    "stopped": "stopped",
}


class DeepImagePriorWidget(Container):
    """Restore an image layer with Deep Image Prior, watching a live preview.

    Scripts can fill the form (``widget.task.value = "inpaint"``, ...) and call
    ``widget.run()``, which returns the ``LayerRestoration`` (``.wait()``).
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self.current_run: LayerRestoration | None = None
        self._recipe_name: str | None = None
        self.task = ComboBox(label="Task", choices=TASKS, value="denoise")
        self.image = ComboBox(label="Image", choices=self._layers_of(Image))
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
        self.preset = ComboBox(label="Preset", choices=napari_dip.preset_names())
        self.max_iter = SpinBox(label="Max iterations", min=1, max=1_000_000)
        self.auto_stop = CheckBox(
            text="Stop automatically", tooltip="When the result stops improving"
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
        self.run_button = PushButton(text="Run")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.status = Label(value="")
        self.status.native.setWordWrap(True)  # long messages must not widen the dock
        self.extend(
            [
                self.task,
                self.image,
                self.mask,
                self.factor,
                self.kernel,
                self.psf,
                self.psf_sigma,
                self.psf_layer,
                self.preset,
                self.max_iter,
                self.auto_stop,
                self.device,
                self.seed,
                self.every,
                self.new_layer,
                Container(
                    widgets=[self.run_button, self.stop_button], layout="horizontal", labels=False
                ),
                self.status,
            ]
        )
        for control in (self.task, self.preset, self.factor):
            control.changed.connect(self._apply_preset)
        self.task.changed.connect(self._show_task_controls)
        self.psf.changed.connect(self._show_task_controls)
        self.run_button.changed.connect(self._on_run_clicked)
        self.stop_button.changed.connect(self.stop)
        for event in ("inserted", "removed", "reordered", "renamed"):
            getattr(viewer.layers.events, event).connect(self.reset_choices)
        self._apply_preset()
        self._show_task_controls()
        _CloseWatcher(self.native, self._on_closed)
        self.native.destroyed.connect(self._on_destroyed)

    def run(self) -> LayerRestoration:
        """Start restoring with the form's settings and return the run.

        Raises ``ValueError`` or ``TypeError`` (nothing is added to the viewer)
        when the settings are invalid, e.g. a mask whose shape differs from
        the image's.
        """
        if self.current_run is not None and not self.current_run.done:
            raise RuntimeError("a restoration is already running; stop it first")
        if self.image.value is None:
            raise ValueError("choose an image layer to restore")
        task = self.task.value
        if task == "deconvolve" and self.psf.value == PSF_LAYER and self.psf_layer.value is None:
            raise ValueError("choose the image layer that holds the PSF")
        run = restore_layer(
            self._viewer,
            self.image.value,
            task,
            mask=self.mask.value,
            factor=self.factor.value,
            kernel=self.kernel.value,
            psf=self.psf_sigma.value if self.psf.value == PSF_GAUSSIAN else self.psf_layer.value,
            preset=self.preset.value,
            max_iter=self.max_iter.value,
            auto_stop=self.auto_stop.value,
            seed=None if self.seed.value < 0 else self.seed.value,
            device=self.device.value,
            every=self.every.value,
            new_layer=self.new_layer.value,
        )
        self.current_run = run
        run.snapshot.connect(self._show_snapshot)
        run.finished.connect(self._on_finished)
        self.run_button.enabled = False
        self.stop_button.enabled = True
        self.status.value = f"Starting {self.task.current_choice.lower()} of {run.source.name}..."
        return run

    def stop(self) -> None:
        """Stop the running fit; the best result so far becomes the result layer."""
        if self.current_run is not None:
            self.current_run.stop()
            self.stop_button.enabled = False
            self.status.value = "Stopping..."

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

    def _show_task_controls(self) -> None:
        task = self.task.value
        self.mask.visible = task == "inpaint"
        self.factor.visible = self.kernel.visible = task == "super_resolve"
        self.psf.visible = task == "deconvolve"
        self.psf_sigma.visible = task == "deconvolve" and self.psf.value == PSF_GAUSSIAN
        self.psf_layer.visible = task == "deconvolve" and self.psf.value == PSF_LAYER

    def _on_run_clicked(self) -> None:
        try:
            self.run()
        except (ValueError, TypeError) as error:
            show_error(f"Deep Image Prior: {error}")
            self.status.value = f"Not started: {error}"

    def _show_snapshot(self, snapshot) -> None:
        if snapshot.done:
            return
        rate = snapshot.iteration / snapshot.elapsed if snapshot.elapsed > 0 else 0.0
        left = (snapshot.max_iter - snapshot.iteration) / rate if rate > 0 else float("nan")
        at_most = "at most " if self.current_run.restoration.info["auto_stop"] else ""
        self.status.value = (
            f"Iteration {snapshot.iteration}/{snapshot.max_iter}, loss {snapshot.loss:.3g}, "
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
            self.status.value = (
                f"{run.result_layer.name}: {STOP_REASONS[info['stop_reason']]} after "
                f"{info['iterations']} iterations, {_duration(info['wall_time_s'])} "
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
        run = self.current_run
        if run is not None:
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
