"""The input as the fits see it, and their estimates brought back to the input."""

from __future__ import annotations

import numpy as np

from ._plan import Block, Plan
from .imaging.axes import canonical_mask, from_canonical, to_canonical
from .imaging.guide_image import check_not_the_image, normalised_guide
from .imaging.intensity import Intensity, cast_result
from .imaging.tiling import scale_region

__all__ = ["Pixels"]


class Pixels:
    """The input as the fits see it, and their estimates brought back to the input.

    ``target`` is the input in the canonical (T, C, Z, Y, X) layout, each
    channel mapped to [0, 1] (``Intensity``), missing pixels set to 0;
    ``known`` marks the measured pixels when inpainting (else None).
    """

    def __init__(self, array: np.ndarray, mask, plan: Plan):
        self.plan = plan
        data = to_canonical(array, plan.axes)  # a view, normalised below in float64
        missing = None
        if plan.spec.data == "mask":
            missing = canonical_mask(mask, plan.axes, array.shape)
            _check_missing(data, missing, plan)
        self.intensity = Intensity(
            np.moveaxis(data, 1, 0),
            None if missing is None else np.moveaxis(missing, 1, 0),
            zero_floor=plan.options.noise == "poisson",
            zero=plan.options.offset,
        )
        target = np.moveaxis(self.intensity.normalise(np.moveaxis(data, 1, 0)), 0, 1)
        if missing is not None:
            target[np.broadcast_to(missing, target.shape)] = 0.0
        self.target = target
        self.known = None if missing is None else ~missing
        # The measured pixels, returned as they are (a copy: the caller may change theirs).
        keep = missing is not None and plan.options.keep_known
        self._measured = data.copy() if keep else None
        self.guide = None  # the guide image, (G, Y, X) in [0, 1] on the output grid
        if plan.options.guide is not None:
            _, _, _, height, width = self.target.shape
            grid = (height * plan.factor, width * plan.factor)
            what = "the result" if plan.factor > 1 else "the image"
            self.guide = normalised_guide(plan.options.guide, grid, what)
            if plan.factor == 1:  # the first frame and plane: a copy is one everywhere
                check_not_the_image(self.guide, self.target[0, :, 0])

    def guide_of(self, block: Block):
        """``block``'s guide as a ``(1, G, *spatial)`` tensor on its output grid: the guide
        image's region (the same at every plane of a volume), or the guide channel's
        pixels of the block's frame and planes (upsampled for super-resolution)."""
        import torch
        import torch.nn.functional as F

        plan = self.plan
        spatial = plan.out_shape(block)
        if self.guide is not None:
            region = self.guide[(slice(None), *scale_region(block.region, plan.factor))]
            guide = torch.from_numpy(np.ascontiguousarray(region))
            if plan.volume:
                guide = guide[:, None].expand(-1, spatial[0], -1, -1)
            return guide[None].contiguous()
        channel = plan.options.guide_channel
        part = self.target[(block.frame, slice(channel, channel + 1), block.planes, *block.region)]
        guide = torch.from_numpy(np.ascontiguousarray(part, np.float32))[None]  # (1, 1, Z, y, x)
        guide = guide if plan.volume else guide[:, :, 0]
        if plan.factor > 1:
            mode = "trilinear" if plan.volume else "bicubic"
            guide = F.interpolate(guide, size=spatial, mode=mode, align_corners=False)
        return guide.clamp(0, 1)

    def to_user(self, canonical: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Normalised (T, C, Z, Y, X) -> the input's layout and units, in ``dtype``.

        When inpainting with ``keep_known``, measured pixels are the input's own values.
        """
        restored = np.moveaxis(self.intensity.denormalise(np.moveaxis(canonical, 1, 0)), 0, 1)
        if self._measured is not None:
            restored = np.where(self.known, self._measured, restored)
        return from_canonical(cast_result(restored, dtype), self.plan.axes, self.plan.factor)

    def spread_to_user(self, canonical: np.ndarray) -> np.ndarray:
        """The members' spread, normalised (T, C, Z, Y, X), in the input's layout and units.

        Measured pixels kept when inpainting are certain: their spread is 0.
        """
        spread = np.moveaxis(self.intensity.rescale_spread(np.moveaxis(canonical, 1, 0)), 0, 1)
        if self._measured is not None:
            spread = np.where(self.known, 0.0, spread)
        return from_canonical(spread.astype(np.float32), self.plan.axes, self.plan.factor)


def _check_missing(data: np.ndarray, missing: np.ndarray, plan: Plan) -> None:
    """Inpainting: something to fill, something to fit in every block, finite known pixels."""
    count = np.broadcast_to(missing, data.shape).sum()
    if count == 0:
        raise ValueError("mask marks no pixel as missing (nonzero = missing): nothing to inpaint")
    if count == data.size:
        raise ValueError("mask marks every pixel as missing: there is nothing to fit")
    if data.dtype.kind == "f":
        bad = np.count_nonzero(~np.isfinite(data) & ~missing)
        if bad:
            raise ValueError(
                f"image has {bad} NaN or infinite value(s) outside the mask; "
                "mark them as missing in the mask too"
            )
    for block in plan.blocks:
        if block.of(missing).all():
            raise ValueError(
                f"the mask leaves no known pixel in {plan.where(block)}: "
                "there is nothing to fit there"
            )
