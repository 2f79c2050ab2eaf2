"""What a plane costs by its size, on the CPU or a GPU: the default and the paper's recipe.

For each size (256, 512 and 1024 pixels square) and each recipe, one case runs in a fresh Python
process (so that its peak memory is its own) on a noisy microscopy field: the nuclei of
``../shared/data/microscopy/nuclei_2d.tif`` enlarged twice (bilinear) to 1024x1024, a centre
crop of the size, with Gaussian noise of 10% of its range (seed 100).  The case

- asks ``Restoration.estimate()`` what the run should take, as a user sees it before Run;
- runs the denoising as a user calls it, seed 0: the default to its automatic stop (the time of a
  result), the paper's recipe for ``--paper-iterations`` iterations (a result, at its 3000, is
  extrapolated from the iterations per second);
- measures the peak memory from before the estimate (whose timing of the device counts, as in
  ``memory_model.py``): the GPU memory PyTorch reserved at most (``max_memory_reserved``), or on
  the CPU the process's peak resident memory (``VmHWM``) less what it held then;
- times the networks alone, forward, backward and Adam step of the same fit's networks on the same
  input (``--network-iterations`` after a warm-up): their share of an iteration of the run, the
  rest being the hold-out score, the stop, the fusion, snapshots and copies.

The device is synchronised around every timing.  Rows go to a JSON-lines file as they come;
``--docs`` renders the tables of every device in the rows (a case measured again: its latest row).

Usage::

    python benchmarks/plane_sizes.py --rows benchmarks/plane_sizes.jsonl [--device cuda]
        [--sizes 256 512 1024] [--presets default paper] [--threads 2] [--docs]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from _pages import replace_table, source_of
from _photons import add_row, read_rows

import napari_dip
from napari_dip.core.allocator import reuse_freed_memory
from napari_dip.core.estimate import _synchronize
from napari_dip.core.units import format_bytes
from napari_dip.core.devices import resolve_device
from napari_dip.core.fit import Fit
from napari_dip.core.operators import Identity

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "microscopy" / "nuclei_2d.tif"
DOCS = HERE.parent / "docs" / "speed.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
SIZES = (256, 512, 1024)
PRESETS = ("default", "paper")


def field(size: int, path: Path = DATA) -> np.ndarray:
    """The noisy ``size`` x ``size`` centre crop of the plane in ``path`` enlarged twice (float32)."""
    small = torch.from_numpy(tifffile.imread(path).astype(np.float32))[None, None]
    big = torch.nn.functional.interpolate(small, scale_factor=2, mode="bilinear")[0, 0].numpy()
    start = (big.shape[0] - size) // 2
    clean = big[start : start + size, start : start + size]
    span = float(big.max() - big.min())
    noise = np.random.default_rng(100).normal(0, 0.1 * span, clean.shape)
    return (clean + noise).astype(np.float32)


def _resident_bytes(key: str) -> int | None:
    """``VmRSS`` or ``VmHWM`` of this process (Linux), else None."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    return None


def _reset_peak(device: torch.device) -> int | None:
    """Start the peak memory afresh; returns what the process holds now (CPU) or 0 (GPU)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return 0
    try:  # Linux: writing 5 resets VmHWM to the current resident size
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _resident_bytes("VmRSS")


def _peak_since(device: torch.device, before: int | None) -> int | None:
    if before is None:
        return None
    if device.type == "cuda":
        return int(torch.cuda.max_memory_reserved(device))
    peak = _resident_bytes("VmHWM")
    return None if peak is None else peak - before


def network_seconds(run: napari_dip.Restoration, image: np.ndarray, iterations: int) -> float:
    """Seconds per iteration of the run's networks alone: forward, backward, Adam step."""
    plan = run.plan
    low, high = float(image.min()), float(image.max())
    target = torch.from_numpy((image - low) / (high - low))[None, None]
    fit = Fit(
        target,
        Identity(),
        plan.recipe,
        image.shape,
        max_iter=iterations + 1,
        auto_stop=False,
        seed=plan.seed,
        device=plan.device,
        threads=torch.get_num_threads(),
    )
    times = []
    with reuse_freed_memory(enabled=fit.device.type == "cpu"):  # as the fit runs
        for _ in range(iterations + 1):  # the first is a warm-up
            _synchronize(fit.device)
            start = time.perf_counter()
            fit.optimizer.zero_grad(set_to_none=True)
            fit._step(None)
            fit.optimizer.step()
            _synchronize(fit.device)
            times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def measure(
    image: np.ndarray,
    preset: str,
    device: str,
    threads: int | None,
    paper_iterations: int,
    network_iterations: int,
) -> dict:
    """One case: the estimate, the run, its peak memory and the networks' share of its time."""
    if threads is not None:
        torch.set_num_threads(threads)
    paper = preset == "paper"
    options = {"max_iter": paper_iterations, "auto_stop": False} if paper else {}
    run = napari_dip.Restoration(
        "denoise", image, preset=preset, seed=0, device=device, threads=threads, **options
    )
    resolved = run.plan.device
    before = _reset_peak(resolved)  # the device's timing below counts, as in the memory model
    estimate = run.estimate()  # times the device first, as the widget and --dry-run do
    _synchronize(resolved)
    start = time.perf_counter()
    run.run()
    _synchronize(resolved)
    seconds = time.perf_counter() - start
    peak = _peak_since(resolved, before)
    iterations = run.info.iterations
    per_iteration = seconds / iterations
    network = network_seconds(run, image, network_iterations)
    return {
        "size": image.shape[-1],
        "preset": preset,
        "device": resolved.type,
        "device_name": torch.cuda.get_device_name(resolved)
        if resolved.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "iterations": iterations,
        "seconds": seconds,
        "seconds_per_iteration": per_iteration,
        # a result: the run itself, or the paper's full count at the measured rate
        "result_seconds": run.recipe.max_iter * per_iteration if paper else seconds,
        "estimated_seconds": run.recipe.max_iter * estimate.seconds_per_iteration
        if paper
        else estimate.expected_seconds,
        "estimated_seconds_per_iteration": estimate.seconds_per_iteration,
        "peak_bytes": peak,
        "estimated_peak_bytes": estimate.peak_bytes,
        "tile": run.tile,
        "network_seconds_per_iteration": network,
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
    }


def render(rows: list[dict]) -> str:
    """One table per device: each size and recipe, then the sizes' ratios."""
    latest = {(r["device"], r["device_name"], r["preset"], r["size"]): r for r in rows}
    lines = []
    for device in sorted({key[:2] for key in latest}):
        mine = sorted(
            (r for key, r in latest.items() if key[:2] == device),
            key=lambda r: (PRESETS.index(r["preset"]), r["size"]),
        )
        lines += [
            f"**{device[0]}** ({device[1]}, {mine[0]['threads']} threads, torch {mine[0]['torch']}), "
            f"measured {min(r['measured_at'] for r in mine)} to {max(r['measured_at'] for r in mine)}.",
            "",
            "| preset | size | iterations | time per result | iterations per second "
            "| estimated (per result) | estimate / measured | peak memory (estimated) "
            "| networks' share of an iteration |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in mine:
            extrapolated = " (extrapolated)" if r["preset"] == "paper" else ""
            peak = "-" if r["peak_bytes"] is None else format_bytes(r["peak_bytes"])
            lines.append(
                f"| {r['preset']} | {r['size']} | {r['iterations']} "
                f"| {r['result_seconds']:.1f} s{extrapolated} "
                f"| {1 / r['seconds_per_iteration']:.2f} "
                f"| {r['estimated_seconds']:.1f} s "
                f"| {r['estimated_seconds'] / r['result_seconds']:.2f} "
                f"| {peak} ({format_bytes(r['estimated_peak_bytes'])}) "
                f"| {r['network_seconds_per_iteration'] / r['seconds_per_iteration']:.0%} |"
            )
        lines += [
            "",
            "| preset | size | time per result / 256's | pixels / 256's |",
            "|---|---|---|---|",
        ]
        for preset in PRESETS:
            base = next((r for r in mine if r["preset"] == preset and r["size"] == 256), None)
            for r in mine:
                if base and r["preset"] == preset and r["size"] > 256:
                    ratio = r["result_seconds"] / base["result_seconds"]
                    lines.append(
                        f"| {preset} | {r['size']} | x{ratio:.1f} | x{(r['size'] / 256) ** 2:.0f} |"
                    )
        lines.append("")
    return "\n".join(lines).rstrip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True, help="JSON-lines file of results")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--sizes", nargs="*", type=int, default=SIZES)
    parser.add_argument("--presets", nargs="*", default=PRESETS, choices=PRESETS)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    parser.add_argument(
        "--paper-iterations", type=int, default=None, help="default: 3 on the CPU, 200 on a GPU"
    )
    parser.add_argument("--network-iterations", type=int, default=None, help="default: 3 / 20")
    parser.add_argument("--image", type=Path, default=DATA, help="a 2D TIFF (default: the nuclei)")
    parser.add_argument("--case", nargs=2, metavar=("SIZE", "PRESET"), help=argparse.SUPPRESS)
    parser.add_argument("--docs", action="store_true", help="rewrite the tables in the docs")
    args = parser.parse_args()
    cpu = resolve_device(args.device).type == "cpu"
    paper_iterations = args.paper_iterations or (3 if cpu else 200)
    network_iterations = args.network_iterations or (3 if cpu else 20)
    if args.case:  # the child process: one case, its row printed last
        size, preset = int(args.case[0]), args.case[1]
        row = measure(
            field(size, args.image),
            preset,
            args.device,
            args.threads,
            paper_iterations,
            network_iterations,
        )
        print(json.dumps(row))
        return
    for preset in args.presets:
        for size in args.sizes:
            command = [sys.executable, __file__, "--rows", str(args.rows), "--case", str(size)]
            command += [
                preset,
                "--device",
                args.device,
                "--paper-iterations",
                str(paper_iterations),
            ]
            command += ["--network-iterations", str(network_iterations), "--image", str(args.image)]
            if args.threads is not None:
                command += ["--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            add_row(args.rows, json.loads(done.stdout.strip().splitlines()[-1]))
    if args.docs:
        replace_table(DOCS, "plane sizes table", render(read_rows(args.rows)), SOURCE)
    else:
        print(render(read_rows(args.rows)))


if __name__ == "__main__":
    main()
