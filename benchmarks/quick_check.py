"""Quick end-to-end check of the default preset on the CPU (a few minutes on 2 cores).

    python benchmarks/quick_check.py [--out benchmarks/results] [--docs]

Measures, in one run: denoising a noisy 128x128 image (scikit-image's camera, sigma=25/255 Gaussian noise),
filling 50% missing pixels of a smooth image, and super-resolution x4 of a smooth image, each with the
default preset; and the paper's denoising preset for the same 128x128 image and wall time, as the anchor.
Writes quick_check.md and quick_check.json to the output folder; --docs also rewrites the table in
docs/quick-check.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from _pages import replace_table, source_of
from skimage import data
from skimage.metrics import peak_signal_noise_ratio as psnr

import napari_dip
from napari_dip.core.operators import Downsample

DOCS = Path(__file__).resolve().parents[1] / "docs" / "quick-check.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)


def smooth(shape):
    y, x = np.mgrid[: shape[0], : shape[1]] / max(shape)
    return (0.5 + 0.3 * np.sin(5 * x) * np.cos(3 * y) + 0.1 * np.cos(11 * x * y)).astype(np.float32)


def timed(*args, **kwargs):
    start = time.perf_counter()
    run = napari_dip.Restoration(*args, **kwargs)
    run.run()
    return run, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table in docs/quick-check.md"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []

    clean = data.camera()[::4, ::4].astype(np.float32) / 255
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape), 0, 1)
    noisy = noisy.astype(np.float32)
    run, seconds = timed("denoise", noisy, seed=0)
    rows.append(
        {
            "check": "denoise 128x128 camera, sigma 25, default preset",
            "input_psnr": psnr(clean, noisy, data_range=1),
            "output_psnr": psnr(clean, np.clip(run.result, 0, 1), data_range=1),
            "seconds": seconds,
            "iterations": run.info.iterations,
            "stop_reason": run.info.stop_reason,
        }
    )
    budget = seconds
    paper = napari_dip.Restoration("denoise", noisy, preset="paper", seed=0)
    start = time.perf_counter()
    paper.run(callback=lambda s: time.perf_counter() - start > budget, every=1)
    rows.append(
        {
            "check": "same image, paper preset, stopped at the default's wall time",
            "input_psnr": psnr(clean, noisy, data_range=1),
            "output_psnr": psnr(clean, np.clip(paper.result, 0, 1), data_range=1),
            "seconds": time.perf_counter() - start,
            "iterations": paper.info.iterations,
            "stop_reason": paper.info.stop_reason,
        }
    )

    image = smooth((128, 128))
    mask = np.random.default_rng(1).random(image.shape) < 0.5
    damaged = np.where(mask, 0, image).astype(np.float32)
    run, seconds = timed("inpaint", damaged, mask=mask, seed=0)
    rows.append(
        {
            "check": "inpaint 128x128 smooth image, 50% pixels missing, default preset",
            "input_psnr": psnr(image, damaged, data_range=1),
            "output_psnr": psnr(image, run.result, data_range=1),
            "seconds": seconds,
            "iterations": run.info.iterations,
            "stop_reason": run.info.stop_reason,
        }
    )

    high = smooth((128, 128))
    low = Downsample(4)(torch.from_numpy(high)[None, None])[0, 0].numpy()
    run, seconds = timed("super_resolve", low, factor=4, seed=0)
    nearest = np.kron(low, np.ones((4, 4), np.float32))
    rows.append(
        {
            "check": f"super-resolve x4, 32x32 -> {run.result.shape[0]}x{run.result.shape[1]}, default preset "
            "(input PSNR: nearest upsampling)",
            "input_psnr": psnr(high, nearest, data_range=1),
            "output_psnr": psnr(high, run.result, data_range=1),
            "seconds": seconds,
            "iterations": run.info.iterations,
            "stop_reason": run.info.stop_reason,
        }
    )

    machine = (
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"
    )
    lines = [
        f"Machine: {machine}; torch {torch.__version__}; device cpu; one run, "
        f"{time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        "| check | PSNR in (dB) | PSNR out (dB) | gain (dB) | wall time (s) | iterations | stop |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['check']} | {row['input_psnr']:.2f} | {row['output_psnr']:.2f} | "
            f"{row['output_psnr'] - row['input_psnr']:+.2f} | {row['seconds']:.1f} | "
            f"{row['iterations']} | {row['stop_reason']} |"
        )
    table = "\n".join(lines)
    (args.out / "quick_check.md").write_text(f"# Quick check of the default preset\n\n{table}\n")
    (args.out / "quick_check.json").write_text(json.dumps(rows, indent=2, default=float))
    print(table)
    if args.docs:
        replace_table(DOCS, "quick check table", table, SOURCE)


if __name__ == "__main__":
    main()
