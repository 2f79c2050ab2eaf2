"""What a denoising costs, and what each part of the default buys: levers measured on many images.

Each case is a 256x256 centre crop with real noise (FMD's confocal FISH and widefield BPAE, four
W2S widefield fields against their 400-frame averages) or a BSD68 grey image with Gaussian noise
(sigma 25, drawn from seed 100 + seed).  With ``--size 512`` the planes are 512x512: FISH and BPAE
whole, and four clean 512x512 images with that Gaussian noise (the nuclei field, scaled to 0-255;
the paper's F16, Barbara and kate, grey).  Each method denoises it with ``napari_dip.denoise`` as a
user calls it (the fit's seed is the case's seed), or, for ``bm3d``, channel by channel with BM3D
at the best of a grid of sigmas (an oracle: it needs the clean image; its time is one call at that
sigma).  A lever is the default's recipe with some fields changed (``LEVERS``).  PSNR after a gain
and offset per channel fitted by regressing the noisy crop on the clean one (as ``quality.py``).

Every method writes its rows to a JSON-lines file as it goes; ``--docs`` renders the table from
what is there.  Time one method at a time on a quiet machine: the times are wall-clock.

Usage::

    python benchmarks/speed.py --rows benchmarks/speed.jsonl [--methods default bm3d ...]
        [--images fish ...] [--seeds 0 1] [--threads 2] [--size 256] [--docs]
"""

from __future__ import annotations

import functools
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile
import torch
from _pages import replace_table, source_of
from _photons import arguments, by_case, measure_all
from quality import _calibration, _crop
from skimage import color, io

import napari_dip
from napari_dip import resolve_preset

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DOCS = HERE.parent / "docs" / "speed.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
IMAGES = {
    256: ("fish", "bpae", "w2s_020", "w2s_040", "w2s_080", "w2s_100", "bsd045"),
    512: ("fish", "bpae", "nuclei", "f16", "barbara", "kate"),
}
_DEFAULT_NET = resolve_preset("default", "denoise").net
#: The default recipe's fields each lever changes.  ``two-members`` is the default of
#: 2026-12-02 to 2026-12-07: a second member, seeing the image mirrored.
LEVERS = {
    "two-members": {"members": 2, "flips": True},
    "lr-0.02": {"lr": 0.02},
    "narrow-up": {"net": replace(_DEFAULT_NET, up=(16, 16, 32, 64, 128))},
    "tolerance-0.001": {"stop_tolerance": 0.001},
    "bfloat16": {"bfloat16": True},
}
METHODS = ("default", "bm3d", *LEVERS)
BM3D_FACTORS = (
    1.0,
    1.2,
    1.4,
    1.7,
    2.0,
    2.4,
    2.8,
    3.4,
    4.0,
    5.6,
    8.0,
    11.0,
    16.0,
)  # of the estimated sigma


#: The clean images given Gaussian noise, by name (grey, 0-255).
CLEAN = {
    "nuclei": lambda: _to_255(tifffile.imread(DATA / "microscopy" / "nuclei_2d.tif")),
    "f16": lambda: color.rgb2gray(io.imread(DATA / "paper" / "F16_GT.png")) * 255,
    "barbara": lambda: io.imread(DATA / "paper" / "barbara.png"),
    "kate": lambda: color.rgb2gray(io.imread(DATA / "paper" / "kate.png")) * 255,
}


def _to_255(image: np.ndarray) -> np.ndarray:
    image = image.astype(np.float64)
    return 255 * (image - image.min()) / (image.max() - image.min())


def case(name: str, seed: int, size: int = 256) -> dict:
    """The noisy and clean crops ``(C, Y, X)`` in 0-255, and each channel's gain and offset."""
    if name in ("fish", "bpae"):
        stem = {"fish": "confocal_fish", "bpae": "widefield_bpae"}[name]
        noisy, clean = (
            _crop(io.imread(DATA / "microscopy" / f"{stem}_{kind}.png").astype(np.float64), size)
            for kind in ("noisy", "clean")
        )
        noisy, clean = (np.moveaxis(a, -1, 0) if a.ndim == 3 else a[None] for a in (noisy, clean))
    elif name.startswith("w2s"):
        noisy, clean = (
            tifffile.imread(DATA / "microscopy" / "w2s" / f"{name}_{kind}.tif").astype(np.float64)
            for kind in ("noisy", "clean")
        )
        noisy, clean = (a[:, :size, :size] for a in (noisy, clean))
    else:  # bsdNNN or a clean image of CLEAN: Gaussian noise
        if name.startswith("bsd"):
            clean = io.imread(DATA / "natural" / "bsd68" / f"test{name[3:]}.png")
        else:
            clean = CLEAN[name]()
        clean = _crop(np.asarray(clean, np.float64), size)[None]
        rng = np.random.default_rng(100 + seed)
        noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255)
    calibration = [_calibration(c, n) for c, n in zip(clean, noisy)]
    return {"noisy": noisy, "clean": clean, "calibration": calibration}


def psnr(found: dict, estimate: np.ndarray) -> float:
    gains, offsets = (np.array(v)[:, None, None] for v in zip(*found["calibration"]))
    error = (np.asarray(estimate, np.float64) - offsets) / gains - found["clean"]
    return float(10 * np.log10(255**2 / np.mean(error**2)))


def oracle_bm3d(found: dict) -> tuple[float, float, float]:
    """BM3D's PSNR at its best grid factor, that factor, and one call's time there."""
    import bm3d
    from skimage.restoration import estimate_sigma

    noisy = found["noisy"] / 255
    sigmas = [float(estimate_sigma(channel)) for channel in noisy]
    scores = {}
    for factor in BM3D_FACTORS:
        start = time.perf_counter()
        estimate = np.stack([bm3d.bm3d(c, factor * s) for c, s in zip(noisy, sigmas)])
        scores[factor] = (psnr(found, estimate * 255), time.perf_counter() - start)
    best = max(scores, key=lambda factor: scores[factor][0])
    return scores[best][0], best, scores[best][1]


def measure(name: str, seed: int, method: str, threads: int, size: int = 256) -> dict:
    found = case(name, seed, size)
    row = {"image": name, "seed": seed, "method": method, "noisy": psnr(found, found["noisy"])}
    row["size"] = size
    if method == "bm3d":
        row["psnr"], row["factor"], row["seconds"] = oracle_bm3d(found)
        return row
    recipe = resolve_preset("default", "denoise")
    if method in LEVERS:
        recipe = replace(recipe, name=method, **LEVERS[method])
    run = napari_dip.Restoration(
        "denoise",
        found["noisy"].astype(np.float32),
        axes="CYX",
        preset=recipe,
        seed=seed,
        threads=threads,
    )
    row["estimate"] = run.estimate().expected_seconds  # what a user reads before running
    start = time.perf_counter()
    row["psnr"] = psnr(found, run.run())
    row["seconds"] = time.perf_counter() - start
    row["iterations"] = run.info.iterations
    return row


def render(rows: list[dict], size: int = 256) -> str:
    """PSNR (iterations) of every method; the levers' gains over the default."""
    found, cases = by_case(rows, IMAGES[size])
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    lines = [
        "| image | seed | noisy | " + " | ".join(methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    gains: dict[str, list[float]] = {m: [] for m in methods if m != "default"}
    for image, seed in cases:
        done = {m: found.get((image, seed, m)) for m in methods}
        base = done.get("default")
        cells = []
        for method, row in done.items():
            if row is None:
                cells.append("")
                continue
            cell = f"{row['psnr']:.2f}"
            cell += f" ({row['iterations']} it)" if "iterations" in row else ""
            if base and method != "default":
                gains[method].append(row["psnr"] - base["psnr"])
                cell += f" {gains[method][-1]:+.2f}"
            cells.append(cell)
        noisy = next(r for r in done.values() if r)["noisy"]
        lines.append(f"| {image} | {seed} | {noisy:.2f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| method | cases | mean gain over the default | worst | best |",
        "|---|---|---|---|---|",
    ]
    for method, values in gains.items():
        if values:
            lines.append(
                f"| {method} | {len(values)} | {np.mean(values):+.2f} dB "
                f"| {min(values):+.2f} dB | {max(values):+.2f} dB |"
            )
    return "\n".join(lines)


def render_timing(rows: list[dict]) -> str:
    """Seconds of each method, side by side, and the default's estimate."""
    found, cases = by_case(rows, IMAGES[256])
    lines = [
        "| image | seed | default | estimated (usually) | estimate / measured "
        "| two-members | BM3D, one call | default / BM3D |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for image, seed in cases:
        base, pair, bm3d = (found.get((image, seed, m)) for m in ("default", "two-members", "bm3d"))
        if not (base and pair and bm3d):
            continue
        lines.append(
            f"| {image} | {seed} | {base['seconds']:.1f} s, {base['iterations']} it "
            f"| {base['estimate']:.1f} s | {base['estimate'] / base['seconds']:.2f} "
            f"| {pair['seconds']:.1f} s (x{pair['seconds'] / base['seconds']:.2f}) "
            f"| {bm3d['seconds']:.1f} s | x{base['seconds'] / bm3d['seconds']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], METHODS, None)
    parser.add_argument("--timing", action="store_true", help="render the timing table")
    parser.add_argument("--size", type=int, default=256, choices=sorted(IMAGES))
    args = parser.parse_args()
    cases = [(name, seed) for name in args.images or IMAGES[args.size] for seed in args.seeds]
    if args.timing:
        render_table = render_timing
    else:
        render_table = functools.partial(render, size=args.size)
    rows, table = measure_all(args, cases, functools.partial(measure, size=args.size), render_table)
    if args.docs:
        when = time.strftime("%Y-%m-%d %H:%M")
        what = (
            f"Measured up to {when}, {len(rows)} runs, {platform.machine()}, "
            f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} threads"
        )
        if args.timing:
            what += ", one run at a time on an otherwise idle machine."
        else:
            what += (
                "; PSNR does not depend on the machine's load, the times in the timing table do."
            )
        name = "speed timing table" if args.timing else "speed table"
        name += f" {args.size}" if args.size != 256 else ""
        replace_table(DOCS, name, f"{what}\n\n{table}", SOURCE)


if __name__ == "__main__":
    main()
