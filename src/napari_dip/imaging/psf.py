"""Point spread functions."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["gaussian_psf"]

#: Largest PSF built, in pixels (a PSF must be smaller than the image anyway).
MAX_PIXELS = 2**27


def gaussian_psf(sigma, size=None, ndim: int | None = None) -> np.ndarray:
    """Gaussian point spread function, normalised to sum to one.

    Parameters
    ----------
    sigma : float or sequence of float
        Standard deviation in pixels, one value for all axes or one per axis
        (e.g. ``(2.0, 1.0, 1.0)`` for a ZYX PSF elongated along Z).
    size : int or sequence of int, optional
        Kernel size per axis; odd sizes keep the PSF centred.  Defaults to
        ``2 * ceil(3 * sigma) + 1`` per axis.
    ndim : int, optional
        Number of axes when ``sigma`` is a scalar (default 2).

    Returns
    -------
    psf : ndarray of float32

    Examples
    --------
    >>> from napari_dip import gaussian_psf
    >>> psf = gaussian_psf(1.5)
    >>> psf.shape, round(float(psf.sum()), 6)
    ((11, 11), 1.0)
    >>> gaussian_psf((2.0, 1.0, 1.0)).shape  # ZYX, elongated along Z
    (13, 7, 7)
    """
    try:
        sigmas = np.atleast_1d(np.asarray(sigma, dtype=float))
    except (TypeError, ValueError):
        raise TypeError(f"sigma must be a number or a sequence of numbers, got {sigma!r}") from None
    if sigmas.ndim != 1 or sigmas.size == 0:
        raise ValueError(f"sigma must be a number or a flat sequence of numbers, got {sigma!r}")
    if ndim is not None and (
        isinstance(ndim, bool) or not isinstance(ndim, numbers.Integral) or ndim < 1
    ):
        raise ValueError(f"ndim must be a positive integer, got {ndim!r}")
    if sigmas.size == 1:
        sigmas = np.repeat(sigmas, ndim or 2)
    elif ndim is not None and ndim != sigmas.size:
        raise ValueError(f"ndim={ndim} does not match {sigmas.size} sigma values")
    if not np.all(np.isfinite(sigmas)) or np.any(sigmas <= 0):
        raise ValueError(f"sigma must be positive and finite, got {sigma!r}")
    if size is None:
        sizes = [2 * math.ceil(3 * s) + 1 for s in sigmas]
    else:
        sizes = np.asarray(size)
        if sizes.dtype.kind not in "ui" or sizes.ndim > 1 or sizes.size not in (1, sigmas.size):
            raise ValueError(
                f"size must be a positive integer or one per axis ({sigmas.size}), got {size!r}"
            )
        sizes = [int(n) for n in np.broadcast_to(sizes, sigmas.shape)]
        if min(sizes) < 1:
            raise ValueError(f"size must be positive, got {size!r}")
    if math.prod(sizes) > MAX_PIXELS:
        raise ValueError(
            f"sigma={sigma!r} and size={size!r} give a PSF of more than {MAX_PIXELS} pixels; "
            "a PSF must be smaller than the image"
        )
    axes = [_gaussian(n, s) for n, s in zip(sizes, sigmas)]
    psf = axes[0]
    for axis in axes[1:]:
        psf = np.multiply.outer(psf, axis)
    return (psf / psf.sum()).astype(np.float32)


def _gaussian(n: int, sigma: float) -> np.ndarray:
    """``n`` samples of a Gaussian centred on the middle, summing to one.

    Exponents are taken relative to the largest sample, so a tiny ``sigma``
    gives a delta (two equal taps for an even ``n``) rather than 0 / 0.
    """
    distance = np.abs(np.arange(n) - (n - 1) / 2)
    nearest = distance.min()
    with np.errstate(over="ignore"):
        q = (distance - nearest) * (distance + nearest) / sigma / sigma
    taps = np.exp(-0.5 * q)
    return taps / taps.sum()
