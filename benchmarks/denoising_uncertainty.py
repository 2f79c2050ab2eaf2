"""How well the default denoising's uncertainty predicts its actual error, on real noisy/clean pairs.

Each case is a 256x256 crop of ``speed.py``'s denoising benchmark: real noise (FMD's widefield
BPAE, W2S widefield fields 040, 080 and 100 against their 400-frame averages) or a BSD68 grey
image with Gaussian noise (sigma 25), two seeds each (the fit's seed; the Gaussian noise's
too).  ``napari_dip.denoise``'s default (one network, its fusion) restores it; its uncertainty,
the error its fusion predicts (``core.fusion.predicted_error``), is compared with the actual
error against the clean image (brought to the noisy image's gain and offset, channel by
channel, as ``speed.py`` does): per decile of the prediction the RMS error over the RMS
predicted, the share of pixels within one and two predicted standard deviations, the rank
correlation with the absolute error, and the prediction's time against the run's.  The
prediction's one constant (``ERROR_SCALE``) and its local noise window were set on the four
design images (``--images fish w2s_020 nuclei bsd015``), reported apart.  With ``--photons``
the cases are photon counts instead (``photon_counts.py``'s: each clean crop scaled to 1-50
photons, drawn with Poisson noise) restored with ``noise="poisson"``, the error against the clean
image in photons.

Usage::

    python benchmarks/denoising_uncertainty.py --rows benchmarks/denoising_uncertainty.jsonl
        [--images bpae ...] [--seeds 0 1] [--threads 2] [--photons] [--docs]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _pages import replace_table, source_of
from _photons import add_row, arguments, read_rows, warm_up
from _photons import psnr as photon_psnr
from inpainting import calibration
from photon_counts import photon_counts
from speed import case, psnr

import napari_dip
from napari_dip.core import fit as fit_module

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "uncertainty.md"
PLOT = HERE.parent / "docs" / "benchmarks-denoising-uncertainty.png"
#: This script as it is when the run begins: the docs page names it.
SOURCE = source_of(__file__)
IMAGES = ("bpae", "w2s_040", "w2s_080", "w2s_100", "bsd045", "bsd055")
DESIGN = ("fish", "w2s_020", "nuclei", "bsd015")
PHOTON_IMAGES = ("bpae", "fly", "bsd045")


class _Timed:
    """``fit_module.predicted_error`` with the seconds it took added up."""

    def __init__(self):
        self.seconds = 0.0
        self.original = fit_module.predicted_error

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def measure(name: str, seed: int, threads: int, noise: str = "gaussian") -> dict:
    if noise == "poisson":
        clean, noisy = photon_counts(name, seed)
    else:
        found = case(name, seed)
        noisy = found["noisy"].astype(np.float32)
    run = napari_dip.Restoration(
        "denoise", noisy, axes="CYX", noise=noise, seed=seed, threads=threads
    )
    timed = _Timed()
    fit_module.predicted_error = timed
    try:
        start = time.perf_counter()
        result = run.run()
        seconds = time.perf_counter() - start
    finally:
        fit_module.predicted_error = timed.original
    if noise == "poisson":
        error, quality = result - clean, photon_psnr(result, clean)
    else:
        gains, offsets = (np.array(v)[:, None, None] for v in zip(*found["calibration"]))
        error, quality = result - (gains * found["clean"] + offsets), psnr(found, result)
    return {
        "image": name,
        "seed": seed,
        "noise": noise,
        "design": name in DESIGN and noise == "gaussian",
        "psnr": quality,
        "iterations": run.info.iterations,
        "seconds": seconds,
        "uncertainty_seconds": timed.seconds,
        "kind": run.info.uncertainty,
        "uncertainty": calibration(run.uncertainty.ravel(), error.ravel()),
    }


#: The groups of cases the table reports apart, by (design, noise).
GROUPS = {
    (False, "gaussian"): "images it was not designed on",
    (False, "poisson"): 'photon counts (noise="poisson")',
    (True, "gaussian"): "design images",
}


def _group(row: dict) -> tuple[bool, str]:
    return row["design"], row.get("noise", "gaussian")


def _label(row: dict) -> str:
    if row["design"]:
        return f"{row['image']} (design)"
    return f"{row['image']}, photons" if _group(row)[1] == "poisson" else row["image"]


def render(rows: list[dict]) -> str:
    lines = [
        "| image | seed | PSNR | RMS error | RMS predicted | RMS error / predicted, per decile: "
        "min-max | within 1 | within 2 | rank correlation | its time / the run's |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = IMAGES + PHOTON_IMAGES + DESIGN
    groups = list(GROUPS)
    rows = sorted(rows, key=lambda r: (groups.index(_group(r)), order.index(r["image"]), r["seed"]))
    for row in rows:
        u = row["uncertainty"]
        error = np.sqrt(np.mean([b["error_rms"] ** 2 for b in u["bins"]]))
        predicted = np.sqrt(np.mean([b["predicted_rms"] ** 2 for b in u["bins"]]))
        lines.append(
            f"| {_label(row)} | {row['seed']} | {row['psnr']:.2f} | {error:.2f} | {predicted:.2f} "
            f"| {min(u['ratios']):.2f}-{max(u['ratios']):.2f} | {u['within_1']:.0%} "
            f"| {u['within_2']:.0%} | {u['rank_correlation']:.2f} "
            f"| {row['uncertainty_seconds'] / row['seconds']:.1%} |"
        )
    for group, label in GROUPS.items():
        chosen = [r for r in rows if _group(r) == group]
        if not chosen:
            continue
        ratios = np.array([r["uncertainty"]["ratios"] for r in chosen])
        inside = np.mean((ratios >= 0.67) & (ratios <= 1.5))
        within_1 = [r["uncertainty"]["within_1"] for r in chosen]
        within_2 = [r["uncertainty"]["within_2"] for r in chosen]
        ranks = [r["uncertainty"]["rank_correlation"] for r in chosen]
        shares = [r["uncertainty_seconds"] / r["seconds"] for r in chosen]
        lines += [
            "",
            f"The {len(chosen)} cases of {label}: {inside:.0%} of the deciles have a ratio "
            f"within 0.67-1.5 ({ratios.min():.2f}-{ratios.max():.2f} in all); within one "
            f"predicted standard deviation {min(within_1):.0%}-{max(within_1):.0%} of the "
            f"pixels, within two {min(within_2):.0%}-{max(within_2):.0%}; rank correlation "
            f"{min(ranks):.2f}-{max(ranks):.2f}; the prediction takes {min(shares):.1%}-"
            f"{max(shares):.1%} of the run's time.",
        ]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in GROUPS if any(_group(r) == g for r in rows)]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 4), sharey=True)
    for ax, group in zip(np.atleast_1d(axes), groups):
        top = 0.0
        for row in (r for r in rows if _group(r) == group):
            ratio = row["uncertainty"]["ratios"]
            top = max(top, *ratio)
            label = f"{row['image']}, {row['seed']}"
            ax.plot(range(1, 11), ratio, "o-", markersize=3, linewidth=1, label=label)
        ax.axhspan(0.67, 1.5, color="tab:green", alpha=0.15, label="0.67-1.5")
        ax.axhline(1.0, color="k", linestyle=":", linewidth=1)
        ax.set_ylim(0, max(2.0, top * 1.05))
        ax.set_title(GROUPS[group])
        ax.set_xlabel("decile of the predicted uncertainty")
        ax.set_ylabel("RMS error / RMS predicted")
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = arguments(__doc__.splitlines()[0], ("default",), IMAGES)
    parser.add_argument("--photons", action="store_true", help="photon counts, noise='poisson'")
    args = parser.parse_args()
    noise = "poisson" if args.photons else "gaussian"
    warm_up()
    for name in args.images:
        for seed in args.seeds:
            add_row(args.rows, measure(name, seed, args.threads, noise))
    # A later row of a case replaces an earlier one.
    cases = {(r["image"], r["seed"], r.get("noise", "gaussian")): r for r in read_rows(args.rows)}
    rows = list(cases.values())
    table = render(rows)
    print(table)
    if args.docs:
        stamp = (
            f"Measured up to {time.strftime('%Y-%m-%d %H:%M')}, {len(rows)} runs, 256x256 crops, "
            f"2-core CPU, {args.threads} threads, the default preset."
        )
        replace_table(DOCS, "denoising uncertainty table", f"{stamp}\n\n{table}", SOURCE)
        plot(rows, PLOT)


if __name__ == "__main__":
    main()
