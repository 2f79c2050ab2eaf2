"""A guide image in the fit: the networks' input code, and the blend that keeps it honest.

A guided fit feeds the guide (an image of the same scene, normalised to [0, 1])
to the networks instead of random noise, as the paper's flash / no-flash
example does.  The unguided fit of the same block, from the same seed and with
the same held-out pixels, then blends the two results (after denoising's
fusion, each its own): ``w`` guided plus ``1 - w`` unguided, with the weight
that predicts the held-out pixels best.
``w = 0`` is the unguided result itself and is kept unless a blend scores
better beyond doubt (``blend_guided``), so an unrelated guide costs time, not
quality; where the two fits err differently, a weight between them beats both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["CONFIDENCE", "GUIDE_WEIGHTS", "GuideBlend", "blend_guided", "guide_code"]

#: The guided estimate's weights tried; 0 is the unguided estimate.
GUIDE_WEIGHTS = tuple(i / 10 for i in range(11))
#: Standard errors by which a blend must beat the unguided estimate on held-out pixels.
CONFIDENCE = 2.0


@dataclass(frozen=True)
class GuideBlend:
    """The guided estimate's weight in the blend, and the held-out scores (the mean data
    term on the held-out pixels the blend is chosen on) of the guided estimates, the
    unguided ones and the blend."""

    guide_weight: float
    held_out_guided: float
    held_out_unguided: float
    held_out_blend: float


def guide_code(
    guide: torch.Tensor, padded: tuple[int, ...], members: int, flip: Callable | None
) -> torch.Tensor:
    """The guide ``(1, G, *spatial)`` as each of ``members``' input code: mirrored by
    ``flip(guide, k)`` for members that see the image mirrored (so that it lines up with
    what they fit), then padded at the end to ``padded`` like the random code."""
    pads = []
    for n, size in zip(reversed(guide.shape[2:]), reversed(padded)):
        pads += [0, size - n]
    guide = guide.to(torch.float32)
    codes = [guide if flip is None else flip(guide, k) for k in range(members)]
    return F.pad(torch.cat(codes), pads, mode="replicate")


def blend_guided(
    guided: tuple[torch.Tensor, torch.Tensor],
    unguided: tuple[torch.Tensor, torch.Tensor],
    terms: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, GuideBlend]:
    """The blend of two fits' estimates ``(members, C, *spatial)`` that held-out pixels
    show to be better than the unguided ones with the most confidence; the unguided
    estimates themselves when none is.

    Each fit comes as its estimates and the same as they are scored: equal, or, after
    denoising's fusion, the fused estimates of images that hold nothing of the held-out
    pixels (``fuse_members(..., scored=True)``).  ``terms(scored)`` are the data term's
    values at the held-out pixels.  A weight counts as better when its mean change in
    them, plus ``CONFIDENCE`` standard errors, is below zero: a few hundred held-out
    pixels score with noise, and a blend that only seems better must not replace the
    unguided result.
    """
    (guided, guided_scored), (unguided, unguided_scored) = guided, unguided
    base = terms(unguided_scored)
    weight, bound = 0.0, 0.0
    for w in GUIDE_WEIGHTS[1:]:
        change = terms(w * guided_scored + (1 - w) * unguided_scored) - base
        upper = float(change.mean() + CONFIDENCE * change.std() / math.sqrt(change.numel()))
        if upper < bound:
            weight, bound = w, upper
    blended = unguided if weight == 0 else weight * guided + (1 - weight) * unguided
    scored = weight * guided_scored + (1 - weight) * unguided_scored
    scores = (float(terms(e).mean()) for e in (guided_scored, unguided_scored, scored))
    return blended, GuideBlend(weight, *scores)
