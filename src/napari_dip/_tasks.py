"""The tasks, one row each: what a task needs, which options are its own, what it is called.

Every front end reads this table rather than naming tasks itself: the API's
signatures and docstrings (``_api``), the command line's subcommands and
flags (``batch.cli``), the jobs' checks and result names (``batch.jobs``), the
widget's controls and the layers' names (``_napari``), the plan's checks
(``_plan``) and the records, which keep a task's own options and leave the
others at their defaults (``_records``).  The computations stay in ``core``,
which does not import this layer: a task's forward model is
``core.operators.make_operator(task)`` and its classical estimate that
operator's ``classical``.

Examples
--------
>>> from napari_dip._tasks import TASK_TABLE
>>> spec = TASK_TABLE["super_resolve"]
>>> spec.command, spec.required, spec.options, spec.result_suffix
('super-resolve', ('factor',), ('factor', 'kernel'), 'super-resolved')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "COMMON_OPTIONS",
    "OWN_OPTIONS",
    "TASKS",
    "TASK_TABLE",
    "Task",
    "TaskSpec",
    "task_spec",
]

Task = Literal["denoise", "inpaint", "super_resolve", "deconvolve"]


#: The kinds of uncertainty a run gives (``TaskSpec.uncertainty``), as records name them.
UNCERTAINTY_CALIBRATED = "error calibrated on held-out holes"
UNCERTAINTY_PREDICTED = "error predicted by the Wiener fusion"
UNCERTAINTY_SPREAD = "members' spread"


@dataclass(frozen=True)
class TaskSpec:
    """One task: its data, its own options, its names and its classical estimate."""

    name: str
    #: What the widget's task choice calls it.
    label: str
    #: The array it takes beside the image ("mask", "psf"), or None.
    data: str | None
    #: Its own options (besides ``COMMON_OPTIONS``): recorded for this task only, and
    #: left at their defaults in the records of the others.
    options: tuple[str, ...] = ()
    #: Those of its own options it cannot run without (no default).
    required: tuple[str, ...] = ()
    #: Added to the names of its results: "cells denoised", ``cells_denoised.ome.tif``.
    result_suffix: str = ""
    #: Whether a noise model applies: the widget offers Gaussian or Poisson for it.
    noise_model: bool = False
    #: Whether a channel of the image can guide the others (``guide_channel``); not
    #: where the channel misses the pixels to fill too.
    channel_guides: bool = True
    #: The classical estimate its default weighs in on held-out pixels, named for
    #: people (the status line, the docs); None where it has none.
    classical: str | None = None

    @property
    def command(self) -> str:
        """Its command-line subcommand, e.g. ``super-resolve``."""
        return self.name.replace("_", "-")

    @property
    def keyword_options(self) -> tuple[str, ...]:
        """Its own options that are keywords (the required ones come positionally)."""
        return tuple(name for name in self.options if name not in self.required)

    def uncertainty(self, recipe, auto_stop: bool) -> str | None:
        """What a run of ``recipe`` gives as its uncertainty: a fill's error calibrated on
        the held-out holes (the automatic stop and the blend with biharmonic inpainting,
        ``core.calibration``), a denoising's error predicted by its fusion (the automatic
        stop and ``Recipe.fuse``, ``core.fusion.predicted_error``), else the members'
        spread, else nothing (None)."""
        if self.data == "mask" and recipe.classical and auto_stop:
            return UNCERTAINTY_CALIBRATED
        if self.name == "denoise" and recipe.fuse and auto_stop:
            return UNCERTAINTY_PREDICTED
        return UNCERTAINTY_SPREAD if recipe.members > 1 else None

    def gives_uncertainty(self, recipe, auto_stop: bool) -> bool:
        """Whether a run of ``recipe`` gives an uncertainty (``uncertainty``)."""
        return self.uncertainty(recipe, auto_stop) is not None

    def check_data(self, data) -> None:
        """ValueError naming the array the task needs when ``data`` (it, or its shape)
        is None; a required option is checked with the options."""
        if self.data is not None and data is None:
            raise ValueError(f"{self.name} needs {_DATA[self.data]}")


#: What each array beside the image is, in the message that asks for it.
_DATA = {
    "mask": "a mask (nonzero = missing pixels to fill)",
    "psf": "a psf (see napari_dip.gaussian_psf)",
}

TASK_TABLE: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "denoise",
            label="Denoise",
            data=None,
            result_suffix="denoised",
            noise_model=True,
            classical="Wiener filter",
        ),
        TaskSpec(
            "inpaint",
            label="Inpaint",
            data="mask",
            options=("keep_known",),
            result_suffix="inpainted",
            channel_guides=False,
            classical="biharmonic",
        ),
        TaskSpec(
            "super_resolve",
            label="Super-resolve",
            data=None,
            options=("factor", "kernel"),
            required=("factor",),
            result_suffix="super-resolved",
        ),
        TaskSpec(
            "deconvolve",
            label="Deconvolve",
            data="psf",
            result_suffix="deconvolved",
            noise_model=True,
            classical="Richardson-Lucy",
        ),
    )
}
TASKS: tuple[str, ...] = get_args(Task)
#: The options that are some task's own (``TaskSpec.options``).
OWN_OPTIONS = frozenset(name for spec in TASK_TABLE.values() for name in spec.options)

#: Options every task takes, in the order the signatures list them.
COMMON_OPTIONS = (
    "guide",
    "guide_channel",
    "noise",
    "offset",
    "axes",
    "channel_axis",
    "channels",
    "stack",
    "preset",
    "max_iter",
    "auto_stop",
    "warm_start",
    "memory_budget",
    "output_dtype",
    "seed",
    "device",
    "threads",
)


def task_spec(task: str) -> TaskSpec:
    """The row of ``task``; ValueError naming the tasks for anything else."""
    if task not in TASK_TABLE:
        choices = ", ".join(map(repr, TASK_TABLE))
        raise ValueError(f"unknown task {task!r}; choose one of {choices}")
    return TASK_TABLE[task]
