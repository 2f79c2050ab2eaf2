"""restore_dask: a large array restored tile by tile with Dask, blended without seams."""

import numpy as np
import pytest
from helpers import TINY_FAST

import napari_dip
from napari_dip import batch


@pytest.mark.slow
def test_restore_dask_blends_tiles_of_a_zarr_array_without_seams(tmp_path):
    import dask.array as da
    import zarr

    y, x = np.mgrid[:96, :96]
    clean = (100 + 50 * np.sin(x / 9.0) * np.cos(y / 11.0)).astype(np.float32)
    noisy = clean + np.random.default_rng(0).normal(0, 5, clean.shape).astype(np.float32)
    source = zarr.open_array(str(tmp_path / "big.zarr"), mode="w", shape=noisy.shape, dtype="f4")
    source[...] = noisy
    lazy = batch.restore_dask(
        da.from_zarr(str(tmp_path / "big.zarr")),
        tile=48,
        overlap=12,
        preset=TINY_FAST,
        max_iter=40,
        seed=0,
    )
    assert lazy.shape == (96, 96) and lazy.numblocks == (2, 2)
    lazy.to_zarr(str(tmp_path / "restored.zarr"))
    restored = zarr.open_array(str(tmp_path / "restored.zarr"), mode="r")[...]
    error = restored - clean
    steps = np.abs(np.diff(error, axis=1))
    at_seam, elsewhere = steps[:, 47], np.delete(steps, [47], axis=1)
    assert at_seam.mean() < 2 * elsewhere.mean()  # no jump where the tiles meet
    # Away from the overlaps, a tile's pixels are that tile's own restoration.
    alone = napari_dip.denoise(
        noisy[:60, :60], axes="YX", preset=TINY_FAST, max_iter=40, seed=0, threads=1
    )
    assert np.array_equal(restored[:36, :36], alone[:36, :36])
