"""Inpainting against scikit-image's biharmonic inpainting, over many public images and seeds.

Each case removes pixels from a clean image and fills them with ``napari_dip.inpaint`` (the
default preset: automatic stop, measured pixels kept, biharmonic blended in by the weight
held-out holes choose) and with ``skimage.restoration.inpaint_biharmonic``, in the same run.
Two masks on 256x256 centre crops of six images, each drawn with two seeds (the seed also
seeds the fit): five round holes of radius 8-16, and a random half of the pixels.  Then the
paper's two 512x512 cases: Barbara with half its pixels missing (the paper reports 32.22 dB)
and the text removal on kate.  PSNR is over the missing pixels, against the clean image, over
the clean image's data range.  The benchmark checks that the measured pixels come back bit
for bit, and how well the uncertainty (calibrated on held-out holes) predicts the fill's error:
per decile of the predicted uncertainty the RMS error against the RMS predicted, the share of
missing pixels within one and two predicted standard deviations, and the rank correlation.

Usage::

    python benchmarks/inpainting.py [--json results.json] [--docs] [--images bpae fly ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import tifffile
from _pages import replace_table, source_of
from scipy.stats import spearmanr
from skimage import io
from skimage.restoration import inpaint_biharmonic

import napari_dip

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DOCS = HERE.parent / "docs" / "inpainting.md"
UNCERTAINTY_DOCS = HERE.parent / "docs" / "uncertainty.md"
PLOT = HERE.parent / "docs" / "benchmarks-inpainting-uncertainty.png"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
SIZE = 256
SEEDS = (0, 1)
#: The images of the 256x256 cases (none of them was used to design the blend: that was
#: done on FISH, the nuclei, W2S field 020 and BSD68 image 015).
IMAGES = ("bpae", "w2s_040", "w2s_100", "fly", "bsd045", "bsd055")
MASKS = ("holes", "random")


def _centre(array: np.ndarray, size: int, axes: str) -> np.ndarray:
    y, x = axes.index("Y"), axes.index("X")
    index = [slice(None)] * array.ndim
    for axis in (y, x):
        start = (array.shape[axis] - size) // 2
        index[axis] = slice(start, start + size)
    return array[tuple(index)]


def load(name: str) -> tuple[np.ndarray, str]:
    """A clean image and its axes."""
    if name == "bpae":
        image, axes = io.imread(DATA / "microscopy" / "widefield_bpae_clean.png"), "YXC"
    elif name == "fish":
        image, axes = io.imread(DATA / "microscopy" / "confocal_fish_clean.png"), "YX"
    elif name == "nuclei":
        image, axes = tifffile.imread(DATA / "microscopy" / "nuclei_2d.tif"), "YX"
    elif name.startswith("w2s"):
        image, axes = tifffile.imread(DATA / "microscopy" / "w2s" / f"{name}_clean.tif"), "CYX"
    elif name == "fly":
        image, axes = tifffile.imread(DATA / "microscopy" / "fly" / "fly_pos002_DFR.tif"), "CYX"
    else:  # bsdNNN
        image, axes = io.imread(DATA / "natural" / "bsd68" / f"test{name[3:]}.png"), "YX"
    return _centre(image, SIZE, axes).astype(np.float32), axes


def round_holes(shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(1000 + seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    mask = np.zeros(shape, dtype=bool)
    for _ in range(5):
        radius = rng.integers(8, 17)
        cy, cx = rng.integers(radius + 4, np.array(shape) - radius - 4)
        mask |= (y - cy) ** 2 + (x - cx) ** 2 <= radius**2
    return mask


def random_pixels(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(2000 + seed).random(shape) < 0.5


def cases(images) -> list[dict]:
    rows = []
    for name in images:
        image, axes = load(name)
        shape = image.shape[:2] if axes == "YXC" else image.shape[-2:]
        for kind in MASKS:
            for seed in SEEDS:
                make = round_holes if kind == "holes" else random_pixels
                rows.append(
                    dict(
                        image=name,
                        mask=kind,
                        seed=seed,
                        clean=image,
                        axes=axes,
                        missing=make(shape, seed),
                    )
                )
    barbara = io.imread(DATA / "paper" / "barbara.png").astype(np.float32)
    rows.append(
        dict(
            image="barbara 512",
            mask="random",
            seed=0,
            clean=barbara,
            axes="YX",
            missing=random_pixels(barbara.shape, 0),
            paper=32.22,
        )
    )
    kate = io.imread(DATA / "paper" / "kate.png").astype(np.float32)
    text = io.imread(DATA / "paper" / "kate_mask.png") == 0  # white = known
    rows.append(dict(image="kate 512", mask="text", seed=0, clean=kate, axes="YXC", missing=text))
    return rows


def _psnr_missing(result, clean, hole) -> float:
    data_range = float(clean.max() - clean.min())
    return float(10 * np.log10(data_range**2 / np.mean((clean[hole] - result[hole]) ** 2)))


def calibration(uncertainty: np.ndarray, error: np.ndarray) -> dict:
    """How the predicted standard deviation matches the actual error (both in the
    image's units, over the missing pixels)."""
    order = np.argsort(uncertainty, kind="stable")
    bins = [
        {
            "predicted_rms": float(np.sqrt(np.mean(uncertainty[part] ** 2))),
            "error_rms": float(np.sqrt(np.mean(error[part] ** 2))),
        }
        for part in np.array_split(order, 10)
    ]
    scaled = np.abs(error) / np.maximum(uncertainty, 1e-12)
    return {
        "bins": bins,
        "ratios": [b["error_rms"] / max(b["predicted_rms"], 1e-12) for b in bins],
        "within_1": float(np.mean(scaled <= 1)),
        "within_2": float(np.mean(scaled <= 2)),
        "rank_correlation": float(spearmanr(uncertainty, np.abs(error))[0]),
    }


def measure(images) -> dict:
    rows = []
    for case in cases(images):
        clean, axes, missing = case["clean"], case["axes"], case["missing"]
        hole = np.broadcast_to(missing[..., None] if axes == "YXC" else missing, clean.shape)
        damaged = np.where(hole, 0, clean).astype(np.float32)
        start = time.perf_counter()
        channel_axis = {"YX": None, "YXC": -1, "CYX": 0}[axes]
        filled = inpaint_biharmonic(damaged, missing, channel_axis=channel_axis)
        biharmonic_seconds = time.perf_counter() - start
        start = time.perf_counter()
        run = napari_dip.Restoration(
            "inpaint", damaged, mask=missing, axes=axes, seed=case["seed"], threads=2
        )
        result = run.run()
        seconds = time.perf_counter() - start
        assert np.array_equal(result[~hole], damaged[~hole]), "measured pixels changed"
        (blend,) = run.info.classical_blends
        uncertainty = calibration(run.uncertainty[hole], (result - clean)[hole])
        row = {
            "image": case["image"],
            "mask": case["mask"],
            "seed": case["seed"],
            "missing": float(missing.mean()),
            "biharmonic": _psnr_missing(filled, clean, hole),
            "biharmonic_seconds": biharmonic_seconds,
            "default": _psnr_missing(result, clean, hole),
            "seconds": seconds,
            "iterations": run.info.iterations,
            "network_weight": blend["network_weight"],
            "paper": case.get("paper"),
            "uncertainty": uncertainty,
        }
        print(row, flush=True)
        rows.append(row)
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "size": SIZE, "rows": rows}


def render(results: dict) -> str:
    lines = [
        "| image | mask | seed | biharmonic | napari-dip default | gain | network's weight | time (biharmonic) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        gain = row["default"] - row["biharmonic"]
        paper = f" (paper: {row['paper']:.2f} dB)" if row.get("paper") else ""
        lines.append(
            f"| {row['image']} | {row['mask']} | {row['seed']} | {row['biharmonic']:.2f} dB "
            f"| {row['default']:.2f} dB{paper} | {gain:+.2f} dB | {row['network_weight']:.2f} "
            f"| {row['seconds']:.0f} s, {row['iterations']} it. ({row['biharmonic_seconds']:.2f} s) |"
        )
    lines += [
        "",
        "| mask (256x256) | cases | mean gain | worst | best | seeds' spread of the gain, mean |",
        "|---|---|---|---|---|---|",
    ]
    for kind in MASKS:
        rows = [r for r in results["rows"] if r["mask"] == kind and "512" not in r["image"]]
        if not rows:
            continue
        gains = np.array([r["default"] - r["biharmonic"] for r in rows])
        spreads = []
        for image in {r["image"] for r in rows}:
            mine = [r["default"] - r["biharmonic"] for r in rows if r["image"] == image]
            spreads.append(max(mine) - min(mine))
        lines.append(
            f"| {kind} | {len(rows)} | {gains.mean():+.2f} dB | {gains.min():+.2f} dB "
            f"| {gains.max():+.2f} dB | {np.mean(spreads):.2f} dB |"
        )
    return "\n".join(lines)


def render_uncertainty(results: dict) -> str:
    lines = [
        "| image | mask | seed | RMS error | RMS predicted | RMS error / predicted, per decile: min-max "
        "| within 1 | within 2 | rank correlation |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        u = row["uncertainty"]
        error = np.sqrt(np.mean([b["error_rms"] ** 2 for b in u["bins"]]))
        predicted = np.sqrt(np.mean([b["predicted_rms"] ** 2 for b in u["bins"]]))
        lines.append(
            f"| {row['image']} | {row['mask']} | {row['seed']} | {error:.2f} | {predicted:.2f} "
            f"| {min(u['ratios']):.2f}-{max(u['ratios']):.2f} | {u['within_1']:.0%} "
            f"| {u['within_2']:.0%} | {u['rank_correlation']:.2f} |"
        )
    rows = results["rows"]
    ratios = np.array([r["uncertainty"]["ratios"] for r in rows])
    inside = np.mean((ratios >= 0.67) & (ratios <= 1.5))
    within_1 = [r["uncertainty"]["within_1"] for r in rows]
    within_2 = [r["uncertainty"]["within_2"] for r in rows]
    lines += [
        "",
        f"All {len(rows)} cases: {inside:.0%} of the deciles have a ratio within 0.67-1.5 "
        f"({ratios.min():.2f}-{ratios.max():.2f} in all); within one predicted standard "
        f"deviation {min(within_1):.0%}-{max(within_1):.0%} of the missing pixels, within two "
        f"{min(within_2):.0%}-{max(within_2):.0%}.",
    ]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, kind in zip(axes, ("holes", "random")):
        rows = [
            r
            for r in results["rows"]
            if r["mask"] == kind or (kind == "holes" and r["mask"] == "text")
        ]
        top = 0.0
        for row in rows:
            ratio = row["uncertainty"]["ratios"]
            top = max(top, *ratio)
            ax.plot(
                range(1, 11),
                ratio,
                "o-",
                markersize=3,
                linewidth=1,
                label=f"{row['image']}, {row['seed']}",
            )
        ax.axhspan(0.67, 1.5, color="tab:green", alpha=0.15, label="0.67-1.5")
        ax.axhline(1.0, color="k", linestyle=":", linewidth=1)
        ax.set_ylim(0, max(2.0, top * 1.05))
        ax.set_title(f"{kind} (and kate's text)" if kind == "holes" else "half the pixels missing")
        ax.set_xlabel("decile of the predicted uncertainty")
        ax.set_ylabel("RMS error / RMS predicted")
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--images", nargs="+", default=IMAGES)
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table in docs/inpainting.md"
    )
    args = parser.parse_args()
    results = measure(args.images)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    table = render(results)
    print(table)
    print(render_uncertainty(results))
    if args.docs:
        stamp = (
            f"Measured {results['date']}, {SIZE}x{SIZE} centre crops and the paper's 512x512 "
            f"cases, PSNR over the missing pixels, 2-core CPU (2 threads), one run."
        )
        replace_table(DOCS, "inpainting table", f"{stamp}\n\n{table}", SOURCE)
        calibrated = render_uncertainty(results)
        replace_table(
            UNCERTAINTY_DOCS, "inpainting uncertainty table", f"{stamp}\n\n{calibrated}", SOURCE
        )
        plot(results, PLOT)


if __name__ == "__main__":
    main()
