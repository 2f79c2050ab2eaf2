"""The observation as the networks' input code (``Recipe.input == "observation"``).

Instead of random noise, each member sees the observation brought onto the
estimate's grid: for super-resolution a bicubic upsampling of the
low-resolution image, for inpainting the image with its holes filled smoothly.
The network then starts from the classical estimate's structure and the fit
adds what the forward model and the network's prior call for.

The pixels the automatic stop holds out stay in the code: with no noise to
fit, its score then says when the estimate stops improving (``Recipe.stop_tolerance``)
rather than when it starts to fit noise.  A code without them (filled from
their neighbours) stopped x4 super-resolution of a FISH crop at 290 iterations,
31.6 dB, below bicubic upsampling's 31.7 dB; with them it reached 32.7 dB.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["filled", "observation_code"]


def filled(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """``values`` ``(N, C, *spatial)`` with the pixels where ``known`` (0 or 1,
    broadcastable to ``values``) is 0 filled smoothly from the known ones (push-pull: the
    known pixels' means on coarser and coarser grids, brought back up bilinearly).  Each
    channel and each plane (Y, X) on its own."""
    known = known.expand_as(values) > 0
    if bool(known.all()):
        return values
    planes = values.reshape(-1, 1, *values.shape[-2:])
    weights = known.reshape(planes.shape).to(values.dtype)
    return values.where(known, _push_pull(planes * weights, weights).reshape(values.shape))


def _push_pull(weighted: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The weighted mean ``weighted / weights`` wherever ``weights > 0``, and elsewhere the
    same one grid coarser, brought up bilinearly."""
    mean = weighted / weights.clamp(min=1e-12)
    if bool((weights > 0).all()) or min(weights.shape[-2:]) <= 1:
        return mean
    coarse = _push_pull(
        F.avg_pool2d(weighted, 2, ceil_mode=True), F.avg_pool2d(weights, 2, ceil_mode=True)
    )
    up = F.interpolate(coarse, size=weights.shape[-2:], mode="bilinear", align_corners=False)
    return torch.where(weights > 0, mean, up)


def observation_code(
    target: torch.Tensor, observed: torch.Tensor | None, out_shape: tuple[int, ...]
) -> torch.Tensor:
    """The code ``(1, C, *out_shape)``: the target ``(1, C, *spatial)`` with the pixels
    ``observed`` marks 0 filled (None: all observed), upsampled bicubically onto
    ``out_shape`` when that is larger in Y and X (super-resolution)."""
    code = target.float() if observed is None else filled(target.float(), observed.to(target))
    if tuple(code.shape[-2:]) == tuple(out_shape[-2:]):
        return code
    planes = code.reshape(-1, 1, *code.shape[-2:])  # each channel and plane on its own
    up = F.interpolate(planes, size=tuple(out_shape[-2:]), mode="bicubic", align_corners=False)
    return up.reshape(1, code.shape[1], *out_shape)
