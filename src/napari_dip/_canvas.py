"""The output of a restoration, assembled block by block."""

from __future__ import annotations

import numpy as np

from ._plan import Block, Plan
from .imaging.tiling import Blender, blend_weights, scale_region

__all__ = ["Canvas"]


class Canvas:
    """The output being assembled, normalised and canonical: finished blocks' results
    where they ran, the input (repeated for super-resolution) elsewhere.

    Tiles of a plane are blended (``Blender``) until its last tile is in.
    ``spread`` gathers the members' spread likewise (NaN where no fit ran).
    """

    def __init__(self, target: np.ndarray, plan: Plan):
        factor = plan.factor
        self.image = np.repeat(np.repeat(target, factor, axis=-2), factor, axis=-1)
        uncertain = plan.gives_uncertainty
        self.spread = np.full(self.image.shape, np.nan, np.float32) if uncertain else None
        self._plan = plan
        self._blender = self._spread_blender = None
        self._block: Block | None = None

    def begin(self, block: Block) -> None:
        plan = self._plan
        self._block = block
        self._region = scale_region(block.region, plan.factor)
        self._weight = blend_weights(
            self._region, self.image.shape[-2:], plan.overlap * plan.factor
        )
        if self._blender is None:
            self._blender = Blender(self.image[block.output_index].shape)
            if self.spread is not None:
                self._spread_blender = Blender(self._blender.shape)

    def _as_block(self, estimate: np.ndarray) -> np.ndarray:
        """A fit's ``(C, *spatial)`` output as a canonical ``(C, Z, Y, X)`` block."""
        return estimate if self._plan.volume else estimate[:, np.newaxis]

    def preview(self, estimate: np.ndarray) -> np.ndarray:
        """The whole output with the current block's ``estimate`` blended in."""
        whole = self.image.copy()
        index = self._block.output_index
        pending = (self._as_block(estimate), self._region, self._weight)
        whole[index] = self._blender.preview(fallback=self.image[index], pending=pending)
        return whole

    def add(self, result: np.ndarray, spread: np.ndarray | None) -> None:
        """The current block's result (and its uncertainty: NaN where the fit gave none,
        e.g. stopped before its blend) is in."""
        self._blender.add(self._as_block(result), self._region, self._weight)
        if self._spread_blender is not None:
            spread = np.full_like(result, np.nan) if spread is None else spread
            self._spread_blender.add(self._as_block(spread), self._region, self._weight)
        if self._block.last_tile:
            index = self._block.output_index
            self.image[index] = self._blender.result()
            if self._spread_blender is not None:
                self.spread[index] = self._spread_blender.result()
            self._blender = self._spread_blender = None

    def close(self) -> None:
        """After a stop within a tiled plane, keep its finished tiles."""
        if self._blender is None:
            return
        index = self._block.output_index
        self.image[index] = self._blender.preview(fallback=self.image[index])
        if self._spread_blender is not None:
            self.spread[index] = self._spread_blender.preview(fallback=self.spread[index])
        self._blender = self._spread_blender = None
