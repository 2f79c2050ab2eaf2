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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["NETWORK_WEIGHTS", "ClassicalBlend", "biharmonic", "choose_weight"]

#: The network's weights tried; 0 is the classical estimate alone.
NETWORK_WEIGHTS = tuple(i / 20 for i in range(21))


@dataclass(frozen=True)
class ClassicalBlend:
    """What the blend with the classical estimate chose: the method, the network's weight
    (0: the classical estimate alone, 1: the network's), and the held-out scores (the
    data term on the held-out pixels) of the network's estimate, the classical one and
    the blend."""

    method: str
    network_weight: float
    held_out_network: float
    held_out_classical: float
    held_out_blend: float


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


def choose_weight(
    network: torch.Tensor,
    classical: torch.Tensor,
    score: Callable[[torch.Tensor], float],
    method: str,
) -> ClassicalBlend:
    """The network's weight ``w`` in ``NETWORK_WEIGHTS`` whose blend ``w network + (1 - w)
    classical`` has the lowest ``score`` (the data term on the held-out pixels), the
    classical estimate being computed without them; ties go to the classical estimate."""
    scores = [score(w * network + (1 - w) * classical) for w in NETWORK_WEIGHTS]
    best = min(range(len(scores)), key=lambda i: (scores[i], i))
    return ClassicalBlend(method, NETWORK_WEIGHTS[best], scores[-1], scores[0], scores[best])
