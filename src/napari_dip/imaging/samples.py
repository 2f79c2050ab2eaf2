"""Sample images, made locally with a fixed seed (nothing is downloaded).

Soft-edged fluorescent nuclei with brighter nucleoli on a dim background,
imaged with few photons (Poisson noise) by a camera with an offset of 100 and
read noise, as 16-bit counts.  napari lists them under File > Open Sample
(``_napari.sample_data``); ``napari-dip demo`` restores the first.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PIXEL_UM", "SIZE", "damaged_cells", "faint_cells", "noisy_cells"]

SIZE = 160
#: Pixel size, so that results visibly carry the input's scale and units.
PIXEL_UM = 0.325


def _nuclei(rng: np.random.Generator, size: int) -> np.ndarray:
    """Noise-free fluorescence (in expected photons per pixel) of a field of nuclei."""
    y, x = np.mgrid[:size, :size].astype(np.float32)
    photons = np.full((size, size), 2.0, np.float32)
    for _ in range(14):
        cy, cx = rng.uniform(8, size - 8, 2)
        radius_y, radius_x = rng.uniform(9, 17, 2)
        angle = rng.uniform(0, np.pi)
        dy, dx = y - cy, x - cx
        along = (dy * np.cos(angle) + dx * np.sin(angle)) / radius_y
        across = (-dy * np.sin(angle) + dx * np.cos(angle)) / radius_x
        inside = 1 / (1 + np.exp((np.hypot(along, across) - 1) * 12))  # soft edge
        photons += rng.uniform(12, 30) * inside
        for _ in range(rng.integers(1, 4)):  # nucleoli
            ny, nx = cy + rng.uniform(-0.5, 0.5) * radius_y, cx + rng.uniform(-0.5, 0.5) * radius_x
            photons += rng.uniform(8, 16) * inside * np.exp(-((y - ny) ** 2 + (x - nx) ** 2) / 6)
    return photons


def _camera(rng: np.random.Generator, photons: np.ndarray) -> np.ndarray:
    """Photon counting plus a camera offset of 100 and read noise, as uint16 counts."""
    counts = rng.poisson(photons) + rng.normal(100, 2, photons.shape)
    return np.clip(np.round(counts), 0, 65535).astype(np.uint16)


def noisy_cells() -> np.ndarray:
    """Nuclei imaged with few photons: a denoising example (160 x 160, uint16)."""
    rng = np.random.default_rng(2018)
    return _camera(rng, _nuclei(rng, SIZE))


def damaged_cells() -> tuple[np.ndarray, np.ndarray]:
    """Nuclei with dead pixels and scratched lines, and the mask marking them (True =
    to be filled): an inpainting example."""
    rng = np.random.default_rng(2019)
    image = _camera(rng, 4 * _nuclei(rng, SIZE))
    defects = rng.random((SIZE, SIZE)) < 0.03
    for row in rng.integers(0, SIZE, 3):
        defects[row, rng.integers(0, SIZE // 2) :] = True
    for column in rng.integers(0, SIZE, 2):
        defects[: rng.integers(SIZE // 2, SIZE), column] = True
    image[defects] = rng.choice([0, 4000], size=int(defects.sum())).astype(np.uint16)
    return image, defects


def faint_cells() -> tuple[np.ndarray, np.ndarray]:
    """A short, low-dose exposure of nuclei and a long exposure of the same field: a
    guided-restoration example (the long one guides the short one)."""
    structure = _nuclei(np.random.default_rng(2020), SIZE)
    rng = np.random.default_rng(2021)
    faint = _camera(rng, 0.25 * structure)
    bright = _camera(rng, 8 * structure)  # its own photons and read noise
    return faint, bright
