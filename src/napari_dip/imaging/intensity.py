"""Mapping intensities to the network's range and back."""

from __future__ import annotations

import numpy as np

__all__ = ["Intensity"]


class Intensity:
    """Per-channel affine map from the input's intensities to ``[0, 1]``.

    Each channel's minimum maps to 0 and its maximum to 1 (over the known
    pixels only, when a mask of missing pixels is given).  ``restore`` is the
    exact inverse, so results come back in the input's own units: uint16
    counts stay counts, not rescaled to 65535.  A constant channel maps to 0.5
    and back to its constant.
    """

    def __init__(self, image: np.ndarray, missing: np.ndarray | None = None):
        """``image`` is ``(C, *spatial)``; ``missing`` is a spatial boolean mask."""
        lows, spans = [], []
        for channel in image:
            values = channel[~missing] if missing is not None else channel
            low, high = float(values.min()), float(values.max())
            span = high - low
            if span == 0:
                low, span = low - 0.5, 1.0
            lows.append(low)
            spans.append(span)
        shape = (-1,) + (1,) * (image.ndim - 1)
        self.low = np.asarray(lows, dtype=np.float64).reshape(shape)
        self.span = np.asarray(spans, dtype=np.float64).reshape(shape)

    def normalise(self, image: np.ndarray) -> np.ndarray:
        return ((image - self.low) / self.span).astype(np.float32)

    def restore(self, image: np.ndarray) -> np.ndarray:
        return (image * self.span + self.low).astype(np.float32)
