"""Super-resolution against bicubic and Lanczos upsampling, over many public images and seeds.

Each case takes a 256x256 centre crop of a clean image scaled to [0, 1] (the paper's zebra on
its Y channel; widefield BPAE, two W2S fields and the Drosophila field, three channels each;
two BSD68 grey images), downscales it by the factor with antialiasing
(``skimage.transform.resize``, ``anti_aliasing=True``, a Gaussian prefilter: not the Lanczos
filter the fit's forward model assumes, as with a real camera) and brings it back with
``napari_dip.super_resolve`` (default preset, automatic stop, ``--threads``), with
``skimage.transform.resize(order=3)`` (bicubic) and with Pillow's Lanczos filter.  PSNR is
against the clean crop, over [0, 1], a border of ``factor`` pixels left out.

The default ends with back-projection (``Recipe.back_project``: one step at x2, three at
x4).  Each case fits the default's recipe without it and applies ``Downsample.back_project``
to that result, as the default's fit does, and with one step where the default takes more:
one fit gives the default before and after the steps (``--check`` fits the first case with
the default too, to show that the two paths agree).  None of the images was used to choose
the steps (that was done on FISH, the nuclei, W2S field 020, BSD68 image 015 and zebra).

Rows go to a JSON-lines file as they come (``--rows``; runs may share it), and ``--docs``
renders the table from it.

Usage::

    python benchmarks/super_resolution.py --rows benchmarks/super_resolution.jsonl \\
        [--factors 2 4] [--seeds 0 1] [--images zebra bpae ...] [--docs] [--no-measure]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _pages import replace_table, source_of
from inpainting import load
from PIL import Image
from skimage.transform import resize

import napari_dip
from napari_dip.core.operators import Downsample

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DOCS = HERE.parent / "docs" / "super-resolution.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
SIZE = 256
IMAGES = ("zebra", "bpae", "w2s_040", "w2s_100", "fly", "bsd045", "bsd055")
MICROSCOPY = ("bpae", "w2s_040", "w2s_100", "fly")
FACTORS = (2, 4)
SEEDS = (0, 1)


def clean(name: str) -> np.ndarray:
    """The clean crop ``(C, SIZE, SIZE)`` in [0, 1]."""
    if name == "zebra":
        rgb = np.asarray(Image.open(DATA / "paper" / "zebra_GT.png").convert("RGB")) / 255.0
        image = (16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255
        top, left = ((n - SIZE) // 2 for n in image.shape)
        image = image[None, top : top + SIZE, left : left + SIZE]  # the Y channel, as the paper
    else:
        image, axes = load(name)
        image = np.moveaxis(image, -1, 0) if axes == "YXC" else image.reshape(-1, SIZE, SIZE)
    image = np.asarray(image, np.float64)
    return (image - image.min()) / (image.max() - image.min())


def psnr(result: np.ndarray, truth: np.ndarray, factor: int) -> float:
    error = (np.clip(result, 0, 1) - truth)[..., factor:-factor, factor:-factor]
    return float(10 * math.log10(1 / np.mean(error**2)))


def lanczos(low: np.ndarray) -> np.ndarray:
    """Pillow's Lanczos upsampling of each channel of ``low`` ``(C, h, w)`` to SIZE."""
    return np.stack(
        [
            np.asarray(Image.fromarray(plane.astype(np.float32), "F").resize((SIZE, SIZE), 1))
            for plane in low
        ]
    )


def back_projected(
    result: np.ndarray, low: np.ndarray, factor: int, steps: int | None = None
) -> np.ndarray:
    """``result`` ``(C, H, W)`` after back-projection against ``low``: the default's steps
    (``steps`` None) or ``steps``."""
    step = Downsample(factor).back_project(
        torch.from_numpy(result[None]).float(), torch.from_numpy(low[None]).float(), steps
    )
    return step[0].numpy().astype(np.float64)


def measure_case(name: str, factor: int, seed: int, check: bool = False, threads: int = 2) -> dict:
    """One case: bicubic, Lanczos, and the default before and after its back-projection."""
    truth = clean(name)
    low = np.stack([resize(c, (SIZE // factor,) * 2, order=3, anti_aliasing=True) for c in truth])
    low = low.astype(np.float32)
    row = {"image": name, "factor": factor, "seed": seed, "threads": threads}
    start = time.perf_counter()
    row["bicubic"] = psnr(np.stack([resize(c, (SIZE, SIZE), order=3) for c in low]), truth, factor)
    row["bicubic_seconds"] = time.perf_counter() - start
    row["lanczos"] = psnr(lanczos(low), truth, factor)
    default = napari_dip.PRESETS["fast-super-resolution"]
    axes = "CYX" if len(low) > 1 else "YX"
    image = low if len(low) > 1 else low[0]

    def fit(recipe):
        run = napari_dip.Restoration(
            "super_resolve",
            image,
            factor=factor,
            axes=axes,
            seed=seed,
            preset=recipe,
            threads=threads,
        )
        start = time.perf_counter()
        result = np.asarray(run.run(), np.float64).reshape(truth.shape)
        return result, run.info, time.perf_counter() - start

    without, info, seconds = fit(replace(default, back_project=False))
    result = back_projected(without, low, factor)
    if check:  # the default's own fit gives the same result
        direct, *_ = fit(default)
        row["check_max_difference"] = float(np.abs(direct - result).max())
    if Downsample(factor).back_projection_steps != 1:
        row["one_step"] = psnr(back_projected(without, low, factor, steps=1), truth, factor)
    row.update(
        default=psnr(result, truth, factor),
        without_back_projection=psnr(without, truth, factor),
        seconds=seconds,
        iterations=info.iterations,
        stop=str(info.stop_reason.value),
    )
    return row


def _one_step(row: dict) -> str:
    """The default with one back-projection step where it takes more, else "-"."""
    return f"{row['one_step']:.2f} dB" if "one_step" in row else "-"


def render(rows: list[dict]) -> str:
    rows = sorted(rows, key=lambda r: (r["factor"], IMAGES.index(r["image"]), r["seed"]))
    lines = [
        "| image | factor | seed | bicubic | Lanczos | napari-dip default | gain over bicubic "
        "| without back-projection | back-projection's gain | with one step "
        "| time, iterations (bicubic) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['image']} | x{r['factor']} | {r['seed']} | {r['bicubic']:.2f} dB "
            f"| {r['lanczos']:.2f} dB | {r['default']:.2f} dB "
            f"| {r['default'] - r['bicubic']:+.2f} dB | {r['without_back_projection']:.2f} dB "
            f"| {r['default'] - r['without_back_projection']:+.2f} dB "
            f"| {_one_step(r)} | {r['seconds']:.0f} s, {r['iterations']} it. "
            f"({r['bicubic_seconds']:.3f} s) |"
        )
    lines += [
        "",
        "| factor | images | cases | default's mean gain over bicubic | worst | best "
        "| seeds' spread, mean | back-projection's gain: mean, worst "
        "| its steps' gain over one: mean, worst |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for factor in sorted({r["factor"] for r in rows}):
        for label, names in (("all", IMAGES), ("microscopy", MICROSCOPY)):
            chosen = [r for r in rows if r["factor"] == factor and r["image"] in names]
            if not chosen:
                continue
            gains = [r["default"] - r["bicubic"] for r in chosen]
            steps = [r["default"] - r["without_back_projection"] for r in chosen]
            spreads = []
            for name in names:
                seeds = [r["default"] for r in chosen if r["image"] == name]
                if len(seeds) > 1:
                    spreads.append(max(seeds) - min(seeds))
            spread = f"{np.mean(spreads):.2f} dB" if spreads else "-"
            more = [r["default"] - r["one_step"] for r in chosen if "one_step" in r]
            more_text = f"{np.mean(more):+.2f} dB, {min(more):+.2f} dB" if more else "-"
            lines.append(
                f"| x{factor} | {label} | {len(chosen)} | {np.mean(gains):+.2f} dB "
                f"| {min(gains):+.2f} dB | {max(gains):+.2f} dB | {spread} "
                f"| {np.mean(steps):+.2f} dB, {min(steps):+.2f} dB | {more_text} |"
            )
    checks = [r["check_max_difference"] for r in rows if "check_max_difference" in r]
    if checks:
        lines += [
            "",
            f"The default's own fit and the step applied to the fit without it differ by at "
            f"most {max(checks):.1e} (checked on {len(checks)} case(s)).",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True, help="JSON-lines file of the rows")
    parser.add_argument("--images", nargs="+", default=IMAGES, choices=IMAGES)
    parser.add_argument("--factors", nargs="+", type=int, default=FACTORS)
    parser.add_argument("--seeds", nargs="+", type=int, default=SEEDS)
    parser.add_argument(
        "--threads", type=int, default=2, help="threads of each fit (its result depends on them)"
    )
    parser.add_argument("--no-measure", action="store_true", help="render the rows only")
    parser.add_argument(
        "--check", action="store_true", help="also fit the first case with the default itself"
    )
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table in docs/super-resolution.md"
    )
    args = parser.parse_args()
    if not args.no_measure:
        first = args.check
        for factor in args.factors:
            for seed in args.seeds:
                for name in args.images:
                    row = measure_case(name, factor, seed, first, args.threads)
                    first = False
                    row["date"] = time.strftime("%Y-%m-%d %H:%M")
                    print(json.dumps(row), flush=True)
                    with args.rows.open("a") as file:
                        file.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line]
    table = render(rows)
    print(table)
    if args.docs:
        when = max(r["date"] for r in rows)
        threads = ", ".join(
            f"{sum(r['threads'] == n for r in rows)} with {n}"
            for n in sorted({r["threads"] for r in rows})
        )
        stamp = (
            f"Measured up to {when}, {len(rows)} cases, 256x256 results, 2-core CPU; threads per "
            f"fit: {threads}; two runs shared the machine, so the times are not a quiet machine's."
        )
        replace_table(DOCS, "super-resolution table", f"{stamp}\n\n{table}", SOURCE)


if __name__ == "__main__":
    main()
