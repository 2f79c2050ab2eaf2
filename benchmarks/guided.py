"""Guided restoration (``guide=``) against the unguided default and BM3D, on real microscopy noise.

Cases (128x128 centre crops of the FMD pairs in ``../shared/data/microscopy``, real noise;
PSNR after the per-channel gain and offset of ``quality.py``):

- (a) a faint channel guided by brighter channels of the same cells: the widefield BPAE
  F-actin channel (the faintest) guided by the mitochondria and nuclei channels of the same
  noisy acquisition;
- (b) a single noisy confocal FISH frame guided by a less noisy image of the same field.  The
  dataset has no second exposure, so the guide is made from the clean image (the mean of 50
  frames) plus half the frame's real noise taken from half the crop away: as noisy as the
  mean of four frames, its noise independent of the frame's.  (b2) the same frame guided by a
  blurred copy of the clean image (Gaussian, sigma 2 pixels): sharp structure missing, no noise;
- (c) unrelated guides: the FISH frame guided by the BPAE nuclei, and the BPAE F-actin guided
  by the FISH frame.

Methods, each timed in this run on this machine: napari-dip's default preset without and
with the guide (seed 0, automatic stop; the guided run fits guided and unguided networks and
blends them with the weight that predicts held-out pixels best, so it takes about twice as long), and BM3D at
the best sigma of ``quality.py``'s grid (an oracle: it needs the clean image).

Usage::

    python benchmarks/guided.py [--json results.json] [--docs]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from _pages import replace_table, source_of
from quality import GRIDS, _calibration, _classical, _crop, psnr
from scipy import ndimage
from skimage import io
from skimage.restoration import estimate_sigma

import napari_dip

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "microscopy"
DOCS = HERE.parent / "docs" / "guided.md"
FIGURE = HERE.parent / "docs" / "images" / "guided.png"
SIZE = 128
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)


def _pair(stem: str) -> tuple[np.ndarray, np.ndarray]:
    noisy, clean = (
        _crop(io.imread(DATA / f"{stem}_{kind}.png").astype(np.float64), SIZE)
        for kind in ("noisy", "clean")
    )
    return noisy, clean


def targets() -> dict[str, dict]:
    """The noisy channels restored, with what scores them."""
    fish, fish_clean = _pair("confocal_fish")
    bpae, bpae_clean = _pair("widefield_bpae")
    found = {"FISH": (fish, fish_clean), "BPAE F-actin": (bpae[..., 1], bpae_clean[..., 1])}
    return {
        name: {
            "noisy": noisy,
            "clean": clean[..., None],
            "calibration": [_calibration(clean, noisy)],
        }
        for name, (noisy, clean) in found.items()
    }


def cases() -> list[dict]:
    fish, fish_clean = _pair("confocal_fish")
    bpae, _ = _pair("widefield_bpae")
    half_noise = fish_clean + 0.5 * np.roll(fish - fish_clean, SIZE // 2, axis=(0, 1))
    return [
        {"case": "a", "target": "BPAE F-actin", "guide": "BPAE mitochondria + nuclei (same cells)",
         "image": np.stack([bpae[..., 0], bpae[..., 2]], axis=-1)},
        {"case": "b", "target": "FISH", "guide": "less noisy image (clean + half the noise)",
         "image": half_noise},
        {"case": "b2", "target": "FISH", "guide": "blurred clean image (sigma 2)",
         "image": ndimage.gaussian_filter(fish_clean, 2)},
        {"case": "c", "target": "FISH", "guide": "unrelated: BPAE nuclei", "image": bpae[..., 2]},
        {"case": "c", "target": "BPAE F-actin", "guide": "unrelated: the FISH frame", "image": fish},
    ]  # fmt: skip


def restore(target: dict, guide: np.ndarray | None) -> tuple[dict, np.ndarray]:
    start = time.perf_counter()
    run = napari_dip.Restoration("denoise", target["noisy"], guide=guide, seed=0)
    result = run.run()
    seconds = time.perf_counter() - start
    info = run.info
    record = {"psnr": psnr(target, result), "time_s": seconds, "iterations": info.iterations}
    if guide is not None:
        record["guide_weight"] = [choice["guide_weight"] for choice in info.guide_choices]
    return record, result


def bm3d_best(target: dict) -> dict:
    noisy = target["noisy"] / 255
    sigma = float(estimate_sigma(noisy))
    denoise, keyword = _classical("BM3D", sigma, noisy)
    best = None
    for factor in GRIDS["BM3D"]:
        start = time.perf_counter()
        value = psnr(target, denoise(noisy, **{keyword: factor * sigma}) * 255)
        point = {"factor": factor, "psnr": value, "time_s": time.perf_counter() - start}
        best = point if best is None or value > best["psnr"] else best
    return best


def measure() -> tuple[dict, dict]:
    found = targets()
    unguided, images = {}, {}
    for name, target in found.items():
        unguided[name], images[(name, None)] = restore(target, None)
        unguided[name]["bm3d"] = bm3d_best(target)
        print(name, "unguided", unguided[name], flush=True)
    rows = []
    for case in cases():
        guided, images[(case["target"], case["guide"])] = restore(
            found[case["target"]], case["image"]
        )
        row = {**{k: v for k, v in case.items() if k != "image"}, "guided": guided}
        rows.append(row)
        print(row, flush=True)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {len(_cpus())} CPU cores, torch threads by the library",
        "unguided": unguided,
        "rows": rows,
    }
    return report, {"found": found, "images": images, "cases": cases()}


def _cpus():
    import os

    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count())


def render(report: dict) -> str:
    lines = [
        "| case | restored | guide | unguided | guided | gain | guide weight | BM3D (best sigma) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        base = report["unguided"][row["target"]]
        guided = row["guided"]
        lines.append(
            f"| {row['case']} | {row['target']} | {row['guide']} "
            f"| {base['psnr']:.2f} ({base['time_s']:.0f} s) "
            f"| **{guided['psnr']:.2f}** ({guided['time_s']:.0f} s) "
            f"| {guided['psnr'] - base['psnr']:+.2f} | {', '.join(f'{w:.1f}' for w in guided['guide_weight'])} "
            f"| {base['bm3d']['psnr']:.2f} ({base['bm3d']['time_s']:.1f} s) |"
        )
    return "\n".join(lines)


def figure(pictures: dict, path: Path) -> None:
    """Cases (a) and (b): the noisy frame, the guide, both results and the clean image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [case for case in pictures["cases"] if case["case"] in ("a", "b")]
    fig, axes = plt.subplots(len(shown), 5, figsize=(12.5, 2.7 * len(shown)))
    for row, case in zip(axes, shown):
        target = pictures["found"][case["target"]]
        guide = case["image"] if case["image"].ndim == 2 else case["image"].mean(-1)
        panels = [
            ("noisy", target["noisy"]),
            ("guide", guide),
            ("unguided", pictures["images"][(case["target"], None)]),
            ("guided", pictures["images"][(case["target"], case["guide"])]),
            ("clean (50-frame mean)", target["clean"][..., 0]),
        ]
        for ax, (title, image) in zip(row, panels):
            low, high = np.percentile(image, (0.5, 99.5))
            ax.imshow(image, cmap="gray", vmin=low, vmax=high)
            ax.set_title(f"({case['case']}) {title}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=72)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--docs", action="store_true", help="rewrite docs/guided.md's table")
    args = parser.parse_args()
    report, pictures = measure()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    table = render(report)
    print(table)
    if args.docs:
        stamp = (
            f"Measured {report['date']} on {report['machine']}, {SIZE}x{SIZE} crops, "
            "seed 0, one run."
        )
        replace_table(DOCS, "guided table", f"{stamp}\n\n{table}", SOURCE)
        figure(pictures, FIGURE)


if __name__ == "__main__":
    main()
