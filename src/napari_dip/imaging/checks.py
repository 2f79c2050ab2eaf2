"""Validation of user input, with errors that name the problem.

Each check copies what it keeps, so the caller's arrays are never modified.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_channels_first", "check_factor", "check_mask", "check_psf"]

_SPATIAL_NAMES = {2: "YX", 3: "ZYX"}


def _check_dtype(array: np.ndarray, what: str) -> None:
    kind = array.dtype.kind
    if kind == "b":
        raise TypeError(f"{what} has boolean dtype; pass intensities (integer or float)")
    if kind == "c":
        raise TypeError(f"{what} has complex dtype {array.dtype}; pass real intensities")
    if kind not in "uif":
        raise TypeError(
            f"{what} has unsupported dtype {array.dtype}; pass an integer or float array"
        )


def _check_finite(array: np.ndarray, what: str) -> None:
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            raise ValueError(
                f"{what} has {int(bad.sum())} NaN or infinite value(s); "
                "replace them (or mark them as missing and use inpaint)"
            )


def as_channels_first(image, channel_axis: int | None) -> np.ndarray:
    """``image`` as a float32 copy shaped ``(C, *spatial)`` with 2 or 3 spatial axes."""
    array = np.asarray(image)
    _check_dtype(array, "image")
    if array.size == 0:
        raise ValueError(f"image is empty (shape {array.shape})")
    if channel_axis is not None:
        if isinstance(channel_axis, bool) or not isinstance(channel_axis, numbers.Integral):
            raise TypeError(f"channel_axis must be an integer or None, got {channel_axis!r}")
        if not -array.ndim <= channel_axis < array.ndim:
            raise ValueError(
                f"channel_axis={channel_axis} is out of range for an image with {array.ndim} axes"
            )
        array = np.moveaxis(array, channel_axis, 0)
    else:
        array = array[np.newaxis]
    spatial = array.ndim - 1
    if spatial not in _SPATIAL_NAMES:
        hint = " with channel_axis set" if channel_axis is None and array.ndim - 1 == 4 else ""
        raise ValueError(
            f"image of shape {np.shape(image)} has {spatial} spatial axes; expected 2 (YX) or "
            f"3 (ZYX){hint}; pass channel_axis= for a channel axis"
        )
    _check_finite(array, "image")
    return array.astype(np.float32, copy=True)


def check_mask(mask, spatial_shape: tuple[int, ...]) -> np.ndarray:
    """Boolean copy of ``mask`` (True = missing pixel), checked against the image."""
    array = np.asarray(mask)
    if array.dtype.kind not in "buif":
        raise TypeError(
            f"mask has unsupported dtype {array.dtype}; pass a boolean or integer array"
        )
    if array.shape != tuple(spatial_shape):
        raise ValueError(
            f"mask shape {array.shape} differs from the image's spatial shape {tuple(spatial_shape)}"
        )
    _check_finite(array, "mask")
    missing = array != 0
    if not missing.any():
        raise ValueError("mask marks no pixel as missing (nonzero = missing): nothing to inpaint")
    if missing.all():
        raise ValueError("mask marks every pixel as missing: there is nothing to fit")
    return missing


def check_factor(factor) -> int:
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral):
        raise TypeError(f"factor must be an integer >= 2, got {factor!r}")
    if factor < 2:
        raise ValueError(f"factor must be an integer >= 2, got {factor}")
    return int(factor)


def check_psf(psf, spatial_shape: tuple[int, ...]) -> np.ndarray:
    """float32 copy of ``psf`` normalised to sum to one."""
    array = np.asarray(psf)
    _check_dtype(array, "psf")
    if array.size == 0:
        raise ValueError("psf is empty")
    if array.ndim not in (2, len(spatial_shape)):
        raise ValueError(
            f"psf has {array.ndim} axes; expected {len(spatial_shape)} like the image"
            + (" (or 2 to blur each plane)" if len(spatial_shape) == 3 else "")
        )
    _check_finite(array, "psf")
    image_shape = tuple(spatial_shape[-array.ndim :])
    if any(k > n for k, n in zip(array.shape, image_shape)):
        raise ValueError(f"psf of shape {array.shape} is larger than the image {image_shape}")
    total = float(array.sum(dtype=np.float64))
    if not total > 0:
        raise ValueError(f"psf sums to {total}; it must have a positive sum")
    return (array / total).astype(np.float32)
