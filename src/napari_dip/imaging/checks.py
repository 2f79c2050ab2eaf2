"""Validation of user input, with errors that name the problem.

Each check copies what it keeps, so the caller's arrays are never modified.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_array", "check_factor", "check_image", "check_image_type", "check_psf"]


def as_array(value, what: str) -> np.ndarray:
    """``value`` as a numpy array; torch tensors on any device, with gradients or not, too."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":  # no numpy dtype of its own
            value = value.float()
        value = value.numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} cannot be read as an array: {error}") from None


def _check_dtype(dtype: np.dtype, what: str) -> None:
    kind = dtype.kind
    if kind == "b":
        raise TypeError(f"{what} has boolean dtype; pass intensities (integer or float)")
    if kind == "c":
        raise TypeError(f"{what} has complex dtype {dtype}; pass real intensities")
    if kind not in "uif":
        raise TypeError(f"{what} has unsupported dtype {dtype}; pass an integer or float array")


def _check_finite(array: np.ndarray, what: str) -> None:
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            raise ValueError(
                f"{what} has {int(bad.sum())} NaN or infinite value(s); "
                "replace them (or mark them as missing and use inpaint)"
            )


def check_image(image, *, finite: bool = True) -> np.ndarray:
    """``image`` as an array of real intensities (not copied).

    With ``finite``, NaN and infinite values are refused; inpainting checks them
    itself, as they may lie under the mask.
    """
    array = as_array(image, "image")
    check_image_type(array.shape, array.dtype)
    if finite:
        _check_finite(array, "image")
    return array


def check_image_type(shape: tuple[int, ...], dtype) -> None:
    """An image's shape and dtype, before its pixels are read: real intensities, not empty."""
    _check_dtype(np.dtype(dtype), "image")
    if 0 in shape:
        raise ValueError(f"image is empty (shape {tuple(shape)})")


#: The largest upscaling factor: twice the paper's largest (x8); beyond it nearly every
#: output pixel is the network's invention (the widget's factor box stops here too).
MAX_FACTOR = 16


def check_factor(factor) -> int:
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral):
        raise TypeError(f"factor must be an integer from 2 to {MAX_FACTOR}, got {factor!r}")
    if not 2 <= factor <= MAX_FACTOR:
        raise ValueError(
            f"factor must be an integer from 2 to {MAX_FACTOR} (the paper's largest is 8), "
            f"got {factor}"
        )
    return int(factor)


def check_psf(psf, spatial_shape: tuple[int, ...]) -> np.ndarray:
    """float32 copy of ``psf`` normalised to sum to one."""
    array = as_array(psf, "psf")
    _check_dtype(array.dtype, "psf")
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
    array = array.astype(np.float64)
    peak = float(np.abs(array).max())
    if peak > 0:
        array = array / peak  # no overflow in the sum of huge values
    total = float(array.sum())
    if not total > 0:
        raise ValueError(f"psf sums to {total * peak:g}; it must have a positive sum")
    return (array / total).astype(np.float32)
