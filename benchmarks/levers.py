"""Denoising levers, each measured on the same network fit: what the default's fusion is worth.

For each case of ``quality.py`` (FISH, BPAE, F16; 256x256), one fit of the
default recipe *without* its fusion (seed 0, automatic stop), then, from its
members' estimates and the pixels its stop held out, every way of combining it
with a classical prior that was tried:

- the network alone (the members' mean as the library takes it, and plain);
- the fusion as shipped (``core.fusion.fuse_members``: the Wiener filter the
  network steers, its patch, scale and weight chosen on the held-out pixels),
  and the same filter at the best grid point (an oracle: it needs the clean
  image), and run twice (its result steering a second pass);
- the filter after a generalised Anscombe transform (noise gain and offset
  fitted on the held-out residuals), inverted with Makitalo and Foi's
  unbiased inverse;
- with BM3D (an optional, non-commercial package): the network's estimate
  blended with BM3D, BM3D's sigma and the weight chosen on the held-out
  pixels the same way; and BM3D's own Wiener stage steered by the network.

Times are those of the combination alone (the fit's is given once per case).

Usage::

    python benchmarks/levers.py [--json out.json] [--docs] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _pages import replace_table, source_of
from quality import Anscombe, cases, psnr

from napari_dip import resolve_preset
from napari_dip.core.data_terms import Gaussian
from napari_dip.core.fit import Fit, _member_mean
from napari_dip.core.fusion import (
    FUSION_GRID,
    blend_weight,
    fill_unseen,
    fitted_residual_power,
    fuse_members,
    wiener_filter,
)
from napari_dip.core.operators import Identity
from napari_dip.imaging.intensity import Intensity

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BM3D_FACTORS = (0.8, 1.0, 1.25, 1.6, 2.0)  # of the noise sigma the held-out residual gives
SOURCE = source_of(__file__)


class Case:
    """One case's fit without fusion, and what each lever needs from it."""

    def __init__(self, case: dict, max_iter: int | None):
        self.case = case
        channels = np.moveaxis(case["noisy"], -1, 0)
        self.intensity = Intensity(channels)
        target = torch.from_numpy(self.intensity.normalise(channels).astype(np.float32))[None]
        recipe = replace(resolve_preset("default", "denoise"), fuse=False)
        fit = Fit(
            target,
            Identity(),
            recipe,
            target.shape[2:],
            max_iter=max_iter or recipe.max_iter,
            auto_stop=True,
            seed=0,
        )
        start = time.perf_counter()
        for _ in fit.snapshots(every=10**9):
            pass
        self.fit_seconds, self.iterations = time.perf_counter() - start, fit.iteration
        self.fit = fit
        self.y = fit.target
        self.members = fit.estimates
        self.held, self.fitted = fit.holdout.held, fit.holdout.fitted

    def score(self, estimate: torch.Tensor) -> float:
        """PSNR of a normalised ``(1, C, Y, X)`` or ``(C, Y, X)`` estimate."""
        array = estimate.reshape(self.y.shape[1:]).double().numpy()
        return psnr(self.case, np.moveaxis(self.intensity.denormalise(array), 0, -1))

    def mean(self, members: torch.Tensor) -> torch.Tensor:
        return _member_mean(members, self.fit._member_weights)

    def held_out(self, estimates) -> float:
        term = Gaussian()
        return sum(float(term(e[None], self.held[k : k + 1])) for k, e in enumerate(estimates))

    def blend(self, scored, final) -> list[torch.Tensor]:
        """``final`` blended with the members by the held-out weight of ``scored``."""
        weight = blend_weight(scored, self.members, self.y[0], self.held)
        return [weight * f + (1 - weight) * m for f, m in zip(final, self.members)]


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def levers(case: Case) -> list[dict]:
    rows = []

    def row(name, estimate, seconds, note=""):
        rows.append({"lever": name, "psnr": case.score(estimate), "time_s": seconds, "note": note})

    row("network alone (the library's mean of members)", case.mean(case.members), 0.0)
    row("network alone, plain mean of members", case.members.mean(0), 0.0)
    def fuse(grid=FUSION_GRID):
        block = case.fit.holdout.block
        return fuse_members(case.members, case.y, case.held, case.fitted, Gaussian(), block, grid)

    (fused, choice), seconds = _timed(fuse)
    note = f"patch {choice.patch}, scale {choice.scale}, weight {choice.weight:.2f}"
    row("**fusion with the Wiener filter it steers (shipped)**", case.mean(fused), seconds, note)
    row("fusion as shipped, plain mean of members", fused.mean(0), seconds)
    oracle = [
        (case.score(case.mean(fuse(grid=(setting,))[0])), *setting) for setting in FUSION_GRID
    ]
    best = max(oracle)
    rows.append(
        {
            "lever": "the same filter at the best grid point (oracle)",
            "psnr": best[0],
            "time_s": float("nan"),
            "note": f"patch {best[1]}, scale {best[2]}",
        }
    )
    patch, scale = (choice.patch, choice.scale) if choice.weight else FUSION_GRID[0]
    second, seconds = _timed(
        lambda: torch.stack([wiener_filter(case.y[0], f, patch, scale) for f in fused])
    )
    twice = "the filter run twice (the fused result steering a second pass)"
    row(twice, case.mean(second), seconds)
    vst = _timed(lambda: _vst_filter(case, patch, scale))
    row("filter after a variance-stabilising transform", *vst)
    try:
        import bm3d  # noqa: F401
    except ImportError:
        return rows
    blend = _timed(lambda: _bm3d_blend(case))
    row("blend with BM3D (sigma and weight chosen on held-out pixels)", *blend)
    steered = _timed(lambda: _bm3d_wiener(case))
    row("BM3D's Wiener stage steered by the network (sigma on held-out)", *steered)
    return rows


def _vst_filter(case: Case, patch: int, scale: float) -> torch.Tensor:
    """The fusion's filter (its chosen settings) in the generalised Anscombe domain, per channel."""
    out = []
    for c in range(case.y.shape[1]):
        y = case.y[0, c].double().numpy()
        vst = Anscombe(y)
        members = []
        for m in case.members[:, c].double().numpy():
            d = torch.from_numpy(vst.forward(y))[None]
            pilot = torch.from_numpy(vst.forward(m))[None]
            members.append(vst.inverse(wiener_filter(d, pilot, patch, scale)[0].numpy()))
        out.append(np.stack(members))
    return case.mean(torch.from_numpy(np.stack(out, 1)).float())


def _bm3d_sigmas(case: Case) -> np.ndarray:
    """The noise sigma per channel from the members' held-out residuals."""
    squares = [
        ((case.y[0] - m)[:, case.held[k, 0] > 0] ** 2).mean(1) for k, m in enumerate(case.members)
    ]
    return torch.stack(squares).mean(0).sqrt().numpy()


def _bm3d(image: torch.Tensor, sigmas, pilots=None) -> torch.Tensor:
    import bm3d

    out = []
    for c, sigma in enumerate(sigmas):
        stage = bm3d.BM3DStages.ALL_STAGES if pilots is None else pilots[c].double().numpy()
        out.append(bm3d.bm3d(image[c].double().numpy(), float(sigma), stage_arg=stage))
    return torch.from_numpy(np.stack(out)).float()


def _bm3d_chosen(case: Case, pilot_of) -> tuple[list, list]:
    """BM3D's sigma chosen on each member's filled image, scored at its held-out pixels;
    the scored runs and the runs on the data at that sigma."""
    sigmas = _bm3d_sigmas(case)
    fills = [fill_unseen(case.y[0], m, case.fitted[k]) for k, m in enumerate(case.members)]
    trials = []
    for factor in BM3D_FACTORS:
        scored = [_bm3d(fills[k], factor * sigmas, pilot_of(k)) for k in range(len(fills))]
        trials.append((case.held_out(scored), factor, scored))
    _, factor, scored = min(trials, key=lambda t: t[0])
    final = [_bm3d(case.y[0], factor * sigmas, pilot_of(k)) for k in range(len(fills))]
    return scored, final


def _bm3d_blend(case: Case) -> torch.Tensor:
    scored, final = _bm3d_chosen(case, lambda k: None)
    blended = case.blend(scored, final)
    return case.mean(torch.stack(blended))


def _bm3d_wiener(case: Case) -> torch.Tensor:
    _, final = _bm3d_chosen(case, lambda k: case.members[k])
    return case.mean(torch.stack(final))


def render(report: dict) -> str:
    names = [case["name"] for case in report["cases"]]
    lines = [
        "| lever | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| network fit (time, iterations) | "
        + " | ".join(f"{c['fit_s']:.0f} s, {c['iterations']} it" for c in report["cases"])
        + " |",
    ]
    for i, first in enumerate(report["cases"][0]["levers"]):
        cells = []
        for case in report["cases"]:
            lever = case["levers"][i]
            cell = f"{lever['psnr']:.2f}"
            if lever["time_s"] == lever["time_s"]:  # not NaN
                cell += f" (+{lever['time_s']:.1f} s)"
            if lever["note"]:
                cell += f"; {lever['note']}"
            cells.append(cell)
        lines.append(f"| {first['lever']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--docs", action="store_true", help="rewrite docs/benchmarks.md's levers table"
    )
    parser.add_argument("--quick", action="store_true", help="64x64 crops, 60 iterations")
    args = parser.parse_args()
    size, max_iter = (64, 60) if args.quick else (256, None)
    report = {
        "source": SOURCE,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} CPUs, torch {torch.__version__}",
        "cases": [],
    }
    for case in cases(size):
        print(f"{case['name']}...", flush=True)
        fitted = Case(case, max_iter)
        with torch.no_grad():
            rows = levers(fitted)
        for lever in rows:
            print(f"  {lever['psnr']:.2f}  {lever['lever']}", flush=True)
        report["cases"].append(
            {
                "name": case["name"],
                "fit_s": fitted.fit_seconds,
                "iterations": fitted.iterations,
                "levers": rows,
            }
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    table = render(report)
    print(table)
    if args.docs:
        stamp = f"Measured {report['date']} on {report['machine']}, {size}x{size} crops, one run."
        replace_table(DOCS, "levers table", f"{stamp}\n\n{table}", report["source"])


if __name__ == "__main__":
    main()
