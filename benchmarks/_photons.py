"""What the photon-limited benchmarks share: clean images in photons, their PSNR, and results
kept as JSON lines, so that methods can run in separate processes and a table be rendered from
whatever is there."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from inpainting import load

import napari_dip


def in_photons(name: str, dark: float, bright: float) -> np.ndarray:
    """A 256x256 clean image ``(C, Y, X)`` scaled, channel by channel, from ``dark`` photons
    (its darkest pixel) to ``bright`` (its brightest)."""
    clean, axes = load(name)
    if axes == "YXC":
        clean = np.moveaxis(clean, -1, 0)
    clean = clean[None] if clean.ndim == 2 else clean
    clean = clean.astype(np.float64)
    low = clean.min(axis=(-2, -1), keepdims=True)
    high = clean.max(axis=(-2, -1), keepdims=True)
    return dark + (bright - dark) * (clean - low) / (high - low)


def psnr(estimate: np.ndarray, photons: np.ndarray) -> float:
    """The mean over channels (the first axis) of the PSNR over each channel's clean peak."""
    return float(
        np.mean(
            [10 * np.log10(p.max() ** 2 / np.mean((e - p) ** 2)) for e, p in zip(estimate, photons)]
        )
    )


def add_row(rows: Path, row: dict) -> None:
    print(row, flush=True)
    with rows.open("a") as file:
        file.write(json.dumps(row) + "\n")


def read_rows(rows: Path) -> list[dict]:
    return [json.loads(line) for line in rows.read_text().splitlines()] if rows.exists() else []


def arguments(description: str, methods: tuple, images: tuple) -> argparse.ArgumentParser:
    """The options both scripts take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=Path, required=True, help="JSON-lines file of results")
    parser.add_argument("--methods", nargs="*", default=methods, choices=methods)
    parser.add_argument("--images", nargs="*", default=images)
    parser.add_argument("--seeds", nargs="+", type=int, default=(0, 1))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--docs", action="store_true", help="rewrite the table in the docs")
    return parser


def warm_up() -> None:
    """Pay what a process's first fit pays (setting up kernels; the first estimate times the
    machine) before measuring, so that the first case's times are like the others'."""
    run = napari_dip.Restoration("denoise", np.ones((64, 64), np.float32), max_iter=5)
    run.estimate()
    run.run()


def measure_all(
    args: argparse.Namespace,
    cases: list[tuple[str, int]],
    measure: Callable[[str, int, str, int], dict],
    render: Callable[[list[dict]], str],
) -> tuple[list[dict], str]:
    """Run each method on each case, keeping each row as it comes; then every row kept so far
    (this run's and earlier ones') and their table."""
    warm_up()
    for name, seed in cases:
        for method in args.methods:
            add_row(args.rows, measure(name, seed, method, args.threads))
    rows = read_rows(args.rows)
    table = render(rows)
    print(table)
    return rows, table


def stamp(rows: list[dict], what: str) -> str:
    """The line above a table: when, how many runs, of what, on which machine."""
    return (
        f"Measured up to {time.strftime('%Y-%m-%d %H:%M')}, {len(rows)} runs, {what}, PSNR in "
        "photons, 2-core CPU, one thread per run, up to five runs at once (the times show "
        "orders of magnitude only)."
    )


def by_case(rows: list[dict], order: tuple) -> tuple[dict, list[tuple[str, int]]]:
    """Rows by (image, seed, method), and the (image, seed) cases in ``order``'s order."""
    found = {(r["image"], r["seed"], r["method"]): r for r in rows}
    cases = {(r["image"], r["seed"]) for r in rows}
    return found, sorted(cases, key=lambda case: (order.index(case[0]), case[1]))


def summary(subject: str, gains: dict[str, list[float]]) -> list[str]:
    """Markdown lines: the mean, worst and best gain of ``subject`` against each method."""
    lines = ["", f"| {subject} against | cases | mean | worst | best |", "|---|---|---|---|---|"]
    for label, values in gains.items():
        if values:
            lines.append(
                f"| {label} | {len(values)} | {np.mean(values):+.2f} dB "
                f"| {min(values):+.2f} dB | {max(values):+.2f} dB |"
            )
    return lines
