"""Planning a restoration from shapes, dtypes and options, without reading a pixel.

A restoration runs as a sequence of fits ("blocks") over the input brought to
the canonical (T, C, Z, Y, X) layout: one per frame, per plane when a stack is
restored plane by plane, per channel when channels are independent, and per
tile when one fit would not fit the memory budget.  ``make_plan`` checks
everything that can be checked from the shapes (axes, mask shape, PSF, preset,
device, memory) and lays out the blocks; ``Plan.estimate`` says what they will
cost.  It is cheap enough to redo on every change of a form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._options import Options, output_dtype
from ._tasks import TaskSpec, task_spec
from .imaging.axes import (
    axes_from_channel_axis,
    axes_of_mask,
    check_axes,
    check_axis_sizes,
    to_canonical_shape,
)
from .imaging.checks import check_factor, check_image_type, check_psf
from .imaging.tiling import tile_grid

if TYPE_CHECKING:
    import torch

    from .core.presets import Recipe

__all__ = ["Block", "CheckedPlan", "Plan", "RunEstimate", "check_plan", "make_plan"]

#: Overlap of neighbouring tiles, in input pixels (more for a wide PSF).
TILE_OVERLAP = 32


@dataclass(frozen=True)
class Block:
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

    def of(self, array: np.ndarray) -> np.ndarray:
        """This block of a canonical array (broadcast axes of size 1 stay 1)."""
        frame = self.frame if array.shape[0] > 1 else 0
        channels = self.channels if array.shape[1] > 1 else slice(None)
        planes = self.planes if array.shape[2] > 1 else slice(None)
        return array[(frame, channels, planes, *self.region)]

    @property
    def output_index(self) -> tuple:
        """Where the block's result goes in the canonical output, but for Y and X."""
        return (self.frame, self.channels, self.planes)


@dataclass(frozen=True)
class RunEstimate:
    """Memory and time of a restoration, estimated before it runs.

    ``peak_bytes`` is the peak memory of one fit (fits run one after the
    other), ``seconds_per_iteration`` the time of one iteration of one fit,
    and ``max_seconds`` the time if every fit ran to ``max_iter``.
    ``expected_iterations`` is where the automatic stop usually ends the fits,
    all together, as the benchmarks measured it for the default recipes
    (``core.estimate.TYPICAL_STOP``; None for other recipes), and
    ``expected_seconds`` its time.  ``tile`` is the
    YX tile size on the input grid when the image is cut into tiles to stay
    within ``budget_bytes``, else None.

    Examples
    --------
    >>> import numpy as np
    >>> import napari_dip
    >>> image = np.zeros((2048, 2048), np.uint16)
    >>> estimate = napari_dip.Restoration("denoise", image, memory_budget="1GB").estimate()
    >>> estimate.tile is not None and estimate.fits > 1 and estimate.peak_bytes <= 2**30
    True
    """

    fits: int
    max_iter: int
    peak_bytes: int
    seconds_per_iteration: float
    tile: tuple[int, int] | None
    budget_bytes: int
    expected_iterations: int | None = None

    @property
    def max_seconds(self) -> float:
        return self.fits * self.max_iter * self.seconds_per_iteration

    @property
    def expected_seconds(self) -> float | None:
        if self.expected_iterations is None:
            return None
        return self.expected_iterations * self.seconds_per_iteration

    def describe(self) -> str:
        """One line for people, e.g. ``"1 fit, ~600 MB each, ~0.05 s/iteration, usually
        ~40 s, at most ~2 min"``."""
        from .core.units import format_bytes, format_duration

        fits = f"{self.fits} fit{'s' if self.fits > 1 else ''}"
        if self.tile is not None:
            fits += f" ({self.tile[0]}x{self.tile[1]} tiles)"
        line = f"{fits}, ~{format_bytes(self.peak_bytes)} each, "
        line += f"~{self.seconds_per_iteration:.2g} s/iteration, "
        if self.expected_iterations is not None:
            if self.expected_iterations >= self.fits * self.max_iter:
                return line + f"~{format_duration(self.max_seconds)}"
            line += f"usually ~{format_duration(self.expected_seconds)}, "
        return line + f"at most ~{format_duration(self.max_seconds)}"


@dataclass(frozen=True)
class Plan:
    """What a restoration will do, decided from shapes and options (see ``make_plan``).

    ``options`` are the caller's; the other fields are what they resolve to
    for this input: the recipe of the preset, the device, the seed (drawn
    when none was given), the cap and stopping rule, whether a stack is
    fitted as a volume, the result's dtype, the memory budget, the tile
    size (None: whole planes) and the blocks.

    Examples
    --------
    >>> import numpy as np
    >>> import napari_dip
    >>> movie = np.zeros((3, 64, 64), np.uint16)  # not read: only its shape and dtype count
    >>> plan = napari_dip.Restoration("denoise", movie, axes="TYX", seed=1).plan
    >>> plan.fits, plan.recipe.name, plan.seed, plan.output_dtype
    (3, 'fast-denoising', 1, dtype('float32'))
    """

    task: str
    options: Options
    axes: str
    shape: tuple[int, ...]
    dtype: np.dtype
    recipe: Recipe
    device: torch.device
    seed: int
    max_iter: int
    auto_stop: bool
    volume: bool
    factor: int
    psf: np.ndarray | None
    output_dtype: np.dtype
    budget_bytes: int
    overlap: int
    tile: tuple[int, int] | None
    blocks: tuple[Block, ...]

    @property
    def spec(self) -> TaskSpec:
        """The task's row of the task table."""
        return task_spec(self.task)

    @property
    def gives_uncertainty(self) -> bool:
        """Whether the fits give an uncertainty (``TaskSpec.gives_uncertainty``)."""
        return self.spec.gives_uncertainty(self.recipe, self.auto_stop)

    @property
    def stack(self) -> str:
        return "volume" if self.volume else "planes"

    @property
    def fits(self) -> int:
        return sum(len(self.variants(block)) for block in self.blocks)

    def guided(self, block: Block) -> bool:
        """Whether ``block`` has a guide: the guide image, or the guide channel when the
        block does not restore that channel itself."""
        channel = self.options.guide_channel
        if channel is not None:
            return not block.channels.start <= channel < block.channels.stop
        return self.options.guide is not None

    def variants(self, block: Block) -> tuple[bool, ...]:
        """The fits of ``block``, guided (True) or not: a guided block is fitted both
        ways when the automatic stop can score them (the unguided fit blends the guided
        one in, ``core.guided``), else guided only."""
        if not self.guided(block):
            return (False,)
        return (True, False) if self.auto_stop else (True,)

    def out_shape(self, block: Block) -> tuple[int, ...]:
        """Spatial shape of ``block``'s estimate: (Z, Y, X) for a volume, else (Y, X)."""
        _, _, depth, _, _ = to_canonical_shape(self.shape, self.axes)
        y, x = block.region
        spatial = (y.stop - y.start, x.stop - x.start)
        spatial = (depth, *spatial) if self.volume else spatial
        return spatial[:-2] + tuple(n * self.factor for n in spatial[-2:])

    def estimate(self) -> RunEstimate:
        """Memory and time this restoration should need (see ``RunEstimate``)."""
        from .core.estimate import estimate_fit

        block = self.blocks[0]
        out_shape = self.out_shape(block)
        fit = estimate_fit(
            self.recipe,
            out_shape,
            block.channels.stop - block.channels.start,
            self.device,
            target_shape=out_shape[:-2] + tuple(n // self.factor for n in out_shape[-2:]),
        )
        cost = (fit.peak_bytes, fit.seconds_per_iteration)
        return RunEstimate(
            self.fits, self.max_iter, *cost, self.tile, self.budget_bytes, self.expected_iterations
        )

    @property
    def expected_iterations(self) -> int | None:
        """Iterations the fits usually run, all together, where the automatic stop usually
        ends them (``core.estimate.TYPICAL_STOP``; None for a recipe no benchmark
        measured): the first fit of each lineage starts cold, the next ones warm."""
        from .core.estimate import typical_iterations

        cold, warm = (
            typical_iterations(self.recipe, self.max_iter, self.auto_stop, w, self.options.noise)
            for w in (False, True)
        )
        if cold is None:
            return None
        lineages = {(b.lineage, guided) for b in self.blocks for guided in self.variants(b)}
        if not self.options.warm_start:
            return self.fits * cold
        return len(lineages) * cold + (self.fits - len(lineages)) * warm

    def where(self, block: Block) -> str:
        """Where ``block`` lies in the input, in words (for error messages)."""
        parts = []
        if "T" in self.axes:
            parts.append(f"frame {block.frame}")
        if "Z" in self.axes and not self.volume:
            parts.append(f"plane {block.planes.start}")
        if "C" in self.axes and self.options.channels == "independent":
            parts.append(f"channel {block.channels.start}")
        if self.tile is not None:
            y, x = block.region
            parts.append(f"the tile at Y {y.start}-{y.stop}, X {x.start}-{x.stop}")
        return ", ".join(parts) or "the image"


def check_plan(
    task: str,
    shape: tuple[int, ...],
    dtype,
    options: Options,
    *,
    mask_shape: tuple[int, ...] | None = None,
    psf=None,
) -> CheckedPlan:
    """The checks of ``make_plan`` that need no memory estimate: quick, for the GUI thread.

    Raises what ``make_plan`` raises, but for the ``MemoryError`` of an image
    whose smallest tile needs more than the memory budget: that check needs
    PyTorch's cost model (its first use in a process takes seconds).  Returns
    what it resolved, which ``CheckedPlan.plan()`` completes without checking
    again (in a worker thread, for napari).
    """
    from .core.devices import resolve_device
    from .core.presets import resolve_preset

    spec = task_spec(task)
    shape = tuple(int(n) for n in shape)
    check_image_type(shape, dtype)
    axes = _resolve_axes(shape, options.axes, options.channel_axis)
    check_axis_sizes(shape, axes)
    _, _, depth, height, width = to_canonical_shape(shape, axes)
    volume = options.stack == "volume" and depth > 1
    spec.check_data({"mask": mask_shape, "psf": psf}.get(spec.data))
    if spec.data == "mask":
        axes_of_mask(mask_shape, axes, shape)
    psf = _check_psf(psf, volume, (depth, height, width)) if spec.data == "psf" else None
    factor = check_factor(options.factor) if "factor" in spec.options else 1
    _check_guide(task, options, axes, shape, factor)
    return CheckedPlan(
        task=task,
        options=options,
        shape=shape,
        dtype=np.dtype(dtype),
        axes=axes,
        volume=volume,
        factor=factor,
        psf=psf,
        recipe=resolve_preset(options.preset, task, options.factor),
        device=resolve_device(options.device),
    )


def make_plan(
    task: str,
    shape: tuple[int, ...],
    dtype,
    options: Options,
    *,
    mask_shape: tuple[int, ...] | None = None,
    psf=None,
) -> Plan:
    """Check a restoration of an image of ``shape`` and ``dtype`` and lay out its fits.

    ``mask_shape`` is the inpainting mask's shape, ``psf`` the deconvolution's
    point spread function (read: it is small).  Raises ValueError, TypeError,
    or MemoryError when even the smallest tile needs more than the budget.
    """
    return check_plan(task, shape, dtype, options, mask_shape=mask_shape, psf=psf).plan()


@dataclass(frozen=True)
class CheckedPlan:
    """A restoration checked from its shapes and options (``check_plan``): the values it
    resolved, each once; ``plan()`` adds what needs the cost model."""

    task: str
    options: Options
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str
    volume: bool
    factor: int
    psf: np.ndarray | None
    recipe: Recipe
    device: torch.device

    def plan(self) -> Plan:
        """The plan: the seed (drawn when none was given), the memory budget, the tiles
        and the blocks.  MemoryError when even the smallest tile needs more than the budget."""
        from .core.estimate import choose_tile, default_memory_budget
        from .core.seeding import new_seed

        options, recipe, psf = self.options, self.recipe, self.psf
        canonical = to_canonical_shape(self.shape, self.axes)
        _, n_channels, depth, height, width = canonical
        budget = (
            default_memory_budget(self.device)
            if options.memory_budget is None
            else options.memory_budget
        )
        overlap = TILE_OVERLAP + (max(psf.shape[-2:]) if psf is not None else 0)
        fitted = n_channels if options.channels == "joint" else 1
        tile = choose_tile(
            recipe,
            (height, width),
            fitted,
            budget,
            depth=depth if self.volume else None,
            factor=self.factor,
            overlap=overlap,
        )
        return Plan(
            task=self.task,
            options=options,
            axes=self.axes,
            shape=self.shape,
            dtype=self.dtype,
            recipe=recipe,
            device=self.device,
            seed=new_seed() if options.seed is None else int(options.seed),
            max_iter=int(options.max_iter or recipe.max_iter),
            auto_stop=resolved_auto_stop(options, recipe),
            volume=self.volume,
            factor=self.factor,
            psf=psf,
            output_dtype=output_dtype(options.output_dtype, self.dtype),
            budget_bytes=budget,
            overlap=overlap,
            tile=tile,
            blocks=_blocks(canonical, self.volume, fitted, tile, overlap, options.guide_channel),
        )


def resolved_auto_stop(options: Options, recipe: Recipe) -> bool:
    """Whether the fits stop by themselves: ``options.auto_stop``, else the recipe's."""
    return recipe.auto_stop if options.auto_stop is None else bool(options.auto_stop)


def _check_guide(task: str, options: Options, axes: str, shape, factor: int) -> None:
    """The guide image's Y and X against the result's, or the guide channel against the
    image's channels."""
    from .imaging.guide_image import check_guide_shape

    frames, n_channels, depth, height, width = to_canonical_shape(shape, axes)
    if options.guide is not None:
        grid = "the result" if factor > 1 else "the image"
        guide_shape = np.shape(options.guide)
        last = check_guide_shape(guide_shape, (height * factor, width * factor), grid)
        if len(guide_shape) == 3 and guide_shape[-1 if last else 0] in {frames, depth} - {1}:
            raise ValueError(
                f"guide has shape {guide_shape}: its channels match the image's frames or "
                "planes; a guide is one plane (with or without channels) that guides every "
                "plane and frame, so restore one plane at a time to guide each by its own"
            )
    channel = options.guide_channel
    if channel is None:
        return
    if n_channels < 2:
        raise ValueError(
            f"guide_channel={channel} needs an image with several channels (axes with C); "
            f"this one has axes {axes!r}"
        )
    if channel >= n_channels:
        raise ValueError(
            f"guide_channel={channel} is out of range: the image has {n_channels} channels"
        )
    if not task_spec(task).channel_guides:
        raise ValueError(
            "guide_channel cannot guide inpainting: the channel misses the pixels to fill "
            "too; give guide= a complete image instead"
        )


def _resolve_axes(shape: tuple[int, ...], axes, channel_axis) -> str:
    """The input's axes string, from ``axes`` or the scikit-image-style ``channel_axis``."""
    ndim = len(shape)
    if axes is None:
        return axes_from_channel_axis(ndim, channel_axis)
    axes = check_axes(axes, ndim, shape=shape)
    if channel_axis is not None:
        implied = axes_from_channel_axis(ndim, channel_axis) if ndim > 2 else ""
        if "C" not in axes or implied.index("C") != axes.index("C"):
            raise ValueError(
                f"channel_axis={channel_axis} disagrees with axes={axes!r}; give only axes"
            )
    return axes


def _check_psf(psf, volume: bool, spatial: tuple[int, int, int]) -> np.ndarray:
    from .imaging.checks import as_array

    psf = as_array(psf, "psf")
    if psf.ndim == 3 and not volume:
        raise ValueError(
            "a 3D psf needs a Z-stack restored as a volume (stack='volume'); "
            "this image is restored plane by plane: pass a 2D psf"
        )
    return check_psf(psf, spatial if volume else spatial[1:])


def _channel_groups(n_channels: int, fitted: int, guide_channel: int | None) -> list[slice]:
    """The channels fitted together: all (joint) or one by one; the guide channel on its
    own, the channels on either side of it as two groups."""
    if guide_channel is None:
        return [slice(c, c + fitted) for c in range(0, n_channels, fitted)]
    if fitted == 1:
        return [slice(c, c + 1) for c in range(n_channels)]
    sides = [slice(0, guide_channel), slice(guide_channel + 1, n_channels)]
    return [slice(guide_channel, guide_channel + 1)] + [s for s in sides if s.stop > s.start]


def _blocks(
    shape, volume: bool, fitted: int, tile, overlap: int, guide_channel: int | None = None
) -> tuple[Block, ...]:
    frames, n_channels, depth, height, width = shape
    regions = tile_grid((height, width), tile or (height, width), overlap)
    groups = _channel_groups(n_channels, fitted, guide_channel)
    planes = [slice(None)] if volume else [slice(z, z + 1) for z in range(depth)]
    return tuple(
        Block(t, group, plane, region, (g, r), r == len(regions) - 1)
        for g, group in enumerate(groups)
        for t in range(frames)
        for plane in planes
        for r, region in enumerate(regions)
    )
