"""The public, Qt-free API: numpy in, numpy out, in scikit-image's style.

A restoration is planned as a sequence of fits ("blocks") over the input brought
to the canonical (T, C, Z, Y, X) layout: one per frame, per plane when a stack
is restored plane by plane, per channel when channels are independent, and per
tile when one fit would not fit the memory budget.  Tiles are blended back
without seams; each block can start from the weights of the previous block of
the same channels and tile (a warm start).
"""

from __future__ import annotations

import numbers
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .imaging.axes import (
    axes_from_channel_axis,
    canonical_mask,
    check_axes,
    check_axis_sizes,
    describe,
    from_canonical,
    to_canonical,
)
from .imaging.checks import as_array, check_factor, check_image, check_psf
from .imaging.intensity import Intensity, cast_result
from .imaging.tiling import Blender, blend_weights, scale_region, tile_grid

if TYPE_CHECKING:
    from .core.estimate import FitEstimate
    from .core.fit import Fit, Snapshot
    from .core.presets import Recipe

__all__ = [
    "CHANNEL_MODES",
    "NOISE_MODELS",
    "STACK_MODES",
    "TASKS",
    "Restoration",
    "RunEstimate",
    "deconvolve",
    "denoise",
    "inpaint",
    "super_resolve",
]

TASKS = ("denoise", "inpaint", "super_resolve", "deconvolve")
CHANNEL_MODES = ("joint", "independent")
STACK_MODES = ("volume", "planes")
NOISE_MODELS = ("gaussian", "poisson")
#: Low-pass filters of super-resolution's forward model (``core.operators.Downsample``).
KERNELS = ("lanczos2", "box")

#: Overlap of neighbouring tiles, in input pixels (more for a wide PSF).
TILE_OVERLAP = 32

Callback = Callable[["Snapshot"], Any]


@dataclass(frozen=True)
class _Block:
    """One fit: a region of the canonical (T, C, Z, Y, X) input.

    Blocks of the same ``lineage`` (channel group, tile) follow each other
    through frames and planes; each may warm-start from the previous one.
    """

    frame: int
    channels: slice
    planes: slice
    region: tuple[slice, slice]
    lineage: tuple[int, int]
    last_tile: bool


@dataclass(frozen=True)
class RunEstimate:
    """Memory and time of a restoration, estimated before it runs.

    ``peak_bytes`` is the peak memory of one fit (fits run one after the
    other), ``seconds_per_iteration`` the time of one iteration of one fit,
    and ``max_seconds`` the time if every fit ran to ``max_iter`` (the
    automatic stop usually ends them sooner).  ``tile`` is the YX tile size
    on the input grid when the image is cut into tiles to stay within
    ``budget_bytes``, else None.
    """

    fits: int
    max_iter: int
    peak_bytes: int
    seconds_per_iteration: float
    tile: tuple[int, int] | None
    budget_bytes: int

    @property
    def max_seconds(self) -> float:
        return self.fits * self.max_iter * self.seconds_per_iteration

    def describe(self) -> str:
        """One line for people, e.g. ``"1 fit, ~600 MB, ~0.05 s/iteration, at most ~2 min"``."""
        from .core.estimate import format_bytes

        fits = f"{self.fits} fit{'s' if self.fits > 1 else ''}"
        if self.tile is not None:
            fits += f" ({self.tile[0]}x{self.tile[1]} tiles)"
        return (
            f"{fits}, ~{format_bytes(self.peak_bytes)} each, "
            f"~{self.seconds_per_iteration:.2g} s/iteration, at most ~{_duration(self.max_seconds)}"
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _choice(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


def _check_known(data: np.ndarray, missing: np.ndarray) -> None:
    """Inpainting: every measured pixel (outside the mask) must be finite."""
    if data.dtype.kind == "f":
        bad = np.count_nonzero(~np.isfinite(data) & ~missing)
        if bad:
            raise ValueError(
                f"image has {bad} NaN or infinite value(s) outside the mask; "
                "mark them as missing in the mask too"
            )


def _check_every(every) -> int:
    if isinstance(every, bool) or not isinstance(every, numbers.Integral):
        raise TypeError(
            f"every must be an integer >= 1 (iterations between snapshots), got {every!r}"
        )
    if every < 1:
        raise ValueError(
            f"every must be an integer >= 1 (iterations between snapshots), got {every}"
        )
    return int(every)


def _is_input(output_dtype) -> bool:
    return isinstance(output_dtype, str) and output_dtype == "input"


def _dtype(output_dtype) -> np.dtype:
    try:
        return np.dtype(output_dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"output_dtype must be None, 'input' or a numpy dtype, got {output_dtype!r} ({error})"
        ) from None


def _flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _is_true(value) -> bool:
    """A callback's request to stop: True or numpy's True_, nothing else."""
    return isinstance(value, (bool, np.bool_)) and bool(value)


def _resolve_axes(array: np.ndarray, axes, channel_axis) -> str:
    """The input's axes string, from ``axes`` or the scikit-image-style ``channel_axis``."""
    if axes is None:
        return axes_from_channel_axis(array.ndim, channel_axis)
    axes = check_axes(axes, array.ndim, shape=array.shape)
    if channel_axis is not None:
        implied = axes_from_channel_axis(array.ndim, channel_axis) if array.ndim > 2 else ""
        if "C" not in axes or implied.index("C") != axes.index("C"):
            raise ValueError(
                f"channel_axis={channel_axis} disagrees with axes={axes!r}; give only axes"
            )
    return axes


class Restoration:
    """A restoration, validated and planned up front, run step by step or to the end.

    Use it to follow a fit (``for snapshot in r.snapshots(every=50)``), to stop
    it from another thread (``r.stop()``), to read ``r.estimate()`` before and
    ``r.result`` and ``r.info`` after.  ``denoise``, ``inpaint``,
    ``super_resolve`` and ``deconvolve`` are shortcuts that build one and run it.

    Parameters
    ----------
    task : {"denoise", "inpaint", "super_resolve", "deconvolve"}
    image : array_like
        Integer or float intensities; never modified.  Its axes are named by
        ``axes`` (or, scikit-image style, ``channel_axis``).
    mask : array_like, for "inpaint"
        Nonzero marks missing pixels to fill.  Its axes are the image's
        without C, possibly without leading ones: a YX mask applies to every
        plane and frame, a ZYX mask to every frame.  A mask of the image's
        full shape (C included) is one mask per channel.
    factor : int, for "super_resolve"
        Upscaling factor (>= 2) of the Y and X axes.
    kernel : {"lanczos2", "box"}, for "super_resolve"
        Low-pass filter of the forward model: the paper's Lanczos-2, or block
        averaging (binning).
    psf : array_like, for "deconvolve"
        Point spread function, 2D (blurs each plane), or 3D for a stack fitted
        as a volume; see ``gaussian_psf``.  Normalised to sum to one.
    axes : str, optional
        The image's axes, any order of T (time), Z, C (channels), Y and X, e.g.
        "YX", "YXC" (RGB), "ZYX", "CZYX", "TZCYX".  Frames (T) are restored
        one after the other.  Default: "YX" or "ZYX" by the number of axes,
        with "C" at ``channel_axis``; 4D and 5D images need ``axes``.
    channel_axis : int, optional
        Axis holding channels (e.g. -1 for RGB), when ``axes`` is not given.
    channels : {"joint", "independent"}
        Fit all channels with one network of C outputs (they share structure),
        or each channel with its own.
    stack : {"volume", "planes"}
        Fit a Z-stack as a volume with a 3D network, or plane by plane with a
        2D one.
    noise : {"gaussian", "poisson"}
        Noise model of the data term: Gaussian (squared error) or Poisson
        (photon counts; values must be proportional to counts above a zero
        level of 0, so subtract a camera offset first).  See docs/noise.md.
    preset : str or Recipe
        ``"default"`` (fast, stops by itself), ``"quality"`` (an ensemble of
        four networks: about twice the time, for a GPU or an overnight run),
        ``"paper"`` (the paper's recipe for the task) or a name from
        ``napari_dip.PRESETS``.
    max_iter : int, optional
        Iteration cap of each fit; the preset's when None.
    auto_stop : bool, optional
        Stop when the result stops improving (no ground truth needed); the
        preset's choice when None.
    warm_start : bool
        Start each frame or plane from the weights fitted to the previous one
        (same channels, same tile): much faster on similar frames.
    memory_budget : int or str, optional
        Peak memory one fit may use, in bytes or as "4GB", "512MB".  Images
        whose fit would need more are cut into overlapping tiles.  Default:
        half the available RAM on the CPU, 80% of the free GPU memory.
    output_dtype : dtype or "input", optional
        When None, float32, or float64 for inputs that float32 cannot hold
        exactly (float64, 32- and 64-bit integers); ``"input"`` for the input's
        dtype; any integer or float dtype.  Integers are rounded and clipped to
        their range.
    seed : int, optional
        Fixes the networks' initialisation and noise; the same seed gives the
        same result on the CPU.  Drawn at random (and reported in ``info``)
        when None.
    device : str
        ``"auto"`` (CUDA, then Apple MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.
    keep_known : bool, for "inpaint"
        True (default): the result is the input itself, bit for bit, outside
        the mask, and the fit only fills the missing pixels.  False: the
        network's output everywhere (a joint denoise-and-fill).
    threads : int, optional
        CPU threads of each fit.  None (default) chooses them from the CPUs
        this process may use and the image size, and adapts them to the
        machine's load while fitting; the caller's own thread count is left
        as it was.  A fixed count makes results bitwise reproducible for a
        seed whatever the load (see docs/api.md, "Threads").

    Attributes
    ----------
    result : ndarray or None
        The restored image after a run (see ``output_dtype``).
    uncertainty : ndarray or None
        After a run with a preset of several members (``"default"`` for
        denoising, ``"quality"``): their standard deviation per pixel, float32,
        in the input's units and the result's shape.  High where the members
        disagree: fine detail they cannot agree on, and noise one of them
        fitted.  0 at measured pixels kept when inpainting; NaN where no fit
        ran (a stopped run).  None for a single network.  docs/uncertainty.md
        compares it with the actual error on real data.

    Notes
    -----
    Intensities: each channel is mapped linearly from its range (over all
    frames and planes, over the known pixels when inpainting, isolated hot
    pixels set aside) to [0, 1] for the network, and back.  The result is in
    the input's own units (uint8 levels, uint16 counts, float values): float32
    by default, or ``output_dtype``.  See docs/noise.md.
    """

    def __init__(
        self,
        task: str,
        image,
        *,
        mask=None,
        factor: int | None = None,
        kernel: str = "lanczos2",
        psf=None,
        axes: str | None = None,
        channel_axis: int | None = None,
        channels: str = "joint",
        stack: str = "volume",
        noise: str = "gaussian",
        preset: str | Recipe = "default",
        max_iter: int | None = None,
        auto_stop: bool | None = None,
        warm_start: bool = True,
        memory_budget: int | str | None = None,
        output_dtype=None,
        seed: int | None = None,
        device: str = "auto",
        threads: int | None = None,
        keep_known: bool = True,
    ):
        _choice("task", task, TASKS)
        _choice("channels", channels, CHANNEL_MODES)
        _choice("stack", stack, STACK_MODES)
        _choice("noise", noise, NOISE_MODELS)
        _choice("kernel", kernel, KERNELS)
        array = check_image(image, finite=task != "inpaint")  # inpaint: checked outside the mask
        self.axes = _resolve_axes(array, axes, channel_axis)
        check_axis_sizes(array.shape, self.axes)
        data = to_canonical(array, self.axes)  # a view, normalised below in float64
        frames, n_channels, depth, height, width = data.shape
        volume = stack == "volume" and depth > 1
        missing = None
        if task == "inpaint":
            if mask is None:
                raise ValueError("inpaint needs a mask (nonzero = missing pixels to fill)")
            missing = canonical_mask(mask, self.axes, array.shape)
            count = np.broadcast_to(missing, data.shape).sum()
            if count == 0:
                raise ValueError(
                    "mask marks no pixel as missing (nonzero = missing): nothing to inpaint"
                )
            if count == data.size:
                raise ValueError("mask marks every pixel as missing: there is nothing to fit")
            _check_known(data, missing)
        factor = check_factor(factor) if task == "super_resolve" else None
        if task == "deconvolve":
            if psf is None:
                raise ValueError("deconvolve needs a psf (see napari_dip.gaussian_psf)")
            psf = as_array(psf, "psf")
            if psf.ndim == 3 and not volume:
                raise ValueError(
                    "a 3D psf needs a Z-stack restored as a volume (stack='volume'); "
                    "this image is restored plane by plane: pass a 2D psf"
                )
            psf = check_psf(psf, (depth, height, width) if volume else (height, width))
        if max_iter is not None and (
            isinstance(max_iter, bool)
            or not isinstance(max_iter, (int, np.integer))
            or max_iter < 1
        ):
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
        if output_dtype is None:  # float32, or float64 where float32 cannot hold the input
            output_dtype = np.result_type(array.dtype, np.float32)
        output_dtype = array.dtype if _is_input(output_dtype) else _dtype(output_dtype)
        if output_dtype.kind not in "uif":
            raise TypeError(f"output_dtype must be an integer or float type, got {output_dtype}")

        from .core.estimate import choose_tile, default_memory_budget, parse_memory
        from .core.fit import check_seed, new_seed, resolve_device
        from .core.presets import resolve_preset
        from .core.threads import check_threads

        self.task = task
        self.recipe = resolve_preset(preset, task, factor)
        self.device = resolve_device(device)
        self.threads = check_threads(threads)
        self.seed = new_seed() if seed is None else check_seed(seed)
        self.max_iter = int(max_iter or self.recipe.max_iter)
        self.auto_stop = (
            self.recipe.auto_stop if auto_stop is None else _flag("auto_stop", auto_stop)
        )
        self.warm_start = _flag("warm_start", warm_start)
        self.channel_axis = channel_axis
        self.channels, self.noise = channels, noise
        self.stack = "volume" if volume else "planes"
        self._input_shape, self._output_dtype = array.shape, output_dtype
        self._factor, self._kernel, self._psf = factor or 1, kernel, psf

        self._intensity = Intensity(
            np.moveaxis(data, 1, 0),
            None if missing is None else np.moveaxis(missing, 1, 0),
            zero_floor=noise == "poisson",
        )
        target = np.moveaxis(self._intensity.normalise(np.moveaxis(data, 1, 0)), 0, 1)
        if missing is not None:
            target[np.broadcast_to(missing, target.shape)] = 0.0
        self._target = target
        self._known = None if missing is None else ~missing
        # The measured pixels, returned as they are (a copy: the caller may change theirs).
        self.keep_known = bool(keep_known)
        self._measured = data.copy() if missing is not None and self.keep_known else None

        self.budget_bytes = (
            default_memory_budget(self.device)
            if memory_budget is None
            else parse_memory(memory_budget, "memory_budget")
        )
        self._overlap = TILE_OVERLAP + (max(psf.shape[-2:]) if psf is not None else 0)
        fitted = n_channels if channels == "joint" else 1
        self.tile = choose_tile(
            self.recipe,
            (height, width),
            fitted,
            self.budget_bytes,
            depth=depth if volume else None,
            factor=self._factor,
            overlap=self._overlap,
        )
        self._blocks = self._plan(data.shape, volume, fitted)
        self._check_blocks_have_data()
        self._stop = threading.Event()
        self._stopped = False  # whether the last run was stopped
        self._running = threading.Lock()  # held while a run is in progress
        self._fit: Fit | None = None
        self._stats: list[dict] = []
        self.elapsed = 0.0
        self.finished_at: str | None = None
        self.result: np.ndarray | None = None
        self.uncertainty: np.ndarray | None = None

    # --- planning ------------------------------------------------------------

    def _plan(self, shape, volume: bool, fitted: int) -> list[_Block]:
        frames, n_channels, depth, height, width = shape
        regions = tile_grid((height, width), self.tile or (height, width), self._overlap)
        groups = [slice(c, c + fitted) for c in range(0, n_channels, fitted)]
        planes = [slice(None)] if volume else [slice(z, z + 1) for z in range(depth)]
        return [
            _Block(t, group, plane, region, (g, r), r == len(regions) - 1)
            for g, group in enumerate(groups)
            for t in range(frames)
            for plane in planes
            for r, region in enumerate(regions)
        ]

    def _check_blocks_have_data(self) -> None:
        if self._known is None:
            return
        for block in self._blocks:
            known = self._block_array(self._known, block)
            if not known.any():
                raise ValueError(
                    f"the mask leaves no known pixel in {self._where(block)}: "
                    "there is nothing to fit there"
                )

    def _where(self, block: _Block) -> str:
        parts = []
        if "T" in self.axes:
            parts.append(f"frame {block.frame}")
        if "Z" in self.axes and self.stack == "planes":
            parts.append(f"plane {block.planes.start}")
        if "C" in self.axes and self.channels == "independent":
            parts.append(f"channel {block.channels.start}")
        if self.tile is not None:
            y, x = block.region
            parts.append(f"the tile at Y {y.start}-{y.stop}, X {x.start}-{x.stop}")
        return ", ".join(parts) or "the image"

    @staticmethod
    def _block_array(array: np.ndarray, block: _Block) -> np.ndarray:
        """The block of a canonical array (broadcast axes of size 1 stay 1)."""
        frame = block.frame if array.shape[0] > 1 else 0
        channels = block.channels if array.shape[1] > 1 else slice(None)
        planes = block.planes if array.shape[2] > 1 else slice(None)
        return array[(frame, channels, planes, *block.region)]

    def _make_fit(self, block: _Block, initial_weights) -> Fit:
        import torch

        from .core import operators
        from .core.fit import Fit

        target = self._block_array(self._target, block)  # (C, Z, y, x)
        volume = self.stack == "volume"
        if not volume:
            target = target[:, 0]
        noise = self.noise
        if self.task == "inpaint":
            known = self._block_array(self._known, block)
            known = known if volume else known[:, 0]
            operator = operators.Mask(torch.from_numpy(np.ascontiguousarray(known))[None], noise)
        elif self.task == "super_resolve":
            operator = operators.Downsample(self._factor, self._kernel, noise)
        elif self.task == "deconvolve":
            operator = operators.Blur(torch.from_numpy(self._psf), noise)
        else:
            operator = operators.Identity(noise)
        spatial = target.shape[1:]
        out_shape = spatial[:-2] + tuple(n * self._factor for n in spatial[-2:])
        return Fit(
            torch.from_numpy(np.ascontiguousarray(target))[None],
            operator,
            self.recipe,
            out_shape,
            max_iter=self.max_iter,
            auto_stop=self.auto_stop,
            seed=self.seed,
            device=self.device,
            initial_weights=initial_weights,
            threads=self.threads,
        )

    # --- estimates -------------------------------------------------------------

    def estimate(self) -> RunEstimate:
        """Memory and time this restoration should need (see ``RunEstimate``)."""
        from .core.estimate import estimate_fit

        block = self._blocks[0]
        spatial = self._block_array(self._target, block).shape[1:]
        if self.stack == "planes":
            spatial = spatial[1:]
        out_shape = spatial[:-2] + tuple(n * self._factor for n in spatial[-2:])
        fit: FitEstimate = estimate_fit(
            self.recipe,
            out_shape,
            block.channels.stop - block.channels.start,
            self.device,
            target_shape=spatial,
        )
        return RunEstimate(
            fits=len(self._blocks),
            max_iter=self.max_iter,
            peak_bytes=fit.peak_bytes,
            seconds_per_iteration=fit.seconds_per_iteration,
            tile=self.tile,
            budget_bytes=self.budget_bytes,
        )

    # --- running ---------------------------------------------------------------

    def _output_index(self, block: _Block) -> tuple:
        return (block.frame, block.channels, block.planes)

    def _to_user(self, canonical: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Normalised (T, C, Z, Y, X) -> the input's layout and units, in ``dtype``.

        When inpainting with ``keep_known``, measured pixels are the input's own values.
        """
        restored = np.moveaxis(self._intensity.restore(np.moveaxis(canonical, 1, 0)), 0, 1)
        if self._measured is not None:
            restored = np.where(self._known, self._measured, restored)
        return from_canonical(cast_result(restored, dtype), self.axes, self._factor)

    def _spread_to_user(self, canonical: np.ndarray) -> np.ndarray:
        """The members' spread, normalised (T, C, Z, Y, X), in the input's layout and units.

        Measured pixels kept when inpainting are certain: their spread is 0.
        """
        spread = np.moveaxis(np.moveaxis(canonical, 1, 0) * self._intensity.span, 0, 1)
        if self._measured is not None:
            spread = np.where(self._known, 0.0, spread)
        return from_canonical(spread.astype(np.float32), self.axes, self._factor)

    def snapshots(self, every: int = 50) -> Iterator[Snapshot]:
        """Run the fits, yielding a ``Snapshot`` every ``every`` iterations.

        Snapshot images are the whole result so far, in the input's layout and
        units: finished blocks, the current block's estimate (``image``: the
        network's output, ``smoothed``: its running average), and the input
        where no fit has run yet.  ``iteration`` counts the iterations of all
        fits and ``max_iter`` their cap.  The last snapshot has ``done=True``;
        ``result`` is then set.  After a stop, blocks not reached keep the
        input (upsampled by repetition for super-resolution).

        Each run starts afresh from the same seed (a second run gives the
        same result on the CPU); ``info`` describes the last one.  One run at
        a time: starting another while one is in progress raises RuntimeError.
        """
        every = _check_every(every)
        if not self._running.acquire(blocking=False):
            raise RuntimeError(
                "this Restoration is already running (in another thread, or an unfinished "
                "snapshots() loop); stop it or let it finish first"
            )
        done = False
        try:
            self._stats, self._stopped, self.finished_at = [], False, None
            self.result = self.uncertainty = None
            for snapshot in self._snapshots(every):
                if snapshot.done:  # a stop from now on is for the next run
                    done, self._stopped = True, self._stop.is_set()
                    self._stop.clear()
                yield snapshot
        finally:
            if not done:  # abandoned or failed: its stop request ends with it
                self._stopped = self._stop.is_set()
                self._stop.clear()
            self._fit = None
            self._running.release()

    def _snapshots(self, every: int) -> Iterator[Snapshot]:
        from .core.fit import Snapshot

        factor = self._factor
        canvas = np.repeat(np.repeat(self._target, factor, axis=-2), factor, axis=-1)
        # The members' spread, where an ensemble ran; NaN where no fit did.
        spread = np.full(canvas.shape, np.nan, np.float32) if self.recipe.members > 1 else None
        spread_blender = None
        out_yx = canvas.shape[-2:]
        total = len(self._blocks) * self.max_iter
        weights: dict[tuple[int, int], dict] = {}
        start = time.perf_counter()
        done_iterations = 0
        loss = float("nan")
        blender = None

        def assemble(pending) -> np.ndarray:
            whole = canvas.copy()
            index = self._output_index(block)
            whole[index] = blender.preview(fallback=canvas[index], pending=pending)
            return self._to_user(whole)

        for block in self._blocks:
            if self._stop.is_set():
                break
            if blender is None:
                blender = Blender(canvas[self._output_index(block)].shape)
                spread_blender = Blender(blender.shape) if spread is not None else None
            fit = self._make_fit(block, weights.get(block.lineage) if self.warm_start else None)
            self._fit = fit
            if self._stop.is_set():  # asked between the check above and the new fit
                fit.stop()
            region = scale_region(block.region, factor)
            weight = blend_weights(region, out_yx, self._overlap * factor)
            for snapshot in fit.snapshots(every):
                loss = snapshot.loss
                if snapshot.done:
                    break
                self.elapsed = time.perf_counter() - start
                yield Snapshot(
                    iteration=done_iterations + snapshot.iteration,
                    max_iter=total,
                    loss=snapshot.loss,
                    image=assemble((self._as_block(snapshot.image), region, weight)),
                    smoothed=assemble((self._as_block(snapshot.smoothed), region, weight)),
                    elapsed=self.elapsed,
                )
            blender.add(self._as_block(fit.result), region, weight)
            if spread_blender is not None:
                spread_blender.add(self._as_block(fit.uncertainty), region, weight)
            done_iterations += fit.iteration
            self._stats.append(
                {
                    "iterations": fit.iteration,
                    "stop_reason": fit.stop_reason,
                    "backtracks": fit.backtracks,
                    "stop_hole": fit.stop_hole,
                    "threads": sorted(fit.threads.used) if fit.threads is not None else [],
                }
            )
            if self.warm_start:
                weights[block.lineage] = fit.weights()
            if block.last_tile:
                canvas[self._output_index(block)] = blender.result()
                if spread_blender is not None:
                    spread[self._output_index(block)] = spread_blender.result()
                blender = None
        if blender is not None:  # stopped within a tiled plane: keep its finished tiles
            index = self._output_index(block)
            canvas[index] = blender.preview(fallback=canvas[index])
            if spread_blender is not None:
                spread[index] = spread_blender.preview(fallback=spread[index])
        self._fit = None
        self.elapsed = time.perf_counter() - start
        self.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S")
        restored = self._to_user(canvas)
        self.result = self._to_user(canvas, self._output_dtype)
        if spread is not None:
            self.uncertainty = self._spread_to_user(spread)
        yield Snapshot(
            iteration=done_iterations,
            max_iter=total,
            loss=loss,
            image=restored,
            smoothed=restored,
            elapsed=self.elapsed,
            done=True,
        )

    def _as_block(self, image: np.ndarray) -> np.ndarray:
        """A fit's ``(C, *spatial)`` output as a canonical ``(C, Z, Y, X)`` block."""
        return image if self.stack == "volume" else image[:, np.newaxis]

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

    @property
    def info(self) -> dict:
        """What was run and how it went: settings, seed, device, iterations, time."""
        recipe = self.recipe
        stats = self._stats
        reasons = {s["stop_reason"] for s in stats}
        if self._stopped or (self._running.locked() and self._stop.is_set()):
            stop_reason = "stopped"
        elif not stats:
            stop_reason = None
        else:
            stop_reason = "max_iter" if "max_iter" in reasons else "auto"
        return {
            "task": self.task,
            "preset": recipe.name,
            "recipe": {
                "lr": recipe.lr,
                "input_depth": recipe.input_depth,
                "input": recipe.input,
                "reg_noise_std": recipe.reg_noise_std,
                "ema": recipe.ema,
                "members": recipe.members,
                "flips": recipe.flips,
                "stop_holdout": recipe.stop_holdout,
                "stop_block": recipe.stop_block,
                "stop_patience": recipe.stop_patience,
                "stop_min_iter": recipe.stop_min_iter,
                "net": {
                    "down": list(recipe.net.down),
                    "up": list(recipe.net.up),
                    "skip": list(recipe.net.skip),
                    "upsample": recipe.net.upsample,
                    "output": recipe.net.output,
                },
            },
            "factor": self._factor if self.task == "super_resolve" else None,
            "kernel": self._kernel if self.task == "super_resolve" else None,
            "psf_shape": None if self._psf is None else list(self._psf.shape),
            "axes": self.axes,
            "shape": describe(self._input_shape, self.axes),
            "channel_axis": self.channel_axis,
            "channels": self.channels,
            "stack": self.stack,
            "noise": self.noise,
            "warm_start": self.warm_start,
            "fits": len(self._blocks),
            "tile": None if self.tile is None else list(self.tile),
            "memory_budget_bytes": self.budget_bytes,
            "output_dtype": str(self._output_dtype),
            "keep_known": self.keep_known if self.task == "inpaint" else None,
            "max_iter": self.max_iter,
            "auto_stop": self.auto_stop,
            "iterations": sum(s["iterations"] for s in stats),
            "fit_iterations": [s["iterations"] for s in stats],
            "stop_reason": stop_reason,
            "stop_holes": sorted({s["stop_hole"] for s in stats if s["stop_hole"] is not None}),
            "backtracks": sum(s["backtracks"] for s in stats),
            "seed": self.seed,
            "device": str(self.device),
            "threads": self.threads,
            "threads_used": sorted({n for s in stats for n in s["threads"]}),
            "wall_time_s": round(self.elapsed, 3),
            "finished_at": self.finished_at,
        }


_COMMON = """
    axes : str, optional
        The image's axes, e.g. "YX", "YXC", "ZYX", "CZYX", "TZCYX" (see
        ``Restoration``); default "YX"/"ZYX" with C at ``channel_axis``.
    channel_axis : int, optional
        Axis holding channels (e.g. -1 for RGB), scikit-image style, when
        ``axes`` is not given.
    preset : str, optional
        "default" (fast, stops by itself), "quality" (slower, better), "paper",
        or a name in ``PRESETS``.
    max_iter : int, optional
        Iteration cap of each fit (the preset's when None).
    seed : int, optional
        Same seed, same result on the CPU; random when None.
    device : str, optional
        "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
    callback : callable, optional
        Called with a ``Snapshot`` every ``every`` iterations and at the end;
        return True to stop early and keep the best result so far.
    every : int, optional
        Iterations between callbacks.
    **options
        Any other keyword of ``Restoration``: ``channels`` ("joint" or
        "independent"), ``stack`` ("volume" or "planes"), ``auto_stop``,
        ``warm_start``, ``memory_budget`` (e.g. "4GB"), ``output_dtype``
        (None for float32, or float64 for float64 and 32/64-bit integer
        inputs; "input"; or a dtype), ``threads`` (CPU threads per fit; None
        adapts them to the machine's load).

    Returns
    -------
    restored : ndarray
        In the input's layout and intensity units, float32 (float64 for
        float64 and wide integer inputs) unless ``output_dtype`` says
        otherwise (see ``Restoration``).
"""


def _run(task, image, callback, every, **kwargs) -> np.ndarray:
    return Restoration(task, image, **kwargs).run(callback, every)


def denoise(
    image,
    *,
    noise="gaussian",
    axes=None,
    channel_axis=None,
    preset="default",
    max_iter=None,
    seed=None,
    device="auto",
    callback=None,
    every=50,
    **options,
) -> np.ndarray:
    return _run(
        "denoise",
        image,
        callback,
        every,
        noise=noise,
        axes=axes,
        channel_axis=channel_axis,
        preset=preset,
        max_iter=max_iter,
        seed=seed,
        device=device,
        **options,
    )


def inpaint(
    image,
    mask,
    *,
    keep_known=True,
    axes=None,
    channel_axis=None,
    preset="default",
    max_iter=None,
    seed=None,
    device="auto",
    callback=None,
    every=50,
    **options,
) -> np.ndarray:
    return _run(
        "inpaint",
        image,
        callback,
        every,
        mask=mask,
        keep_known=keep_known,
        axes=axes,
        channel_axis=channel_axis,
        preset=preset,
        max_iter=max_iter,
        seed=seed,
        device=device,
        **options,
    )


def super_resolve(
    image,
    factor,
    *,
    kernel="lanczos2",
    axes=None,
    channel_axis=None,
    preset="default",
    max_iter=None,
    seed=None,
    device="auto",
    callback=None,
    every=50,
    **options,
) -> np.ndarray:
    return _run(
        "super_resolve",
        image,
        callback,
        every,
        factor=factor,
        kernel=kernel,
        axes=axes,
        channel_axis=channel_axis,
        preset=preset,
        max_iter=max_iter,
        seed=seed,
        device=device,
        **options,
    )


def deconvolve(
    image,
    psf,
    *,
    noise="gaussian",
    axes=None,
    channel_axis=None,
    preset="default",
    max_iter=None,
    seed=None,
    device="auto",
    callback=None,
    every=50,
    **options,
) -> np.ndarray:
    return _run(
        "deconvolve",
        image,
        callback,
        every,
        psf=psf,
        noise=noise,
        axes=axes,
        channel_axis=channel_axis,
        preset=preset,
        max_iter=max_iter,
        seed=seed,
        device=device,
        **options,
    )


_NOISE = """
    noise : {"gaussian", "poisson"}, optional
        Noise model: "poisson" for photon counts (see docs/noise.md)."""

denoise.__doc__ = f"""Remove noise with a Deep Image Prior.

    Parameters
    ----------
    image : array_like
        The noisy image (see ``axes``).{_NOISE}
{_COMMON}"""

inpaint.__doc__ = f"""Fill missing pixels with a Deep Image Prior.

    Parameters
    ----------
    image : array_like
        The damaged image (see ``axes``).
    mask : array_like
        Nonzero marks a missing pixel to fill; the image's axes without C
        (leading ones may be left out: a YX mask applies to every plane), or
        the image's full shape for one mask per channel.  Values under the
        mask are ignored and may be NaN.
    keep_known : bool, optional
        True: outside the mask the result is the input, bit for bit, and only
        the missing pixels are filled.  False: the network's output everywhere
        (denoises the known pixels too).
{_COMMON}"""

super_resolve.__doc__ = f"""Upscale Y and X by ``factor`` with a Deep Image Prior.

    Parameters
    ----------
    image : array_like
        The low-resolution image (see ``axes``).
    factor : int
        Upscaling factor, >= 2; the result has ``factor`` times the Y and X size.
    kernel : {{"lanczos2", "box"}}, optional
        Low-pass filter assumed before subsampling.
{_COMMON}"""

deconvolve.__doc__ = f"""Undo a known blur with a Deep Image Prior.

    Parameters
    ----------
    image : array_like
        The blurred image (see ``axes``).
    psf : array_like
        Point spread function (2D, or 3D for a stack fitted as a volume); see
        ``gaussian_psf``.{_NOISE}
{_COMMON}"""
