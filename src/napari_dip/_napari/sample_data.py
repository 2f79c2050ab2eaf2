"""Sample data for File > Open Sample: the images of ``imaging.samples`` as napari layers,
with their pixel size."""

from __future__ import annotations

import numpy as np

from ..imaging import samples

_LAYOUT = {
    "scale": (samples.PIXEL_UM, samples.PIXEL_UM),
    "units": ("um", "um"),
    "axis_labels": ("y", "x"),
}


def noisy_cells():
    """Nuclei imaged with few photons: a denoising example (160 x 160, uint16)."""
    image = samples.noisy_cells()
    return [(image, {"name": "noisy cells", "colormap": "gray", **_LAYOUT}, "image")]


def damaged_cells():
    """Nuclei with dead pixels and scratched lines, and a Labels mask marking them.

    An inpainting example: the mask is nonzero where pixels are to be filled.
    """
    image, defects = samples.damaged_cells()
    return [
        (image, {"name": "damaged cells", "colormap": "gray", **_LAYOUT}, "image"),
        (defects.astype(np.uint8), {"name": "defects", "opacity": 0.5, **_LAYOUT}, "labels"),
    ]


def faint_cells():
    """A short, low-dose exposure of nuclei and a long exposure of the same field: a
    guided-restoration example (the long one guides the short one; 160 x 160, uint16)."""
    faint, bright = samples.faint_cells()
    return [
        (faint, {"name": "faint cells", "colormap": "gray", **_LAYOUT}, "image"),
        (bright, {"name": "long exposure", "colormap": "gray", **_LAYOUT}, "image"),
    ]
