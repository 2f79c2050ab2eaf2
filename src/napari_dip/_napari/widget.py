"""The "Deep Image Prior" dock widget: a form of the restoration's options, and its runs.

``CONTROLS`` is the form's one table: a row per control saying what it is
(its magicgui widget; choices and help come from the options' one
definition, ``_options``), when it is shown, which option (or layer datum)
it reads into, and how a result's recorded value is put back.  ``_Form``
builds its controls from the table and reads them once as ``FormSettings``:
the task, the image layer, an ``Options`` and the layers' data (mask, PSF,
plane, guide).  ``DeepImagePriorWidget`` adds the runs: Run starts a
``LayerRestoration`` with those settings (``run_layer``: thread worker, live
preview, progress bar, result layer), Stop ends it early, keeping the best
result so far; ``EstimateLine`` says what the settings will cost, from the
plan alone (no pixel is read).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
from psygnal import Signal
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QApplication

import napari_dip

from .._options import CHANNEL_MODES, KERNELS, NOISE_MODELS, STACK_MODES, Options, describe
from .._records import RunInfo
from .._tasks import OWN_OPTIONS, TASK_TABLE, TaskSpec, task_spec
from ..core.stop_reason import StopReason
from ..core.units import format_duration
from ..imaging.axes import check_axes
from ..imaging.checks import MAX_FACTOR
from ..imaging.guide_image import check_guide_shape
from ..imaging.noise import suggest_noise
from .estimate_line import EstimateLine
from .layer_input import has_image_planes, read_layer
from .layer_run import LayerRestoration, run_layer
from .plot import ScorePlot
from .worker import fit_pool

if TYPE_CHECKING:
    import napari
    from magicgui.widgets.bases import ValueWidget

    from .._plan import Plan
    from ..core.presets import Recipe

PSF_GAUSSIAN, PSF_LAYER = "Gaussian", "Image layer"
AXES_HELP = "T (time), Z (depth), C (channels), Y and X in the layer's order, e.g. ZYX or TZCYX"
#: What the form's choices are called, by value (the values are the options').
LABELS = {
    "gaussian": "Gaussian",
    "poisson": "Poisson (photon counts)",
    "volume": "Volume (3D)",
    "planes": "Plane by plane",
}
#: The form's keywords that are layers' data, passed beside the options (a layer is read at Run).
LAYER_DATA = ("mask", "psf", "plane", "guide")
#: A row's answer to a record that has nothing for its control: leave the control as it is.
KEEP = object()


@dataclass(frozen=True)
class Control:
    """A row of the form's table: one control, from its making to its record.

    ``make`` builds the magicgui widget (given the form, for the layer
    choices).  ``shown`` says when it is visible; None: always.  ``read``
    gives the keywords it reads into, options or ``LAYER_DATA``; None: none
    of its own (a part of another control's value).  ``put`` gives the value
    a result's record puts back, or ``KEEP``; None: never put back.  Records
    are put back in the table's order, so a control is put after those it
    depends on (the image before its axes, the preset before its cap).
    """

    name: str
    make: Callable[[_Form], ValueWidget]
    shown: Callable[[_Form], bool] | None = None
    read: Callable[[_Form], dict] | None = None
    put: Callable[[_Form, dict], Any] | None = None


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(LABELS.get(value, value.capitalize()), value) for value in values]


def _value(name: str) -> Callable[[_Form], dict]:
    """Reads a control's value as is, as the option of its name."""
    return lambda form: {name: getattr(form, name).value}


def _recorded(key: str) -> Callable[[_Form, dict], Any]:
    """Puts back a record's ``key``; a task's own option only from a run of a task that has it."""

    def put(_form: _Form, record: dict):
        unused = key in OWN_OPTIONS and key not in task_spec(record["task"]).options
        return KEEP if unused else record[key]

    return put


def _open_layer(key: str, kind: type = object) -> Callable[[_Form, dict], Any]:
    """Puts back the layer a record names under ``key``, when it is open (and a ``kind``)."""

    def put(form: _Form, record: dict):
        layers = form._viewer.layers
        name = record.get(key)
        if name in layers and isinstance(layers[name], kind):
            return layers[name]
        return KEEP

    return put


def _task(form: _Form) -> TaskSpec:
    return task_spec(form.task.value)


def _for_data(data: str) -> Callable[[_Form], bool]:
    """Shown for the task that takes ``data`` ("mask", "psf") beside the image."""
    return lambda form: _task(form).data == data


def _for_option(name: str) -> Callable[[_Form], bool]:
    """Shown for the tasks that have option ``name`` as their own."""
    return lambda form: name in _task(form).options


def _psf_from(source: str) -> Callable[[_Form], bool]:
    return lambda form: _task(form).data == "psf" and form.psf.value == source


def _photon_counts(form: _Form) -> bool:
    return _task(form).noise_model and form.noise.value == "poisson"


def _warm_start_applies(form: _Form) -> bool:
    """Frames, or planes fitted one by one, and more than the current plane."""
    letters = form.letters()
    planes = "Z" in letters and form.stack.value == "planes"
    return ("T" in letters or planes) and not form.one_plane()


def _memory_budget(text: str) -> str | None:
    text = text.strip()
    return None if text.lower() in ("", "auto") else text


def _seed_box(_form: _Form) -> SpinBox:
    seed = SpinBox(label="Seed", min=-1, max=2**31 - 1, value=-1, tooltip=describe("seed"))
    seed.native.setSpecialValueText("random")  # shown for -1
    return seed


#: The form's controls, in the form's order.  The guide is put back last, by its own
#: ``apply_record``: its choices follow the image, axes, task, factor and plane.
CONTROLS: tuple[Control, ...] = (
    Control(
        "task",
        lambda _: ComboBox(
            label="Task",
            choices=[(spec.label, name) for name, spec in TASK_TABLE.items()],
            value="denoise",
        ),
        put=_recorded("task"),
    ),
    Control(
        "image",
        lambda form: ComboBox(label="Image", choices=form.layers_of(Image)),
        put=_open_layer("source", Image),
    ),
    Control(
        "axes",
        lambda _: LineEdit(label="Axes", tooltip=AXES_HELP),
        read=lambda form: {"axes": form.axes.value.strip()},
        put=_recorded("axes"),
    ),
    Control(
        "mask",
        lambda form: ComboBox(
            label="Mask",
            choices=form.layers_of(Labels),
            tooltip="Labels layer: nonzero = pixels to fill",
        ),
        shown=_for_data("mask"),
        read=_value("mask"),
        put=_open_layer("mask_layer"),
    ),
    Control(
        "factor",
        lambda _: SpinBox(
            label="Factor", min=2, max=MAX_FACTOR, value=2, tooltip=describe("factor")
        ),
        shown=_for_option("factor"),
        read=_value("factor"),
        put=_recorded("factor"),
    ),
    Control(
        "kernel",
        lambda _: ComboBox(label="Kernel", choices=KERNELS, tooltip=describe("kernel")),
        shown=_for_option("kernel"),
        read=_value("kernel"),
        put=_recorded("kernel"),
    ),
    Control(
        "psf",
        lambda _: ComboBox(label="PSF", choices=[PSF_GAUSSIAN, PSF_LAYER]),
        shown=_for_data("psf"),
        read=lambda form: {
            "psf": form.psf_sigma.value if form.psf.value == PSF_GAUSSIAN else form.psf_layer.value
        },
        put=lambda _, record: KEEP if record.get("psf_sigma") is None else PSF_GAUSSIAN,
    ),
    Control(
        "psf_sigma",
        lambda _: FloatSpinBox(
            label="PSF sigma",
            min=0.1,
            max=50.0,
            step=0.1,
            value=1.5,
            tooltip="Gaussian PSF, in pixels",
        ),
        shown=_psf_from(PSF_GAUSSIAN),
        put=lambda _, record: KEEP if record.get("psf_sigma") is None else record["psf_sigma"],
    ),
    Control(
        "psf_layer",
        lambda form: ComboBox(label="PSF layer", choices=form.layers_of(Image)),
        shown=_psf_from(PSF_LAYER),
    ),
    Control("guide", lambda form: _GuideChoice(form), read=lambda form: form.guide.keywords()),
    Control(
        "noise",
        lambda _: ComboBox(
            label="Noise", choices=_choices(NOISE_MODELS), tooltip=describe("noise")
        ),
        shown=lambda form: _task(form).noise_model,
        read=lambda form: {"noise": form.noise.value if _task(form).noise_model else "gaussian"},
        put=_recorded("noise"),
    ),
    Control(
        "offset",
        lambda _: FloatSpinBox(label="Offset", min=-1e9, max=1e9, tooltip=describe("offset")),
        shown=_photon_counts,
        read=lambda form: {"offset": form.offset.value if _photon_counts(form) else 0.0},
        put=lambda _, record: record.get("offset", 0.0),
    ),
    Control(
        "channels",
        lambda _: ComboBox(
            label="Channels", choices=_choices(CHANNEL_MODES), tooltip=describe("channels")
        ),
        shown=lambda form: "C" in form.letters(),
        read=_value("channels"),
        put=_recorded("channels"),
    ),
    Control(
        "stack",
        lambda _: ComboBox(label="Z", choices=_choices(STACK_MODES), tooltip=describe("stack")),
        shown=lambda form: "Z" in form.letters() and not form.one_plane(),
        read=_value("stack"),
        put=_recorded("stack"),
    ),
    Control(
        "warm_start",
        lambda _: CheckBox(value=True, text="Warm start", tooltip=describe("warm_start")),
        shown=_warm_start_applies,
        read=_value("warm_start"),
        put=_recorded("warm_start"),
    ),
    Control(
        "current_plane",
        lambda _: CheckBox(
            text="Current plane only",
            tooltip="Restore only the plane (and frame) the viewer shows",
        ),
        shown=lambda form: form.has_planes(),
        read=lambda form: {"plane": "current" if form.one_plane() else None},
        put=lambda _form, _record: False,  # the plane, if any, is left to the user
    ),
    Control(
        "preset",
        lambda _: ComboBox(
            label="Preset", choices=napari_dip.preset_names(), tooltip=describe("preset")
        ),
        read=lambda form: {"preset": form.recipe},  # resolved once, as the form shows it
        put=_recorded("preset"),  # the recipe's name: apply_record checks it is a preset
    ),
    Control(
        "max_iter",
        lambda _: SpinBox(
            label="Max iterations", min=1, max=1_000_000, tooltip=describe("max_iter")
        ),
        read=_value("max_iter"),
        put=_recorded("max_iter"),
    ),
    Control(
        "auto_stop",
        lambda _: CheckBox(text="Stop automatically", tooltip=describe("auto_stop")),
        read=_value("auto_stop"),
        put=_recorded("auto_stop"),
    ),
    Control(
        "memory_budget",
        lambda _: LineEdit(
            label="Memory budget",
            value="auto",
            tooltip=describe("memory_budget").replace("Default:", "auto:"),
        ),
        read=lambda form: {"memory_budget": _memory_budget(form.memory_budget.value)},
        put=lambda _, record: f"{record['memory_budget_bytes']}B",
    ),
    Control(
        "device",
        lambda _: ComboBox(
            label="Device", choices=napari_dip.available_devices(), tooltip=describe("device")
        ),
        read=_value("device"),
        put=lambda form, record: (
            record["device"] if record["device"] in form.device.choices else KEEP
        ),
    ),
    Control(
        "seed",
        _seed_box,
        read=lambda form: {"seed": None if form.seed.value < 0 else form.seed.value},
        put=_recorded("seed"),
    ),
)


@dataclass(frozen=True)
class FormSettings:
    """The form read once: what ``run_layer`` (and the estimate's plan) take.

    ``data`` holds the ``LAYER_DATA`` keywords: layers are read when the run
    starts, so a mask is taken as painted then.
    """

    task: str
    layer: Image
    options: Options
    data: dict


class _Form(Container):
    """The settings of a restoration, as controls built from ``CONTROLS``.

    ``settings()`` reads them.  The form follows its own choices: the
    preset's recipe sets the iteration cap and stop (``recipe_changed``), an
    image's axes and noise are guessed when it is chosen (``axes_guessed``,
    with why), and the controls that apply to the task and axes are shown.
    """

    #: The recipe the preset resolves to for the task (and factor), when it changes.
    recipe_changed = Signal(object)
    #: Why the chosen image's axes and noise were guessed as they are.
    axes_guessed = Signal(str)

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer
        for control in CONTROLS:
            setattr(self, control.name, control.make(self))
        #: The settings' controls, in the form's order.
        self.controls = [getattr(self, control.name) for control in CONTROLS]
        self.extend(self.controls)
        #: The preset's recipe for the task and factor, as the form shows it (and reads it).
        self.recipe: Recipe | None = None
        #: Why the axes and noise were guessed as they are; None without an image.
        self.axes_guess: str | None = None
        self._follow_choices()
        self._follow_preset()
        self._guess_axes()
        self._show_controls()

    def _follow_choices(self) -> None:
        """Choices that change other controls: the recipe's settings, the axes, the guide's
        choices, what is shown."""
        for control in (self.task, self.preset, self.factor):
            control.changed.connect(self._follow_preset)
        self.image.changed.connect(self._guess_axes)
        self.guide.follow()
        for control in self.controls:
            control.changed.connect(self._show_controls)

    def settings(self) -> FormSettings:
        """The form's settings, read in the main thread; ``ValueError`` or ``TypeError``
        when they are incomplete or invalid (the options are checked here)."""
        if self.image.value is None:
            raise ValueError("choose an image layer to restore")
        task = self.task.value
        if _psf_from(PSF_LAYER)(self) and self.psf_layer.value is None:
            raise ValueError("choose the image layer that holds the PSF")
        keywords = {}
        for control in CONTROLS:
            if control.read is not None:
                keywords.update(control.read(self))
        data = {name: keywords.pop(name) for name in LAYER_DATA}
        return FormSettings(task, self.image.value, Options(**keywords), data)

    def planner(self) -> Callable[[], Plan] | None:
        """The form's settings checked against the chosen layer (no pixel read), and a
        function that makes their plan: its tiles may take seconds the first time in a
        process (``worker.warm_up``).  None without an image."""
        if self.image.value is None:
            return None
        settings = self.settings()
        source = read_layer(
            self._viewer, settings.layer, settings.task, settings.options, **settings.data
        )
        source.check(settings.task)
        return functools.partial(source.plan, settings.task)

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
        for control in CONTROLS:
            value = KEEP if control.put is None else control.put(self, record)
            if value is not KEEP:
                getattr(self, control.name).value = value
        return self.guide.apply_record(record)

    def letters(self) -> set[str]:
        """The axes' letters, as typed."""
        return set(self.axes.value.strip().upper())

    def has_planes(self) -> bool:
        """Whether the axes have T or Z, whose planes can be restored one at a time."""
        return bool(self.letters() & {"T", "Z"})

    def one_plane(self) -> bool:
        """Whether only the plane the viewer shows is to be restored."""
        return self.current_plane.value and self.has_planes()

    def layers_of(self, kind: type) -> Callable[[ComboBox], list[tuple[str, object]]]:
        """The choices of a layer control: the viewer's layers of ``kind``, by name."""

        def choices(_widget):
            return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, kind)]

        return choices

    def _follow_preset(self) -> None:
        """Show the recipe's iteration cap and stopping rule when the recipe changes.

        Presets resolve per task (and factor), so the recipe can change with
        them; the user's own edits stay while it does not.
        """
        from ..core.presets import resolve_preset

        recipe = resolve_preset(self.preset.value, self.task.value, self.factor.value)
        if self.recipe is None or recipe.name != self.recipe.name:
            self.max_iter.value = recipe.max_iter
            self.auto_stop.value = recipe.auto_stop
        self.recipe = recipe
        self.recipe_changed.emit(recipe)

    def _guess_axes(self) -> None:
        """Fill in the axes and noise model guessed for the chosen image, and say why."""
        layer = self.image.value
        if layer is None:
            self.axes_guess = None
            return
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
        self.axes_guess = f"Axes of {layer.name}: {reason}. Noise: {LABELS[noise]} ({why})"
        self.axes_guessed.emit(self.axes_guess)

    def _show_controls(self) -> None:
        """Show the controls that apply to the task and the axes (``Control.shown``)."""
        for control in CONTROLS:
            if control.shown is not None:
                getattr(self, control.name).visible = control.shown(self)


class DeepImagePriorWidget(_Form):
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
        """An uncertainty layer needs an ensemble: several members."""
        self.uncertainty.enabled = recipe.members > 1

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
        auto_stop = self.current_run.restoration.plan.auto_stop
        self.status.value = _progress_line(snapshot, seconds, auto_stop)
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
        # "none" until ``follow``: the choices depend on controls made after this one
        super().__init__(label="Guide", choices=[("none", None)], tooltip=describe("guide"))

    def follow(self) -> None:
        """Offer the guides that fit the form, and follow the controls they depend on."""
        form = self._form
        self.choices = self._choices
        for control in (form.image, form.axes, form.task, form.factor, form.current_plane):
            control.changed.connect(self.reset_choices)

    def reset_choices(self, *_) -> None:
        chosen = self.value  # a layer renamed, or the input's name in a channel's
        super().reset_choices()
        if chosen in self.choices:
            self.value = chosen

    def keywords(self) -> dict:
        """The choice as the form's ``guide`` (a layer: read at Run) and the option
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
        factor = form.factor.value if "factor" in _task(form).options else 1
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
        channel_guides = "C" in axes and _task(form).channel_guides
        channels = shape[axes.index("C")] if channel_guides else 1
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


def _progress_line(snapshot, seconds_per_iteration: float, auto_stop: bool) -> str:
    """The status line while a fit runs: where it is, and how long it may still take."""
    left = (snapshot.max_iter - snapshot.iteration) * seconds_per_iteration
    at_most = "at most " if auto_stop else ""
    fit = f" (fit {snapshot.fit}/{snapshot.fits})" if snapshot.fits > 1 else ""
    return (
        f"Iteration {snapshot.iteration}/{snapshot.max_iter}{fit}, loss {snapshot.loss:.3g}, "
        f"{seconds_per_iteration:.2g} s/iteration, {at_most}{format_duration(left)} left"
    )


def _result_line(result: Image) -> str:
    """The status line once a run has its result: why it stopped, when, and how."""
    info = result.metadata["napari_dip"]
    fits = f"{info['fits']} fits, " if info["fits"] > 1 else ""
    return (
        f"{result.name}: {StopReason(info['stop_reason']).description} after "
        f"{fits}{info['iterations']} iterations, {format_duration(info['wall_time_s'])} "
        f"(seed {info['seed']}, {info['device']}){_guide_weight(info)}{_classical_share(info)}"
    )


def _classical_share(info: dict) -> str:
    """For the status line: how much of the result is the network's and how much the
    classical estimate's (averaged over the fits that blended), or ""."""
    blends = info.get("classical_blends") or ()
    if not blends:
        return ""
    network = sum(blend["network_weight"] for blend in blends) / len(blends)
    method = blends[0]["method"]
    counts = sorted({blend["setting"] for blend in blends if blend.get("setting") is not None})
    if counts:  # Richardson-Lucy's iteration counts
        span = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        method += f" ({span} iterations)"
    return f"; network {network:.0%} / {method} {1 - network:.0%}"


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
