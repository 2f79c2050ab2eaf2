"""Which noise model the data look like: photon counts (Poisson) or not (Gaussian).

Photon counts have a variance that grows in proportion to their mean, from
zero at zero photons.  ``suggest_noise`` measures the noise variance against
the mean in small blocks of a plane (the variance from second differences between
neighbouring pixels, so that smooth structure does not count), fits a line,
and reads two things off it: whether the variance grows with the mean, and
where it would reach zero: the level of zero photons, a camera's offset.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["NoiseSuggestion", "noise_levels", "suggest_noise"]

#: Side of the blocks whose mean and noise variance are compared.
BLOCK = 8
#: Groups of blocks of similar mean whose variances are pooled.
GROUPS = 12
#: Median of a squared standard normal: the median of the squares is this times their mean.
MEDIAN_OF_CHI2 = 0.4549
#: Correlation of variance with mean from which the noise is taken to grow with the signal.
TRACKS_MEAN = 0.8
#: The zero of the variance, as a fraction of the mean level, below which there is no offset.
NO_OFFSET = 0.2


class NoiseSuggestion(NamedTuple):
    """A noise model, its ``offset`` (the level of zero photons) and why, in a few words."""

    noise: str
    offset: float
    reason: str


def suggest_noise(plane) -> NoiseSuggestion:
    """The noise model that a 2D plane of intensities looks like, with its offset and why.

    Integer counts whose noise variance grows in proportion to their level
    from about zero are photon counts: ``"poisson"``.  Counts on an offset
    (the level at which the variance would vanish) come from a camera, whose
    read noise usually outweighs the few photons of dark areas: ``"gaussian"``
    (measured on such data in docs/noise.md), with the offset named for a
    Poisson fit.  Anything else is ``"gaussian"`` with an offset of 0.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_dip.imaging.noise import suggest_noise
    >>> counts = np.random.default_rng(0).poisson(np.linspace(1, 50, 128 * 128)).reshape(128, 128)
    >>> suggest_noise(counts)[:2]
    ('poisson', 0.0)
    >>> suggest_noise(counts + 100)[:2]  # on a camera offset of 100
    ('gaussian', 100.0)
    """
    array = np.asarray(plane)
    values = array.astype(np.float64)
    if array.dtype.kind not in "ui" and not np.array_equal(values, np.round(values)):
        return NoiseSuggestion("gaussian", 0.0, "not integer counts")
    height, width = (n // BLOCK * BLOCK for n in values.shape[-2:])
    if height < 4 * BLOCK or width < 4 * BLOCK:
        return NoiseSuggestion("gaussian", 0.0, "too small to tell")
    means, variances = noise_levels(values)
    if np.ptp(means) == 0 or np.ptp(variances) == 0:
        return NoiseSuggestion("gaussian", 0.0, "flat: nothing to tell")
    if np.corrcoef(means, variances)[0, 1] < TRACKS_MEAN:
        return NoiseSuggestion("gaussian", 0.0, "the noise does not grow with the signal")
    slope, intercept = np.polyfit(means, variances, 1)
    zero = -intercept / slope  # the level at which the variance would vanish
    if zero > NO_OFFSET * values[:height, :width].mean():
        offset = float(round(zero))
        return NoiseSuggestion(
            "gaussian",
            offset,
            f"camera counts on an offset of about {offset:g}, whose read noise likely outweighs "
            "the dark areas' photons; Poisson would fit the counts above the offset",
        )
    return NoiseSuggestion(
        "poisson", 0.0, "integer counts whose noise grows with the signal, from zero"
    )


def noise_levels(plane) -> tuple[np.ndarray, np.ndarray]:
    """The noise variance against the mean intensity of a 2D plane: ``GROUPS`` levels.

    The plane is cut into ``BLOCK``-sided blocks, pooled into groups of similar
    mean; each group's variance is the median (robust to edges) of the squared
    second differences along X, which cancel smooth gradients (for independent
    noise of variance v their square is 6 v on average).  A line fitted through
    them gives the gain and the offset of Poisson-Gaussian noise.
    """
    values = np.asarray(plane, dtype=np.float64)
    height, width = (n // BLOCK * BLOCK for n in values.shape[-2:])
    values = values[:height, :width]
    curvature = np.zeros_like(values)
    curvature[:, 1:-1] = values[:, :-2] - 2 * values[:, 1:-1] + values[:, 2:]
    curvature[:, 0], curvature[:, -1] = curvature[:, 1], curvature[:, -2]
    steps = curvature**2 / 6
    shape = (height // BLOCK, BLOCK, width // BLOCK, BLOCK)
    block_means = values.reshape(shape).mean(axis=(1, 3)).ravel()
    block_steps = steps.reshape(shape).transpose(0, 2, 1, 3).reshape(block_means.size, -1)
    groups = np.array_split(np.argsort(block_means), GROUPS)
    means = np.array([block_means[group].mean() for group in groups])
    variances = np.array([np.median(block_steps[group]) for group in groups]) / MEDIAN_OF_CHI2
    return means, variances
