"""A time-lapse restored in one call against its first frame alone, and against frames restored cold.

Each case is an 8-frame 256x256 time-lapse of a clean field drifting by one pixel a frame along
both axes (a window sliding over the 256x256 centre crop, mirrored past its edge), in photons (its darkest pixel 2, its brightest 100) with
Poisson noise drawn per frame (seed 100 + seed), denoised with ``noise="poisson"``,
``axes="TYX"`` and the default preset, seed ``seed``:

- ``lapse``: all 8 frames in one call (each frame warm-started from the one before);
- ``first``: the first frame alone (a cold fit: what one frame costs);
- ``cold``: frames 4 and 8 alone, each a cold fit, to compare with the same frames of ``lapse``.

A method is a recipe (``RECIPES``): the default, or the default with its warm-start settings
changed; single frames are fitted with the default only (warm settings play no part there).  Rows go
to a JSON-lines file as they come; ``--docs`` renders the table from what is there.

Usage::

    python benchmarks/stack.py --rows benchmarks/stack.jsonl [--methods default ...]
        [--images fly ...] [--seeds 0] [--threads 2] [--docs]
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _pages import replace_table, source_of
from _photons import add_row, arguments, psnr, read_rows, warm_up
from inpainting import load

import napari_dip
from napari_dip import resolve_preset

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "warm-start.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
FRAMES, SIZE, PHOTONS = 8, 256, (2.0, 100.0)
COLD_FRAMES = (3, 7)  # frames 4 and 8, counted from 0
IMAGES = ("fly", "w2s_040", "bsd045")
#: The default recipe's fields each method changes.  The rows of the warm-start levers tried on
#: 2026-12-07 (``warm-patience-15``, ``warm-15-tolerance-*``: a warm start's patience and
#: tolerance; ``warm-adam``, ``warm-adam-15``: Adam's moments carried over from the frame before,
#: with the warm patience or 15; fields since removed) are kept in benchmarks/stack.jsonl;
#: docs/warm-start.md.
RECIPES = {
    "default": {},
}


def time_lapse(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The clean frames in photons ``(T, Y, X)`` (the image's first channel) and their
    Poisson draws."""
    clean, axes = load(name)
    clean = clean[..., 0] if axes == "YXC" else clean[0] if clean.ndim == 3 else clean
    low, high = clean.min(), clean.max()
    photons = PHOTONS[0] + (PHOTONS[1] - PHOTONS[0]) * (clean - low) / (high - low)
    photons = np.pad(photons, (0, FRAMES), mode="reflect")
    frames = np.stack([photons[t : t + SIZE, t : t + SIZE] for t in range(FRAMES)])
    noisy = np.random.default_rng(100 + seed).poisson(frames).astype(np.float32)
    return frames, noisy


def denoise(noisy: np.ndarray, recipe, seed: int, threads: int) -> tuple[np.ndarray, dict]:
    run = napari_dip.Restoration(
        "denoise",
        noisy,
        axes="TYX" if noisy.ndim == 3 else "YX",
        noise="poisson",
        preset=recipe,
        seed=seed,
        threads=threads,
    )
    expected = run.estimate().expected_seconds  # what a user reads before running
    start = time.perf_counter()
    result = run.run()
    seconds = time.perf_counter() - start
    return result, {"seconds": seconds, "estimate": expected, "iterations": run.info.fit_iterations}


def measure(name: str, seed: int, method: str, threads: int) -> list[dict]:
    frames, noisy = time_lapse(name, seed)
    recipe = replace(resolve_preset("default", "denoise"), **RECIPES[method])
    recipe = replace(recipe, name=method) if RECIPES[method] else recipe
    base = {"image": name, "seed": seed, "method": method}
    result, row = denoise(noisy, recipe, seed, threads)
    scores = [psnr(result[t][None], frames[t][None]) for t in range(FRAMES)]
    rows = [{**base, "run": "lapse", "psnr": scores, **row}]
    if method != "default":  # a single frame's fit is the default's: warm settings play no part
        return rows
    for t in (0, *COLD_FRAMES):
        result, row = denoise(noisy[t], recipe, seed, threads)
        run = "first" if t == 0 else f"cold{t}"
        rows.append({**base, "run": run, "psnr": [psnr(result[None], frames[t][None])], **row})
    return rows


def render(rows: list[dict]) -> str:
    found = {(r["image"], r["seed"], r["method"], r["run"]): r for r in rows}
    cases = sorted({(r["image"], r["seed"], r["method"]) for r in rows})
    lines = [
        "| image | seed | method | first frame alone | 8 frames in one call | ratio "
        "| iterations per frame | frames 1, 4, 8 in the call | the same frames cold | gain "
        "| estimated: first / all |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for image, seed, method in cases:
        lapse = found.get((image, seed, method, "lapse"))
        first = found.get((image, seed, "default", "first"))
        cold = [found.get((image, seed, "default", f"cold{t}")) for t in COLD_FRAMES]
        if not (first and lapse and all(cold)):
            continue
        within = [lapse["psnr"][t] for t in (0, *COLD_FRAMES)]
        alone = [first["psnr"][0]] + [c["psnr"][0] for c in cold]
        gain = np.mean(within) - np.mean(alone)
        lines.append(
            f"| {image} | {seed} | {method} | {first['seconds']:.0f} s "
            f"| {lapse['seconds']:.0f} s, {np.mean(lapse['psnr']):.2f} dB "
            f"| x{lapse['seconds'] / first['seconds']:.2f} "
            f"| {', '.join(str(n) for n in lapse['iterations'])} "
            f"| {' / '.join(f'{p:.2f}' for p in within)} | {' / '.join(f'{p:.2f}' for p in alone)} "
            f"| {gain:+.2f} | {_seconds(first['estimate'])} / {_seconds(lapse['estimate'])} |"
        )
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def main() -> None:
    args = arguments(__doc__.splitlines()[0], tuple(RECIPES), IMAGES).parse_args()
    if args.seeds == (0, 1):
        args.seeds = (0,)
    warm_up()
    for name in args.images:
        for seed in args.seeds:
            for method in args.methods:
                for row in measure(name, seed, method, args.threads):
                    add_row(args.rows, row)
    table = render(read_rows(args.rows))
    print(table)
    if args.docs:
        when = time.strftime("%Y-%m-%d %H:%M")
        what = (
            f"Measured up to {when}, {platform.machine()}, {os.cpu_count()} CPUs, torch "
            f"{torch.__version__}, {args.threads} threads, one run at a time; the estimates are "
            "what `Restoration.estimate()` gives for the default before each run."
        )
        replace_table(DOCS, "stack table", f"{what}\n\n{table}", SOURCE)


if __name__ == "__main__":
    main()
