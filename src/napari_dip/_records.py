"""What a run did, as typed records: enough to reproduce it (``napari_dip.rerun``)."""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._options import Options
from ._tasks import OWN_OPTIONS, TASK_TABLE
from .core.stop_reason import StopReason
from .imaging.axes import describe

if TYPE_CHECKING:
    from ._plan import Plan
    from .core.fit import Fit

__all__ = ["FitRecord", "RunInfo", "StopReason"]


@dataclass(frozen=True)
class FitRecord:
    """How one fit of a run went."""

    iterations: int
    stop_reason: StopReason
    backtracks: int
    stop_hole: int | None
    threads: tuple[int, ...]
    #: What the fusion with the Wiener filter chose (``core.fusion.Fusion``'s fields), or None.
    fusion: dict | None = None
    #: What the blend with the classical estimate chose (``core.classical.ClassicalBlend``'s
    #: fields), or None.
    classical: dict | None = None
    #: Whether the networks ran in bfloat16 (``Recipe.bfloat16`` on a device that has it).
    bfloat16: bool = False

    @classmethod
    def of(cls, fit: Fit) -> FitRecord:
        threads = tuple(sorted(fit.threads.used)) if fit.threads is not None else ()
        fusion = None if fit.fusion is None else dataclasses.asdict(fit.fusion)
        blend = fit.classical_blend
        classical = None if blend is None else dataclasses.asdict(blend)
        return cls(
            fit.iteration,
            fit.stop_reason,
            fit.backtracks,
            fit.stop_hole,
            threads,
            fusion,
            classical,
            fit.members.bfloat16,
        )


class _KeyAccess:
    """napari-dip 0.1's ``info[key]`` (``info`` was a dict then), deprecated.

    ``info["iterations"]``, ``info.get("seed")``, ``dict(info)`` and ``as_dict()``
    still give ``to_dict()``'s values, with a ``DeprecationWarning``: read the
    attributes (``info.iterations``), or ``to_dict()`` for the plain record.
    """

    def __getitem__(self, key: str):
        record = self._deprecated(f"info[{key!r}]", f"info.{key}")
        if key not in record:
            close = difflib.get_close_matches(str(key), list(record), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"{key!r}: a RunInfo has no such field{hint}")
        return record[key]

    def get(self, key: str, default=None):
        return self._deprecated(f"info.get({key!r})", f"info.{key}").get(key, default)

    def keys(self):
        return self._deprecated("info.keys()", "info.to_dict().keys()").keys()

    def __contains__(self, key) -> bool:
        return key in self._deprecated("key in info", "info.to_dict()")

    def __iter__(self):
        return iter(self._deprecated("iterating over info", "info.to_dict()"))

    def __len__(self) -> int:
        return len(self._deprecated("len(info)", "info.to_dict()"))

    def __bool__(self) -> bool:  # a record is true, as 0.1's non-empty dict was: no warning
        return True

    def as_dict(self) -> dict[str, Any]:
        return self._deprecated("info.as_dict()", "info.to_dict()")

    def _deprecated(self, used: str, instead: str) -> dict[str, Any]:
        warnings.warn(
            f"{used} is napari-dip 0.1's dict access to a record; use {instead}",
            DeprecationWarning,
            stacklevel=3,
        )
        return self.to_dict()


@dataclass(frozen=True, kw_only=True)
class RunInfo(_KeyAccess):
    """A restoration's settings, as resolved for its input, and how its run went.

    One plain record, built once when a run ends (and once before, with no
    fits): its fields are the keys of ``to_dict()``, the JSON-ready form stored
    in a napari layer's metadata and a result file's; ``RunInfo.from_dict``
    reads it back (records of napari-dip 0.1 too), ``options`` are the settings
    that rerun it and ``napari_dip.rerun`` runs it again.  ``recipe`` is the
    complete recipe (a ``Recipe``'s fields, the network's as a dict), so a run
    with a custom recipe can be reproduced too.  A task's own options
    (``factor``, ``kernel``, ``keep_known``: ``_tasks.TASK_TABLE``) are None in
    the records of the other tasks.  ``stop_reason`` is None before a run.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> import napari_dip
    >>> image = np.random.default_rng(0).poisson(50, (32, 32)).astype(np.uint16)
    >>> run = napari_dip.Restoration("denoise", image, max_iter=10, seed=3)
    >>> _ = run.run()
    >>> info = run.info
    >>> info.iterations, info.stop_reason.value, info.seed, info.recipe["members"]
    (10, 'max_iter', 3, 1)
    >>> napari_dip.RunInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    True
    """

    task: str
    #: The recipe's name, and the complete recipe.
    preset: str
    recipe: dict
    factor: int | None = None
    kernel: str | None = None
    psf_shape: tuple[int, ...] | None = None
    #: The input's axes as resolved (C placed where ``channel_axis`` said).
    axes: str
    shape: str
    #: ``channel_axis`` as given.
    channel_axis: int | None = None
    channels: str = "joint"
    stack: str = "volume"
    noise: str = "gaussian"
    warm_start: bool = True
    fits: int
    tile: tuple[int, int] | None = None
    memory_budget_bytes: int
    output_dtype: str
    keep_known: bool | None = None
    max_iter: int
    auto_stop: bool
    seed: int
    device: str
    threads: int | None = None
    offset: float = 0.0
    iterations: int = 0
    fit_iterations: tuple[int, ...] = ()
    stop_reason: StopReason | None = None
    stop_holes: tuple[int, ...] = ()
    backtracks: int = 0
    threads_used: tuple[int, ...] = ()
    #: What the networks computed in: "bfloat16" where ``Recipe.bfloat16`` asked for it and
    #: the device has it natively, else "float32" (a rerun elsewhere may differ).
    precision: str = "float32"
    #: What ``Restoration.uncertainty`` is: "error calibrated on held-out holes"
    #: (inpainting's default), "members' spread" (several members), or None (none).
    uncertainty: str | None = None
    #: Per fit that ended with the fusion (``Recipe.fuse``): the filter's patch side and
    #: noise scale, the weight of the filtered image and the held-out scores it chose by.
    fusions: tuple[dict, ...] = ()
    #: Per fit that ended blending its task's classical estimate in (``Recipe.classical``):
    #: the method, the network's weight (0: the classical estimate alone) and the held-out
    #: scores it chose by.
    classical_blends: tuple[dict, ...] = ()
    #: What guided the fits: ``"channel N"`` (``guide_channel``), ``"image Y x X"`` or
    #: ``"image G x Y x X"`` (``guide``; the image itself is not kept), or None.
    guide: str | None = None
    guide_channel: int | None = None
    #: Per guided block: the guided estimate's weight in the result (``guide_weight``,
    #: 0: the unguided fit's result) and the held-out scores that chose it.
    guide_choices: tuple[dict, ...] = ()
    wall_time_s: float = 0.0
    finished_at: str | None = None
    version: str = ""

    @classmethod
    def of(
        cls,
        plan: Plan,
        fits: list[FitRecord],
        *,
        guide_choices: list[dict] = (),
        stopped: bool,
        elapsed: float,
        finished_at: str | None,
    ) -> RunInfo:
        """The record of ``plan`` after the ``fits`` it ran (``stopped``: by request)."""
        from . import __version__

        reasons = {fit.stop_reason for fit in fits}
        if stopped:
            stop_reason = StopReason.STOPPED
        elif not fits:
            stop_reason = None
        elif StopReason.MAX_ITER in reasons:
            stop_reason = StopReason.MAX_ITER
        else:
            stop_reason = StopReason.AUTO
        options = plan.options
        resolved = {
            "axes": plan.axes,
            "stack": plan.stack,
            "factor": plan.factor,
            "max_iter": plan.max_iter,
            "auto_stop": plan.auto_stop,
            "output_dtype": str(plan.output_dtype),
            "seed": plan.seed,
            "device": str(plan.device),
        }
        own = plan.spec.options
        recorded = {
            name: resolved.get(name, getattr(options, name))
            for name in _OPTIONS_RECORDED
            if name in own or name not in OWN_OPTIONS  # other tasks' own: None
        }
        return cls(
            task=plan.task,
            preset=plan.recipe.name,
            recipe=_plain(dataclasses.asdict(plan.recipe)),
            **recorded,
            psf_shape=None if plan.psf is None else tuple(plan.psf.shape),
            shape=describe(plan.shape, plan.axes),
            fits=plan.fits,
            tile=plan.tile,
            memory_budget_bytes=plan.budget_bytes,
            iterations=sum(fit.iterations for fit in fits),
            fit_iterations=tuple(fit.iterations for fit in fits),
            stop_reason=stop_reason,
            stop_holes=tuple(sorted({f.stop_hole for f in fits if f.stop_hole is not None})),
            backtracks=sum(fit.backtracks for fit in fits),
            threads_used=tuple(sorted({n for fit in fits for n in fit.threads})),
            precision="bfloat16" if any(fit.bfloat16 for fit in fits) else "float32",
            uncertainty=plan.spec.uncertainty(plan.recipe, plan.auto_stop),
            fusions=tuple(fit.fusion for fit in fits if fit.fusion is not None),
            classical_blends=tuple(fit.classical for fit in fits if fit.classical is not None),
            guide=_guide_description(options),
            guide_choices=tuple(guide_choices),
            wall_time_s=round(elapsed, 3),
            finished_at=finished_at,
            version=__version__,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (lists, not tuples; the stop reason's value): JSON-ready."""
        record = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        if self.stop_reason is not None:
            record["stop_reason"] = self.stop_reason.value
        return record

    @classmethod
    def from_dict(cls, record: dict) -> RunInfo:
        """The record ``to_dict`` wrote; other keys (e.g. a layer's settings) are ignored.

        A record of napari-dip 0.1 (no ``version``) has a recipe without its
        name, description, cap and stopping rule: they are taken from the
        record's preset, cap and stopping rule; a recipe's fields added since read
        as their defaults.  A Poisson denoising whose recipe
        asked for the fusion but that recorded none ran when photon counts were
        not fused: its recipe reads without it, so it reruns as it ran.
        """
        values = {f.name: record[f.name] for f in dataclasses.fields(cls) if f.name in record}
        if "version" not in record:
            values["recipe"] = {
                "name": record["preset"],
                "description": f"the {record['preset']!r} preset as napari-dip 0.1 recorded it",
                "max_iter": record["max_iter"],
                "auto_stop": record["auto_stop"],
                **record["recipe"],
            }
        if _unfused_photon_counts(record):
            values["recipe"] = {**values["recipe"], "fuse": False}
        values["recipe"] = _complete_recipe(values["recipe"])  # fields added since: defaults
        if values.get("stop_reason") is not None:
            values["stop_reason"] = StopReason(values["stop_reason"])
        for key, value in values.items():
            if isinstance(value, list):
                values[key] = tuple(value)
        return cls(**values)

    @property
    def options(self) -> Options:
        """The options that rerun this run: the values it used (``preset`` is the complete
        ``Recipe``, ``memory_budget`` the bytes); a task's own options of other tasks, and
        ``guide``, at their defaults (``guide`` describes the image, not kept)."""
        from .core.presets import Recipe

        values = {name: getattr(self, name) for name in _OPTIONS_RECORDED}
        values = {name: value for name, value in values.items() if value is not None}
        return Options(
            **{**values, "channel_axis": None},  # ``axes`` has the C it placed
            preset=Recipe.from_dict(self.recipe),
            memory_budget=self.memory_budget_bytes,
        )

    def keywords(self) -> dict[str, Any]:
        """The options that reproduce this run, as keywords of ``Restoration`` (those the
        task uses; ``preset`` is the ``Recipe``)."""
        options = self.options
        keywords = {name: getattr(options, name) for name in _RERUN}
        if options.noise == "poisson":
            keywords["offset"] = options.offset
        if options.guide_channel is not None:
            keywords["guide_channel"] = options.guide_channel
        keywords.update({name: getattr(options, name) for name in TASK_TABLE[self.task].options})
        return keywords

    def python(self, *, psf_sigma: float | None = None, source: str = "") -> str:
        """Python that reproduces this run.

        Run with ``image`` bound to the input array (and ``mask`` or ``psf``
        where the task needs them, ``guide`` where a guide image steered it),
        it leaves the restored array in ``result``; bit for bit on the CPU with
        a fixed ``threads`` count.  A PSF given as a Gaussian's ``psf_sigma`` is
        rebuilt in the code; ``source`` describes the input in a comment.
        """
        from .core.presets import PRESETS, Recipe

        options = self.keywords()
        recipe: Recipe = options.pop("preset")
        if PRESETS.get(recipe.name) == recipe:
            preset = repr(recipe.name)
        else:
            preset = f"napari_dip.Recipe.from_dict({self.recipe!r})"
        data = TASK_TABLE[self.task].data
        if data == "psf" and psf_sigma is not None:
            data = f"napari_dip.gaussian_psf({psf_sigma!r})"
        arguments = ["image", *([data] if data else []), f"preset={preset}"]
        if self.guide is not None and self.guide_channel is None:
            arguments.append("guide=guide")
        arguments += [f"{name}={value!r}" for name, value in options.items()]
        lines = ["import napari_dip", ""]
        if source:
            lines.append(f"# image: {source}")
        lines.append(f"result = napari_dip.{self.task}(")
        lines += [f"    {argument}," for argument in arguments]
        return "\n".join([*lines, ")", ""])


def _guide_description(options) -> str | None:
    if options.guide_channel is not None:
        return f"channel {options.guide_channel}"
    if options.guide is None:
        return None
    import numpy as np

    return "image " + " x ".join(map(str, np.shape(options.guide)))


#: The options a record holds under their own names: all but the preset (``preset`` and
#: ``recipe``), the memory budget (``memory_budget_bytes``) and the guide image (``guide``
#: describes it).  A new option needs a field of its own in ``RunInfo``.
_OPTIONS_RECORDED = tuple(
    name for name in Options.names() if name not in ("preset", "memory_budget", "guide")
)
#: The options ``keywords()`` always gives, in the order ``python()`` writes them; the
#: others where they matter (the Poisson offset, a guide channel, the task's own).
_RERUN = tuple(
    name
    for name in Options.names()
    if name not in ("channel_axis", "offset", "guide", "guide_channel", *OWN_OPTIONS)
)


def _complete_recipe(recipe: dict) -> dict:
    from .core.presets import Recipe

    return _plain(dataclasses.asdict(Recipe.from_dict(recipe)))


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _unfused_photon_counts(record: dict) -> bool:
    """Whether ``record`` is of a Poisson denoising that stopped by itself with a
    fusing recipe and recorded no fusion: one from before photon counts were fused."""
    return (
        record.get("task") == "denoise"
        and record.get("noise") == "poisson"
        and record["recipe"].get("fuse", False)
        and record.get("stop_reason") == StopReason.AUTO.value
        and not record.get("fusions")
    )
