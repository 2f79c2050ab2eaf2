"""A 2048x2048 plane restored under a 4 GB memory budget, by tiling (about 15 minutes on 2 cores).

    python benchmarks/big_plane.py [--out benchmarks/results] [--budget 4GB] [--max-iter 30] [--docs]

The plane is ``../shared/data/microscopy/nuclei_2d.tif`` (512x512 uint16 nuclei) enlarged 4 times
by bilinear interpolation, with Gaussian noise (10% of its range) added.  It is denoised with the
default preset, a fixed number of iterations per tile (no automatic stop: the point is memory and
seams, not quality) and the given memory budget.  Reports the planned tiles, the estimate, the peak
resident memory of the process, the time, and a seam check: the mean step between neighbouring
pixels across the tile edges (where blending happens) against the mean step elsewhere.  Saves a
crop around a tile corner (noisy, result) as big_plane.png.  Writes big_plane.md and big_plane.json;
--docs also rewrites the table and the crop in docs/big-plane.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from _pages import replace_table, source_of

import napari_dip
from napari_dip.core.units import format_bytes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "microscopy" / "nuclei_2d.tif"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "big-plane.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (VmHWM on Linux)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def edges(starts: list[int], tile: int, size: int) -> list[int]:
    """Where a tile begins or ends inside the image: the places a seam could show."""
    inner = {s for s in starts if s > 0} | {s + tile for s in starts if s + tile < size}
    return sorted(inner)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--budget", default="4GB")
    parser.add_argument("--max-iter", type=int, default=30)
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table and crop in docs/big-plane.md"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    small = torch.from_numpy(tifffile.imread(DATA).astype(np.float32))[None, None]
    big = torch.nn.functional.interpolate(small, scale_factor=4, mode="bilinear")[0, 0].numpy()
    span = float(big.max() - big.min())
    noisy = big + np.random.default_rng(0).normal(0, 0.1 * span, big.shape).astype(np.float32)

    run = napari_dip.Restoration(
        "denoise", noisy, memory_budget=args.budget, max_iter=args.max_iter, auto_stop=False, seed=0
    )
    load_start = os.getloadavg()[0]
    estimate = run.estimate()
    print("plan:", estimate.describe(), flush=True)
    if run.tile is None:
        parser.error(f"the whole plane fits in {args.budget}: give a smaller budget to tile it")
    start = time.perf_counter()
    result = run.run(
        callback=lambda s: print(f"  iteration {s.iteration}/{s.max_iter}", flush=True), every=10
    )
    seconds = time.perf_counter() - start
    peak = peak_rss_bytes()

    from napari_dip.imaging.tiling import tile_starts

    tile = run.tile
    steps_x = np.abs(np.diff(result, axis=1))
    steps_y = np.abs(np.diff(result, axis=0))
    cuts_x = edges(tile_starts(big.shape[1], tile[1], run.plan.overlap), tile[1], big.shape[1])
    cuts_y = edges(tile_starts(big.shape[0], tile[0], run.plan.overlap), tile[0], big.shape[0])
    at_x = np.zeros(steps_x.shape[1], bool)
    at_y = np.zeros(steps_y.shape[0], bool)
    for cut in cuts_x:
        at_x[cut - 2 : cut + 2] = True
    for cut in cuts_y:
        at_y[cut - 2 : cut + 2] = True
    seam = float(np.concatenate([steps_x[:, at_x].ravel(), steps_y[at_y].ravel()]).mean())
    elsewhere = float(np.concatenate([steps_x[:, ~at_x].ravel(), steps_y[~at_y].ravel()]).mean())

    report = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch "
        f"{torch.__version__}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "shape": list(big.shape),
        "budget": args.budget,
        "budget_bytes": run.plan.budget_bytes,
        "tile": list(tile),
        "fits": estimate.fits,
        "estimated_peak_bytes_per_fit": estimate.peak_bytes,
        "peak_rss_bytes": peak,
        "iterations_per_tile": args.max_iter,
        "seconds": seconds,
        "tile_edges_x": cuts_x,
        "tile_edges_y": cuts_y,
        "mean_step_at_tile_edges": seam,
        "mean_step_elsewhere": elsewhere,
    }
    (args.out / "big_plane.json").write_text(json.dumps(report, indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y, x = cuts_y[0], cuts_x[0]
    window = (slice(max(0, y - 128), y + 128), slice(max(0, x - 128), x + 128))
    figure, axes = plt.subplots(1, 2, figsize=(8, 4.2))
    for axis, (title, image) in zip(axes, [("noisy", noisy), ("restored, tiled", result)]):
        axis.imshow(image[window], cmap="gray", vmin=big.min(), vmax=big.max())
        axis.axhline(y - window[0].start, color="tab:orange", lw=0.6, ls=":")
        axis.axvline(x - window[1].start, color="tab:orange", lw=0.6, ls=":")
        axis.set_title(title)
        axis.axis("off")
    figure.suptitle("256x256 crop around a tile corner (dotted: tile edges)")
    figure.tight_layout()
    figure.savefig(args.out / "big_plane.png", dpi=100)

    text = "\n".join(
        [
            f"Machine: {report['machine']}; one run, {report['date']}; 1-minute load average "
            f"{load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (the run itself "
            "adds about its thread count; more means other work shared the CPU).",
            "",
            "| budget | tile | fits | estimated peak per fit | measured peak RSS (process) | "
            "iterations per tile | time | mean step at tile edges | mean step elsewhere |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {args.budget} | {tile[0]}x{tile[1]} | {estimate.fits} | "
            f"{format_bytes(estimate.peak_bytes)} | {format_bytes(peak)} | {args.max_iter} | "
            f"{seconds / 60:.1f} min | {seam:.4g} | {elsewhere:.4g} |",
            "",
            f"The tiles overlap by {run.plan.overlap} pixels. The mean absolute step between "
            f"neighbouring pixels within 2 pixels of a tile edge is {seam:.4g}, against "
            f"{elsewhere:.4g} everywhere else ({100 * (seam / elsewhere - 1):+.1f}%).",
        ]
    )
    (args.out / "big_plane.md").write_text(f"# A 2048x2048 plane under a memory budget\n\n{text}\n")
    print(text)
    if args.docs:
        replace_table(DOCS, "big plane table", text, SOURCE)
        shutil.copyfile(args.out / "big_plane.png", DOCS.parent / "images" / "big-plane.png")


if __name__ == "__main__":
    main()
