"""One array too big for a machine, restored tile by tile as a ``dask.array``."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._options import Options

__all__ = ["restore_dask"]


def restore_dask(array, task: str = "denoise", *, tile: int = 512, overlap: int = 32, **options):
    """A lazy restoration of a big 2D (YX) array, tile by tile, blended without seams.

    ``array`` (e.g. ``dask.array.from_zarr(...)``) is cut into ``tile`` by
    ``tile`` blocks; each is restored with ``overlap`` pixels of its
    neighbours around it (one Dask task each) and every output block is the
    blend of the restorations that cover it, with the raised-cosine weights
    of the library's own tiling.  Each tile is normalised on its own.
    Returns a ``dask.array`` in the input's units (float32); write it with
    ``.to_zarr(...)``.  ``options`` are those of ``napari_dip.Restoration``
    (the same seed for every tile; ``threads`` 1 by default, as tiles run side
    by side).

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from napari_dip import batch
    >>> image = da.from_array(np.random.default_rng(0).poisson(50, (64, 64)).astype(np.float32))
    >>> lazy = batch.restore_dask(image, tile=32, overlap=8, max_iter=3, seed=0)
    >>> lazy.numblocks, lazy.compute().shape
    ((2, 2), (64, 64))
    """
    import dask
    import dask.array as da

    if array.ndim != 2:
        raise ValueError(f"restore_dask takes a 2D (YX) array, got {array.ndim} axes")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be at least 0 and less than tile ({tile}), got {overlap}")
    options.setdefault("threads", 1)
    checked = replace(Options(**options), axes="YX")
    grid = _TileGrid(array.shape, tile, overlap)
    restored = {
        key: dask.delayed(_restore_tile)(array[grid.extended(*key)], task, checked)
        for key in grid.keys()
    }
    rows = []
    for y in grid.starts[0]:
        row = []
        for x in grid.starts[1]:
            tiles = [restored[key] for key in grid.neighbours(y, x)]
            block = dask.delayed(grid.assemble)(y, x, *tiles)
            row.append(da.from_delayed(block, grid.block_shape(y, x), dtype=np.float32))
        rows.append(row)
    return da.block(rows)


@dataclass(frozen=True)
class _TileGrid:
    """``restore_dask``'s tiles: blocks of ``tile`` pixels, each fitted with ``overlap`` more
    around it, keyed by their first pixel (Y, X)."""

    shape: tuple[int, int]
    tile: int
    overlap: int

    @property
    def starts(self) -> list[range]:
        return [range(0, n, self.tile) for n in self.shape]

    def keys(self) -> list[tuple[int, int]]:
        return [(y, x) for y in self.starts[0] for x in self.starts[1]]

    def block_shape(self, y: int, x: int) -> tuple[int, int]:
        return (min(self.tile, self.shape[0] - y), min(self.tile, self.shape[1] - x))

    def extended(self, y: int, x: int) -> tuple[slice, slice]:
        """The region fitted for the block at (y, x): the block and its overlap."""
        return tuple(
            slice(max(0, start - self.overlap), min(n, start + self.tile + self.overlap))
            for start, n in zip((y, x), self.shape)
        )

    def neighbours(self, y: int, x: int) -> list[tuple[int, int]]:
        """The blocks whose fitted region covers part of the block at (y, x)."""
        return [
            (ny, nx)
            for ny, nx in self.keys()
            if abs(ny - y) <= self.tile and abs(nx - x) <= self.tile
        ]

    def assemble(self, y: int, x: int, *tiles: np.ndarray) -> np.ndarray:
        """The block at (y, x): the blend of the restorations of ``neighbours(y, x)``."""
        from ..imaging.tiling import Blender, blend_weights

        own = tuple(slice(start, start + n) for start, n in zip((y, x), self.block_shape(y, x)))
        blender = Blender(self.block_shape(y, x))
        for key, image in zip(self.neighbours(y, x), tiles):
            region = self.extended(*key)
            weight = blend_weights(region, self.shape, self.overlap)
            crop = tuple(
                slice(max(o.start, r.start) - r.start, min(o.stop, r.stop) - r.start)
                for o, r in zip(own, region)
            )
            place = tuple(
                slice(max(o.start, r.start) - o.start, min(o.stop, r.stop) - o.start)
                for o, r in zip(own, region)
            )
            blender.add(image[crop], place, weight[crop])
        return blender.result()


def _restore_tile(part: np.ndarray, task: str, options: Options) -> np.ndarray:
    from .._restoration import Restoration

    return Restoration.from_options(task, np.asarray(part), options=options).run()
