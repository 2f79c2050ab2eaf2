"""What a run did, as typed records: enough to reproduce it (``napari_dip.rerun``)."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._options import Options
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
        )


@dataclass(frozen=True)
class RunInfo(Mapping):
    """A restoration's settings, as resolved for its input, and how its run went.

    ``recipe`` is the complete recipe (a ``Recipe``'s fields, the network's
    as a dict), so a run with a custom recipe can be reproduced too.
    ``as_dict()`` is the JSON-ready form stored in a napari layer's metadata;
    ``RunInfo.from_dict`` reads it back (records of napari-dip 0.1 too) and
    ``napari_dip.rerun`` runs it again.  ``stop_reason`` is None before a run.

    It is also a read-only mapping, as ``info`` was in napari-dip 0.1:
    ``info["iterations"]``, ``info.get("stop_holes")``, ``dict(info)`` give
    the values of ``as_dict()`` (lists, the stop reason's value).

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
    >>> napari_dip.RunInfo.from_dict(json.loads(json.dumps(info.as_dict()))) == info
    True
    >>> info["stop_reason"], info["fit_iterations"]
    ('max_iter', [10])
    """

    task: str
    #: The options as resolved for the input: what reruns it.  ``preset`` is the complete
    #: ``Recipe``; ``axes``, ``max_iter``, ``auto_stop``, ``seed``, ``device`` and
    #: ``memory_budget`` (bytes) are the values used; options the task ignores keep their
    #: defaults; ``guide`` is None (the image is not kept: ``guide`` below describes it).
    options: Options
    #: ``channel_axis`` as given (``options.axes`` has the C it placed).
    channel_axis: int | None
    shape: str
    psf_shape: tuple[int, ...] | None
    fits: int
    tile: tuple[int, int] | None
    iterations: int = 0
    fit_iterations: tuple[int, ...] = ()
    stop_reason: StopReason | None = None
    stop_holes: tuple[int, ...] = ()
    backtracks: int = 0
    threads_used: tuple[int, ...] = ()
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
        return cls(
            task=plan.task,
            options=_resolved(plan),
            channel_axis=plan.options.channel_axis,
            shape=describe(plan.shape, plan.axes),
            psf_shape=None if plan.psf is None else tuple(plan.psf.shape),
            fits=plan.fits,
            tile=plan.tile,
            iterations=sum(fit.iterations for fit in fits),
            fit_iterations=tuple(fit.iterations for fit in fits),
            stop_reason=stop_reason,
            stop_holes=tuple(sorted({f.stop_hole for f in fits if f.stop_hole is not None})),
            backtracks=sum(fit.backtracks for fit in fits),
            threads_used=tuple(sorted({n for fit in fits for n in fit.threads})),
            fusions=tuple(fit.fusion for fit in fits if fit.fusion is not None),
            classical_blends=tuple(fit.classical for fit in fits if fit.classical is not None),
            guide=_guide_description(plan.options),
            guide_choices=tuple(guide_choices),
            wall_time_s=round(elapsed, 3),
            finished_at=finished_at,
            version=__version__,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values only (lists, not tuples; the stop reason's value): JSON-ready."""
        return {key: self[key] for key in RECORD_KEYS}

    def __getitem__(self, key: str):
        """Key ``key`` of the record as ``as_dict()`` has it (a copy: lists and dicts are new)."""
        if key not in RECORD_KEYS:
            close = difflib.get_close_matches(str(key), RECORD_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"{key!r}: a RunInfo has no such field{hint}")
        value = getattr(self, key)
        return value.value if isinstance(value, StopReason) else _plain(value)

    def __getattr__(self, name: str) -> Any:
        """The record's keys that come from the options (``info.seed``, ``info.noise``)."""
        if name in _FROM_OPTIONS:
            return _FROM_OPTIONS[name](self)
        if name in _SAME:
            return getattr(self.options, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __iter__(self) -> Iterator[str]:
        return iter(RECORD_KEYS)

    def __len__(self) -> int:
        return len(RECORD_KEYS)

    @classmethod
    def from_dict(cls, record: dict) -> RunInfo:
        """The record ``as_dict`` wrote; other keys (e.g. a layer's settings) are ignored.

        A record of napari-dip 0.1 (no ``version``) has a recipe without its
        name, description, cap and stopping rule: they are taken from the
        record's preset, cap and stopping rule.  A Poisson denoising whose recipe
        asked for the fusion but that recorded none ran when photon counts were
        not fused: its recipe reads without it, so it reruns as it ran.
        """
        from .core.presets import Recipe

        recipe = record["recipe"]
        if "version" not in record:
            recipe = {
                "name": record["preset"],
                "description": f"the {record['preset']!r} preset as napari-dip 0.1 recorded it",
                "max_iter": record["max_iter"],
                "auto_stop": record["auto_stop"],
                **recipe,
            }
        if _unfused_photon_counts(record):
            recipe = {**recipe, "fuse": False}
        options = Options(
            **{
                name: record.get(name, Options.__dataclass_fields__[name].default) for name in _SAME
            },
            preset=Recipe.from_dict(recipe),
            memory_budget=record["memory_budget_bytes"],
            kernel=record["kernel"] or Options.kernel,
            keep_known=Options.keep_known if record["keep_known"] is None else record["keep_known"],
        )
        values = {key: record[key] for key in _OWN_KEYS if key in record}
        if values.get("stop_reason") is not None:
            values["stop_reason"] = StopReason(values["stop_reason"])
        for key in _TUPLES:
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(options=options, **values)

    def keywords(self) -> dict[str, Any]:
        """The options that reproduce this run, as keywords of ``Restoration`` (those the
        task uses; ``preset`` is the ``Recipe``)."""
        options = self.options
        keywords = {name: getattr(options, name) for name in _RERUN}
        if options.noise == "poisson":
            keywords["offset"] = options.offset
        if options.guide_channel is not None:
            keywords["guide_channel"] = options.guide_channel
        if self.task == "super_resolve":
            keywords.update(factor=options.factor, kernel=options.kernel)
        if self.task == "inpaint":
            keywords["keep_known"] = options.keep_known
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
        data = {"inpaint": ["mask"], "deconvolve": ["psf"]}.get(self.task, [])
        if self.task == "deconvolve" and psf_sigma is not None:
            data = [f"napari_dip.gaussian_psf({psf_sigma!r})"]
        arguments = ["image", *data, f"preset={preset}"]
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


def _resolved(plan: Plan) -> Options:
    """``plan``'s options as it resolved them (see ``RunInfo.options``)."""
    options, task = plan.options, plan.task
    return dataclasses.replace(
        options,
        axes=plan.axes,
        channel_axis=None,
        stack=plan.stack,
        factor=plan.factor if task == "super_resolve" else None,
        kernel=options.kernel if task == "super_resolve" else Options.kernel,
        keep_known=options.keep_known if task == "inpaint" else Options.keep_known,
        guide=None,
        preset=plan.recipe,
        max_iter=plan.max_iter,
        auto_stop=plan.auto_stop,
        memory_budget=plan.budget_bytes,
        output_dtype=str(plan.output_dtype),
        seed=plan.seed,
        device=str(plan.device),
    )


#: The record's keys that come from the options under other names or in other forms.
_FROM_OPTIONS = {
    "preset": lambda info: info.options.preset.name,
    "recipe": lambda info: _plain(dataclasses.asdict(info.options.preset)),
    "kernel": lambda info: info.options.kernel if info.task == "super_resolve" else None,
    "keep_known": lambda info: info.options.keep_known if info.task == "inpaint" else None,
    "memory_budget_bytes": lambda info: info.options.memory_budget,
}
#: The options recorded as they are, under their own names (new options too).
_SAME = tuple(
    name
    for name in Options.names()
    if name not in _FROM_OPTIONS and name not in ("memory_budget", "channel_axis", "guide")
)
#: The options ``keywords()`` always gives, in the order ``python()`` writes them; the
#: others where they matter (the Poisson offset, a guide channel, the task's own).
_RERUN = tuple(
    name
    for name in Options.names()
    if name
    not in ("channel_axis", "offset", "factor", "kernel", "keep_known", "guide", "guide_channel")
)
#: The keys of a record (``as_dict()``), in its order: a RunInfo as a mapping.
_KEYS_IN_ORDER = (
    "task",
    "preset",
    "recipe",
    "factor",
    "kernel",
    "psf_shape",
    "axes",
    "shape",
    "channel_axis",
    "channels",
    "stack",
    "noise",
    "warm_start",
    "fits",
    "tile",
    "memory_budget_bytes",
    "output_dtype",
    "keep_known",
    "max_iter",
    "auto_stop",
    "seed",
    "device",
    "threads",
    "offset",
    "iterations",
    "fit_iterations",
    "stop_reason",
    "stop_holes",
    "backtracks",
    "threads_used",
    "fusions",
    "classical_blends",
    "guide",
    "guide_channel",
    "guide_choices",
    "wall_time_s",
    "finished_at",
    "version",
)
RECORD_KEYS = _KEYS_IN_ORDER + tuple(
    n for n in _SAME if n not in _KEYS_IN_ORDER
)  # options added later
#: The record's keys that are fields of their own, and those of them that are tuples.
_OWN_KEYS = tuple(f.name for f in dataclasses.fields(RunInfo) if f.name != "options")
_TUPLES = (
    "psf_shape",
    "tile",
    "fit_iterations",
    "stop_holes",
    "threads_used",
    "fusions",
    "classical_blends",
    "guide_choices",
)


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
