"""Calibrate napari_dip.core.estimate against real fits: ``python benchmarks/memory_model.py``.

Each case runs a few iterations of a real ``Fit`` (denoising, random data, on the CPU) in a fresh
Python process and records its peak RSS growth (``VmHWM`` after the run minus before building the
fit) and its time per iteration.  The fit checkpoints every iteration and its stopping rule may
keep a best estimate from the first iteration, so every buffer of a long fit is alive within a few
iterations.  The process then times the machine as ``estimate_fit`` does.  Prints a markdown
table of measured against estimated figures, and the least-squares line
``measured = a * counted tensors + b`` from which ``OVERHEAD`` and ``RUNTIME_BYTES`` are set.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# (preset, spatial shape, channels, iterations); the first iteration is a warm-up.
CASES = [
    ("fast", (128, 128), 1, 4),
    ("fast", (256, 256), 1, 4),
    ("fast", (512, 512), 1, 3),
    ("fast", (1024, 1024), 1, 3),
    ("fast", (2048, 2048), 1, 3),
    ("fast", (256, 256), 3, 3),
    ("fast", (16, 128, 128), 1, 3),
    ("paper-denoising", (256, 256), 1, 3),
]

MIB = 2**20


def peak_rss_bytes() -> int:
    """This process's peak resident memory (Linux ``VmHWM``, which starts afresh at ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("needs Linux's /proc/self/status")


def measure(preset: str, shape: list[int], channels: int, iterations: int) -> dict:
    """Run in a fresh process: peak RSS growth and median seconds per iteration of one fit.

    The time estimate is made here, after the fit, so that both see the same load on the machine.
    """
    import torch

    from napari_dip.core.estimate import estimate_fit
    from napari_dip.core.fit import Fit
    from napari_dip.core.operators import Identity
    from napari_dip.core.presets import PRESETS

    recipe = replace(PRESETS[preset], stop_min_iter=1)
    target = torch.rand(1, channels, *shape)
    before = peak_rss_bytes()
    fit = Fit(
        target,
        Identity(),
        recipe,
        tuple(shape),
        max_iter=iterations,
        auto_stop=True,
        seed=0,
        device="cpu",
    )
    fit.CHECKPOINT_EVERY = 1
    stamps = [snapshot.elapsed for snapshot in fit.snapshots(every=1)]
    peak = peak_rss_bytes() - before
    return {
        "peak_bytes": peak,
        "seconds_per_iteration": float(np.median(np.diff(stamps))),
        "estimated_seconds": estimate_fit(recipe, tuple(shape), channels).seconds_per_iteration,
    }


def main() -> None:
    import torch

    from napari_dip.core import estimate
    from napari_dip.core.presets import PRESETS

    start = time.perf_counter()
    estimates = [estimate.estimate_fit(PRESETS[p], s, c) for p, s, c, _ in CASES]
    calibration_s = time.perf_counter() - start
    rows = []
    for (preset, shape, channels, iterations), guess in zip(CASES, estimates):
        spec = json.dumps([preset, shape, channels, iterations])
        done = subprocess.run(
            [sys.executable, __file__, "--case", spec], capture_output=True, text=True, check=True
        )
        rows.append((preset, shape, channels, guess, json.loads(done.stdout)))
        print(f"measured {preset} {shape} x{channels}", file=sys.stderr, flush=True)

    print(
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d')}; estimates took "
        f"{calibration_s:.1f} s (calibrations included)\n"
    )
    print("| preset | shape | C | counted MiB | estimated MiB | measured MiB | est/meas |", end="")
    print(" estimated s/it | measured s/it |")
    print("|---|---|---|---|---|---|---|---|---|")
    for preset, shape, channels, guess, real in rows:
        print(
            f"| {preset} | {'x'.join(map(str, shape))} | {channels} | "
            f"{guess.tensor_bytes / MIB:.0f} | {guess.peak_bytes / MIB:.0f} | "
            f"{real['peak_bytes'] / MIB:.0f} | {guess.peak_bytes / real['peak_bytes']:.2f} | "
            f"{real['estimated_seconds']:.2f} | {real['seconds_per_iteration']:.2f} |"
        )
    counted = np.array([guess.tensor_bytes for *_, guess, _ in rows], float)
    measured = np.array([real["peak_bytes"] for *_, real in rows], float)
    slope, intercept = np.polyfit(counted, measured, 1)
    print(
        f"\nleast squares: measured = {slope:.3f} * counted + {intercept / MIB:.0f} MiB "
        f"(now OVERHEAD = {estimate.OVERHEAD}, RUNTIME_BYTES = "
        f"{estimate.RUNTIME_BYTES / MIB:.0f} MiB)"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--case":
        print(json.dumps(measure(*json.loads(sys.argv[2]))))
    else:
        main()
