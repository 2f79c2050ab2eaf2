"""Point spread functions."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gaussian_psf"]


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
    """
    sigmas = np.atleast_1d(np.asarray(sigma, dtype=float))
    if sigmas.ndim != 1:
        raise ValueError("sigma must be a number or a flat sequence of numbers")
    if sigmas.size == 1:
        sigmas = np.repeat(sigmas, ndim or 2)
    elif ndim is not None and ndim != sigmas.size:
        raise ValueError(f"ndim={ndim} does not match {sigmas.size} sigma values")
    if not np.all(np.isfinite(sigmas)) or np.any(sigmas <= 0):
        raise ValueError(f"sigma must be positive and finite, got {sigma!r}")
    if size is None:
        sizes = [2 * math.ceil(3 * s) + 1 for s in sigmas]
    else:
        sizes = list(np.broadcast_to(np.asarray(size, dtype=int), sigmas.shape))
        if min(sizes) < 1:
            raise ValueError(f"size must be positive, got {size!r}")
    axes = [np.exp(-0.5 * ((np.arange(n) - (n - 1) / 2) / s) ** 2) for n, s in zip(sizes, sigmas)]
    psf = axes[0]
    for axis in axes[1:]:
        psf = np.multiply.outer(psf, axis)
    return (psf / psf.sum()).astype(np.float32)
