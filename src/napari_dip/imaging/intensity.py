"""Mapping intensities to the network's range and back, and the output dtype.

Each channel's range ``[low, high]`` maps to ``[0, 1]``.  The range is the
channel's minimum and maximum, after setting aside isolated outliers: a pixel
counts as an outlier when its value lies more than one percentile span (by
default ``P99.9 - P0.1``) beyond the percentile range *and* none of its four
Y/X neighbours lies even halfway from the median to it.  Hot and dead camera
pixels are such isolated values; a real bright spot, blurred by the optics
over several pixels, has a neighbour on its flank, so it keeps its value
however bright and small it is.  Outliers map outside
``[0, 1]``, where the sigmoid output of the network cannot follow them.

With ``zero_floor=True`` (for the Poisson noise model) the map is a pure
scale from the level ``zero`` that zero photons read as (0, or the camera's
offset): ``low`` is ``zero``, so zero photons map to 0.  Values below it (read
noise around the offset) are kept, mapped below 0, and the Poisson data term
keeps them too (see ``core.data_terms.poisson_deviance``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FAR", "Intensity", "cast_result"]

#: How far, in spans of the range, a normalised value may lie from [0, 1]: its square,
#: summed over 10^8 pixels, stays within float32.
FAR = 1e12


class Intensity:
    """Per-channel affine map from the input's intensities to ``[0, 1]``.

    ``denormalise`` is the exact inverse, so results come back in the input's own
    units: uint16 counts stay counts, not rescaled to 65535.  A constant
    channel (over its known pixels) maps to 0.5, and comes back as exactly its
    constant whatever the network made of it (``constant``).

    Parameters
    ----------
    image : ndarray, shape (C, *spatial)
        The intensities; the last two axes are Y and X.
    missing : ndarray of bool, optional
        Missing pixels, left out of the range: shape ``(C, *spatial)`` (a mask
        per channel) or broadcastable to it (e.g. ``(1, *spatial)``).
    zero_floor : bool
        Map ``[zero, high]`` to ``[0, 1]`` (a pure scale from ``zero``) instead
        of ``[low, high]``.
    zero : float
        With ``zero_floor``, the level of zero photons.
    percentiles : (float, float)
        Percentiles bounding the bulk of the values, for the outlier rule.
    max_samples : int
        The percentiles are computed on an evenly strided subsample of at most
        about this many values per channel, for speed on big stacks.
    """

    def __init__(
        self,
        image: np.ndarray,
        missing: np.ndarray | None = None,
        *,
        zero_floor: bool = False,
        zero: float = 0.0,
        percentiles: tuple[float, float] = (0.1, 99.9),
        max_samples: int = 1_000_000,
    ):
        lows, spans, constants = [], [], []
        if missing is not None:
            missing = np.broadcast_to(missing, image.shape)
        for c, channel in enumerate(image):
            mask = None if missing is None else missing[c]
            if mask is not None and mask.all():
                raise ValueError(
                    f"the mask leaves no known pixel in channel {c}: there is nothing to fit there"
                )
            low, high = _robust_range(channel, mask, percentiles, max_samples)
            constants.append(low if low == high else np.nan)
            if zero_floor:
                if high <= zero and low < zero:
                    where = f"channel {c} of the image" if len(image) > 1 else "the image"
                    raise ValueError(
                        f"noise='poisson' needs photon counts, but {where} has no value above "
                        f"the offset {zero:g} (its maximum is {high:g}): give the level that "
                        "zero photons read as (offset=), or use noise='gaussian'"
                    )
                photons = high - zero
                span = photons if low < high else 2 * photons  # a constant above zero maps to 0.5
                if span <= 0:  # no photons at all
                    span = 1.0
                low = zero
            else:
                span = high - low
                if span == 0:
                    low, span = low - 0.5, 1.0
            lows.append(low)
            spans.append(span)
        shape = (-1,) + (1,) * (image.ndim - 1)
        self.low = np.asarray(lows, dtype=np.float64).reshape(shape)
        self.span = np.asarray(spans, dtype=np.float64).reshape(shape)
        #: Per channel, its value when it is constant, else NaN.
        self.constant = np.asarray(constants, dtype=np.float64).reshape(shape)

    def normalise(self, image: np.ndarray) -> np.ndarray:
        """``image`` (any real dtype, computed in float64) mapped to the network's range, float32.

        Values farther than ``FAR`` spans from ``[0, 1]`` are clipped there: an
        outlier such as one 1e39 among values of a few hundred would overflow
        the float32 loss (the fit "diverged"), and the sigmoid output cannot
        follow such values in any case.
        """
        return np.clip((image - self.low) / self.span, -FAR, 1 + FAR).astype(np.float32)

    def denormalise(self, image: np.ndarray) -> np.ndarray:
        """The inverse map, in float64 (for the caller to cast to the output dtype).

        Constant channels come back constant: the network's output there is
        no information, only what it has not (yet) fitted.
        """
        restored = image * self.span + self.low
        return np.where(np.isnan(self.constant), restored, self.constant)

    def rescale_spread(self, spread: np.ndarray) -> np.ndarray:
        """A spread (standard deviation) in the network's range, in the input's units."""
        return np.where(np.isnan(self.constant), spread * self.span, 0.0)


def _robust_range(
    channel: np.ndarray,
    missing: np.ndarray | None,
    percentiles: tuple[float, float],
    max_samples: int,
) -> tuple[float, float]:
    """Minimum and maximum of ``channel`` without its isolated outliers."""
    values = channel if missing is None else channel[~missing]
    low, high = values.min(), values.max()
    sample = values.flat[:: max(1, values.size // max_samples)]
    p_low, median, p_high = np.percentile(sample, [percentiles[0], 50, percentiles[1]])
    spread = p_high - p_low
    fence_low, fence_high = p_low - spread, p_high + spread
    if fence_low <= low and high <= fence_high:  # nothing far out: the usual case
        return float(low), float(high)
    # The extremes within the fences, then those beyond that are not isolated.
    low = np.min(values, where=values >= fence_low, initial=p_high)
    high = np.max(values, where=values <= fence_high, initial=p_low)
    beyond = (channel < fence_low) | (channel > fence_high)
    if missing is not None:
        beyond &= ~missing
    where = np.nonzero(beyond)
    kept = channel[where][~_isolated(channel, missing, where, median)]
    return float(kept.min(initial=low)), float(kept.max(initial=high))


def _isolated(
    channel: np.ndarray, missing: np.ndarray | None, where: tuple[np.ndarray, ...], centre: float
) -> np.ndarray:
    """Which pixels ``where`` stand alone: no Y/X neighbour halfway from ``centre`` to them.

    A hot pixel's neighbours sit at the background; a spot's peak has at least
    one neighbour on its flank, above half its height.
    """
    height = channel[where] - centre
    alone = np.ones(len(height), dtype=bool)
    for axis in (channel.ndim - 2, channel.ndim - 1):
        for step in (-1, 1):
            moved = list(where)
            moved[axis] = where[axis] + step
            inside = (moved[axis] >= 0) & (moved[axis] < channel.shape[axis])
            moved[axis] = np.clip(moved[axis], 0, channel.shape[axis] - 1)
            moved = tuple(moved)
            supports = inside & ((channel[moved] - centre) / height >= 0.5)
            if missing is not None:
                supports &= ~missing[moved]
            alone &= ~supports
    return alone


def cast_result(result: np.ndarray, dtype=np.float32) -> np.ndarray:
    """``result`` (float) in ``dtype``: the output dtype policy.

    Integers are rounded to the nearest and clipped to the dtype's range, so
    an overshoot saturates instead of wrapping around; floats are clipped to
    the dtype's finite range (no overflow to inf in float16) and cast.

    Raises
    ------
    TypeError
        For a dtype that is not a real number type (bool, complex, object, ...).
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        high = float(info.max)
        if int(high) > info.max:  # 64-bit: float64(max) rounds up, out of range
            high = np.nextafter(high, 0.0)
        rounded = np.rint(np.asarray(result, dtype=np.float64))
        return np.clip(rounded, float(info.min), high).astype(dtype)
    if dtype.kind == "f":
        info = np.finfo(dtype)
        return np.clip(result, info.min, info.max).astype(dtype)
    raise TypeError(f"output dtype must be an integer or float type, got {dtype}")
