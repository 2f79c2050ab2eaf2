"""Inpainting against scikit-image's biharmonic inpainting, on public images.

Each case removes pixels from a clean image (round holes, or a random half
of the pixels) and fills them with ``napari_dip.inpaint`` (default preset,
automatic stop; measured pixels kept, the default) and with
``skimage.restoration.inpaint_biharmonic``.  PSNR is over the whole image
and over the missing pixels alone, against the clean image, with the data
range of the clean image.  The default keeps the measured pixels bit for bit:
the benchmark checks it.  ``keep_known=False`` (the network's output
everywhere, the behaviour before) is run on the same cases for comparison.

Usage::

    python benchmarks/inpainting.py [--json results.json] [--docs]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _pages import replace_table, source_of
from skimage import io
from skimage.metrics import peak_signal_noise_ratio
from skimage.restoration import inpaint_biharmonic

import napari_dip

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DOCS = HERE.parent / "docs" / "inpainting.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
SIZE = 128


def _round_holes(shape, count=4, radius=8, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, dtype=bool)
    for _ in range(count):
        cy, cx = rng.integers(radius * 2, np.array(shape) - radius * 2)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    return mask


def _random_pixels(shape, fraction=0.5, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) < fraction


def _crop(image: np.ndarray) -> np.ndarray:
    return image[:SIZE, :SIZE]


def cases() -> list[dict]:
    import tifffile

    nuclei = _crop(tifffile.imread(DATA / "microscopy" / "nuclei_2d.tif")).astype(np.float32)
    bpae = _crop(io.imread(DATA / "microscopy" / "widefield_bpae_clean.png")).astype(np.float32)
    fish = _crop(io.imread(DATA / "microscopy" / "confocal_fish_clean.png")).astype(np.float32)
    shape = (SIZE, SIZE)
    return [
        {
            "name": "nuclei (uint16 fluorescence), 4 round holes",
            "image": nuclei,
            "axes": "YX",
            "mask": _round_holes(shape),
        },
        {
            "name": "widefield BPAE (3 channels), 4 round holes",
            "image": bpae,
            "axes": "YXC",
            "mask": _round_holes(shape, seed=1),
        },
        {
            "name": "confocal FISH, 50% of pixels missing",
            "image": fish,
            "axes": "YX",
            "mask": _random_pixels(shape),
        },
    ]


def _scores(result, clean, mask) -> dict:
    data_range = float(clean.max() - clean.min())
    hole = mask if result.ndim == 2 else np.broadcast_to(mask[..., None], clean.shape)
    return {
        "psnr": float(peak_signal_noise_ratio(clean, result, data_range=data_range)),
        "psnr_missing": float(
            10 * np.log10(data_range**2 / np.mean((clean[hole] - result[hole]) ** 2))
        ),
    }


def measure() -> dict:
    rows = []
    for case in cases():
        clean, mask, axes = case["image"], case["mask"], case["axes"]
        damaged = clean.copy()
        hole = mask if clean.ndim == 2 else np.broadcast_to(mask[..., None], clean.shape)
        damaged[hole] = 0
        row = {"case": case["name"], "missing": float(mask.mean())}
        start = time.perf_counter()
        filled = inpaint_biharmonic(damaged, mask, channel_axis=-1 if clean.ndim == 3 else None)
        row["biharmonic"] = {**_scores(filled, clean, mask), "seconds": time.perf_counter() - start}
        for keep in (True, False):
            start = time.perf_counter()
            run = napari_dip.Restoration(
                "inpaint", damaged, mask=mask, axes=axes, keep_known=keep, seed=0
            )
            result = run.run()
            seconds = time.perf_counter() - start
            if keep:
                assert np.array_equal(result[~hole], damaged[~hole]), "measured pixels changed"
            row["dip" if keep else "dip_joint"] = {
                **_scores(result, clean, mask),
                "seconds": seconds,
                "iterations": run.info.iterations,
            }
        print(row, flush=True)
        rows.append(row)
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "size": SIZE, "rows": rows}


def render(results: dict) -> str:
    lines = [
        "| case | method | PSNR, whole image | PSNR, missing pixels | time |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "biharmonic": "`inpaint_biharmonic`",
        "dip": "napari-dip default (measured pixels kept)",
        "dip_joint": "napari-dip, `keep_known=False`",
    }
    for row in results["rows"]:
        for key, label in labels.items():
            cell = row[key]
            its = f" ({cell['iterations']} it.)" if "iterations" in cell else ""
            lines.append(
                f"| {row['case']} | {label} | {cell['psnr']:.2f} dB | {cell['psnr_missing']:.2f} dB "
                f"| {cell['seconds']:.1f} s{its} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table in docs/inpainting.md"
    )
    args = parser.parse_args()
    results = measure()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    table = render(results)
    print(table)
    if args.docs:
        stamp = f"Measured {results['date']}, {SIZE}x{SIZE} crops, one seed, 2-core CPU."
        replace_table(DOCS, "inpainting table", f"{stamp}\n\n{table}", SOURCE)


if __name__ == "__main__":
    main()
