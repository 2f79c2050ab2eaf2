"""The guide image of a guided restoration: its layout, checks and intensities.

A guide is 2D (Y, X) or carries a channel axis first or last; it is brought
to ``(G, Y, X)`` and each of its channels to [0, 1] between its 0.1 and 99.9
percentiles (a few hot or dead pixels do not squash the rest), the range the
networks' input code has.
"""

from __future__ import annotations

import numpy as np

from .checks import as_array

__all__ = ["check_guide_shape", "check_not_the_image", "normalised_guide"]

#: Percentiles of a guide channel mapped to 0 and 1.
GUIDE_RANGE = (0.1, 99.9)
#: Correlation of pixel-to-pixel variations above which a guide is the image itself.
SAME_NOISE = 0.99


def check_guide_shape(shape: tuple[int, ...], yx: tuple[int, int], what: str) -> bool:
    """Whether the guide's channel axis is last (else first, or none); ValueError when
    its Y and X are not ``yx`` (``what`` names that grid in the message)."""
    shape = tuple(shape)
    if shape[-2:] == tuple(yx):
        return False
    if len(shape) == 3 and shape[:2] == tuple(yx):
        return True
    raise ValueError(
        f"guide has shape {shape}; its Y and X must be {what}'s, {yx[0]} x {yx[1]} "
        "(a channel axis may come first or last)"
    )


def normalised_guide(guide, yx: tuple[int, int], what: str) -> np.ndarray:
    """The guide as ``(G, Y, X)`` float32 in [0, 1], a new array (``guide`` is not changed).

    Refused with ValueError: a NaN or infinite value, or a channel that is constant
    (it holds no structure to guide with).
    """
    array = as_array(guide, "guide")
    channels_last = check_guide_shape(array.shape, yx, what)
    array = array.astype(np.float64)  # a copy
    if array.ndim == 2:
        array = array[np.newaxis]
    elif channels_last:
        array = np.moveaxis(array, -1, 0)
    if not np.isfinite(array).all():
        raise ValueError("guide has NaN or infinite values")
    planes = []
    for index, channel in enumerate(array):
        low, high = np.percentile(channel, GUIDE_RANGE)
        if not high > low:
            low, high = channel.min(), channel.max()
        if not high > low:
            raise ValueError(
                f"guide channel {index} is constant ({low:g}): it has no structure to guide with"
            )
        planes.append(np.clip((channel - low) / (high - low), 0.0, 1.0))
    return np.stack(planes).astype(np.float32)


def _fine(plane: np.ndarray) -> np.ndarray:
    """Second differences along X: the pixel-to-pixel variations, noise first."""
    return (plane[:, :-2] - 2 * plane[:, 1:-1] + plane[:, 2:]).ravel()


def check_not_the_image(guide: np.ndarray, planes: np.ndarray) -> None:
    """ValueError when a guide channel varies from pixel to pixel as one of the image's
    ``planes`` (``(C, Y, X)``) does: a copy of the image holds its noise, held-out pixels
    included, so the fit would learn the noise from it and its score could not tell.
    Independent images of the same field, even clean ones, correlate far less (0.0-0.2
    on the FMD pairs; the image with noise of 30% of its spread added, 0.9)."""
    for g, guide_plane in enumerate(guide):
        for c, plane in enumerate(planes):
            a, b = _fine(guide_plane.astype(np.float64)), _fine(plane.astype(np.float64))
            if a.std() == 0 or b.std() == 0:
                continue
            if np.corrcoef(a, b)[0, 1] >= SAME_NOISE:
                raise ValueError(
                    f"guide channel {g} is the image's channel {c} itself (or a copy of it): a "
                    "guide must be another acquisition, whose noise is its own"
                )
