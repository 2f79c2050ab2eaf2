"""Forward models ``A`` of the degradations, acting on torch tensors.

Every operator maps a tensor of shape ``(N, C, *spatial)`` holding the
estimate ``x`` to the space of the observation ``y``; the fit loop compares
``A(x)`` with ``y`` and does not care which task it is solving.

The comparison, ``Operator.loss``, follows the operator's noise model (one of
``NOISE_MODELS``, chosen at construction):

``"gaussian"``
    Mean squared error: additive noise of the same variance everywhere.
``"poisson"``
    Mean Poisson deviance ``lam - y - y log(lam / y)`` with ``lam = A(x)``:
    the negative log-likelihood of photon counts ``y`` minus its value at a
    perfect fit, so it is 0 there and positive elsewhere (see
    ``poisson_deviance``).  ``y`` must be counts times any positive scale:
    the minimiser does not depend on the scale, but zero photons must stay
    zero.  Negative values (read noise once a camera offset is subtracted)
    are kept, not clamped, so dark regions are not biased upwards.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "NOISE_MODELS",
    "POISSON_FLOOR",
    "Blur",
    "Downsample",
    "Identity",
    "Mask",
    "Operator",
    "lanczos_kernel",
    "poisson_deviance",
]


NOISE_MODELS = ("gaussian", "poisson")

#: Smallest predicted intensity the Poisson data term accepts (normalised units).
POISSON_FLOOR = 1e-6


def poisson_deviance(lam: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel Poisson deviance ``lam - y - y log(lam / y)``: >= 0, 0 where ``lam == y``.

    (Half the statistician's deviance: the log-likelihood ratio to a perfect fit.)
    ``lam`` is clamped to ``POISSON_FLOOR``; where ``y`` is below the floor
    (zero photons, or read noise below zero) the best prediction is the floor,
    so the term is ``lam - floor - y log(lam / floor)``.  The gradient is the
    likelihood's, ``1 - y / lam``, everywhere: a flat region is fitted by the
    mean of ``y``, negative values included, without a bias.  Written with two
    logarithms so that the gradient stays finite where ``y`` is 0.
    """
    lam = lam.clamp_min(POISSON_FLOOR)
    best = y.clamp_min(POISSON_FLOOR)
    return lam - best - y * (torch.log(lam) - torch.log(best))


def _mean(terms: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``terms`` over the pixels where ``weights`` is 1 (all when None)."""
    if weights is None:
        return terms.mean()
    weights = weights.expand_as(terms)
    return (terms * weights).sum() / weights.sum().clamp_min(1)


class Operator:
    """A forward model: ``A(x)`` and the data term comparing it with ``y``.

    ``noise`` is the noise model of the observation, one of ``NOISE_MODELS``.
    ``pixelwise`` operators observe each pixel of the estimate on its own, at
    the same place (denoising, inpainting).
    """

    pixelwise = False

    def __init__(self, noise: str = "gaussian"):
        if noise not in NOISE_MODELS:
            raise ValueError(f"noise must be one of {NOISE_MODELS}, got {noise!r}")
        self.noise = noise

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean over observed pixels of the data term between ``A(x)`` and ``y``.

        ``weights`` (0 or 1, broadcastable to ``y``) picks the pixels to
        average over: the fitted ones, or those held out to decide when to stop.
        """
        return _mean(self._terms(self(x), y), weights)

    def _terms(self, prediction: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.noise == "poisson":
            return poisson_deviance(prediction, y)
        return (prediction - y).square()

    def to(self, device: torch.device) -> Operator:
        """Move the operator's tensors to ``device`` (in place); return self."""
        return self


class Identity(Operator):
    """Denoising: the observation is the image itself."""

    pixelwise = True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Mask(Operator):
    """Inpainting: only the known pixels are observed.

    ``known`` is 1 where the pixel is observed and 0 where it is missing,
    broadcastable to ``x``.  The data term averages over known pixels only, so
    its scale does not depend on how much is missing.
    """

    pixelwise = True

    def __init__(self, known: torch.Tensor, noise: str = "gaussian"):
        super().__init__(noise)
        self.known = known.float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.known

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        known = self.known if weights is None else self.known * weights
        return _mean(self._terms(x, y), known)

    def to(self, device: torch.device) -> Mask:
        self.known = self.known.to(device)
        return self


def lanczos_kernel(factor: int, support: int = 2) -> np.ndarray:
    """1D Lanczos-``support`` low-pass filter for subsampling by ``factor``.

    The taps are centred on the middle of each block of ``factor`` pixels (the
    paper's phase 0.5), span ``support`` low-resolution pixels on each side, and
    sum to one.  The length is ``2 * support * factor`` rounded up to have the
    parity of ``factor``, so the block centre falls on the kernel centre.
    """
    size = 2 * support * factor
    if (size - factor) % 2:
        size += 1
    offsets = (np.arange(size) - (size - 1) / 2) / factor
    taps = np.sinc(offsets) * np.sinc(offsets / support)
    taps[np.abs(offsets) >= support] = 0.0
    return taps / taps.sum()


class Downsample(Operator):
    """Super-resolution: low-pass filter, then keep one pixel in ``factor``.

    Acts on the last two axes (Y, X) only.  ``kernel`` is ``"lanczos2"`` (the
    paper's choice) or ``"box"`` (block averaging, e.g. a camera's binning).
    Borders are padded by replication, so a ``(H, W)`` image maps to exactly
    ``(H // factor, W // factor)``.
    """

    KERNELS = ("lanczos2", "box")

    def __init__(self, factor: int, kernel: str = "lanczos2", noise: str = "gaussian"):
        super().__init__(noise)
        if kernel not in self.KERNELS:
            raise ValueError(f"kernel must be one of {self.KERNELS}, got {kernel!r}")
        self.factor = factor
        taps = lanczos_kernel(factor) if kernel == "lanczos2" else np.full(factor, 1.0 / factor)
        self.taps = torch.as_tensor(taps, dtype=torch.float32)
        self._pad = (len(taps) - factor) // 2

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        rest = x.shape[2:-2]
        planes = x.reshape(n * c * math.prod(rest), 1, *x.shape[-2:])
        p = self._pad
        if p:
            planes = F.pad(planes, (p, p, p, p), mode="replicate")
        k = len(self.taps)
        planes = F.conv2d(planes, self.taps.view(1, 1, k, 1), stride=(self.factor, 1))
        planes = F.conv2d(planes, self.taps.view(1, 1, 1, k), stride=(1, self.factor))
        return planes.reshape(n, c, *rest, *planes.shape[-2:])

    def to(self, device: torch.device) -> Downsample:
        self.taps = self.taps.to(device)
        return self


class Blur(Operator):
    """Deconvolution: convolution with a point spread function.

    The PSF (2D, or 3D for stacks; a 2D PSF blurs each plane of a stack) must
    sum to one.  Borders are extended by reflection before an FFT convolution,
    so the output has the input's shape and no wrap-around.
    """

    def __init__(self, psf: torch.Tensor, noise: str = "gaussian"):
        super().__init__(noise)
        self.psf = psf.float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        ndim = self.psf.ndim
        spatial = x.shape[-ndim:]
        half = [s // 2 for s in self.psf.shape]
        pad: list[int] = []
        for h, k in zip(reversed(half), reversed(self.psf.shape)):
            pad += [k - 1 - h, h]
        lead = x.shape[:-ndim]
        folded = x.reshape(-1, 1, *spatial)
        padded = F.pad(folded, pad, mode="reflect")
        full = [p + k - 1 for p, k in zip(padded.shape[-ndim:], self.psf.shape)]
        dims = tuple(range(-ndim, 0))
        spectrum = torch.fft.rfftn(padded, s=full, dim=dims) * torch.fft.rfftn(
            self.psf, s=full, dim=dims
        )
        blurred = torch.fft.irfftn(spectrum, s=full, dim=dims)
        index = (...,) + tuple(slice(k - 1, k - 1 + s) for k, s in zip(self.psf.shape, spatial))
        return blurred[index].reshape(*lead, *spatial)

    def to(self, device: torch.device) -> Blur:
        self.psf = self.psf.to(device)
        return self
