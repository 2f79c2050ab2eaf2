"""Super-resolution against bicubic and Lanczos upsampling, on public images.

Each case takes a 256x256 crop of a clean image (the paper's zebra, on its Y
channel; the clean FISH, BPAE and nuclei microscopy images), scaled to [0, 1],
downscales it by the factor with antialiasing (``skimage.transform.resize``,
``anti_aliasing=True``), and brings it back with ``napari_dip.super_resolve``
(default preset, automatic stop), with ``skimage.transform.resize(order=3)``
(bicubic) and with Pillow's Lanczos filter.  PSNR is against the clean crop,
over [0, 1], with a border of ``factor`` pixels left out.  ``--seeds`` repeats
the x4 runs with more seeds for the spread.  The paper's x4 recipe is timed
for a few iterations only: its 2000 take too long on a CPU.

Usage::

    python benchmarks/super_resolution.py [--json results.json] [--docs]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import tifffile
from _pages import replace_table, source_of
from PIL import Image
from skimage import io
from skimage.transform import resize

import napari_dip

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DOCS = HERE.parent / "docs" / "super-resolution.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
SIZE = 256
#: (image, factor) cases of a default run; x4 on every image.
CASES = [
    *((name, 4) for name in ("zebra", "FISH", "BPAE", "nuclei")),
    ("zebra", 2),
    ("FISH", 2),
    ("zebra", 8),
    ("FISH", 8),
]
#: The images whose x4 case runs with more seeds (``--seeds``).
SPREAD = ("zebra", "FISH")


def _centre(image: np.ndarray) -> np.ndarray:
    top, left = ((n - SIZE) // 2 for n in image.shape[:2])
    return image[top : top + SIZE, left : left + SIZE]


def clean(name: str) -> tuple[np.ndarray, str]:
    """The clean crop in [0, 1] and its axes."""
    if name == "zebra":
        rgb = np.asarray(Image.open(DATA / "paper" / "zebra_GT.png").convert("RGB")) / 255.0
        image = (16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255
        axes = "YX"  # the Y channel, as the paper scores
    elif name == "nuclei":
        image, axes = tifffile.imread(DATA / "microscopy" / "nuclei_2d.tif"), "YX"
    elif name == "FISH":
        image, axes = io.imread(DATA / "microscopy" / "confocal_fish_clean.png"), "YX"
    else:
        image, axes = io.imread(DATA / "microscopy" / "widefield_bpae_clean.png"), "YXC"
    image = _centre(np.asarray(image, np.float64))
    return (image - image.min()) / (image.max() - image.min()), axes


def _psnr(result: np.ndarray, truth: np.ndarray, factor: int) -> float:
    error = (np.clip(result, 0, 1) - truth)[factor:-factor, factor:-factor]
    return float(10 * math.log10(1 / np.mean(error**2)))


def _lanczos(low: np.ndarray) -> np.ndarray:
    planes = low[..., None] if low.ndim == 2 else low
    up = [
        np.asarray(Image.fromarray(planes[..., c].astype(np.float32), "F").resize((SIZE, SIZE), 1))
        for c in range(planes.shape[-1])
    ]
    return np.stack(up, -1).reshape((SIZE, SIZE, *low.shape[2:]))


def measure_case(name: str, factor: int, seeds: tuple[int, ...]) -> dict:
    truth, axes = clean(name)
    low = resize(truth, (SIZE // factor, SIZE // factor), order=3, anti_aliasing=True)
    row = {"image": name, "factor": factor}
    start = time.perf_counter()
    bicubic = resize(low, truth.shape, order=3)
    row["bicubic"] = {"psnr": _psnr(bicubic, truth, factor), "seconds": time.perf_counter() - start}
    start = time.perf_counter()
    row["lanczos"] = {
        "psnr": _psnr(_lanczos(low), truth, factor),
        "seconds": time.perf_counter() - start,
    }
    runs = []
    for seed in seeds:
        start = time.perf_counter()
        run = napari_dip.Restoration(
            "super_resolve", low.astype(np.float32), factor=factor, axes=axes, seed=seed
        )
        result = run.run()
        runs.append(
            {
                "seed": seed,
                "psnr": _psnr(result, truth, factor),
                "seconds": time.perf_counter() - start,
                "iterations": run.info.iterations,
                "stop": str(run.info.stop_reason.value),
            }
        )
    row["dip"] = runs
    print(row, flush=True)
    return row


def paper_seconds_per_iteration(iterations: int = 5) -> float:
    """The paper's x4 recipe on a 64x64 image (256x256 result): seconds per iteration."""
    low = resize(clean("zebra")[0], (SIZE // 4, SIZE // 4), order=3, anti_aliasing=True)
    run = napari_dip.Restoration(
        "super_resolve", low, factor=4, preset="paper", max_iter=iterations, seed=0
    )
    start = time.perf_counter()
    run.run()
    return (time.perf_counter() - start) / iterations


def measure(seeds: int) -> dict:
    rows = []
    for name, factor in CASES:
        more = factor == 4 and name in SPREAD
        rows.append(measure_case(name, factor, tuple(range(seeds)) if more else (0,)))
    paper = paper_seconds_per_iteration()
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows, "paper_s_per_it": paper}


def render(results: dict) -> str:
    lines = [
        "| image | factor | bicubic | Lanczos | napari-dip default, seed 0 | gain over bicubic "
        "| time, iterations, stop | seeds: min-max (spread) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        first = row["dip"][0]
        spread = "-"
        if len(row["dip"]) > 1:
            values = [run["psnr"] for run in row["dip"]]
            spread = f"{min(values):.2f}-{max(values):.2f} dB ({max(values) - min(values):.2f})"
        lines.append(
            f"| {row['image']} | x{row['factor']} | {row['bicubic']['psnr']:.2f} dB "
            f"| {row['lanczos']['psnr']:.2f} dB | {first['psnr']:.2f} dB "
            f"| {first['psnr'] - row['bicubic']['psnr']:+.2f} dB "
            f"| {first['seconds']:.0f} s, {first['iterations']} it., {first['stop']} | {spread} |"
        )
    minutes = results["paper_s_per_it"] * 2000 / 60
    lines.append("")
    lines.append(
        f"The paper's x4 recipe (`preset=\"paper\"`, 2.2M parameters, 2000 iterations): "
        f"{results['paper_s_per_it']:.2f} s per iteration here, about {minutes:.0f} minutes "
        "for one 256x256 result; not run to the end."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the x4 spread cases")
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table in docs/super-resolution.md"
    )
    args = parser.parse_args()
    results = measure(args.seeds)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    table = render(results)
    print(table)
    if args.docs:
        stamp = f"Measured {results['date']}, {SIZE}x{SIZE} results, 2-core CPU."
        replace_table(DOCS, "super-resolution table", f"{stamp}\n\n{table}", SOURCE)


if __name__ == "__main__":
    main()
