"""The classical answer weighed in: a task's classical estimate blended with the network's.

A user cannot tell in advance on which image the network beats the one-call
classical method (``inpaint_biharmonic`` for inpainting), so a fit ends by
blending the two: ``w`` network plus ``1 - w`` classical, with the weight whose
blend predicts best the pixels the automatic stop held out.  For inpainting
those are shaped like the mask's holes (``holdout.mask_shaped``), so the
score measures filling, not the easy prediction of a pixel from its four
neighbours.  The classical estimate scored there is computed without them
(it must not see what it is scored on); the one blended into the result is
computed from every known pixel, so the blend costs the classical side no
data.  ``w = 0`` gives the classical estimate exactly.

On 16 fills of 4 images (two masks, two seeds), the weight the held-out holes
chose was within 0.2 of the best weight in hindsight on 14 (docs/inpainting.md).

A classical method with a setting (deconvolution's Richardson-Lucy: its
iteration count) computes its estimate for each setting it offers; the held-out
pixels choose the setting first, then the weight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "NETWORK_WEIGHTS",
    "RL_ITERATIONS",
    "ClassicalBlend",
    "biharmonic",
    "choose_weight",
    "richardson_lucy",
]

#: The network's weights tried; 0 is the classical estimate alone.
NETWORK_WEIGHTS = tuple(i / 20 for i in range(21))
#: Richardson-Lucy's iteration counts the held-out pixels choose among.
RL_ITERATIONS = (2, 4, 6, 8, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 130, 160, 200)


@dataclass(frozen=True)
class ClassicalBlend:
    """What the blend with the classical estimate chose: the method, the network's weight
    (0: the classical estimate alone, 1: the network's), the held-out scores (the data
    term on the held-out pixels) of the network's estimate, the classical one and the
    blend, and the method's setting they chose (Richardson-Lucy's iteration count; None
    for a method without one)."""

    method: str
    network_weight: float
    held_out_network: float
    held_out_classical: float
    held_out_blend: float
    setting: int | None = None


def biharmonic(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """``values`` ``(N, C, *spatial)`` with the pixels where ``known`` (0 or 1,
    broadcastable) is 0 filled by scikit-image's biharmonic inpainting, each image and
    channel on its own (a volume as a volume); known pixels are returned unchanged."""
    from skimage.restoration import inpaint_biharmonic

    missing = (known.expand_as(values) < 0.5).cpu().numpy()
    array = values.detach().cpu().numpy().astype(np.float64)
    filled = array.copy()
    for index in np.ndindex(*array.shape[:2]):
        if missing[index].any() and not missing[index].all():
            filled[index] = inpaint_biharmonic(array[index], missing[index])
    return torch.from_numpy(filled).to(values.device, values.dtype)


def richardson_lucy(
    values: torch.Tensor,
    known: torch.Tensor,
    blur: Callable[[torch.Tensor], torch.Tensor],
    adjoint: Callable[[torch.Tensor], torch.Tensor],
    counts=RL_ITERATIONS,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Richardson-Lucy deconvolution of ``values`` ``(N, C, *spatial)`` from the pixels
    ``known`` (0 or 1, broadcastable) marks: ``(count, estimate)`` after each of
    ``counts`` iterations, one at a time (a volume's many estimates are never all held).

    ``blur`` is the forward model (a normalised PSF) and ``adjoint`` its transpose (the
    flipped PSF).  The multiplicative update ``x <- x adjoint(k y / blur(x)) /
    adjoint(k)`` weighs each pixel by ``k``, so pixels held out (``k = 0``) are never
    seen; scikit-image's ``richardson_lucy`` has no such weights and pads with zeros
    where the fit's model reflects.  Values below zero (a normalised background's
    noise) are lifted by a constant first, which a normalised PSF carries through
    unchanged, and taken off the result.  It starts from each channel's mean.
    """
    mask = known.expand_as(values).to(values.dtype)
    lift = max(0.0, 1e-3 - float(values[mask > 0].min())) if bool((mask > 0).any()) else 0.0
    data = (values + lift) * mask
    spatial = tuple(range(2, values.dim()))
    mean = data.sum(spatial, keepdim=True) / mask.sum(spatial, keepdim=True).clamp_min(1)
    x = mean.clamp_min(1e-3).expand_as(values)
    normaliser = adjoint(mask).clamp_min(1e-12)
    wanted = sorted(set(counts))
    for iteration in range(1, wanted[-1] + 1):
        x = x * adjoint(data / blur(x).clamp_min(1e-12)) / normaliser
        if iteration in wanted:
            yield iteration, x - lift


def choose_weight(
    network: torch.Tensor,
    classical: torch.Tensor,
    score: Callable[[torch.Tensor], float],
    method: str,
    setting: int | None = None,
) -> ClassicalBlend:
    """The network's weight ``w`` in ``NETWORK_WEIGHTS`` whose blend ``w network + (1 - w)
    classical`` has the lowest ``score`` (the data term on the held-out pixels), the
    classical estimate being computed without them; ties go to the classical estimate."""
    scores = [score(w * network + (1 - w) * classical) for w in NETWORK_WEIGHTS]
    best = min(range(len(scores)), key=lambda i: (scores[i], i))
    return ClassicalBlend(
        method, NETWORK_WEIGHTS[best], scores[-1], scores[0], scores[best], setting
    )
