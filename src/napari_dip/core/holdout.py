"""The automatic stop: score the estimate on pixels held out of the fit.

A random part of the observed pixels is left out of the data term; the data
term on them, for the current estimate, falls while the network learns the
image and rises once it fits the noise around them.  With noise independent
of the noise at the nearest fitted pixel, its expectation is the estimate's
error there plus the noise level, so its minimum marks the best estimate
without ground truth (self-validation: Li et al. 2021).

Camera noise is not always independent from pixel to pixel: interpolation
(demosaicing, resampling, some sCMOS corrections) spreads it over
neighbours, and a network fitting the neighbours then predicts the held-out
noise too, so the score keeps falling and the fit runs on into the noise.
``hole_size`` detects such noise; held-out pixels are then the centres of
square holes, so the nearest fitted pixel is two pixels away.

Inpainting asks more of an estimate than single held-out pixels do: filling a
hole means reaching far from every known pixel.  There the held-out pixels can
be shaped like the mask's holes (``mask_shaped``): copies of the mask moved
onto known pixels, so that the score measures the estimate where it has to
fill, and a classical fill can be scored on the same pixels
(``core.classical``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["HOLE_SHAPES", "HoldoutStop", "hole_size", "mask_shaped", "neighbour_ratio"]

#: How held-out pixels are placed: at random, or in copies of the mask's holes.
HOLE_SHAPES = ("pixels", "mask")

#: Below this ``neighbour_ratio`` the noise counts as correlated between neighbours.
CORRELATED_BELOW = 0.55
#: Side of the holes around held-out pixels when it does.
CORRELATED_HOLE = 5


def _robust_variance(values: torch.Tensor) -> torch.Tensor:
    """Variance from the median absolute deviation: edges and spots barely move it."""
    deviation = (values - values.median()).abs().median()
    return (1.4826 * deviation) ** 2


def neighbour_ratio(image: torch.Tensor, known: torch.Tensor | None = None) -> float:
    """How much of the noise neighbours share: ~1 for independent noise, lower when shared.

    The robust variance of second differences between Y/X neighbours
    (``x[i-1] - 2 x[i] + x[i+1]``) over that of second differences between
    pixels two apart (``x[i-2] - 2 x[i] + x[i+2]``), averaged over channels.
    For independent noise both are six times the noise variance; noise with
    correlation ``r1, r2, ...`` at distances 1, 2, ... gives
    ``(6 - 8 r1 + 2 r2) / (6 - 8 r2 + 2 r4)``.  Second differences cancel
    smooth signal, so the image's own structure barely counts.  ``image`` is
    ``(1, C, *spatial)``; ``known`` (broadcastable to it), when given, limits
    the differences to known pixels.
    """
    ratios = []
    for c in range(image.shape[1]):
        channel = image[0, c].float()
        mask = None if known is None else known.expand_as(image)[0, c]
        variances = []
        for step in (1, 2):
            differences = []
            for axis in (-1, -2):
                n = channel.shape[axis] - 2 * step
                if n < 1:
                    continue
                before, centre, after = (channel.narrow(axis, s * step, n) for s in (0, 1, 2))
                difference = before - 2 * centre + after
                if mask is not None:
                    inside = mask.narrow(axis, 0, n) & mask.narrow(axis, step, n)
                    difference = difference[inside & mask.narrow(axis, 2 * step, n)]
                differences.append(difference.flatten())
            values = torch.cat(differences) if differences else torch.zeros(0)
            variances.append(float(_robust_variance(values)) if values.numel() > 1 else 0.0)
        near, far = variances
        if far > 0:
            ratios.append(near / far)
    return sum(ratios) / len(ratios) if ratios else 1.0


def hole_size(image: torch.Tensor, known: torch.Tensor | None = None) -> int:
    """1 for noise independent between neighbours, ``CORRELATED_HOLE`` when they share it."""
    return 1 if neighbour_ratio(image, known) >= CORRELATED_BELOW else CORRELATED_HOLE


def _grown(mask: torch.Tensor, side: int) -> torch.Tensor:
    """``mask`` ``(members, 1, *spatial)`` (0 or 1) grown by a ``side``-wide Y/X square."""
    spatial = mask.dim() - 2
    window = (1,) * (spatial - 2) + (side, side)
    pool = (F.max_pool2d, F.max_pool3d)[spatial - 2]
    return pool(mask, window, stride=1, padding=tuple(n // 2 for n in window))


def mask_shaped(observed: torch.Tensor, fraction: float, members: int, seed: int) -> torch.Tensor:
    """Held-out pixels shaped like the holes of ``observed`` (``(1, C, *spatial)``, 1 =
    known), ``(members, 1, *spatial)``: for each member, copies of the missing pixels
    moved by random Y/X offsets (cyclically), kept where every channel is known, whole
    connected pieces at a time and apart from the pieces already held out, until about
    ``fraction`` of the known pixels is held out.

    A mask of scattered pixels gives scattered pixels, a mask of round holes gives
    round blobs of their size (cut where they meet a real hole).  Holes too big for
    their copies to fit (more than ``fraction`` of the known pixels) leave single
    pixels at random to make up the rest.
    """
    from scipy import ndimage

    missing = (observed < 0.5).any(1)[0].cpu().numpy()  # (*spatial)
    known = ~missing
    wanted = fraction * known.sum()
    rng = np.random.default_rng(seed)
    held = np.zeros((members, *missing.shape), bool)
    for k in range(members):
        for _ in range(64):  # a few copies are enough unless the holes are tiny
            room = wanted - held[k].sum()
            if room < 1:
                break
            shift = [int(rng.integers(n)) for n in missing.shape[-2:]]
            # Not touching pieces already held out: two copies would make a bigger hole.
            copy = (
                np.roll(missing, shift, axis=(-2, -1)) & known & ~ndimage.binary_dilation(held[k])
            )
            pieces, count = ndimage.label(copy)
            if count == 0:
                continue
            sizes = np.bincount(pieces.ravel())[1:]
            fits = sizes <= room  # a piece bigger than what is left would hold out too much
            keep = fits & (rng.random(count) < min(1.0, room / max(sizes[fits].sum(), 1)))
            held[k] |= keep[pieces - 1] & (pieces > 0)
        if held[k].sum() < wanted / 2:  # holes too big to copy: single pixels make up the rest
            share = (wanted - held[k].sum()) / known.sum()
            held[k] |= (rng.random(missing.shape) < share) & known & ~held[k]
    return torch.from_numpy(held[:, None].astype(np.float32)).to(observed.device)


class HoldoutStop:
    """Stop when the fit stops predicting pixels it never saw.

    About a ``fraction`` of the observed pixels is held out of the data term,
    in square Y/X holes ``block`` pixels wide, scored at their centres.  Each
    of ``members`` has its own holes.  The fit stops ``patience`` iterations
    after the score's minimum (reached at ``min_iter`` or later), or after its
    last fall by more than ``tolerance`` of its value, and returns the
    estimate at the minimum.  ``held`` ``(members, 1, *spatial)`` places the held-out
    pixels instead (e.g. ``mask_shaped``), each a hole of its own.
    """

    def __init__(
        self,
        target: torch.Tensor,
        fraction: float,
        patience: int,
        min_iter: int,
        seed,
        members: int = 1,
        block: int = 1,
        tolerance: float = 0.0,
        held: torch.Tensor | None = None,
    ):
        if held is None:
            generator = torch.Generator().manual_seed(seed)
            spatial = target.shape[2:]
            centres = torch.rand((members, 1, *spatial), generator=generator)
            held = centres < fraction / block**2
        self.held = held.float().to(target.device)
        self.fitted = 1.0 - (_grown(self.held, block) if block > 1 else self.held)
        self.block = block
        self.patience, self.min_iter, self.tolerance = patience, min_iter, tolerance
        self.best_loss = math.inf
        self.best_iteration = 0
        self._gained_loss = math.inf  # the score at the last gain by more than the tolerance
        self._gained_iteration = 0

    @classmethod
    def for_fit(cls, target, recipe, seed, warm_started: bool, observed=None) -> HoldoutStop:
        """The rule a fit of ``recipe`` uses on ``target`` (``observed``: its known pixels).

        A warm start begins near a good estimate: its best comes early, so the
        rule may pick from the first iteration and waits half as long.  Holes
        of ``recipe.stop_block`` pixels, or of the size the noise calls for
        (``hole_size``) when it is None, around pixels placed at random, or, with
        ``recipe.stop_shape == "mask"`` and a mask, shaped like its holes.
        """
        patience, min_iter = recipe.stop_patience, recipe.stop_min_iter
        if warm_started:
            patience, min_iter = max(1, patience // 2), 1
        block = recipe.stop_block
        if block is None:
            block = hole_size(target, None if observed is None else observed > 0)
        fraction, members, tolerance = recipe.stop_holdout, recipe.members, recipe.stop_tolerance
        held = None
        if recipe.stop_shape == "mask" and observed is not None:
            held = mask_shaped(observed, fraction, members, seed % 2**32)
        return cls(target, fraction, patience, min_iter, seed, members, block, tolerance, held)

    def far_from_fitted(self) -> torch.Tensor:
        """The held-out pixels at least two pixels from every fitted one, ``(members, 1,
        *spatial)``: the centres of single-pixel holes (independent noise), else each hole's
        core (3x3 of a 5-wide hole: nine times the centres, for a steadier score)."""
        if self.block == 1:
            return self.held
        return 1.0 - _grown(self.fitted, 3)

    def update(self, loss: float, iteration: int) -> bool:
        """Take the data term on the held-out pixels (each member on its own) of one
        estimate; True when it is the best so far."""
        if iteration >= self.min_iter and loss < self.best_loss:
            self.best_loss, self.best_iteration = loss, iteration
            if loss < self._gained_loss * (1 - self.tolerance):
                self._gained_loss, self._gained_iteration = loss, iteration
            return True
        return False

    def should_stop(self, iteration: int) -> bool:
        """Whether ``patience`` iterations went by without the score falling by more than
        ``tolerance`` (a fraction of it) below its value at the last such gain: with no
        noise to fit (super-resolution, inpainting of a clean image) it falls ever more
        slowly instead of rising again."""
        last = self._gained_iteration
        return last > 0 and iteration - last >= self.patience
