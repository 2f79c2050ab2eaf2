"""Memory and time a fit will need, estimated before it runs, and the default memory budget.

Memory: the tensors one ``Fit`` iteration keeps alive are counted, then scaled
by ``OVERHEAD`` and offset by ``RUNTIME_BYTES``, both fitted to the peak RSS
growth of real fits (``benchmarks/memory_model.py``).  The activations are the
tensors autograd saves in one forward pass of the real ``SkipNet``, counted on
PyTorch's "meta" device (shapes only, no data, identical counts to the CPU) at
a calibration shape with the same halvings per axis, and scaled per pixel of
the network's padded shape: exact, as every level's size is proportional to
it.  GPUs get the same model, not calibrated there.  Time: the FLOPs of a
forward and backward pass divided by the rate measured, once per process and
device, on a few iterations of a 256x256 network, times the measured share of a
fit's iteration that is not the network's (``ITERATION_OVERHEAD``).

Measured 2026-11-26 on a shared 2-core x86-64 VM (torch 2.13 CPU, one thread),
peak RSS growth / estimate in MiB, ``fast`` preset, one channel unless said:
128x128 160/180, 256x256 290/308, 512x512 761/817, 1024x1024 2808/2852,
2048x2048 10908/10998, 256x256 RGB 285/320, 16x128x128 818/754, and
``paper-denoising`` 256x256 865/808: -8% to +12%.  The fusion that ends a
denoising fit needs about as much again, after the iterations; the fit hands the
iterations' freed memory back first, so the peak is the larger of the two, not
their sum (within 2% of the estimate at 512 and 1024 pixels, 2026-12-07,
``benchmarks/plane_sizes.py``).  Times per iteration are good to about a
factor 2 on a quiet machine, worse on a busy one.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils.flop_counter import FlopCounterMode

from .allocator import reuse_freed_memory
from .devices import preferred_memory_format
from .fit import _input_depth
from .nets import NetSpec, SkipNet, halvings, level_strides, padded_shape
from .presets import PRESETS, Recipe
from .seeding import seeded
from .threads import available_cpus
from .units import format_bytes

__all__ = [
    "FitEstimate",
    "choose_tile",
    "default_memory_budget",
    "estimate_fit",
    "typical_iterations",
]

#: Measured peak memory over the counted tensors: backward's gradients, and the heap's
#: fragmentation while a CPU fit keeps freed memory for reuse (``allocator``).
OVERHEAD = 1.75
#: Measured fixed cost of running a fit at all (oneDNN kernels, thread pools).
RUNTIME_BYTES = 96 * 2**20
#: Copies of the weights alive at once: weights, gradients, Adam's two moments,
#: the checkpoint's weights and moments, Adam's temporaries.
WEIGHT_COPIES = 9
#: Output-sized float32 buffers: moving average, smoothed, best, stopping rule, snapshots.
OUTPUT_BUFFERS = 12
#: Network-input-sized buffers: the code ``z`` and its jittered copy.
INPUT_BUFFERS = 2

#: Measured time of a fit's iteration over its network's forward, backward and step alone:
#: the input's jitter, the moving average, the held-out score, and the fusion or blend at
#: the end spread over the iterations (``benchmarks/speed.py``, ``benchmarks/stack.py``).
ITERATION_OVERHEAD = 1.4

_FLOAT = 4
_GIB = 2**30


@dataclass(frozen=True)
class FitEstimate:
    """What one fit is expected to need, per the model in this module.

    ``peak_bytes`` is the expected peak memory (CPU RAM or GPU memory) of the
    fit, ``tensor_bytes`` the tensors counted before the measured overhead, and
    ``network_shape`` the padded shape the network runs on.  The time per
    iteration is worked out when read: it needs the device's rate,
    timed once per process, which memory-only uses (tile choice) never pay.
    """

    peak_bytes: int
    tensor_bytes: int
    flops_per_iteration: float
    device: torch.device
    network_shape: tuple[int, ...]
    parameters: int

    @property
    def seconds_per_iteration(self) -> float:
        return ITERATION_OVERHEAD * self.flops_per_iteration / _effective_rate(self.device)

    def describe(self) -> str:
        """E.g. ``"~1.2 GB, ~0.05 s/iteration"``."""
        return f"~{format_bytes(self.peak_bytes)}, ~{self.seconds_per_iteration:.2g} s/iteration"


@dataclass(frozen=True)
class _NetCost:
    """Per network pixel costs of one network, and its size."""

    activation_bytes: float
    flops: float
    parameters: int


@functools.lru_cache(maxsize=64)
def _net_cost(spec: NetSpec, input_depth: int, channels: int, counts: tuple[int, ...]) -> _NetCost:
    """Count saved activations and FLOPs of one iteration on the meta device.

    ``counts`` are the halvings per axis; the calibration shape has the same
    ones, so the costs per pixel hold for every shape that has them.
    """
    low = max(3, spec.coarsest)  # a coarsest size that keeps exactly these halvings
    shape = tuple(2**h * (max(8, 2 * low) if h == spec.levels else low) for h in counts)
    with torch.device("meta"):
        net = SkipNet(
            input_depth,
            channels,
            spec,
            len(shape),
            level_strides(shape, spec.levels, spec.coarsest),
        )
        z = torch.empty(1, input_depth, *shape)
        target = torch.empty(1, channels, *shape)
    excluded = {StorageWeakRef(t.untyped_storage()).cdata for t in [target, *net.parameters()]}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = StorageWeakRef(storage).cdata
        if key not in excluded:
            saved[key] = storage.nbytes()
        return tensor

    with FlopCounterMode(display=False) as flops:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss = F.mse_loss(net(z), target)
        loss.backward()
    pixels = math.prod(shape)
    return _NetCost(
        activation_bytes=sum(saved.values()) / pixels,
        flops=flops.get_total_flops() / pixels,
        parameters=sum(p.numel() for p in net.parameters()),
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@functools.lru_cache(maxsize=8)
def _effective_rate(device: torch.device) -> float:
    """FLOP/s of forward, backward and Adam step of the fast network on ``device``.

    Timed on a 256x256 plane on the CPU (smaller planes run fewer FLOP/s: a 128x128
    one measured a third of the rate, and an estimate three times too long), at the
    thread counts a CPU fit tries (``core.threads``), keeping the fastest as the fit
    does: a busy machine slows the full count the most.
    """
    recipe = PRESETS["fast"]
    shape = (256, 256) if device.type == "cpu" else (512, 512)
    with seeded(None):  # the caller's random numbers, and fits built meanwhile, left alone
        net = SkipNet(recipe.input_depth, 1, recipe.net, 2, level_strides(shape, recipe.net.levels))
        z = torch.rand(1, recipe.input_depth, *shape).to(device)
        target = torch.rand(1, 1, *shape).to(device)
    memory_format = preferred_memory_format(device, 2)  # as the fit runs it
    net.to(device, memory_format=memory_format).train()
    z = z.contiguous(memory_format=memory_format)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    caller = torch.get_num_threads()
    thread_counts = {min(caller, available_cpus()), 1} if device.type == "cpu" else {caller}
    fastest = math.inf
    try:
        with reuse_freed_memory(enabled=device.type == "cpu"):
            for count in sorted(thread_counts, reverse=True):
                torch.set_num_threads(count)
                for step in range(3):  # the first is a warm-up
                    start = time.perf_counter()
                    optimizer.zero_grad(set_to_none=True)
                    F.mse_loss(net(z), target).backward()
                    optimizer.step()
                    _synchronize(device)
                    if step:
                        fastest = min(fastest, time.perf_counter() - start)
    finally:
        torch.set_num_threads(caller)
    counts = halvings(shape, recipe.net.levels, recipe.net.coarsest)
    cost = _net_cost(recipe.net, recipe.input_depth, 1, counts)
    return cost.flops * math.prod(shape) / fastest


def estimate_fit(
    recipe: Recipe,
    out_shape: tuple[int, ...],
    channels: int,
    device: str | torch.device = "cpu",
    target_shape: tuple[int, ...] | None = None,
) -> FitEstimate:
    """Peak memory and time per iteration of one ``Fit``, before running it.

    Parameters
    ----------
    recipe : Recipe
    out_shape : tuple of int
        Spatial shape (2 or 3 axes) of the estimate.
    channels : int
        Channels fitted jointly.
    device : torch.device or str
        Where the fit runs (as ``core.devices.resolve_device`` resolved it); only
        the time depends on it.  Timing a device
        takes about a second, once per process.
    target_shape : tuple of int, optional
        Spatial shape of the observation when it differs from ``out_shape``
        (the low-resolution input of super-resolution).
    """
    out_shape = tuple(int(n) for n in out_shape)
    if len(out_shape) not in (2, 3) or min(out_shape) < 1:
        raise ValueError(f"out_shape needs 2 or 3 positive sizes, got {out_shape}")
    target_shape = out_shape if target_shape is None else tuple(target_shape)
    levels = recipe.net.levels
    depth = _input_depth(recipe, len(out_shape))
    coarsest = recipe.net.coarsest
    cost = _net_cost(recipe.net, depth, channels, halvings(out_shape, levels, coarsest))
    network_shape = padded_shape(out_shape, levels, coarsest)
    network_pixels = math.prod(network_shape)
    members = recipe.members  # fitted one after the other: one member's activations at once
    tensors = (
        cost.activation_bytes * network_pixels
        + _FLOAT * WEIGHT_COPIES * cost.parameters * members
        + _FLOAT * INPUT_BUFFERS * depth * network_pixels * members
        + _FLOAT
        * channels
        * (math.prod(target_shape) + OUTPUT_BUFFERS * math.prod(out_shape) * members)
    )
    flops = cost.flops * network_pixels * members
    return FitEstimate(
        peak_bytes=int(OVERHEAD * tensors + RUNTIME_BYTES),
        tensor_bytes=int(tensors),
        flops_per_iteration=flops,
        device=torch.device(device),
        network_shape=network_shape,
        parameters=cost.parameters * members,
    )


#: Where the automatic stop of each default recipe usually ends a fit, cold and
#: warm-started (the next plane or frame), in iterations: the median of the cases its
#: benchmark measured, rounded.  Warm starts measured for denoising only; the other
#: tasks' count as cold.
TYPICAL_STOP = {
    "fast-denoising": (400, 180),  # benchmarks/speed.py (median 406), benchmarks/stack.py
    "quality": (450, 450),  # benchmarks/quality.py
    "fast-inpainting": (700, 700),  # benchmarks/inpainting.py
    "fast-super-resolution": (1550, 1550),  # benchmarks/super_resolution.py (median 1555)
    "fast-deconvolution": (2000, 2000),  # benchmarks/deconvolution.py: most reach the cap
}
#: The same for photon counts (``noise="poisson"``), whose fits stop later: the median
#: of 18 cold fits at 1-100 photons, 504-990 iterations (benchmarks/stack.py and
#: ``denoising_uncertainty.py --photons``), and of the time-lapses' warm frames.
TYPICAL_STOP_PHOTONS = {"fast-denoising": (700, 180)}


def typical_iterations(
    recipe: Recipe, max_iter: int, auto_stop: bool, warm: bool, noise: str = "gaussian"
) -> int | None:
    """Iterations a fit of ``recipe`` usually runs: ``max_iter`` without the automatic
    stop, else where it usually ends for the ``noise`` model (``TYPICAL_STOP``, or
    ``TYPICAL_STOP_PHOTONS`` for photon counts, within the cap; None for a recipe no
    benchmark measured)."""
    if not auto_stop:
        return max_iter
    table = TYPICAL_STOP_PHOTONS if noise == "poisson" else {}
    stops = table.get(recipe.name, TYPICAL_STOP.get(recipe.name))
    return None if stops is None else min(max_iter, stops[warm])


def _available_ram() -> int | None:
    """Bytes of RAM available now: MemAvailable on Linux, else the free pages."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def default_memory_budget(device: torch.device | str = "cpu") -> int:
    """Bytes a fit on ``device`` (a resolved device) may use by default.

    CPU: half the RAM available now (4 GiB when it cannot be read).  CUDA: 80%
    of the GPU's free memory.  Apple MPS: 80% of the recommended maximum
    working set where PyTorch reports it, else the CPU rule (memory is shared).
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(0.8 * free)
    if device.type == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return int(0.8 * torch.mps.recommended_max_memory())
    available = _available_ram()
    return 4 * _GIB if available is None else available // 2


def choose_tile(
    recipe: Recipe,
    shape_yx: tuple[int, int],
    channels: int,
    budget_bytes: int,
    *,
    depth: int | None = None,
    factor: int = 1,
    overlap: int = 32,
) -> tuple[int, int] | None:
    """The YX tile size, on the input grid, for fits within ``budget_bytes``.

    Returns None when the whole image fits: a plane of ``shape_yx``, or a
    volume of ``depth`` planes for a 3D fit (tiles then span all of Z).  Else
    the largest square-ish tile that splits the longer axis into 2, 3, ...
    overlapping pieces (a multiple of 16 pixels, at least ``64 + 2 * overlap``,
    capped at the image size per axis) whose fit, on an output ``factor``
    times larger for super-resolution, is estimated to fit.
    Raises ``MemoryError`` when even the smallest tile does not fit.
    """
    height, width = (int(n) for n in shape_yx)
    lead = () if depth is None else (int(depth),)

    def estimate(size: int) -> tuple[tuple[int, int], FitEstimate]:
        tile = (min(size, height), min(size, width))
        out = lead + (tile[0] * factor, tile[1] * factor)
        return tile, estimate_fit(recipe, out, channels, target_shape=lead + tile)

    largest = max(height, width)
    if estimate(largest)[1].peak_bytes <= budget_bytes:
        return None
    smallest = -(-(64 + 2 * overlap) // 16) * 16
    # Split the longer axis into 2, 3, ... tiles: the largest such tile that
    # fits wastes the least work on overlaps (a tile barely smaller than the
    # image would double the work for a small saving).
    pieces, size = 2, largest
    while size > smallest:
        piece = -(-(largest - overlap) // pieces) + overlap  # ceil division
        size = max(smallest, -(-piece // 16) * 16)
        tile, needed = estimate(size)
        if needed.peak_bytes <= budget_bytes:
            return tile
        pieces += 1
    tile, needed = estimate(smallest)
    what = f"a {tile[0]}x{tile[1]} tile" + ("" if depth is None else f" of {depth} planes")
    remedies = ["raise the memory budget"]
    if depth is not None:
        remedies.append("restore plane by plane instead of as a 3D volume")
    if (recipe.net, recipe.members) != (PRESETS["fast"].net, 1):
        remedies.append("use the smaller 'fast' preset")
    raise MemoryError(
        f"{what} with the {recipe.name!r} preset needs about {format_bytes(needed.peak_bytes)} "
        f"of memory, more than the budget of {format_bytes(budget_bytes)}: "
        f"{', or '.join(remedies)}."
    )
