"""Denoising quality and time against classical and zero-shot peers, on real microscopy noise.

Cases (256x256 centre crops, 0-255 units):

- confocal FISH and widefield BPAE (3 channels): the FMD noisy/clean pairs in
  ``../shared/data/microscopy``, real noise.  PSNR after a gain and offset per
  channel, fitted once by regressing the noisy crop on the clean one (the
  pairs were stretched one by one; the noise is zero-mean, so this is
  unbiased and the same for every method).
- F16: the paper's image in grey, Gaussian noise of sigma 25 (numpy seed 0).

Methods, each timed in this run:

- napari-dip's ``default`` and ``quality`` presets (seed 0, automatic stop,
  the thread count chosen by the library, as a user gets them);
- BM3D, BM3D after a generalised Anscombe transform (``Anscombe``: the
  Poisson-Gaussian noise's gain and offset fitted on the noisy channel), NLM
  and TV, at the best parameter of a grid (an oracle: it needs the clean
  image) and at the parameter scikit-image's ``calibrate_denoiser`` picks
  without it (J-invariant self-supervised loss); channels one by one;
- Zero-Shot Noise2Noise (Mansour & Heckel, CVPR 2023), written here from the
  paper's description: an anchor, not a feature of the package.

It also checks the presets' uncertainty (``Restoration.uncertainty``, the
members' standard deviation) against the actual error on the real pairs:
binned, with the correlation.

Usage::

    python benchmarks/quality.py [--json results.json] [--docs] [--quick]
    python benchmarks/quality.py --render results.json --docs   # re-render, measure nothing
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _pages import replace_table, source_of
from skimage import color, io

import napari_dip

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DOCS = HERE.parent / "docs" / "benchmarks.md"
PLOT = HERE.parent / "docs" / "benchmarks-uncertainty.png"
UNCERTAINTY_DOCS = HERE.parent / "docs" / "uncertainty.md"
PRESETS = ("default", "quality")
# Parameter grids, as multiples of the noise sigma scikit-image estimates per channel.  BM3D's
# reaches far: widefield noise correlated between neighbours hides from the estimate.
GRIDS = {
    # In the generalised Anscombe domain the noise's sigma is 1: the grid is of sigmas there.
    # BM3D's steps are finer near 1-3: its optimum on real crops falls there.
    "VST+BM3D": (0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.4, 1.7, 2.0, 2.8, 4.0, 5.6),
    "BM3D": (0.7, 1.0, 1.2, 1.4, 1.7, 2.0, 2.4, 2.8, 3.4, 4.0, 5.6, 8.0, 11.0, 16.0),
    "NLM": (0.6, 0.8, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6),
    "TV": (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0),
}
NLM_PATCH = {"patch_size": 5, "patch_distance": 6, "fast_mode": True}
UNCERTAINTY_BINS = 10
#: This script as it is now, when the run begins: the docs pages name it.
SOURCE = source_of(__file__)


# --------------------------------------------------------------------------- cases and scores


def _crop(image: np.ndarray, size: int) -> np.ndarray:
    y, x = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[y : y + size, x : x + size]


def _calibration(clean: np.ndarray, noisy: np.ndarray) -> tuple[float, float]:
    design = np.stack([clean.ravel(), np.ones(clean.size)], axis=1)
    (gain, offset), *_ = np.linalg.lstsq(design, noisy.ravel(), rcond=None)
    return float(gain), float(offset)


def cases(size: int) -> list[dict]:
    """Noisy and clean crops as (Y, X, C) float64 arrays, with per-channel calibrations."""
    found = []
    for name, stem in (("confocal FISH", "confocal_fish"), ("widefield BPAE", "widefield_bpae")):
        noisy, clean = (
            _crop(io.imread(DATA / "microscopy" / f"{stem}_{kind}.png").astype(np.float64), size)
            for kind in ("noisy", "clean")
        )
        if noisy.ndim == 2:
            noisy, clean = noisy[..., None], clean[..., None]
        found.append(
            {
                "name": name,
                "noise": "real",
                "noisy": noisy,
                "clean": clean,
                "calibration": [
                    _calibration(clean[..., c], noisy[..., c]) for c in range(noisy.shape[-1])
                ],
            }
        )
    f16 = color.rgb2gray(io.imread(DATA / "paper" / "F16_GT.png")[..., :3]) * 255
    f16 = _crop(f16, size)[..., None]
    noisy = np.clip(f16 + np.random.default_rng(0).normal(0, 25, f16.shape), 0, 255)
    found.append(
        {
            "name": "F16",
            "noise": "Gaussian, sigma 25",
            "noisy": noisy,
            "clean": f16,
            "calibration": [(1.0, 0.0)],
        }
    )
    return found


def _in_clean_units(case: dict, estimate: np.ndarray) -> np.ndarray:
    estimate = np.asarray(estimate, np.float64).reshape(case["clean"].shape)
    gains = np.array([g for g, _ in case["calibration"]])
    offsets = np.array([o for _, o in case["calibration"]])
    return (estimate - offsets) / gains


def psnr(case: dict, estimate: np.ndarray) -> float:
    error = _in_clean_units(case, estimate) - case["clean"]
    return 10 * math.log10(255**2 / float(np.mean(error**2)))


# --------------------------------------------------------------------------- peers


class Anscombe:
    """The generalised Anscombe transform of Poisson-Gaussian noise and its inverse.

    The noise's variance is ``gain * mean + variance`` (fitted on the noisy
    channel alone: ``napari_dip.imaging.noise.noise_levels``); after the
    transform it is about 1 everywhere.  The inverse is Makitalo and Foi's
    closed-form approximation of the exact unbiased inverse (IEEE TIP 2011,
    2013), not the algebraic one, which is biased at low counts.
    """

    def __init__(self, channel: np.ndarray):
        from napari_dip.imaging.noise import noise_levels

        means, variances = noise_levels(channel)
        gain, variance = np.polyfit(means, variances, 1)
        # No growth with the signal: Gaussian noise, for which the transform is a scale.
        self.gain = max(float(gain), 1e-3 * max(float(variances.mean()), 1e-12))
        self.read = float(variance) / self.gain**2  # read noise's variance, in counts

    def forward(self, x: np.ndarray) -> np.ndarray:
        return 2 * np.sqrt(np.maximum(x / self.gain + 3 / 8 + self.read, 0))

    def inverse(self, d: np.ndarray) -> np.ndarray:
        d = np.maximum(d, 0.8)  # where the closed form holds
        r = math.sqrt(1.5)
        counts = d**2 / 4 + r / (4 * d) - 11 / (8 * d**2) + 5 * r / (8 * d**3) - 1 / 8
        return self.gain * (counts - self.read)


def _classical(name: str, sigma: float, channel: np.ndarray):
    """``denoise(channel, factor)`` and the keyword calibrate_denoiser varies."""
    import bm3d
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    if name == "VST+BM3D":
        vst = Anscombe(channel)
        return (
            lambda x, sigma_psd: vst.inverse(bm3d.bm3d(vst.forward(x), sigma_psd=sigma_psd)),
            "sigma_psd",
        )
    if name == "BM3D":
        return (lambda x, sigma_psd: bm3d.bm3d(x, sigma_psd=sigma_psd)), "sigma_psd"
    if name == "NLM":
        return (lambda x, h: denoise_nl_means(x, h=h, sigma=sigma, **NLM_PATCH)), "h"
    return (lambda x, weight: denoise_tv_chambolle(x, weight=weight)), "weight"


def classical(case: dict) -> dict:
    """Each method at its best grid factor (oracle) and as calibrate_denoiser sets it."""
    from skimage.restoration import calibrate_denoiser, estimate_sigma

    noisy = case["noisy"] / 255
    channels = range(noisy.shape[-1])
    sigmas = [float(estimate_sigma(noisy[..., c])) for c in channels]
    scales = {  # what the grids multiply: the estimated sigma, or 1 after the transform
        name: [1.0] * len(sigmas) if name.startswith("VST") else sigmas for name in GRIDS
    }
    results = {}
    for name, factors in GRIDS.items():
        grid = []
        for factor in factors:
            start = time.perf_counter()
            out = []
            for c in channels:
                denoise, keyword = _classical(name, sigmas[c], noisy[..., c])
                out.append(denoise(noisy[..., c], **{keyword: factor * scales[name][c]}))
            seconds = time.perf_counter() - start
            grid.append(
                {"factor": factor, "psnr": psnr(case, np.stack(out, -1) * 255), "time_s": seconds}
            )
        best = max(grid, key=lambda point: point["psnr"])
        start = time.perf_counter()
        out, chosen = [], []
        for c in channels:
            denoise, keyword = _classical(name, sigmas[c], noisy[..., c])
            tuned, (parameters, losses) = calibrate_denoiser(
                noisy[..., c],
                denoise,
                {keyword: [f * scales[name][c] for f in factors]},
                extra_output=True,
            )
            out.append(tuned(noisy[..., c]))
            chosen.append(parameters[int(np.argmin(losses))][keyword] / scales[name][c])
        calibrated = {
            "factors": chosen,
            "psnr": psnr(case, np.stack(out, -1) * 255),
            "time_s": time.perf_counter() - start,
        }
        results[name] = {"grid": grid, "best": best, "calibrated": calibrated}
    return {"sigma_estimates": [s * 255 for s in sigmas], "methods": results}


def zero_shot_noise2noise(noisy: np.ndarray, iterations: int = 2000, seed: int = 0) -> np.ndarray:
    """ZS-N2N from the paper's description: a 2-layer net fitted on two diagonal half-images.

    ``noisy`` is (Y, X, C) in [0, 1].  The paper's net: 3x3 convolutions to 48
    channels, LeakyReLU 0.2, again, a 1x1 convolution predicting the noise;
    Adam, learning rate 1e-3 halved after 1500 iterations; loss: each
    half-image predicted from the other, plus consistency with the halves of
    the denoised full image.
    """
    torch.manual_seed(seed)
    y = torch.from_numpy(np.ascontiguousarray(np.moveaxis(noisy, -1, 0), np.float32))[None]
    channels = y.shape[1]
    net = torch.nn.Sequential(
        torch.nn.Conv2d(channels, 48, 3, padding=1),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(48, 48, 3, padding=1),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Conv2d(48, channels, 1),
    )
    first = torch.tensor([[[[0.0, 0.5], [0.5, 0.0]]]]).repeat(channels, 1, 1, 1)
    second = torch.tensor([[[[0.5, 0.0], [0.0, 0.5]]]]).repeat(channels, 1, 1, 1)

    def half(x, taps):
        return F.conv2d(x, taps, stride=2, groups=channels)

    def denoise(x):
        return x - net(x)

    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1500, gamma=0.5)
    a, b = half(y, first), half(y, second)
    for _ in range(iterations):
        from_b, from_a = denoise(b), denoise(a)
        residual = 0.5 * (F.mse_loss(a, from_b) + F.mse_loss(b, from_a))
        full = denoise(y)
        consistency = 0.5 * (
            F.mse_loss(from_a, half(full, first)) + F.mse_loss(from_b, half(full, second))
        )
        optimizer.zero_grad()
        (residual + consistency).backward()
        optimizer.step()
        schedule.step()
    with torch.no_grad():
        return np.moveaxis(denoise(y)[0].numpy(), 0, -1)


# --------------------------------------------------------------------------- napari-dip


def dip(case: dict, preset: str, max_iter: int | None) -> tuple[dict, np.ndarray | None]:
    noisy = case["noisy"].astype(np.float32)
    restoration = napari_dip.Restoration(
        "denoise", noisy, axes="YXC", preset=preset, seed=0, max_iter=max_iter
    )
    start = time.perf_counter()
    result = restoration.run()
    seconds = time.perf_counter() - start
    info = restoration.info
    record = {
        "recipe": info.preset,
        "psnr": psnr(case, result),
        "time_s": seconds,
        "iterations": info.iterations,
        "stop_reason": info.stop_reason,
        "threads": info.threads_used,
    }
    if restoration.uncertainty is not None:
        record["uncertainty"] = calibration(case, result, restoration.uncertainty)
    return record, restoration.uncertainty


def calibration(case: dict, result: np.ndarray, spread: np.ndarray) -> dict:
    """Predicted spread against the actual error, both in the noisy image's units.

    Pixels are binned by deciles of the spread; in each bin, the RMS of the
    spread beside the RMS of the error.
    """
    gains = np.array([g for g, _ in case["calibration"]])
    truth = case["clean"] * gains + np.array([o for _, o in case["calibration"]])
    error = np.abs(np.asarray(result, np.float64).reshape(truth.shape) - truth).ravel()
    spread = np.asarray(spread, np.float64).reshape(truth.shape).ravel()
    edges = np.quantile(spread, np.linspace(0, 1, UNCERTAINTY_BINS + 1))
    which = np.clip(np.searchsorted(edges, spread, side="right") - 1, 0, UNCERTAINTY_BINS - 1)
    bins = [
        {
            "spread_rms": float(np.sqrt(np.mean(spread[which == b] ** 2))),
            "error_rms": float(np.sqrt(np.mean(error[which == b] ** 2))),
        }
        for b in range(UNCERTAINTY_BINS)
        if np.any(which == b)
    ]
    return {
        "bins": bins,
        "correlation": float(np.corrcoef(spread, error)[0, 1]),
        "spread_rms": float(np.sqrt(np.mean(spread**2))),
        "error_rms": float(np.sqrt(np.mean(error**2))),
    }


# --------------------------------------------------------------------------- run and report


def measure(size: int, max_iter: int | None, zs_iterations: int) -> dict:
    report = {
        "source": SOURCE,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} CPUs, torch {torch.__version__}",
        "size": size,
        "cases": [],
    }
    for case in cases(size):
        print(f"{case['name']}...", flush=True)
        entry = {
            "name": case["name"],
            "noise": case["noise"],
            "noisy_psnr": psnr(case, case["noisy"]),
        }
        for preset in PRESETS:
            entry[preset], _ = dip(case, preset, max_iter)
            print(f"  {preset}: {entry[preset]['psnr']:.2f} dB, {entry[preset]['time_s']:.0f} s")
        entry["classical"] = classical(case)
        start = time.perf_counter()
        out = zero_shot_noise2noise(case["noisy"] / 255, zs_iterations)
        entry["zs_n2n"] = {"psnr": psnr(case, out * 255), "time_s": time.perf_counter() - start}
        report["cases"].append(entry)
    return report


def _cell(record: dict) -> str:
    return f"{record['psnr']:.2f} ({_seconds(record['time_s'])})"


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def render(report: dict) -> str:
    cases = report["cases"]
    lines = [
        "| method | " + " | ".join(case["name"] for case in cases) + " |",
        "|---|" + "---|" * len(cases),
        "| noisy input | " + " | ".join(f"{case['noisy_psnr']:.2f}" for case in cases) + " |",
    ]
    for preset in PRESETS:
        row = [f"{_cell(case[preset])}, {case[preset]['iterations']} it" for case in cases]
        lines.append(f"| **napari-dip `{preset}`** | " + " | ".join(row) + " |")
    for name in GRIDS:
        for key, label in (
            ("best", "best of grid (needs the clean image)"),
            ("calibrated", "calibrate_denoiser"),
        ):
            row = [_cell(case["classical"]["methods"][name][key]) for case in cases]
            lines.append(f"| {name}, {label} | " + " | ".join(row) + " |")
    lines.append(
        "| Zero-Shot Noise2Noise | " + " | ".join(_cell(c["zs_n2n"]) for c in cases) + " |"
    )
    lines += [
        "",
        "Targets: the presets minus the anchor, the better of BM3D and VST+BM3D at their best "
        "sigma (dB).",
        "",
    ]
    lines.append("| preset | " + " | ".join(case["name"] for case in cases) + " |")
    lines.append("|---|" + "---|" * len(cases))
    lines.append("| anchor | " + " | ".join(f"{anchor(case):.2f}" for case in cases) + " |")
    for preset in PRESETS:
        row = [f"{case[preset]['psnr'] - anchor(case):+.2f}" for case in cases]
        lines.append(f"| `{preset}` | " + " | ".join(row) + " |")
    return "\n".join(lines)


def anchor(case: dict) -> float:
    """The issue's bar: the better of BM3D and VST+BM3D, each at its best sigma."""
    methods = case["classical"]["methods"]
    return max(methods[name]["best"]["psnr"] for name in ("BM3D", "VST+BM3D"))


def render_uncertainty(report: dict) -> str:
    """The uncertainty's calibration: correlation, RMS values, error over spread per decile."""
    lines = [
        "Pixels binned by deciles of the predicted spread; both in the noisy image's units.",
        "",
    ]
    lines.append(
        "| case, preset | correlation | RMS spread | RMS error | RMS error / RMS spread, lowest to highest decile |"
    )
    lines.append("|---|---|---|---|---|")
    for case in report["cases"]:
        for preset in PRESETS:
            u = case[preset].get("uncertainty")
            if u is None:
                continue
            ratios = ", ".join(f"{b['error_rms'] / b['spread_rms']:.1f}" for b in u["bins"])
            lines.append(
                f"| {case['name']}, `{preset}` | {u['correlation']:.2f} | {u['spread_rms']:.2f} | "
                f"{u['error_rms']:.2f} | {ratios} |"
            )
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = report["cases"]
    fig, axes = plt.subplots(1, len(cases), figsize=(4.5 * len(cases), 4), squeeze=False)
    for ax, case in zip(axes[0], cases):
        top = 0.0
        for preset, colour in zip(PRESETS, ("tab:orange", "tab:green")):
            u = case[preset].get("uncertainty")
            if u is None:
                continue
            x = [b["spread_rms"] for b in u["bins"]]
            y = [b["error_rms"] for b in u["bins"]]
            top = max(top, *x, *y)
            ax.plot(x, y, "o-", color=colour, label=f"{preset} (r = {u['correlation']:.2f})")
        ax.plot([0, top], [0, top], "k:", linewidth=1, label="error = spread")
        ax.set_title(case["name"])
        ax.set_xlabel("predicted spread, RMS per decile")
        ax.set_ylabel("actual error, RMS per decile")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the measurements there")
    parser.add_argument(
        "--render", type=Path, help="measure nothing: render the measurements of this JSON file"
    )
    parser.add_argument(
        "--docs",
        action="store_true",
        help="rewrite the tables in docs/benchmarks.md and docs/uncertainty.md, and the plot",
    )
    parser.add_argument(
        "--quick", action="store_true", help="64x64 crops and short fits: checks the script runs"
    )
    args = parser.parse_args()
    if args.render:
        report = json.loads(args.render.read_text())
    else:
        size, max_iter, zs_iterations = (64, 30, 100) if args.quick else (256, None, 2000)
        report = measure(size, max_iter, zs_iterations)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    comparison, uncertainty = render(report), render_uncertainty(report)
    print(f"{comparison}\n\n{uncertainty}")
    if args.docs:
        size = report["size"]
        stamp = f"Measured {report['date']} on {report['machine']}, {size}x{size} crops, one run."
        replace_table(
            DOCS,
            "quality table",
            f"{stamp}\n\n{comparison}\n\nUncertainty against the actual error "
            f"([uncertainty.md](uncertainty.md)):\n\n{uncertainty}",
            report["source"],
        )
        plot(report, PLOT)
        replace_table(
            UNCERTAINTY_DOCS,
            "uncertainty table",
            f"{stamp}\n\n![Actual error against predicted spread]({PLOT.name})\n\n{uncertainty}",
            report["source"],
        )


if __name__ == "__main__":
    main()
