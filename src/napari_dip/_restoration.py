"""Running a plan on the pixels: intensities, fits, blending, snapshots and stopping.

``Restoration`` plans (``_plan``) and then runs a restoration block by block;
``Pixels`` holds the input as the fits see it (normalised, canonical) and
brings their estimates back to the input's layout and units; ``Canvas``
assembles the output from the blocks' results, blending tiles without seams.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ._canvas import Canvas
from ._options import (
    DATA_DOCS,
    REFERENCES,
    ChannelMode,
    Kernel,
    Noise,
    Options,
    StackMode,
    check_every,
    parameters_doc,
)
from ._pixels import Pixels
from ._plan import Block, CheckedPlan, Plan, RunEstimate, check_plan
from ._records import FitRecord, RunInfo
from ._tasks import Task, task_spec
from .imaging.checks import check_image

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .core.fit import Fit, Snapshot
    from .core.presets import Recipe

__all__ = ["Restoration"]

Callback = Callable[["Snapshot"], Any]


class Restoration:
    """A restoration, validated and planned up front, run step by step or to the end.

    Use it to follow a fit (``for snapshot in r.snapshots(every=50)``), to stop
    it from another thread (``r.stop()``), to read ``r.estimate()`` before and
    ``r.result``, ``r.uncertainty`` and ``r.info`` after.  ``denoise``,
    ``inpaint``, ``super_resolve`` and ``deconvolve`` build one and run it.

    Parameters
    ----------
    task : {"denoise", "inpaint", "super_resolve", "deconvolve"}
    {parameters}

    Attributes
    ----------
    plan : Plan
        What the options resolve to for this input: recipe, seed, blocks, tiles.
    result : ndarray or None
        The restored image after a run (see ``output_dtype``).
    uncertainty : ndarray or None
        After a run, float32, in the input's units and the result's shape: the
        result's expected error, a standard deviation per pixel, for denoising
        with its fusion (the default and ``"quality"``: predicted by the Wiener
        filter, ``core.fusion.predicted_error``) and inpainting with the
        automatic stop (the default: calibrated on held-out holes,
        ``core.calibration``; 0 at measured pixels kept).  Otherwise, with a
        preset of several members (``"quality"``), their standard deviation per
        pixel: high where they disagree, not the error's size.  NaN where no fit
        ran or a fit stopped before its fusion or blend (a stopped run); None for
        a single network otherwise.  docs/uncertainty.md compares it with the
        actual error on real data.
    info : RunInfo
        The run's settings, resolved for this input, and how it went.

    Notes
    -----
    Intensities: each channel is mapped linearly from its range (over all
    frames and planes, over the known pixels when inpainting, isolated hot
    pixels set aside) to [0, 1] for the network, and back.  The result is in
    the input's own units (uint8 levels, uint16 counts, float values): float32
    by default, or ``output_dtype``.  See docs/noise.md.

    {references}

    Examples
    --------
    >>> import numpy as np
    >>> import napari_dip
    >>> image = np.random.default_rng(0).poisson(50, (48, 48)).astype(np.uint16)
    >>> run = napari_dip.Restoration("denoise", image, max_iter=20, seed=0)
    >>> run.plan.fits, run.info.stop_reason
    (1, None)
    >>> [snapshot.iteration for snapshot in run.snapshots(every=10)]
    [10, 20]
    >>> run.info.stop_reason.description
    'iteration cap reached'
    """

    def __init__(
        self,
        task: Task,
        image: ArrayLike,
        *,
        mask: ArrayLike | None = None,
        psf: ArrayLike | None = None,
        axes: str | None = None,
        channel_axis: int | None = None,
        channels: ChannelMode = "joint",
        stack: StackMode = "volume",
        noise: Noise = "gaussian",
        offset: float = 0.0,
        factor: int | None = None,
        kernel: Kernel = "lanczos2",
        keep_known: bool = True,
        guide: ArrayLike | None = None,
        guide_channel: int | None = None,
        preset: str | Recipe = "default",
        max_iter: int | None = None,
        auto_stop: bool | None = None,
        warm_start: bool = True,
        memory_budget: int | str | None = None,
        output_dtype: np.dtype | type | str | None = None,
        seed: int | None = None,
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        self._start(task, image, mask, psf, Options.from_arguments(locals()))

    @classmethod
    def from_options(
        cls, task: Task, image: ArrayLike, *, options: Options, mask=None, psf=None
    ) -> Restoration:
        """A restoration with its options already built (``Options``)."""
        restoration = cls.__new__(cls)
        restoration._start(task, image, mask, psf, options)
        return restoration

    @classmethod
    def from_checked(cls, checked: CheckedPlan, image: ArrayLike, *, mask=None) -> Restoration:
        """A restoration of ``image`` (and ``mask``) whose shapes and options ``check_plan``
        has checked already (napari checks in the GUI thread, then builds this in a
        worker): only the pixels are checked here."""
        restoration = cls.__new__(cls)
        restoration._start(checked.task, image, mask, checked.psf, checked.options, checked)
        return restoration

    def _start(self, task: str, image, mask, psf, options: Options, checked=None) -> None:
        masked = task_spec(task).data == "mask"  # inpainting: checked outside the mask
        array = check_image(image, finite=not masked)
        if checked is None:
            mask_shape = None if mask is None else np.shape(mask)
            checked = check_plan(
                task, array.shape, array.dtype, options, mask_shape=mask_shape, psf=psf
            )
        elif (checked.shape, checked.dtype) != (array.shape, array.dtype):
            raise ValueError(
                f"the image is {array.shape} {array.dtype}; it was checked as "
                f"{checked.shape} {checked.dtype}"
            )
        self.plan: Plan = checked.plan()
        self._pixels = Pixels(array, mask, self.plan)
        self._stop = threading.Event()
        self._stopped = False  # whether the last run was stopped
        self._running = threading.Lock()  # held while a run is in progress
        self._fit: Fit | None = None
        self._records: list[FitRecord] = []
        self._choices: list[dict] = []  # per guided block: the guide's weight, its scores
        self.elapsed = 0.0
        self.finished_at: str | None = None
        self.result: np.ndarray | None = None
        self.uncertainty: np.ndarray | None = None
        self._info = self._record()

    task = property(lambda self: self.plan.task, doc="The task being run.")
    axes = property(lambda self: self.plan.axes, doc="The input's axes, e.g. 'ZYX'.")
    seed = property(lambda self: self.plan.seed, doc="The seed of the fits.")
    tile = property(lambda self: self.plan.tile, doc="YX tile size, or None for whole planes.")

    @property
    def recipe(self) -> Recipe:
        """The recipe the preset resolved to for this task."""
        return self.plan.recipe

    def estimate(self) -> RunEstimate:
        """Memory and time this restoration should need (see ``RunEstimate``)."""
        return self.plan.estimate()

    @property
    def info(self) -> RunInfo:
        """What was run and how it went: settings, seed, device, iterations, time.

        The record of the last run, made when it ended (before any run: the plan's,
        with no fits); a run in progress has its record when it ends.
        """
        return self._info

    def _record(self) -> RunInfo:
        return RunInfo.of(
            self.plan,
            self._records,
            guide_choices=self._choices,
            stopped=self._stopped,
            elapsed=self.elapsed,
            finished_at=self.finished_at,
        )

    def run(self, callback: Callback | None = None, every: int = 50) -> np.ndarray:
        """Run to the end and return the result.

        ``callback(snapshot)`` is called every ``every`` iterations and at the
        end; returning True (a Python or numpy bool) from it stops the fit
        (the best result so far is returned).  Other return values, None
        included, let it go on.  Each call runs afresh (see ``snapshots``).
        """
        for snapshot in self.snapshots(every):
            if callback is not None and _is_true(callback(snapshot)) and not snapshot.done:
                self.stop()
        return self.result

    def stop(self) -> None:
        """Stop within one iteration, keeping the best result so far; safe from any thread.

        Called while no run is in progress, it stops the next run before its
        first fit (that run returns the input); later runs are not affected.
        """
        self._stop.set()
        fit = self._fit
        if fit is not None:
            fit.stop()

    def snapshots(self, every: int = 50) -> Iterator[Snapshot]:
        """Run the fits, yielding a ``Snapshot`` every ``every`` iterations.

        Snapshot images are the whole result so far, in the input's layout and
        units: finished blocks, the current block's estimate (``image``: the
        network's output, ``smoothed``: its running average), and the input
        where no fit has run yet.  ``iteration`` counts the iterations of all
        fits and ``max_iter`` their cap; ``fit`` is the current fit's number
        (from 1) of ``fits``.  The last snapshot has ``done=True``; ``result``
        is then set.  After a stop, blocks not reached keep the input
        (upsampled by repetition for super-resolution).

        Each run starts afresh from the same seed (a second run gives the
        same result on the CPU); ``info`` describes the last one.  One run at
        a time: starting another while one is in progress raises RuntimeError.
        """
        every = check_every(every)
        if not self._running.acquire(blocking=False):
            raise RuntimeError(
                "this Restoration is already running (in another thread, or an unfinished "
                "snapshots() loop); stop it or let it finish first"
            )
        done = False
        try:
            self._records, self._stopped, self.finished_at = [], False, None
            self._choices = []
            self.result = self.uncertainty = None
            for snapshot in self._snapshots(every):
                if snapshot.done:  # a stop from now on is for the next run
                    done, self._stopped = True, self._stop.is_set()
                    self._stop.clear()
                    self._info = self._record()
                yield snapshot
        finally:
            if not done:  # abandoned or failed: its stop request ends with it
                self._stopped = self._stop.is_set()
                self._stop.clear()
                self._info = self._record()
            self._fit = None
            self._running.release()

    def _snapshots(self, every: int) -> Iterator[Snapshot]:
        from .core.fit import Snapshot

        plan, pixels = self.plan, self._pixels
        canvas = Canvas(pixels.target, plan)
        total = plan.fits * plan.max_iter
        weights: dict[tuple, dict] = {}  # by lineage and guided or not
        start = time.perf_counter()
        done_iterations, scores = 0, {"loss": float("nan")}
        number = 0
        for block in plan.blocks:
            if self._stop.is_set():
                break
            canvas.begin(block)
            fits = []
            for guided in plan.variants(block):
                if fits and self._stop.is_set():
                    break
                lineage = (block.lineage, guided)
                partner = fits[0] if fits else None  # the guided fit, blended in
                fit = _make_fit(plan, pixels, block, weights.get(lineage), guided, partner)
                self._fit, number = fit, number + 1
                if self._stop.is_set():  # asked between the check above and the new fit
                    fit.stop()
                for snapshot in fit.snapshots(every):
                    scores = _scores(snapshot, done_iterations)
                    if snapshot.done:
                        break
                    self.elapsed = time.perf_counter() - start
                    yield Snapshot(
                        iteration=done_iterations + snapshot.iteration,
                        max_iter=total,
                        image=pixels.to_user(canvas.preview(snapshot.image)),
                        smoothed=pixels.to_user(canvas.preview(snapshot.smoothed)),
                        elapsed=self.elapsed,
                        fit=number,
                        fits=plan.fits,
                        **scores,
                    )
                done_iterations += fit.iteration
                self._records.append(FitRecord.of(fit))
                if plan.options.warm_start:
                    weights[lineage] = fit.weights()
                fits.append(fit)
            kept = _kept(fits)
            if plan.guided(block):
                self._choices.append(_choice(kept))
            canvas.add(kept.result, kept.uncertainty)
        canvas.close()
        self._fit = None
        self.elapsed = time.perf_counter() - start
        self.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S")
        restored = pixels.to_user(canvas.image)
        self.result = pixels.to_user(canvas.image, plan.output_dtype)
        if canvas.spread is not None:
            self.uncertainty = pixels.spread_to_user(canvas.spread)
        yield Snapshot(
            iteration=done_iterations,
            max_iter=total,
            image=restored,
            smoothed=restored,
            elapsed=self.elapsed,
            done=True,
            fit=len(self._records),
            fits=plan.fits,
            **scores,
        )


def _scores(snapshot: Snapshot, offset: int) -> dict:
    """A fit's snapshot's scores, with its iterations counted from the run's start."""
    best = snapshot.best_iteration
    return {
        "loss": snapshot.loss,
        "held_out": snapshot.held_out,
        "best_iteration": None if best is None else offset + best,
    }


def _kept(fits: list[Fit]) -> Fit:
    """The fit whose result a block keeps: the last (the unguided fit, which blended the
    guided one in), or the guided fit when the unguided one stopped before blending."""
    last = fits[-1]
    return last if len(fits) == 1 or last.guide_blend is not None else fits[0]


def _choice(kept: Fit) -> dict:
    """A guided block's record: the guided estimate's weight, and the held-out scores
    that chose it (none where the guided fit alone ran)."""
    if kept.guide_blend is None:
        return {"guide_weight": 1.0}
    return dataclasses.asdict(kept.guide_blend)


def _is_true(value) -> bool:
    """A callback's request to stop: True or numpy's True_, nothing else."""
    return isinstance(value, (bool, np.bool_)) and bool(value)


def _make_fit(
    plan: Plan, pixels: Pixels, block: Block, initial_weights, guided=False, blend_with=None
) -> Fit:
    """The fit of ``block``: its target, forward model and data term, and the guide or
    the guided fit to blend in."""
    import torch

    from .core.data_terms import data_term
    from .core.fit import Fit
    from .core.operators import make_operator

    def tensor(canonical: np.ndarray) -> torch.Tensor:  # (1, C, *spatial)
        part = block.of(canonical)  # (C, Z, y, x)
        part = part if plan.volume else part[:, 0]
        return torch.from_numpy(np.ascontiguousarray(part))[None]

    operator = make_operator(
        plan.task,
        known=None if pixels.known is None else tensor(pixels.known),
        factor=plan.factor,
        kernel=plan.options.kernel,
        psf=None if plan.psf is None else torch.from_numpy(plan.psf),
    )
    return Fit(
        tensor(pixels.target),
        operator,
        plan.recipe,
        plan.out_shape(block),
        data_term=data_term(plan.options.noise),
        max_iter=plan.max_iter,
        auto_stop=plan.auto_stop,
        seed=plan.seed,
        device=plan.device,
        initial_weights=initial_weights if plan.options.warm_start else None,
        threads=plan.options.threads,
        guide=pixels.guide_of(block) if guided else None,
        blend_with=blend_with,
    )


def _document_restoration() -> None:
    """``Restoration``'s parameter list, from the options' definition."""
    parameters = "\n".join(
        [
            DATA_DOCS["image"],
            DATA_DOCS["mask"].replace("array_like", 'array_like, for "inpaint"', 1),
            DATA_DOCS["psf"].replace("array_like", 'array_like, for "deconvolve"', 1),
            parameters_doc(Options.names()),
        ]
    )
    Restoration.__doc__ = Restoration.__doc__.replace("    {parameters}", parameters).replace(
        "    {references}", REFERENCES
    )


_document_restoration()
