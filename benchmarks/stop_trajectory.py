"""Where the denoising stop lands and what the fused result gains there, by tolerance: a fit run past its stop.

The default's recipe is fitted for ``--iterations`` iterations with a patience too long to end it,
on the noisy nuclei field of ``plane_sizes.py`` (at each ``--sizes``) or cases of ``speed.py``
(``--cases fish:0 ...`` at ``--case-size``).  Every iteration records the held-out score and the PSNR
of the smoothed estimate (the network alone); every ``--fuse-every`` iterations that estimate is
fused with the Wiener filter it steers, as a fit ending there would be, and its PSNR and held-out
score recorded (the data a stop on the fused score would see).
The recorded scores are then fed to the stop's own rule (``HoldoutStop``) with each tolerance:
where it would have ended the fit, the iteration it would have picked, and the fused PSNR there
(interpolated between fused iterations).  Rows go to a JSON-lines file as they come.

Usage::

    python benchmarks/stop_trajectory.py --rows stop_trajectory.jsonl [--sizes 256 512 1024]
        [--cases fish:0 bpae:1] [--case-size 256] [--iterations 1300] [--fuse-every 50]

The rows in ``benchmarks/stop_trajectory.jsonl``: ``--sizes 256 --iterations 700``, ``--sizes
512 --iterations 1000``, ``--sizes 1024``; ``--cases fish:0 fish:1 bpae:0 bpae:1 --iterations
700 --fuse-every 25``; ``--cases barbara:0 --case-size 512 --iterations 2000``.
Those rows came from this script's earlier forms, the same fits (the scores checked identical on
the nuclei 256 case): they stop one iteration short of ``--iterations``, and the nuclei 256 row has no
fused scores.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import plane_sizes
import speed
import tifffile
import torch

from napari_dip import resolve_preset
from napari_dip.core.data_terms import Gaussian
from napari_dip.core.fit import Fit
from napari_dip.core.fusion import fuse_members
from napari_dip.core.holdout import HoldoutStop
from napari_dip.core.operators import Identity

TOLERANCES = (0.0, 0.0005, 0.001, 0.002, 0.005)


def nuclei_case(size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """``plane_sizes``' noisy field at ``size``, its clean crop ``(1, Y, X)`` and the range."""
    small = torch.from_numpy(tifffile.imread(plane_sizes.DATA).astype(np.float32))[None, None]
    big = torch.nn.functional.interpolate(small, scale_factor=2, mode="bilinear")[0, 0].numpy()
    start = (big.shape[0] - size) // 2
    clean = big[start : start + size, start : start + size]
    return plane_sizes.field(size)[None], clean[None], float(big.max() - big.min())


def trajectory(noisy, psnr, seed: int, iterations: int, fuse_every: int) -> dict:
    """Scores and PSNRs of one fit run to ``iterations``; ``psnr`` takes an estimate in
    the units of ``noisy`` ``(C, Y, X)``."""
    low, high = float(noisy.min()), float(noisy.max())
    target = torch.from_numpy(((noisy - low) / (high - low)).astype(np.float32))[None]
    recipe = replace(resolve_preset("default", "denoise"), stop_patience=10**9)
    fit = Fit(
        target,
        Identity(),
        recipe,
        tuple(target.shape[2:]),
        max_iter=iterations + 1,  # the last iteration's snapshot is the fit's result
        auto_stop=True,
        seed=seed,
        threads=2,
    )
    scores, network, kept = [], [], {}
    start = time.perf_counter()
    for snapshot in fit.snapshots(every=1):
        if snapshot.done:
            break
        scores.append(snapshot.held_out)
        network.append(psnr(snapshot.smoothed * (high - low) + low))
        if snapshot.iteration % fuse_every == 0:
            kept[snapshot.iteration] = torch.from_numpy(np.array(snapshot.smoothed))[None]
    seconds = time.perf_counter() - start
    held, fitted, block = fit.holdout.held, fit.holdout.fitted, fit.holdout.block
    fused, fused_scores = {}, {}
    for iteration, estimate in kept.items():
        result, fusion = fuse_members(estimate, fit.target, held, fitted, Gaussian(), block)
        fused[iteration] = psnr(result[0].numpy() * (high - low) + low)
        fused_scores[iteration] = fusion.held_out_fused
    return {
        "scores": scores,
        "network": network,
        "fused": fused,
        "fused_scores": fused_scores,
        "block": block,
        "seconds_per_iteration": seconds / len(scores),
    }


def stops(row: dict) -> dict[float, tuple[int, int, float]]:
    """For each tolerance: where the default's rule ends the recorded fit, its pick, and
    the fused PSNR at the pick."""
    recipe = resolve_preset("default", "denoise")
    fused_at = sorted((int(k), v) for k, v in row["fused"].items())
    found = {}
    for tolerance in TOLERANCES:
        rule = HoldoutStop.for_fit(
            torch.zeros(1, 1, 8, 8),
            replace(recipe, stop_tolerance=tolerance),
            seed=0,
            warm_started=False,
        )
        end = len(row["scores"])
        for iteration, score in enumerate(row["scores"], start=1):
            rule.update(score, iteration)
            if rule.should_stop(iteration):
                end = iteration
                break
        pick = rule.best_iteration
        psnr = float(np.interp(pick, [k for k, _ in fused_at], [v for _, v in fused_at]))
        found[tolerance] = (end, pick, psnr)
    return found


def report(rows: list[dict]) -> str:
    lines = [
        "| case | " + " | ".join(f"tolerance {t:g}" for t in TOLERANCES) + " |",
        "|---|" + "---|" * len(TOLERANCES),
    ]
    for row in rows:
        found = stops(row)
        base = found[0.0][2]
        cells = [f"stop {e}, pick {p}: {v:.2f} dB ({v - base:+.2f})" for e, p, v in found.values()]
        lines.append(f"| {row['case']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, required=True)
    parser.add_argument("--sizes", nargs="*", type=int, default=())
    parser.add_argument("--cases", nargs="*", default=(), help="speed.py's cases, image:seed")
    parser.add_argument("--case-size", type=int, default=256, choices=(256, 512))
    parser.add_argument("--iterations", type=int, default=1300)
    parser.add_argument("--fuse-every", type=int, default=50)
    args = parser.parse_args()
    for size in args.sizes:
        noisy, clean, span = nuclei_case(size)
        psnr = lambda e, c=clean, s=span: float(  # noqa: E731
            10 * np.log10(s**2 / np.mean((np.asarray(e, np.float64) - c) ** 2))
        )
        row = trajectory(noisy, psnr, 0, args.iterations, args.fuse_every)
        with args.rows.open("a") as file:
            file.write(json.dumps({"case": f"nuclei {size}", **row}) + "\n")
    for case in args.cases:
        name, seed = case.split(":")
        found = speed.case(name, int(seed), args.case_size)
        row = trajectory(
            found["noisy"],
            lambda e, f=found: speed.psnr(f, e),
            int(seed),
            args.iterations,
            args.fuse_every,
        )
        with args.rows.open("a") as file:
            file.write(json.dumps({"case": f"{name} {seed} ({args.case_size})", **row}) + "\n")
    rows = [json.loads(line) for line in args.rows.read_text().splitlines()]
    print(report(rows))


if __name__ == "__main__":
    main()
