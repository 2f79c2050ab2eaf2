"""Warm start against cold start, plane by plane, on a real Z-stack (a few minutes on 2 cores).

    python benchmarks/warm_start.py [--out benchmarks/results] [--planes 8] [--docs]

The stack is ``../shared/data/microscopy/neuron_3d.tif`` (widefield neuron, 128x128 planes), with
Gaussian noise (sigma = 10% of its range) added.  Its middle planes are denoised plane by plane
(``stack="planes"``) with the default preset and automatic stopping, once with each plane starting
from the previous plane's weights (``warm_start=True``) and once from scratch.  For every plane after
the first, the report gives the iterations each run needed, and the iterations the warm run needed to
reach the PSNR the cold run ended with ("same quality").  Writes warm_start.md and warm_start.json;
--docs also rewrites the table in docs/warm-start.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from _pages import replace_table, source_of

import napari_dip

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "microscopy" / "neuron_3d.tif"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "warm-start.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)


def psnr(estimate, clean):
    return float(10 * np.log10(1 / np.mean((np.clip(estimate, 0, 1) - clean) ** 2)))


def run(noisy, clean, warm_start, every=10):
    """Per plane: the PSNR curve (iteration within the plane, PSNR), iterations and final PSNR."""
    restoration = napari_dip.Restoration(
        "denoise", noisy, axes="ZYX", stack="planes", warm_start=warm_start, seed=0
    )
    curves = [[] for _ in range(len(noisy))]
    start = time.perf_counter()
    offset, plane = 0, 0
    for snapshot in restoration.snapshots(every):
        if snapshot.done:
            break
        done = restoration.info.fit_iterations
        plane, offset = len(done), sum(done)
        curves[plane].append(
            (snapshot.iteration - offset, psnr(snapshot.smoothed[plane], clean[plane]))
        )
    seconds = time.perf_counter() - start
    result = restoration.result
    return {
        "iterations": restoration.info.fit_iterations,
        "final_psnr": [psnr(result[z], clean[z]) for z in range(len(noisy))],
        "curves": curves,
        "seconds": seconds,
    }


def first_reaching(curve, level):
    return next((iteration for iteration, value in curve if value >= level), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--planes", type=int, default=8)
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table in docs/warm-start.md"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    stack = tifffile.imread(DATA).astype(np.float32)
    stack = (stack - stack.min()) / (stack.max() - stack.min())
    middle = len(stack) // 2 - args.planes // 2
    clean = stack[middle : middle + args.planes]
    noisy = clean + np.random.default_rng(0).normal(0, 0.1, clean.shape).astype(np.float32)

    runs = {"cold": run(noisy, clean, False), "warm": run(noisy, clean, True)}
    rows = []
    for z in range(1, args.planes):
        target = runs["cold"]["final_psnr"][z]
        rows.append(
            {
                "plane": z + 1,
                "noisy_psnr": psnr(noisy[z], clean[z]),
                "cold_iterations": runs["cold"]["iterations"][z],
                "cold_psnr": target,
                "warm_iterations": runs["warm"]["iterations"][z],
                "warm_psnr": runs["warm"]["final_psnr"][z],
                "warm_iterations_to_cold_psnr": first_reaching(runs["warm"]["curves"][z], target),
            }
        )
    totals = {
        key: sum(row[key] or 0 for row in rows)
        for key in ("cold_iterations", "warm_iterations", "warm_iterations_to_cold_psnr")
    }
    report = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch "
        f"{torch.__version__}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "planes": args.planes,
        "rows": rows,
        "totals": totals,
        "seconds": {name: r["seconds"] for name, r in runs.items()},
        "first_plane": {name: r["iterations"][0] for name, r in runs.items()},
    }
    (args.out / "warm_start.json").write_text(json.dumps(report, indent=1))

    lines = [
        f"Machine: {report['machine']}; one run, {report['date']}. Data: {args.planes} middle planes "
        "of neuron_3d.tif (128x128), Gaussian noise sigma 0.1 of the range; default preset, "
        'automatic stop, `stack="planes"`, seed 0.',
        "",
        "| plane | PSNR noisy | cold: iterations | cold: PSNR | warm: iterations | warm: PSNR "
        "| warm: iterations to the cold PSNR |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        reached = row["warm_iterations_to_cold_psnr"]
        lines.append(
            f"| {row['plane']} | {row['noisy_psnr']:.2f} | {row['cold_iterations']} | "
            f"{row['cold_psnr']:.2f} | {row['warm_iterations']} | {row['warm_psnr']:.2f} | "
            f"{'not reached' if reached is None else reached} |"
        )
    cold, warm = report["seconds"]["cold"], report["seconds"]["warm"]
    lines += [
        "",
        f"Planes 2 to {args.planes}: {totals['cold_iterations']} iterations cold, "
        f"{totals['warm_iterations']} warm (x{totals['cold_iterations'] / max(1, totals['warm_iterations']):.1f} "
        f"fewer); the warm run reached the cold run's final PSNR after "
        f"{totals['warm_iterations_to_cold_psnr']} iterations in all. Whole runs, first plane "
        f"included: {cold:.0f} s cold, {warm:.0f} s warm (x{cold / warm:.2f}).",
    ]
    table = "\n".join(lines)
    (args.out / "warm_start.md").write_text(
        f"# Warm start against cold start, plane by plane\n\n{table}\n"
    )
    print(table)
    if args.docs:
        replace_table(DOCS, "warm start table", table, SOURCE)


if __name__ == "__main__":
    main()
