"""The "Deep Image Prior" dock widget: a magicgui form around ``restore_layer``.

``_Form`` holds the controls, shows those that apply to the chosen task and
image axes, and reads them as ``restore_layer``'s keywords; the controls'
choices and help come from the options' one definition (``_options``).
``_GuideChoice`` offers the guides that fit the form's input.
``DeepImagePriorWidget`` adds the runs: Run starts a ``LayerRestoration``
(thread worker, live preview, progress bar, result layer) and Stop ends it
early, keeping the best result so far.  ``EstimateLine`` says what the
settings will cost, from the plan alone (no pixel is read).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
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
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QApplication

import napari_dip

from .._options import CHANNEL_MODES, KERNELS, NOISE_MODELS, STACK_MODES, TASKS, Options, describe
from .._records import RunInfo
from ..core.estimate import format_duration
from ..core.stop_reason import StopReason
from ..imaging.axes import check_axes
from ..imaging.guide import check_guide_shape
from ..imaging.noise import suggest_noise
from .estimate_line import EstimateLine
from .layer_input import has_image_planes, read_layer
from .layer_run import LayerRestoration, restore_layer
from .plot import ScorePlot
from .worker import fit_pool

if TYPE_CHECKING:
    import napari

    from .._plan import Plan

PSF_GAUSSIAN, PSF_LAYER = "Gaussian", "Image layer"
NOISE_TASKS = ("denoise", "deconvolve")
AXES_HELP = "T (time), Z (depth), C (channels), Y and X in the layer's order, e.g. ZYX or TZCYX"
#: What the form's choices are called, by value (the values are the options').
LABELS = {
    "super_resolve": "Super-resolve",
    "gaussian": "Gaussian",
    "poisson": "Poisson (photon counts)",
    "volume": "Volume (3D)",
    "planes": "Plane by plane",
}


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(LABELS.get(value, value.capitalize()), value) for value in values]


class _Form(Container):
    """The settings of a restoration, as controls; ``options()`` reads them."""

    #: The recipe whose iteration cap and stop the form shows (``_apply_preset``).
    _recipe_name: str | None = None

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        self.task = ComboBox(label="Task", choices=_choices(TASKS), value="denoise")
        self.image = ComboBox(label="Image", choices=self._layers_of(Image))
        self.axes = LineEdit(label="Axes", tooltip=AXES_HELP)
        self.mask = ComboBox(
            label="Mask",
            choices=self._layers_of(Labels),
            tooltip="Labels layer: nonzero = pixels to fill",
        )
        self.factor = SpinBox(label="Factor", min=2, max=16, value=2, tooltip=describe("factor"))
        self.kernel = ComboBox(label="Kernel", choices=KERNELS, tooltip=describe("kernel"))
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
            label="Noise", choices=_choices(NOISE_MODELS), tooltip=describe("noise")
        )
        self.offset = FloatSpinBox(label="Offset", min=-1e9, max=1e9, tooltip=describe("offset"))
        self.channels = ComboBox(
            label="Channels", choices=_choices(CHANNEL_MODES), tooltip=describe("channels")
        )
        self.stack = ComboBox(label="Z", choices=_choices(STACK_MODES), tooltip=describe("stack"))
        self.warm_start = CheckBox(value=True, text="Warm start", tooltip=describe("warm_start"))
        self.current_plane = CheckBox(
            text="Current plane only", tooltip="Restore only the plane (and frame) the viewer shows"
        )
        self.preset = ComboBox(
            label="Preset", choices=napari_dip.preset_names(), tooltip=describe("preset")
        )
        self.max_iter = SpinBox(
            label="Max iterations", min=1, max=1_000_000, tooltip=describe("max_iter")
        )
        self.auto_stop = CheckBox(text="Stop automatically", tooltip=describe("auto_stop"))
        self.memory_budget = LineEdit(
            label="Memory budget",
            value="auto",
            tooltip=describe("memory_budget").replace("Default:", "auto:"),
        )
        self.device = ComboBox(
            label="Device", choices=napari_dip.available_devices(), tooltip=describe("device")
        )
        self.seed = SpinBox(label="Seed", min=-1, max=2**31 - 1, value=-1, tooltip=describe("seed"))
        self.seed.native.setSpecialValueText("random")  # shown for -1
        self.guide = _GuideChoice(self)
        #: The settings' controls, in the form's order.
        self.controls = [
            self.task,
            self.image,
            self.axes,
            self.mask,
            self.factor,
            self.kernel,
            self.psf,
            self.psf_sigma,
            self.psf_layer,
            self.guide,
            self.noise,
            self.offset,
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
        ]
        self.extend(self.controls)
        self._follow_choices()

    def _follow_choices(self) -> None:
        """Choices that change other controls: the recipe's settings, the axes, what is shown."""
        for control in (self.task, self.preset, self.factor):
            control.changed.connect(self._apply_preset)
        self.image.changed.connect(self._guess_axes)
        for control in (self.task, self.psf, self.axes, self.stack, self.current_plane, self.noise):
            control.changed.connect(self._show_controls)

    def options(self) -> dict:
        """The form's settings as keywords of ``restore_layer``, read in the main thread."""
        if self.image.value is None:
            raise ValueError("choose an image layer to restore")
        task = self.task.value
        if task == "deconvolve" and self.psf.value == PSF_LAYER and self.psf_layer.value is None:
            raise ValueError("choose the image layer that holds the PSF")
        budget = self.memory_budget.value.strip()
        noise = self.noise.value if task in NOISE_TASKS else "gaussian"
        return {
            "mask": self.mask.value,
            "factor": self.factor.value,
            "kernel": self.kernel.value,
            "psf": self.psf_sigma.value if self.psf.value == PSF_GAUSSIAN else self.psf_layer.value,
            "axes": self.axes.value.strip(),
            "channels": self.channels.value,
            "stack": self.stack.value,
            "noise": noise,
            "offset": self.offset.value if noise == "poisson" else 0.0,
            "preset": self.preset.value,
            "max_iter": self.max_iter.value,
            "auto_stop": self.auto_stop.value,
            "warm_start": self.warm_start.value,
            "memory_budget": None if budget.lower() in ("", "auto") else budget,
            "plane": "current" if self.current_plane.value and self._has_planes() else None,
            "seed": None if self.seed.value < 0 else self.seed.value,
            "device": self.device.value,
            **self.guide.keywords(),
        }

    def planner(self) -> Callable[[], Plan] | None:
        """The form's settings checked against the chosen layer (no pixel read), and a
        function that makes their plan: its tiles may take seconds the first time in a
        process (``_worker.warm_up``).  None without an image."""
        if self.image.value is None:
            return None
        settings = self.options()
        data = {name: settings.pop(name) for name in ("mask", "psf", "plane", "guide")}
        task = self.task.value
        source = read_layer(self._viewer, self.image.value, task, Options(**settings), **data)
        source.check(task)
        return functools.partial(source.plan, task)

    def apply_record(self, record: dict) -> str:
        """Fill the form with a result's recorded settings (``metadata["napari_dip"]``).

        The input, mask and guide layers it names are chosen when they are
        open, and the plane, if the result was of one plane, is left to the
        user.  Returns what is left to do ("" or a clause that says which
        guide to choose).  A recipe that is not one of the presets cannot be
        put in the form: run it again with ``napari_dip.rerun`` or the
        result's Python instead.
        """
        from ..core.presets import PRESETS, Recipe

        recipe = Recipe.from_dict(RunInfo.from_dict(record).recipe)  # 0.1's records too
        if PRESETS.get(recipe.name) != recipe:
            raise ValueError(
                f"the result's recipe {recipe.name!r} is not a preset: run it again with "
                "napari_dip.rerun(layer, image) or its Python (Copy as Python)"
            )
        self.task.value = record["task"]
        source = record.get("source")
        if source in self._viewer.layers and isinstance(self._viewer.layers[source], Image):
            self.image.value = self._viewer.layers[source]
        if record.get("mask_layer") in self._viewer.layers:
            self.mask.value = self._viewer.layers[record["mask_layer"]]
        self.preset.value = recipe.name
        settings = {
            "axes": record["axes"],
            "noise": record["noise"],
            "offset": record.get("offset", 0.0),
            "channels": record["channels"],
            "stack": record["stack"],
            "warm_start": record["warm_start"],
            "max_iter": record["max_iter"],
            "auto_stop": record["auto_stop"],
            "seed": record["seed"],
            "memory_budget": f"{record['memory_budget_bytes']}B",
            "current_plane": False,
        }
        if record["device"] in self.device.choices:
            settings["device"] = record["device"]
        if record["task"] == "super_resolve":
            settings.update(factor=record["factor"], kernel=record["kernel"])
        if record.get("psf_sigma") is not None:
            settings.update(psf=PSF_GAUSSIAN, psf_sigma=record["psf_sigma"])
        for name, value in settings.items():
            getattr(self, name).value = value
        return self.guide.apply_record(record)

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
        from ..core.presets import resolve_preset

        recipe = resolve_preset(self.preset.value, self.task.value, self.factor.value)
        if recipe.name != self._recipe_name:
            self._recipe_name = recipe.name
            self.max_iter.value = recipe.max_iter
            self.auto_stop.value = recipe.auto_stop
        return recipe

    def _guess_axes(self) -> str | None:
        """Fill in the axes guessed for the chosen image; return why, which the tooltip says."""
        layer = self.image.value
        if layer is None:
            return None
        try:
            axes, reason = napari_dip.guess_axes(
                layer.data.shape, rgb=layer.rgb, axis_labels=layer.axis_labels
            )
        except ValueError as error:
            axes, reason = "", str(error)
        self.axes.value = axes
        self.axes.tooltip = f"{AXES_HELP}.\n{layer.name}: {reason}"
        noise, offset, why = suggest_noise(_middle_plane(layer))
        self.noise.value, self.offset.value = noise, offset
        self.noise.tooltip = f"{describe('noise')}\n{layer.name}: {why}"
        return f"Axes of {layer.name}: {reason}. Noise: {LABELS[noise]} ({why})"

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
        self.offset.visible = task in NOISE_TASKS and self.noise.value == "poisson"
        self.channels.visible = "C" in letters
        self.stack.visible = "Z" in letters and not one_plane
        planes = "Z" in letters and self.stack.value == "planes"
        self.warm_start.visible = ("T" in letters or planes) and not one_plane
        self.current_plane.visible = self._has_planes()


class DeepImagePriorWidget(_Form):
    """Restore an image layer with Deep Image Prior, watching a live preview.

    Scripts can fill the form (``widget.task.value = "inpaint"``, ...) and call
    ``widget.run()``, which returns the ``LayerRestoration`` (``.wait()``).
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer)
        self.current_run: LayerRestoration | None = None
        self._starting = ""  # the status line of the current run once it has a thread
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
        self._closed = False
        self._estimate_line = EstimateLine(self.estimate, self.planner)
        for control in self.controls:
            control.changed.connect(self._estimate_line.schedule)
        self.run_button.changed.connect(self._on_run_clicked)
        self.stop_button.changed.connect(self.stop)
        self.copy_button.changed.connect(self._on_copy_clicked)
        self.settings_button.changed.connect(self._on_settings_clicked)
        for event in ("inserted", "removed", "reordered", "renamed"):
            getattr(viewer.layers.events, event).connect(self.reset_choices)
        viewer.dims.events.current_step.connect(self._on_position_changed)
        self._apply_preset()
        self._guess_axes()
        self._show_controls()
        self._estimate_line.schedule()
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
            **self.options(),
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

    def _apply_preset(self):
        recipe = super()._apply_preset()
        self.uncertainty.enabled = recipe.members > 1
        return recipe

    def _guess_axes(self):
        reason = super()._guess_axes()
        if reason is not None and (self.current_run is None or self.current_run.done):
            self.status.value = reason
        return reason

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
        plan = self.current_run.restoration.plan
        seconds = snapshot.elapsed / snapshot.iteration if snapshot.iteration else float("nan")
        left = (snapshot.max_iter - snapshot.iteration) * seconds
        at_most = "at most " if plan.auto_stop else ""
        fit = f" (fit {snapshot.fit}/{snapshot.fits})" if snapshot.fits > 1 else ""
        self.status.value = (
            f"Iteration {snapshot.iteration}/{snapshot.max_iter}{fit}, loss {snapshot.loss:.3g}, "
            f"{seconds:.2g} s/iteration, {at_most}{format_duration(left)} left"
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
            info = run.result_layer.metadata["napari_dip"]
            fits = f"{info['fits']} fits, " if info["fits"] > 1 else ""
            self.status.value = (
                f"{run.result_layer.name}: {StopReason(info['stop_reason']).description} after "
                f"{fits}{info['iterations']} iterations, {format_duration(info['wall_time_s'])} "
                f"(seed {info['seed']}, {info['device']}){_guide_weight(info)}"
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
        self._estimate_line.close()
        run = self.current_run
        if run is not None:
            run.started.disconnect(self._on_started)
            run.snapshot.disconnect(self._show_snapshot)
            run.finished.disconnect(self._on_finished)
            run.worker.quit()


class _GuideChoice(ComboBox):
    """The form's guide: none, another Image layer, or a channel of the input.

    Offers the Image layers that can guide the form's input: 2D, or 3D with a
    channel axis first or last, with the Y and X of the result (the input's,
    times the factor for super-resolution); with *Current plane only*, also a
    stack with the input's T and Z axes, whose plane guides the plane restored
    (the same stack is not offered for a whole run, which would take its
    planes as channels).  A multi-channel input's channels are offered but for
    inpainting, where a channel misses the pixels to fill as well.  The
    choices follow the form's image, axes, task, factor and plane, and the
    layers through the form's ``reset_choices``; a choice still offered stays.
    """

    def __init__(self, form: _Form):
        self._form = form
        super().__init__(label="Guide", choices=self._choices, tooltip=describe("guide"))
        for control in (form.image, form.axes, form.task, form.factor, form.current_plane):
            control.changed.connect(self.reset_choices)

    def reset_choices(self, *_) -> None:
        chosen = self.value  # a layer renamed, or the input's name in a channel's
        super().reset_choices()
        if chosen in self.choices:
            self.value = chosen

    def keywords(self) -> dict:
        """The choice as ``restore_layer``'s ``guide`` (a layer: read at Run) and
        ``guide_channel``."""
        channel = isinstance(self.value, int)
        return {
            "guide": None if channel else self.value,
            "guide_channel": self.value if channel else None,
        }

    def described(self) -> str:
        """The guide layer for the comment of a run's Python, or ""."""
        if not isinstance(self.value, Image):
            return ""
        return f"; guide: the data of layer {self.value.name!r}"

    def apply_record(self, record: dict) -> str:
        """Choose a result's guide: its channel, or its layer when that is open and fits;
        "" or, when the guide cannot be chosen, a clause that says which to choose."""
        layers = self._form._viewer.layers
        name = record.get("guide_layer")
        if record.get("guide_channel") is not None:
            wanted = record["guide_channel"]
        else:
            wanted = layers[name] if name is not None and name in layers else None
        self.value = wanted if wanted in self.choices else None
        if record.get("guide") is None or self.value is not None:
            return ""
        guide = f"layer {name!r}" if name is not None else f"an {record['guide']}"
        return f"; it was guided by {guide}: choose it under Guide"

    def _choices(self, _widget) -> list[tuple[str, object]]:
        form = self._form
        image = form.image.value
        if image is None:
            return [("none", None)]
        shape = image.data.shape
        try:
            axes = check_axes(form.axes.value.strip(), len(shape), shape=shape)
        except (ValueError, TypeError):  # the estimate line says why
            return [("none", None)]
        factor = form.factor.value if form.task.value == "super_resolve" else 1
        yx = (shape[axes.index("Y")] * factor, shape[axes.index("X")] * factor)
        planes = [axis for axis, letter in enumerate(axes) if letter in "TZ"]
        one_plane = form.current_plane.value
        guides = [
            (layer.name, layer)
            for layer in form._viewer.layers
            if isinstance(layer, Image)
            and layer is not image
            and _can_guide(layer, shape, yx, planes, one_plane)
        ]
        channels = shape[axes.index("C")] if "C" in axes and form.task.value != "inpaint" else 1
        if channels > 1:
            guides += [
                (f"channel {channel} of {image.name}", channel) for channel in range(channels)
            ]
        return [("none", None), *guides]


def _can_guide(layer: Image, image_shape, yx, planes: list[int], one_plane: bool) -> bool:
    """Whether ``layer`` can guide an image of ``image_shape`` whose T and Z axes are
    ``planes``, into a result of Y and X ``yx``; for ``one_plane``, with one plane of it."""
    if layer.multiscale:
        return False
    shape = layer.data.shape
    if has_image_planes(shape, image_shape, planes):
        if not one_plane:
            return False
        shape = tuple(size for axis, size in enumerate(shape) if axis not in planes)
    if len(shape) not in (2, 3):
        return False
    try:
        check_guide_shape(shape, yx, "the result")
    except ValueError:
        return False
    return True


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


def _middle_plane(layer: Image, size: int = 512):
    """The middle plane of ``layer`` (its first colour), at most ``size`` pixels wide around its centre."""
    data = layer.data
    lead = data.ndim - (3 if layer.rgb else 2)
    plane = data[tuple(n // 2 for n in data.shape[:lead])]
    if layer.rgb:
        plane = plane[..., 0]
    return np.asarray(
        plane[tuple(slice(max(0, n // 2 - size // 2), n // 2 + size // 2) for n in plane.shape)]
    )
