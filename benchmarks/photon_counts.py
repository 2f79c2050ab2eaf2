"""Denoising photon counts: noise="poisson" against noise="gaussian" and VST+BM3D, many images.

Each clean 256x256 centre crop is scaled, channel by channel, to 1-50 photons (its darkest pixel
1, its brightest 50) and drawn with Poisson noise (seed 100 + seed; the seed also seeds the fit).
It is denoised by ``napari_dip.denoise`` with the default preset twice, ``noise="gaussian"`` and
``noise="poisson"``, and by BM3D in the Anscombe domain (``2 sqrt(y + 3/8)``, noise sigma 1)
with the closed-form unbiased inverse (Makitalo and Foi, 2011), its sigma chosen per image
among 0.6-1.4 with the clean image (an oracle: a user cannot do this).  PSNR in photons, over
each channel's clean range, averaged over the channels.

Every method writes its rows to a JSON-lines file as it goes, so the methods can run in
separate processes (``--methods``) and the table be rendered from what is there (``--docs``).

Usage::

    python benchmarks/photon_counts.py --rows rows.jsonl [--methods gaussian poisson bm3d]
        [--images bpae ...] [--seeds 0 1] [--threads 2] [--docs]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _pages import replace_table, source_of
from _photons import arguments, by_case, in_photons, measure_all, psnr, stamp, summary
from inpainting import IMAGES

import napari_dip

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "noise.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
PHOTONS = (1.0, 50.0)  # the darkest and the brightest clean pixel, in photons
METHODS = ("gaussian", "poisson", "bm3d")
BM3D_SIGMAS = (0.6, 0.8, 1.0, 1.2, 1.4)


def photon_counts(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The clean image in photons ``(C, Y, X)`` and its Poisson draw."""
    photons = in_photons(name, *PHOTONS)
    noisy = np.random.default_rng(100 + seed).poisson(photons).astype(np.float32)
    return photons, noisy


def anscombe_inverse(d: np.ndarray) -> np.ndarray:
    """The closed-form approximation of the exact unbiased inverse of the Anscombe transform."""
    d = np.maximum(d, 1e-3)
    return (
        (d / 2) ** 2 - 1 / 8 + 0.25 * np.sqrt(1.5) / d - 11 / 8 / d**2 + 5 / 8 * np.sqrt(1.5) / d**3
    )


def vst_bm3d(noisy: np.ndarray, photons: np.ndarray) -> tuple[float, float]:
    """VST+BM3D's PSNR at its best sigma (chosen with the clean image), and that sigma."""
    import bm3d

    stabilised = 2 * np.sqrt(noisy.astype(np.float64) + 3 / 8)
    scores = {}
    for sigma in BM3D_SIGMAS:
        estimate = np.stack([anscombe_inverse(bm3d.bm3d(plane, sigma)) for plane in stabilised])
        scores[sigma] = psnr(estimate, photons)
    best = max(scores, key=scores.get)
    return scores[best], best


def measure(name: str, seed: int, method: str, threads: int) -> dict:
    photons, noisy = photon_counts(name, seed)
    row = {"image": name, "seed": seed, "method": method, "noisy": psnr(noisy, photons)}
    start = time.perf_counter()
    if method == "bm3d":
        row["psnr"], row["sigma"] = vst_bm3d(noisy, photons)
    else:
        run = napari_dip.Restoration(
            "denoise", noisy, axes="CYX", noise=method, seed=seed, threads=threads
        )
        row["psnr"] = psnr(run.run(), photons)
        row["iterations"] = run.info.iterations
        row["fused"] = [round(fusion["weight"], 2) for fusion in run.info.fusions]
    row["seconds"] = time.perf_counter() - start
    return row


def render(rows: list[dict]) -> str:
    found, cases = by_case(rows, IMAGES)
    lines = [
        "| image | seed | noisy | Gaussian | Poisson | Poisson − Gaussian "
        "| VST+BM3D (oracle σ) | Poisson − VST+BM3D | time Gaussian / Poisson / BM3D |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    versus_gaussian, versus_bm3d = [], []
    for image, seed in cases:
        g, p, b = (found.get((image, seed, m)) for m in METHODS)
        if not (g and p and b):
            continue
        versus_gaussian.append(p["psnr"] - g["psnr"])
        versus_bm3d.append(p["psnr"] - b["psnr"])
        lines.append(
            f"| {image} | {seed} | {g['noisy']:.2f} | {g['psnr']:.2f} | {p['psnr']:.2f} "
            f"| {versus_gaussian[-1]:+.2f} | {b['psnr']:.2f} | {versus_bm3d[-1]:+.2f} "
            f"| {g['seconds']:.0f} / {p['seconds']:.0f} / {b['seconds']:.0f} s |"
        )
    if versus_gaussian:
        lines += summary("Poisson", {"Gaussian": versus_gaussian, "VST+BM3D": versus_bm3d})
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], METHODS, IMAGES).parse_args()
    cases = [(name, seed) for name in args.images for seed in args.seeds]
    rows, table = measure_all(args, cases, measure, render)
    if args.docs:
        what = f"256x256 centre crops at {PHOTONS[0]:g}-{PHOTONS[1]:g} photons"
        replace_table(DOCS, "photon counts table", f"{stamp(rows, what)}\n\n{table}", SOURCE)


if __name__ == "__main__":
    main()
