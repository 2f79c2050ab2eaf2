"""Which noise model the data look like: photon counts (Poisson) or not (Gaussian).

Photon counts have a variance that grows in proportion to their mean, from
zero at zero photons.  ``suggest_noise`` measures the noise variance against
the mean in small blocks of a plane (the variance from second differences between
neighbouring pixels, so that smooth structure does not count), fits a line,
and reads three things off it: whether the variance grows with the mean,
where it would reach zero (the camera's offset), and so whether the Poisson
data term applies as the data stand.
"""

from __future__ import annotations

import numpy as np

__all__ = ["suggest_noise"]

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


def suggest_noise(plane) -> tuple[str, str]:
    """``"poisson"`` or ``"gaussian"`` for a 2D plane of intensities, and why in a few words.

    Poisson needs values proportional to photon counts above a zero level of
    0; counts on a camera offset are suggested Gaussian, with the offset to
    subtract named in the reason.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_dip.imaging.noise import suggest_noise
    >>> counts = np.random.default_rng(0).poisson(np.linspace(1, 50, 128 * 128)).reshape(128, 128)
    >>> suggest_noise(counts)[0]
    'poisson'
    >>> suggest_noise(counts + 100)[1]  # doctest: +ELLIPSIS
    'photon counts on an offset of about 10...: subtract it to use Poisson'
    """
    array = np.asarray(plane)
    values = array.astype(np.float64)
    if array.dtype.kind not in "ui" and not np.array_equal(values, np.round(values)):
        return "gaussian", "not integer counts"
    height, width = (n // BLOCK * BLOCK for n in values.shape[-2:])
    if height < 4 * BLOCK or width < 4 * BLOCK:
        return "gaussian", "too small to tell"
    values = values[:height, :width]
    # Second differences along X cancel smooth gradients; for independent noise of variance v
    # their square is 6 v on average.
    curvature = np.zeros_like(values)
    curvature[:, 1:-1] = values[:, :-2] - 2 * values[:, 1:-1] + values[:, 2:]
    curvature[:, 0], curvature[:, -1] = curvature[:, 1], curvature[:, -2]
    steps = curvature**2 / 6
    shape = (height // BLOCK, BLOCK, width // BLOCK, BLOCK)
    block_means = values.reshape(shape).mean(axis=(1, 3)).ravel()
    block_steps = steps.reshape(shape).transpose(0, 2, 1, 3).reshape(block_means.size, -1)
    # Blocks pooled by level: the variance of each group of similar means, robust to edges.
    groups = np.array_split(np.argsort(block_means), GROUPS)
    means = np.array([block_means[group].mean() for group in groups])
    variances = np.array([np.median(block_steps[group]) for group in groups]) / MEDIAN_OF_CHI2
    if np.ptp(means) == 0 or np.ptp(variances) == 0:
        return "gaussian", "flat: nothing to tell"
    if np.corrcoef(means, variances)[0, 1] < TRACKS_MEAN:
        return "gaussian", "the noise does not grow with the signal"
    slope, intercept = np.polyfit(means, variances, 1)
    zero = -intercept / slope  # the level at which the variance would vanish
    if zero > NO_OFFSET * values.mean():
        return (
            "gaussian",
            f"photon counts on an offset of about {zero:.0f}: subtract it to use Poisson",
        )
    return "poisson", "integer counts whose noise grows with the signal, from zero"
