"""Forward models ``A`` of the degradations, as ``torch.nn.Module``s.

Every operator maps a tensor of shape ``(N, C, *spatial)`` holding the
estimate ``x`` to the space of the observation ``y``; the fit compares
``A(x)`` with ``y`` through a data term (``core.data_terms``) and does not
care which task it is solving.  Their tensors are buffers, so ``.to(device)``
moves them.  ``make_operator`` builds the one a task needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .classical import RL_ITERATIONS, biharmonic, richardson_lucy

__all__ = [
    "KERNELS",
    "Blur",
    "Downsample",
    "Identity",
    "Mask",
    "Operator",
    "lanczos_kernel",
    "make_operator",
]

#: Low-pass filters of super-resolution's forward model (``Downsample``).
KERNELS = ("lanczos2", "box")
#: ``Blur.passband``'s floor on the PSF's power: frequencies whose power is well
#: under it are left to Richardson-Lucy (chosen on four design images, docs/deconvolution.md).
PASSBAND_FLOOR = 0.01


class Operator(torch.nn.Module):
    """A forward model ``A``.

    ``observed`` is None when every pixel of ``y`` is observed, else a 0/1
    tensor broadcastable to ``y`` (1 = observed) that data terms are
    weighted by.  ``pixelwise`` operators observe each pixel of the estimate
    on its own, at the same place (denoising, inpainting).  An operator whose
    task has a classical answer names it (``classical_method``) and computes it
    (``classical``), for each of the settings it offers (``classical_settings``;
    ``(None,)``: one estimate): a fit blends it in (``core.classical``).  With
    ``blends_passband``, the blend weighs only the part of the network's departure
    from the classical estimate that the operator lets the data see (``passband``).
    """

    pixelwise = False
    classical_method: str | None = None
    classical_settings: tuple = (None,)
    blends_passband = False

    def __init__(self):
        super().__init__()
        self.register_buffer("observed", None)

    def classical(self, y: torch.Tensor, known: torch.Tensor, settings) -> Iterator:
        """The task's classical estimate from the pixels of ``y`` that ``known`` (0 or 1,
        broadcastable to ``y``) marks, for each of ``settings`` (a subset of
        ``classical_settings``): ``(setting, estimate)`` pairs, one at a time."""
        raise NotImplementedError(f"{type(self).__name__} has no classical estimate")


class Identity(Operator):
    """Denoising: the observation is the image itself."""

    pixelwise = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Mask(Operator):
    """Inpainting: only the known pixels are observed.

    ``known`` is 1 where the pixel is observed and 0 where it is missing,
    broadcastable to ``x``.  Data terms average over known pixels only, so
    their scale does not depend on how much is missing.
    """

    pixelwise = True
    classical_method = "biharmonic"

    def __init__(self, known: torch.Tensor):
        super().__init__()
        self.observed = known.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.observed

    def classical(self, y: torch.Tensor, known: torch.Tensor, settings=(None,)) -> Iterator:
        """scikit-image's biharmonic inpainting of the pixels ``known`` leaves out."""
        yield None, biharmonic(y, known)


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

    def __init__(self, factor: int, kernel: str = "lanczos2"):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        self.factor = factor
        taps = lanczos_kernel(factor) if kernel == "lanczos2" else np.full(factor, 1.0 / factor)
        self.register_buffer("taps", torch.as_tensor(taps, dtype=torch.float32))
        self._pad = (len(taps) - factor) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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

    @property
    def back_projection_steps(self) -> int:
        """How many steps ``back_project`` takes: one at x2, three from x4 (two at x3)."""
        return min(self.factor - 1, 3)

    def back_project(
        self, x: torch.Tensor, y: torch.Tensor, steps: int | None = None
    ) -> torch.Tensor:
        """``x`` after ``steps`` (default ``back_projection_steps``) steps of back-projection:
        each adds the bicubic upsampling of what the downsampled copy misses of ``y``
        (``Recipe.back_project``).  It gives back the pixels the automatic stop held out of
        the fit.  On the design cases three steps lost against one at x2 and gained at x4;
        on 26 benchmark cases this rule gained 0.49 dB at x2 and 0.38 dB at x4 on average,
        never lower (docs/super-resolution.md)."""
        for _ in range(self.back_projection_steps if steps is None else steps):
            residual = y - self(x)
            planes = residual.reshape(-1, 1, *residual.shape[-2:])
            up = F.interpolate(planes, size=x.shape[-2:], mode="bicubic", align_corners=False)
            x = x + up.reshape(*residual.shape[:-2], *x.shape[-2:])
        return x


class Blur(Operator):
    """Deconvolution: convolution with a point spread function.

    The PSF (2D, or 3D for stacks; a 2D PSF blurs each plane of a stack) must
    sum to one.  Borders are extended by reflection before an FFT convolution,
    so the output has the input's shape and no wrap-around.  Its classical answer is
    Richardson-Lucy, for each iteration count in ``RL_ITERATIONS``.

    The blend with it weighs the network only where the PSF passes (``passband``):
    the held-out pixels see an estimate through the blur, so they cannot score
    what the network puts where the PSF is near zero (mostly noise), and that
    part is left to Richardson-Lucy.
    """

    classical_method = "richardson-lucy"
    classical_settings = RL_ITERATIONS
    blends_passband = True

    def __init__(self, psf: torch.Tensor):
        super().__init__()
        self.register_buffer("psf", psf.float())

    def classical(self, y: torch.Tensor, known: torch.Tensor, settings=RL_ITERATIONS) -> Iterator:
        """Richardson-Lucy after each of ``settings`` iterations, seeing only ``known``."""
        adjoint = Blur(self.psf.flip(tuple(range(self.psf.ndim))))
        return richardson_lucy(y, known, self, adjoint, settings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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

    def passband(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` filtered by ``|H|^2 (1 + f) / (|H|^2 + f)``, ``H`` the PSF's transfer
        function and ``f`` ``PASSBAND_FLOOR``: the frequencies the blur passes kept
        (a constant whole), those it wipes out (``|H|^2`` well under ``f``) removed.
        Zero-phase; borders mirrored."""
        ndim = self.psf.ndim
        spatial = x.shape[-ndim:]
        margins = [min(n - 1, 2 * k) for n, k in zip(spatial, self.psf.shape)]
        pad = [m for margin in reversed(margins) for m in (margin, margin)]
        padded = F.pad(x.reshape(-1, 1, *spatial), pad, mode="reflect")
        size, dims = padded.shape[-ndim:], tuple(range(-ndim, 0))
        power = torch.fft.rfftn(self.psf, s=size, dim=dims).abs() ** 2
        gain = power * (1 + PASSBAND_FLOOR) / (power + PASSBAND_FLOOR)
        filtered = torch.fft.irfftn(torch.fft.rfftn(padded, dim=dims) * gain, s=size, dim=dims)
        index = (...,) + tuple(slice(m, m + n) for m, n in zip(margins, spatial))
        return filtered[index].reshape(x.shape)


def make_operator(
    task: str,
    *,
    known: torch.Tensor | None = None,
    factor: int = 1,
    kernel: str = "lanczos2",
    psf: torch.Tensor | None = None,
) -> Operator:
    """The forward model of ``task``: what each needs is ``known`` (inpaint),
    ``factor`` and ``kernel`` (super_resolve) or ``psf`` (deconvolve)."""
    if task == "denoise":
        return Identity()
    if task == "inpaint":
        return Mask(known)
    if task == "super_resolve":
        return Downsample(factor, kernel)
    if task == "deconvolve":
        return Blur(psf)
    raise ValueError(f"unknown task {task!r}")
