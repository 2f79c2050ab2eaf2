"""Deconvolution of blurred photon counts against Richardson-Lucy at its best iteration count.

Each clean 256x256 centre crop is scaled, channel by channel, to 2-100 photons, blurred by a
Gaussian PSF of sigma 2 pixels (mirrored borders) and drawn with Poisson noise (seed 100 +
seed; the seed also seeds the fit).  It is deconvolved by ``napari_dip.deconvolve`` with the
default preset ("default": Richardson-Lucy plus the network's departure from it where the PSF
passes, weighed by held-out pixels) and with the same preset without the blend ("network", the
default before 2026-12-07), and by scikit-image's
``richardson_lucy`` on the image mirrored at its borders, at each iteration count of
``RL_ITERATIONS``, the best one chosen with the clean image (an oracle: a user cannot do this).
``--volume`` adds the 3D case: the middle 16 planes of the neuron stack, blurred by a 3D
Gaussian (sigma 2 pixels in Y and X, 1 plane in Z) at 2-100 photons, fitted as a volume.  PSNR
in photons, over each channel's clean range, averaged over the channels.

The default's row also holds the default before 2026-12-08, computed from the same fit: the
blend over all frequencies (``w`` network plus ``1 - w`` Richardson-Lucy, the weight chosen on
the same held-out pixels), so the two differ by the blend alone.

Rows are kept as JSON lines (``--rows``), so methods can run in separate processes and the
table be rendered from what is there (``--docs``).

Usage::

    python benchmarks/deconvolution.py --rows rows.jsonl [--methods default network rl]
        [--images bpae ...] [--seeds 0 1] [--volume] [--threads 2] [--docs]
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile
from _pages import replace_table, source_of
from _photons import arguments, by_case, in_photons, measure_all, psnr, stamp, summary
from inpainting import DATA, IMAGES
from scipy.ndimage import convolve
from skimage.restoration import richardson_lucy

import napari_dip
import napari_dip.core.fit as fit_module
from napari_dip.core.classical import RL_ITERATIONS
from napari_dip.core.presets import resolve_preset
from napari_dip.imaging.psf import gaussian_psf

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "deconvolution.md"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
PHOTONS = (2.0, 100.0)
SIGMA = 2.0
METHODS = ("default", "network", "rl")
VOLUME = "neuron 3D"


def case(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The clean image in photons, its blurred Poisson draw, the PSF and the axes."""
    if name == VOLUME:
        stack = tifffile.imread(DATA / "microscopy" / "neuron_3d.tif").astype(np.float64)
        middle = stack.shape[0] // 2
        stack = stack[middle - 8 : middle + 8]
        dark, bright = PHOTONS
        photons = dark + (bright - dark) * (stack - stack.min()) / np.ptp(stack)
        photons, psf, axes = photons[None], gaussian_psf((1.0, SIGMA, SIGMA)), "ZYX"
    else:
        photons, psf, axes = in_photons(name, *PHOTONS), gaussian_psf(SIGMA), "CYX"
    blurred = np.stack([convolve(channel, psf, mode="mirror") for channel in photons])
    noisy = np.random.default_rng(100 + seed).poisson(blurred).astype(np.float32)
    return photons, noisy, psf, axes


def oracle_rl(noisy: np.ndarray, photons: np.ndarray, psf: np.ndarray) -> tuple[float, int]:
    """Richardson-Lucy's PSNR at its best iteration count (chosen with the clean image)."""
    pad = 3 * max(psf.shape)
    scores = {}
    for count in RL_ITERATIONS:
        estimate = np.stack(
            [
                richardson_lucy(
                    np.pad(channel.astype(np.float64), pad, mode="reflect"),
                    psf,
                    num_iter=count,
                    clip=False,
                )[(slice(pad, -pad),) * channel.ndim]
                for channel in noisy
            ]
        )
        scores[count] = psnr(estimate, photons)
    best = max(scores, key=scores.get)
    return scores[best], best


def _blend_of_both_kinds(before: dict):
    """The fit's blend step, which first computes the blend over all frequencies (the
    default before 2026-12-08) from the same estimates and keeps it in ``before``."""
    blend = fit_module._with_classical

    def both(fit, final, scored, detector):
        fit.operator.blends_passband = False
        before["estimate"], _ = blend(fit, final, scored, detector)
        before["weight"] = fit.classical_blend.network_weight
        del fit.operator.blends_passband  # the class's own again
        return blend(fit, final, scored, detector)

    return both


def measure(name: str, seed: int, method: str, threads: int) -> dict:
    photons, noisy, psf, axes = case(name, seed)
    row = {"image": name, "seed": seed, "method": method, "blurred": psnr(noisy, photons)}
    start = time.perf_counter()
    if method == "rl":
        row["psnr"], row["iterations"] = oracle_rl(noisy, photons, psf)
    else:
        image = noisy[0] if axes == "ZYX" else noisy
        preset = resolve_preset("default", "deconvolve")
        if method == "network":
            preset = replace(preset, name="default without the blend", classical=False)
        run = napari_dip.Restoration(
            "deconvolve",
            image,
            psf=psf,
            axes=axes,
            stack="volume" if axes == "ZYX" else "planes",
            seed=seed,
            threads=threads,
            preset=preset,
        )
        before, blend = {}, fit_module._with_classical
        if method == "default":
            fit_module._with_classical = _blend_of_both_kinds(before)
        try:
            result = run.run()
        finally:
            fit_module._with_classical = blend
        channels_first = (lambda x: x[None]) if axes == "ZYX" else (lambda x: x)
        row["psnr"] = psnr(channels_first(result), photons)
        if before:
            estimate = before["estimate"][0].numpy()  # (C, *spatial), normalised
            canonical = estimate[None] if axes == "ZYX" else estimate[None, :, None]
            estimate = channels_first(run._pixels.to_user(canonical))
            row["before"] = {"psnr": psnr(estimate, photons), "weight": before["weight"]}
        row["iterations"] = run.info.iterations
        row["blends"] = [
            (blend["network_weight"], blend["setting"]) for blend in run.info.classical_blends
        ]
    row["seconds"] = time.perf_counter() - start
    return row


def render(rows: list[dict]) -> str:
    found, cases = by_case(rows, (*IMAGES, VOLUME))
    lines = [
        "| image | seed | blurred | Richardson-Lucy, oracle count | network alone "
        "| before: blend over all frequencies (weight) | default | default − RL "
        "| default − before | network's weight, RL count | time default / RL (all counts) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    gains: dict[str, list[float]] = {"Richardson-Lucy (oracle)": [], "before": []}
    gains["network alone"] = []
    for image, seed in cases:
        d, n, r = (found.get((image, seed, m)) for m in METHODS)
        if not (d and r):
            continue
        gains["Richardson-Lucy (oracle)"].append(d["psnr"] - r["psnr"])
        network = before = "not run"
        versus_before = "—"
        if n:
            gains["network alone"].append(d["psnr"] - n["psnr"])
            network = f"{n['psnr']:.2f}"
        if "before" in d:
            gains["before"].append(d["psnr"] - d["before"]["psnr"])
            before = f"{d['before']['psnr']:.2f} ({d['before']['weight']:.2f})"
            versus_before = f"{gains['before'][-1]:+.2f}"
        weights = ", ".join(f"{w:.2f} / {count}" for w, count in d["blends"])
        lines.append(
            f"| {image} | {seed} | {d['blurred']:.2f} | {r['psnr']:.2f} ({r['iterations']}) "
            f"| {network} | {before} | {d['psnr']:.2f} | {gains['Richardson-Lucy (oracle)'][-1]:+.2f} "
            f"| {versus_before} | {weights} | {d['seconds']:.0f} / {r['seconds']:.1f} s |"
        )
    if gains["Richardson-Lucy (oracle)"]:
        lines += summary("default", gains)
    return "\n".join(lines)


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], METHODS, IMAGES)
    parser.add_argument("--volume", action="store_true", help=f"add the {VOLUME} case (seed 0)")
    args = parser.parse_args()
    cases = [(name, seed) for name in args.images for seed in args.seeds]
    cases += [(VOLUME, 0)] * args.volume
    rows, table = measure_all(args, cases, measure, render)
    if args.docs:
        what = (
            f"256x256 centre crops at {PHOTONS[0]:g}-{PHOTONS[1]:g} photons blurred by a "
            f"Gaussian of sigma {SIGMA:g} pixels"
        )
        replace_table(DOCS, "deconvolution table", f"{stamp(rows, what)}\n\n{table}", SOURCE)


if __name__ == "__main__":
    main()
