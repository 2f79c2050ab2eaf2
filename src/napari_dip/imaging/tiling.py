"""Cutting an image into overlapping YX tiles and blending the tiles' results back.

An image too large for one fit is restored tile by tile.  Along each axis all
tiles have the same length, so one network's weights can warm-start the next
tile.  Neighbouring tiles overlap, and across the overlap each tile's weight
ramps down towards its edge (a raised cosine), so the blend has no seams.
"""

from __future__ import annotations

import operator

import numpy as np

__all__ = ["Blender", "blend_weights", "scale_region", "tile_grid", "tile_starts"]

Region = tuple[slice, slice]


def _integer(name: str, value, minimum: int) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``min(tile, size)`` covering ``[0, size)``.

    Consecutive tiles overlap by at least ``overlap`` pixels.  The last tile is
    shifted inward to end at ``size``, so it may overlap its neighbour more.
    """
    size = _integer("size", size, 1)
    tile = _integer("tile", tile, 1)
    overlap = _integer("overlap", overlap, 0)
    if tile >= size:
        return [0]
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    return list(range(0, size - tile, tile - overlap)) + [size - tile]


def tile_grid(shape_yx: tuple[int, int], tile_yx: tuple[int, int], overlap: int) -> list[Region]:
    """The ``(Y, X)`` slices of the tiles covering an image of ``shape_yx``, row-major."""
    if len(shape_yx) != 2 or len(tile_yx) != 2:
        raise ValueError(f"shape_yx and tile_yx need two values each, got {shape_yx}, {tile_yx}")
    (height, width), (tile_y, tile_x) = shape_yx, tile_yx
    rows = [slice(y, y + min(tile_y, height)) for y in tile_starts(height, tile_y, overlap)]
    columns = [slice(x, x + min(tile_x, width)) for x in tile_starts(width, tile_x, overlap)]
    return [(row, column) for row in rows for column in columns]


def _bounds(piece: slice, size: int) -> tuple[int, int]:
    start, stop, step = piece.indices(size)
    if step != 1 or stop <= start:
        raise ValueError(f"a region needs non-empty slices with step 1, got {piece}")
    return start, stop


def _ramp(start: int, stop: int, size: int, overlap: int) -> np.ndarray:
    """1D weight of a tile: rises over ``overlap`` pixels on each side that has a neighbour."""
    weight = np.ones(stop - start)
    if overlap == 0:
        return weight
    # Sampled at pixel centres, so it never reaches 0 and the two ramps of an overlap sum to 1.
    inside = np.minimum(np.arange(stop - start) + 0.5, overlap)
    rise = np.sin(0.5 * np.pi * inside / overlap) ** 2
    if start > 0:
        weight = np.minimum(weight, rise)
    if stop < size:
        weight = np.minimum(weight, rise[::-1])
    return weight


def blend_weights(region: Region, shape_yx: tuple[int, int], overlap: int) -> np.ndarray:
    """Blending weight of the tile ``region`` of an image of ``shape_yx``, float32.

    On each side that borders another tile the weight rises from near 0 at the
    edge to 1 at ``overlap`` pixels inside (a raised cosine); on a side that
    touches the image border it is 1 up to the border.  It is positive
    everywhere, so tiles covering the image give a positive weight sum.
    """
    overlap = _integer("overlap", overlap, 0)
    ramps = [_ramp(*_bounds(piece, size), size, overlap) for piece, size in zip(region, shape_yx)]
    return np.outer(*ramps).astype(np.float32)


def scale_region(region: Region, factor: int) -> Region:
    """The slices of ``region`` on a grid ``factor`` times finer (super-resolution output)."""
    factor = _integer("factor", factor, 1)
    for piece in region:
        if piece.start is None or piece.stop is None or piece.step not in (None, 1):
            raise ValueError(f"scale_region needs explicit start and stop with step 1, got {piece}")
    return tuple(slice(piece.start * factor, piece.stop * factor) for piece in region)


class Blender:
    """Weighted average of tiles of an image of ``shape`` ``(..., Y, X)``.

    Leading axes (channels, Z) are carried whole: the tile of a region of
    ``h`` by ``w`` pixels has shape ``(..., h, w)`` and its weight ``(h, w)``.
    """

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(_integer("shape", n, 1) for n in shape)
        if len(self.shape) < 2:
            raise ValueError(f"shape needs at least the Y and X axes, got {shape}")
        self._total = np.zeros(self.shape, np.float32)
        self._weight = np.zeros(self.shape[-2:], np.float32)

    def _checked(self, tile, region: Region, weight) -> tuple[np.ndarray, np.ndarray]:
        tile = np.asarray(tile, np.float32)
        weight = np.asarray(weight, np.float32)
        expected = self._total[(Ellipsis, *region)].shape
        if tile.shape != expected or weight.shape != expected[-2:]:
            raise ValueError(
                f"region {region} needs a tile of shape {expected} and a weight of shape "
                f"{expected[-2:]}, got {tile.shape} and {weight.shape}"
            )
        if not np.all(weight > 0):
            raise ValueError("tile weights must be positive (see blend_weights)")
        return tile, weight

    def add(self, tile, region: Region, weight) -> None:
        """Accumulate ``weight * tile`` and ``weight`` over ``region``."""
        tile, weight = self._checked(tile, region, weight)
        self._total[(Ellipsis, *region)] += weight * tile
        self._weight[region] += weight

    @property
    def covered(self) -> np.ndarray:
        """``(Y, X)`` booleans: True where some tile has been added."""
        return self._weight > 0

    def result(self) -> np.ndarray:
        """The blend, float32 of ``shape``; every pixel must be covered."""
        if not self.covered.all():
            raise ValueError(f"{np.count_nonzero(~self.covered)} pixels are not covered by a tile")
        return self._total / self._weight

    def preview(self, fallback=None, pending=None) -> np.ndarray:
        """The blend so far, float32 of ``shape``, e.g. to show progress.

        Pixels no tile covers yet come from ``fallback`` (broadcast to
        ``shape``; zeros when None).  ``pending``, a ``(tile, region, weight)``
        triple, is blended in for this preview only: the live state of the
        tile being fitted.
        """
        if fallback is None:
            out = np.zeros(self.shape, np.float32)
        else:
            out = np.array(np.broadcast_to(fallback, self.shape), np.float32)
        np.divide(self._total, self._weight, out=out, where=self.covered)
        if pending is not None:
            tile, region, weight = pending
            tile, weight = self._checked(tile, region, weight)
            index = (Ellipsis, *region)
            out[index] = (self._total[index] + weight * tile) / (self._weight[region] + weight)
        return out
