"""Denoising: the network's estimate refined by an empirical Wiener filter it steers.

The network's estimate is a good *pilot*: a Wiener filter in the domain of
sliding ``n x n`` discrete cosine transforms keeps each coefficient of the
noisy image in proportion ``p^2 / (p^2 + s v)`` to the pilot's power ``p^2``
there, ``v`` being the noise's power in that coefficient (measured on the
residual, so noise shared between neighbours, whose power is not flat over the
coefficients, is handled) and ``s`` a scale; overlapping patches are averaged
with BM3D's weights (the inverse of each patch's total gain).  This is BM3D's
second stage without its block matching, with the network in place of BM3D's
first estimate: where the network and the classical prior disagree, the
noisy data decide.  docs/benchmarks.md e measures it against BM3D itself.

Its settings (patch side, scale) and the weight of the filtered image against
the network's own are chosen on the pixels the automatic stop held out: for
each member, the pixels it never fitted (its holes) are filled with its own
estimate plus noise-like residuals copied from elsewhere, so the filter sees
an image as noisy as the real one but learns nothing of the held-out values;
its output is scored there, the same unbiased score that picked the stop.

The same gains predict the result's error (``predicted_error``): what the filter
takes from the signal and lets through of the noise, were the network's estimate
the truth, times a constant set on design images (docs/uncertainty.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data_terms import DataTerm

__all__ = [
    "FUSION_GRID",
    "Fusion",
    "blend_weight",
    "fill_unseen",
    "fitted_residual_power",
    "fuse_members",
    "local_noise",
    "predicted_error",
    "residual_power",
    "wiener_error",
    "wiener_filter",
]

#: Patch sides and scales of the noise power the held-out score chooses among.
FUSION_GRID = ((8, 1.0), (8, 1.4), (8, 2.0), (12, 1.0), (12, 1.4), (12, 2.0))
#: Filters (DCT coefficients) convolved at once: bounds memory on big planes.
COEFFICIENT_CHUNK = 16
#: The side of the square over which ``local_noise`` measures the noise's level.
LOCAL_NOISE_SIDE = 15
#: ``wiener_error`` takes the pilot for the truth and so predicts too small an error;
#: this factor on its standard deviation was set on four design images
#: (docs/uncertainty.md "Denoising: an error's size predicted by the fusion").
ERROR_SCALE = 1.43


@dataclass(frozen=True)
class Fusion:
    """What the fusion chose: the filter's patch side and noise scale, the weight of
    the filtered image (0: the network's estimate alone), and the held-out score
    (the data term on held-out pixels) of the network's estimate and of the fused one."""

    patch: int
    scale: float
    weight: float
    held_out_network: float
    held_out_fused: float


def _dct_basis(n: int, dtype: torch.dtype, device) -> torch.Tensor:
    """The ``n * n`` orthonormal 2D DCT-II basis patches, as ``(n*n, 1, n, n)`` filters."""
    k = torch.arange(n, dtype=torch.float64)
    basis = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * math.sqrt(2 / n)
    basis[0] /= math.sqrt(2)
    patches = torch.einsum("ui,vj->uvij", basis, basis).reshape(n * n, 1, n, n)
    return patches.to(device, dtype)


def _as_planes(image: torch.Tensor) -> torch.Tensor:
    """``(C, *spatial)`` -> ``(C, planes, Y, X)``: 3D volumes are filtered slice by slice."""
    return image.contiguous().reshape(image.shape[0], -1, *image.shape[-2:])


def wiener_filter(
    noisy: torch.Tensor,
    pilot: torch.Tensor,
    patch: int = 8,
    scale: float = 1.0,
    noise_power: torch.Tensor | None = None,
) -> torch.Tensor:
    """The empirical Wiener filter of ``noisy`` steered by ``pilot`` (both ``(C, *spatial)``).

    ``noise_power`` is the noise's power per channel and DCT coefficient,
    ``(C, patch * patch)``; by default the power of ``noisy - pilot``
    (``residual_power``).  Borders are mirrored.
    """
    return _wiener(noisy, pilot, patch, scale, noise_power, error=False)


def wiener_error(
    noisy: torch.Tensor,
    pilot: torch.Tensor,
    patch: int = 8,
    scale: float = 1.0,
    noise_power: torch.Tensor | None = None,
) -> torch.Tensor:
    """The expected squared error of ``wiener_filter`` at each pixel, ``(C, *spatial)``,
    were the pilot the truth.

    Each coefficient kept with gain ``g`` errs by ``(1 - g)^2 p^2`` (what it takes
    from the signal) plus ``g^2 v`` (the noise it lets through), ``v`` the noise's
    power there scaled by the local noise level (``local_noise``: noise that
    follows the signal, as photon noise does); each patch spreads its coefficients'
    errors over its pixels by the squared basis patch, and patches are averaged
    with the filter's own weights.  The pilot's own errors are not in it: that is
    what ``ERROR_SCALE`` makes up for.
    """
    return _wiener(noisy, pilot, patch, scale, noise_power, error=True)


def _wiener(noisy, pilot, patch, scale, noise_power, *, error: bool) -> torch.Tensor:
    """``wiener_filter``, or with ``error`` ``wiener_error``: the same gains and weights."""
    if noise_power is None:
        noise_power = residual_power(noisy, pilot, patch)
    kept_power = noise_power.clone()
    kept_power[:, 0] = 0.0  # each patch's mean passes whole (0.03 dB better on the FISH crop)
    planes_in, planes_pilot = _as_planes(noisy), _as_planes(pilot)
    planes_local = _as_planes(local_noise(noisy, pilot)) if error else None
    channels = []
    basis = _dct_basis(patch, noisy.dtype, noisy.device)
    ones = torch.ones(1, 1, patch, patch, dtype=noisy.dtype, device=noisy.device)
    margin = patch - 1

    def inside(image: torch.Tensor) -> torch.Tensor:
        return image[:, 0, margin:-margin, margin:-margin]

    for c in range(noisy.shape[0]):
        p = _mirrored(planes_pilot[c], patch)
        chunks = [
            (basis[first:last], kept_power[c, first:last], noise_power[c, first:last])
            for first in range(0, patch * patch, COEFFICIENT_CHUNK)
            for last in [first + COEFFICIENT_CHUNK]
        ]
        # Each patch weighs in inversely to its total gain (BM3D's aggregation weights);
        # the gains are computed again rather than kept, which bounds memory on big planes.
        total = sum(
            (_gain(p, filters, kept, scale)[0] ** 2).sum(1, keepdim=True)
            for filters, kept, _ in chunks
        )
        weight = 1.0 / total.clamp_min(1e-12)
        if error:
            # The noise's power in each patch, scaled by its mean local level.
            level = F.avg_pool2d(_mirrored(planes_local[c], patch), patch, stride=1)
            numerator = 0.0
            for filters, kept, power in chunks:
                # (1 - g)^2 p^2 + g^2 v, in place (it bounds memory on big planes)
                g, squared = _gain(p, filters, kept, scale)
                squared.mul_((1 - g).square_()).addcmul_(
                    g.square_(), power.view(1, -1, 1, 1) * level
                )
                numerator = numerator + F.conv_transpose2d(squared.mul_(weight), filters**2)
        else:
            y = _mirrored(planes_in[c], patch)
            numerator = sum(
                F.conv_transpose2d(
                    weight * _gain(p, filters, kept, scale)[0] * F.conv2d(y, filters), filters
                )
                for filters, kept, _ in chunks
            )
        channels.append(inside(numerator / F.conv_transpose2d(weight, ones)))
    return torch.stack(channels).reshape(noisy.shape)


def _gain(pilot, filters, power, scale) -> tuple[torch.Tensor, torch.Tensor]:
    """The Wiener gain of each coefficient (``filters``) of each patch of ``pilot``, and
    the pilot's power there."""
    pilot_power = F.conv2d(pilot, filters) ** 2
    gain = pilot_power / (pilot_power + scale * power.view(1, -1, 1, 1)).clamp_min(1e-20)
    return gain, pilot_power


def local_noise(noisy: torch.Tensor, pilot: torch.Tensor) -> torch.Tensor:
    """The power of ``noisy - pilot`` averaged over a ``LOCAL_NOISE_SIDE`` square around
    each pixel, over its mean in the channel: 1 for noise as strong everywhere, above 1
    where it is stronger (``(C, *spatial)``; borders mirrored)."""
    planes = _as_planes((noisy - pilot) ** 2)
    radius = LOCAL_NOISE_SIDE // 2
    local = torch.stack(
        [
            F.avg_pool2d(_mirrored(channel, radius + 1), LOCAL_NOISE_SIDE, stride=1)[:, 0]
            for channel in planes
        ]
    )
    mean = planes.mean((1, 2, 3)).view(-1, 1, 1, 1).clamp_min(1e-20)
    return (local / mean).reshape(noisy.shape)


def residual_power(noisy: torch.Tensor, pilot: torch.Tensor, patch: int) -> torch.Tensor:
    """The mean power of ``noisy - pilot`` in each DCT coefficient, ``(C, patch * patch)``:
    the noise's power spectrum over the patch, when the pilot is close to the truth."""
    basis = _dct_basis(patch, noisy.dtype, noisy.device)
    residual = _as_planes(noisy - pilot)
    return torch.stack(
        [F.conv2d(residual[c][:, None], basis).pow(2).mean((0, 2, 3)) for c in range(len(residual))]
    )


def _mirrored(planes: torch.Tensor, patch: int) -> torch.Tensor:
    """``(planes, Y, X)`` -> ``(planes, 1, Y + 2m, X + 2m)``, mirrored by ``m = patch - 1``
    (repeated mirroring for planes smaller than that)."""
    x = planes[:, None]
    margin = patch - 1
    while margin > 0:
        step = min(margin, x.shape[-1] - 1, x.shape[-2] - 1)
        if step < 1:
            return F.pad(x, (margin,) * 4, mode="replicate")
        x = F.pad(x, (step,) * 4, mode="reflect")
        margin -= step
    return x


def fill_unseen(target: torch.Tensor, estimate: torch.Tensor, fitted: torch.Tensor) -> torch.Tensor:
    """``target`` with the pixels the fit never saw (``fitted`` 0) replaced by ``estimate``
    plus the residual ``target - estimate`` copied from half the plane away (cyclically).

    The filled image is as noisy as the target (the copied residual keeps the
    noise's level and its correlation between neighbours) but holds nothing of
    the unseen pixels' values near them, so a filter whose reach is under half
    the plane, run on it, can be scored there.  All three are ``(C, *spatial)``
    (``fitted`` broadcastable).
    """
    half = (target.shape[-2] // 2, target.shape[-1] // 2)
    residual = torch.roll(target - estimate, half, dims=(-2, -1))
    return torch.where(fitted > 0, target, estimate + residual)


def fitted_residual_power(
    target: torch.Tensor, estimate: torch.Tensor, fitted: torch.Tensor, patch: int
) -> torch.Tensor:
    """``residual_power`` of ``target - estimate`` over the fitted pixels only (the
    others count as 0, and the power is scaled up by the share they leave out), so
    that it holds nothing of the held-out pixels."""
    kept = fitted.expand_as(target)
    share = float(kept.mean())
    power = residual_power(target * kept, estimate * kept, patch)
    return power / max(share, 1e-12)


def fuse_members(
    members: torch.Tensor,
    target: torch.Tensor,
    held: torch.Tensor,
    fitted: torch.Tensor,
    data_term: DataTerm,
    block: int = 1,
    grid=FUSION_GRID,
    *,
    scored: bool = False,
) -> tuple[torch.Tensor, Fusion]:
    """Each member's estimate fused with the Wiener filter it steers.

    ``members`` is ``(K, C, *spatial)``, ``target`` ``(1, C, *spatial)``;
    ``held`` and ``fitted`` ``(K, 1, *spatial)`` are the automatic stop's
    held-out pixels and the pixels each member fitted, ``block`` the side of its
    holes.  ``data_term`` scores an estimate on them.  The patch, scale and
    weight are those whose filter, run on each member's filled image
    (``fill_unseen``), scores best on its held-out pixels; the weight is the
    least-squares blend there, within [0, 1]: the fusion scores no worse there
    than the network alone, and where nothing scores better the members come
    back unchanged.  With ``scored``, a third value: the fused estimates as they
    were scored, the filter run on the filled images, which hold nothing of the
    held-out pixels (to score a later blend of them without bias).
    """
    y, count = target[0], len(members)
    reach = min(y.shape[-2:]) // 2 - block  # the filter's reach must not find the copied values
    fills = [fill_unseen(y, members[k], fitted[k]) for k in range(count)]

    def held_out(estimates) -> float:
        scores = (data_term(e[None], target, held[k : k + 1]) for k, e in enumerate(estimates))
        return float(sum(scores)) / count

    network = held_out(members)
    best = Fusion(0, 0.0, 0.0, network, network)
    powers: dict[int, list[torch.Tensor]] = {}
    for patch, scale in grid:
        if patch > reach:
            continue
        if patch not in powers:
            powers[patch] = [
                fitted_residual_power(y, members[k], fitted[k], patch) for k in range(count)
            ]
        filtered = [
            wiener_filter(fills[k], members[k], patch, scale, powers[patch][k])
            for k in range(count)
        ]
        weight = blend_weight(filtered, members, y, held)
        score = held_out([weight * f + (1 - weight) * m for f, m in zip(filtered, members)])
        if score < best.held_out_fused:
            best = Fusion(patch, scale, weight, network, score)
    if best.weight == 0:
        return (members, best, members) if scored else (members, best)

    def fused(images):
        return torch.stack(
            [
                best.weight
                * wiener_filter(
                    images[k], members[k], best.patch, best.scale, powers[best.patch][k]
                )
                + (1 - best.weight) * members[k]
                for k in range(count)
            ]
        )

    if scored:
        return fused([y] * count), best, fused(fills)
    return fused([y] * count), best


def predicted_error(
    members: torch.Tensor, target: torch.Tensor, fitted: torch.Tensor, fusion: Fusion
) -> torch.Tensor:
    """The fused members' mean's expected error, a standard deviation per pixel
    ``(1, C, *spatial)`` in the fit's units: ``wiener_error`` of the filter ``fusion``
    chose (its smallest setting where it chose none), each member's pilot its own,
    averaged over the members and scaled by ``ERROR_SCALE``.  ``members`` are the
    network's estimates ``(K, C, *spatial)`` before the fusion, ``fitted`` the pixels
    each one fitted."""
    patch, scale = (fusion.patch, fusion.scale) if fusion.weight > 0 else FUSION_GRID[0]
    y = target[0]
    variances = [
        wiener_error(y, member, patch, scale, fitted_residual_power(y, member, seen, patch))
        for member, seen in zip(members, fitted)
    ]
    return ERROR_SCALE * (sum(variances) / len(variances)).sqrt()[None]


def blend_weight(filtered, members, y, held) -> float:
    """The weight ``w`` in [0, 1] minimising ``|w f + (1 - w) m - y|^2`` over the held-out
    pixels of each member ``m`` (``held[k]``) and its filtered counterpart ``f``."""
    along, across = 0.0, 0.0
    for k, (f, m) in enumerate(zip(filtered, members)):
        where = held[k].expand_as(y) > 0
        step = (f - m)[where]
        along += float((step * (y - m)[where]).sum())
        across += float((step * step).sum())
    return min(max(along / across, 0.0), 1.0) if across > 0 else 0.0
