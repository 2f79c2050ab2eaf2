"""Gaussian versus Poisson data term on photon-limited synthetic images (CPU, ~15 min on 2 cores).

    python benchmarks/noise_models.py --jobs 2 [--out benchmarks/results] [--docs]

Two 64x64 test images, scaled to a peak of a few photons and drawn with Poisson
noise: "spots" (sparse bright spots and dim filaments on a dark background,
like fluorescence) and "cells" (large blobs on a brighter background).  A third
case adds camera read noise (1.5 photons rms, offset already subtracted) to
"spots".  Each noisy image is denoised twice, with the same small network, seed
and iteration count: noise="gaussian" on the default intensity range, and
noise="poisson" on the zero-floor range.  With read noise, a third fit tries a
Poisson-Gaussian model that napari-dip does not offer (a shifted Poisson
likelihood, ``y + s ~ Poisson(lam + s)`` with ``s`` the read-noise variance in
photons, which needs the camera's gain and read noise).  The PSNR (in photons,
range = the clean peak) of the running-average output is recorded every 25
iterations; each fit is then repeated with the automatic stop on, which needs
no ground truth.

Writes noise_models.md (the table, mean +- standard deviation over the seeds)
and noise_models.json to the output folder; --docs also rewrites the tables in docs/noise.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from _pages import replace_table, source_of

from napari_dip.core.data_terms import DataTerm, data_term, poisson_deviance
from napari_dip.core.fit import Fit
from napari_dip.core.nets import NetSpec
from napari_dip.core.operators import Identity
from napari_dip.core.presets import Recipe
from napari_dip.imaging.intensity import Intensity

RECIPE = Recipe(
    name="noise-benchmark",
    description="the small network of the tests",
    net=NetSpec(down=(16, 16, 16), up=(16, 16, 16), skip=(4, 4, 4)),
    input_depth=8,
)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "noise.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
ITERATIONS = 800
CHECK = 150  # the iteration count of the test in tests/test_noise.py
CASES = [  # image, photon peak, read noise rms (photons)
    ("spots", 3, 0.0),
    ("spots", 10, 0.0),
    ("spots", 50, 0.0),
    ("cells", 3, 0.0),
    ("cells", 10, 0.0),
    ("cells", 50, 0.0),
    ("spots", 10, 1.5),
    ("spots", 30, 1.5),
]


def spots(size: int = 64) -> np.ndarray:
    """Sparse spots and dim filaments on a dark background; peak 1."""
    rng = np.random.default_rng(123)
    y, x = np.mgrid[:size, :size].astype(float)
    image = np.full((size, size), 0.02)
    for _ in range(4):  # filaments: lines about 3 pixels wide at 15% of the peak
        a, b, c = rng.normal(size=3)
        distance = np.abs(a * (x - size / 2) + b * (y - size / 2) + c * size / 4) / np.hypot(a, b)
        image += 0.15 * np.exp(-0.5 * (distance / 1.2) ** 2)
    for cy, cx in rng.uniform(6, size - 6, (8, 2)):  # spots of sigma 1.5 pixels
        image += rng.uniform(0.4, 1.0) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 1.5**2))
    return (image / image.max()).astype(np.float32)


def cells(size: int = 64) -> np.ndarray:
    """Large blobs and a thin ring on a background at about 10% of the peak; peak 1."""
    y, x = np.mgrid[:size, :size] / size
    image = 0.08 + 0.04 * np.cos(3 * x + 2 * y)
    for cy, cx, r, a in [(0.3, 0.3, 0.12, 0.9), (0.7, 0.35, 0.08, 0.6), (0.45, 0.75, 0.15, 0.4)]:
        image += a * np.exp(-0.5 * (np.hypot(y - cy, x - cx) / r) ** 2)
    image += np.exp(-0.5 * (np.hypot(y - 0.8, x - 0.8) / 0.05) ** 2)
    image += 0.5 * np.exp(-0.5 * ((np.hypot(y - 0.5, x - 0.5) - 0.38) / 0.015) ** 2)
    return (image / image.max()).astype(np.float32)


class ShiftedPoisson(DataTerm):
    """Poisson-Gaussian data term: ``y + shift ~ Poisson(A(x) + shift)``."""

    def __init__(self, shift: float):
        self.shift = shift

    def terms(self, prediction, y):
        return poisson_deviance(prediction + self.shift, y + self.shift)


def psnr(estimate: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(clean.max() ** 2 / np.mean((estimate - clean) ** 2)))


def fit_both_ways(
    noisy: np.ndarray, clean: np.ndarray, noise: str, seed: int, read_noise: float
) -> dict:
    """The PSNR trajectory of a fit without stopping, and the result of one with it."""
    intensity = Intensity(noisy[None], zero_floor=noise != "gaussian")
    target = torch.from_numpy(intensity.normalise(noisy[None]))[None]
    if noise == "poisson-gaussian":
        term = ShiftedPoisson(read_noise**2 / intensity.span.item())
    else:
        term = data_term(noise)
    runs = {}
    for auto_stop in (False, True):
        fit = Fit(
            target,
            Identity(),
            RECIPE,
            noisy.shape,
            data_term=term,
            max_iter=ITERATIONS,
            auto_stop=auto_stop,
            seed=seed,
            device="cpu",
        )
        runs[auto_stop] = [
            psnr(intensity.denormalise(s.smoothed)[0], clean) for s in fit.snapshots(25)
        ]
    psnrs = runs[False]
    best = int(np.argmax(psnrs))
    return {
        "best": psnrs[best],
        "best_iteration": 25 * (best + 1),
        "at_check": psnrs[CHECK // 25 - 1],
        "final": psnrs[-1],
        "auto": psnr(intensity.denormalise(fit.result)[0], clean),
        "auto_iterations": fit.iteration,
    }


def run_case(image: str, peak: float, read_noise: float, seed: int) -> dict:
    torch.set_num_threads(1)
    clean = {"spots": spots, "cells": cells}[image]() * peak
    rng = np.random.default_rng(seed)
    noisy = (rng.poisson(clean) + rng.normal(0, read_noise, clean.shape)).astype(np.float32)
    row = {"image": image, "peak": peak, "read_noise": read_noise, "seed": seed}
    row["noisy"] = psnr(noisy, clean)
    for noise in ["gaussian", "poisson"] + ["poisson-gaussian"] * (read_noise > 0):
        row[noise] = fit_both_ways(noisy, clean, noise, seed, read_noise)
    return row


def summary(rows: list[dict]) -> str:
    """Markdown tables: mean ± std over seeds of each case."""

    def stat(values):
        return f"{np.mean(values):.2f} ± {np.std(values):.2f}"

    def with_iterations(fits, key, iterations):
        return f"{stat([f[key] for f in fits])} ({np.mean([f[iterations] for f in fits]):.0f})"

    def gain(g, p, key):
        return stat([b[key] - a[key] for a, b in zip(g, p)])

    case_columns = "| image | peak (photons) | read noise "
    fixed = [
        case_columns + "| noisy | Gaussian, best (iter.) | Poisson, best (iter.) "
        f"| Poisson − Gaussian, best | Gaussian @{CHECK} | Poisson @{CHECK} "
        f"| Poisson − Gaussian @{CHECK} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    auto = [
        "With the automatic stop (hold-out rule), result and iterations:",
        "",
        case_columns
        + "| Gaussian, auto (iter.) | Poisson, auto (iter.) | Poisson − Gaussian, auto |",
        "|---|---|---|---|---|---|",
    ]
    mixed = [
        "With read noise, the Poisson-Gaussian model (not offered; needs gain and read noise):",
        "",
        case_columns + "| Gaussian, best | Poisson, best "
        f"| Poisson-Gaussian, best (iter.) | Poisson-Gaussian @{CHECK} "
        "| Poisson-Gaussian, auto (iter.) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        group = [r for r in rows if (r["image"], r["peak"], r["read_noise"]) == case]
        g = [r["gaussian"] for r in group]
        p = [r["poisson"] for r in group]
        start = "| " + " | ".join(map(str, case)) + " | "
        fixed.append(
            start
            + " | ".join(
                [
                    stat([r["noisy"] for r in group]),
                    with_iterations(g, "best", "best_iteration"),
                    with_iterations(p, "best", "best_iteration"),
                    gain(g, p, "best"),
                    stat([f["at_check"] for f in g]),
                    stat([f["at_check"] for f in p]),
                    gain(g, p, "at_check"),
                ]
            )
            + " |"
        )
        auto.append(
            start
            + " | ".join(
                [
                    with_iterations(g, "auto", "auto_iterations"),
                    with_iterations(p, "auto", "auto_iterations"),
                    gain(g, p, "auto"),
                ]
            )
            + " |"
        )
        if case[2] > 0:
            pg = [r["poisson-gaussian"] for r in group]
            mixed.append(
                start
                + " | ".join(
                    [
                        stat([f["best"] for f in g]),
                        stat([f["best"] for f in p]),
                        with_iterations(pg, "best", "best_iteration"),
                        stat([f["at_check"] for f in pg]),
                        with_iterations(pg, "auto", "auto_iterations"),
                    ]
                )
                + " |"
            )
    return "\n".join(fixed + [""] + auto + [""] + mixed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="processes in parallel")
    parser.add_argument("--docs", action="store_true", help="rewrite the tables in docs/noise.md")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    jobs = [(*case, seed) for case in CASES for seed in args.seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_case, *zip(*jobs)))
    table = summary(rows)
    minutes = (time.perf_counter() - start) / 60
    header = (
        f"PSNR in dB (mean ± std over seeds {args.seeds}; each seed draws the noise and "
        f"initialises the network), {ITERATIONS} iterations of a small skip network, "
        f"{platform.processor() or platform.machine()}, {minutes:.1f} min.\n\n"
    )
    (args.out / "noise_models.md").write_text(header + table + "\n")
    (args.out / "noise_models.json").write_text(json.dumps(rows, indent=1))
    print(header + table)
    if args.docs:
        stamp = f"Measured {time.strftime('%Y-%m-%d %H:%M')}; {header}"
        replace_table(DOCS, "noise models tables", stamp + table, SOURCE)


if __name__ == "__main__":
    main()
