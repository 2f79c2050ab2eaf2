"""What the photon-limited benchmarks share: clean images in photons, their PSNR, and results
kept as JSON lines, so that methods can run in separate processes and a table be rendered from
whatever is there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from inpainting import load


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
