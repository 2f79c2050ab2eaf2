"""The dock widget's form: a restoration's settings, as controls built from one table.

``CONTROLS`` is the form's one table: a row per control saying what it is
(its magicgui widget; choices and help come from the options' one
definition, ``_options``, and the task table, ``_tasks``), when it is shown,
which option (or layer datum) it reads into, and how a result's recorded
value is put back.  ``Form`` builds its controls from the table and reads
them once as ``FormSettings``: the task, the image layer, an ``Options`` and
the layers' data (mask, PSF, plane, guide); ``_GuideChoice`` offers the
layers and channels that can guide the chosen image.  The runs are the
widget's (``widget.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    LineEdit,
    SpinBox,
)
from napari.layers import Image, Labels
from psygnal import Signal

import napari_dip

from .._options import CHANNEL_MODES, KERNELS, NOISE_MODELS, STACK_MODES, Options, describe
from .._records import RunInfo
from .._tasks import OWN_OPTIONS, TASK_TABLE, TaskSpec, task_spec
from ..imaging.axes import check_axes
from ..imaging.checks import MAX_FACTOR
from ..imaging.guide_image import check_guide_shape
from ..imaging.noise import suggest_noise
from .layer_input import has_image_planes, read_layer

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
    make: Callable[[Form], ValueWidget]
    shown: Callable[[Form], bool] | None = None
    read: Callable[[Form], dict] | None = None
    put: Callable[[Form, dict], Any] | None = None


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(LABELS.get(value, value.capitalize()), value) for value in values]


def _value(name: str) -> Callable[[Form], dict]:
    """Reads a control's value as is, as the option of its name."""
    return lambda form: {name: getattr(form, name).value}


def _recorded(key: str) -> Callable[[Form, dict], Any]:
    """Puts back a record's ``key``; a task's own option only from a run of a task that has it."""

    def put(_form: Form, record: dict):
        unused = key in OWN_OPTIONS and key not in task_spec(record["task"]).options
        return KEEP if unused else record[key]

    return put


def _open_layer(key: str, kind: type = object) -> Callable[[Form, dict], Any]:
    """Puts back the layer a record names under ``key``, when it is open (and a ``kind``)."""

    def put(form: Form, record: dict):
        layers = form._viewer.layers
        name = record.get(key)
        if name in layers and isinstance(layers[name], kind):
            return layers[name]
        return KEEP

    return put


def _task(form: Form) -> TaskSpec:
    return task_spec(form.task.value)


def _for_data(data: str) -> Callable[[Form], bool]:
    """Shown for the task that takes ``data`` ("mask", "psf") beside the image."""
    return lambda form: _task(form).data == data


def _for_option(name: str) -> Callable[[Form], bool]:
    """Shown for the tasks that have option ``name`` as their own."""
    return lambda form: name in _task(form).options


def _psf_from(source: str) -> Callable[[Form], bool]:
    return lambda form: _task(form).data == "psf" and form.psf.value == source


def _photon_counts(form: Form) -> bool:
    return _task(form).noise_model and form.noise.value == "poisson"


def _warm_start_applies(form: Form) -> bool:
    """Frames, or planes fitted one by one, and more than the current plane."""
    letters = form.letters()
    planes = "Z" in letters and form.stack.value == "planes"
    return ("T" in letters or planes) and not form.one_plane()


def _memory_budget(text: str) -> str | None:
    text = text.strip()
    return None if text.lower() in ("", "auto") else text


def _seed_box(_form: Form) -> SpinBox:
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


class Form(Container):
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
        return source.check(settings.task).plan

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

    def __init__(self, form: Form):
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
