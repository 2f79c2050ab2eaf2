"""Tiles and their blending: the grid, the weights, seams, the output grid of super-resolution."""

import numpy as np
import pytest

from napari_dip.core.presets import PRESETS
from napari_dip.imaging.tiling import Blender, blend_weights, scale_region, tile_grid, tile_starts

FAST = PRESETS["fast"]
GIB = 2**30


def blend(image: np.ndarray, tile_yx, overlap: int, tiles=None) -> np.ndarray:
    """Cut ``image`` into tiles (or take ``tiles(region)``) and blend them back."""
    blender = Blender(image.shape)
    for region in tile_grid(image.shape[-2:], tile_yx, overlap):
        piece = image[(Ellipsis, *region)] if tiles is None else tiles(region)
        blender.add(piece, region, blend_weights(region, image.shape[-2:], overlap))
    return blender.result()


# --- tiles -------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, tile, overlap",
    [
        (100, 40, 8),
        (256, 64, 16),
        (257, 64, 16),
        (10, 3, 0),
        (300, 100, 99),
        (64, 64, 8),
        (50, 64, 8),
    ],
)
def test_tile_starts_cover_with_equal_tiles_and_the_overlap(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    length = min(tile, size)
    assert starts[0] == 0 and starts[-1] + length == size
    assert starts == sorted(set(starts))
    assert all(b - a <= length - overlap for a, b in zip(starts, starts[1:]))
    covered = np.zeros(size, int)
    for start in starts:
        covered[start : start + length] += 1
    assert covered.min() >= 1


def test_tile_starts_shift_the_last_tile_inward():
    assert tile_starts(100, 40, 8) == [0, 32, 60]
    assert tile_starts(64, 64, 8) == [0]
    assert tile_starts(50, 64, 80) == [0]  # one tile: the overlap does not matter


@pytest.mark.parametrize(
    "args, error",
    [
        ((100, 40, 40), ValueError),
        ((100, 0, 0), ValueError),
        ((0, 40, 8), ValueError),
        ((100, 40, -1), ValueError),
        ((100, 40.5, 8), TypeError),
    ],
)
def test_tile_starts_rejects_bad_arguments(args, error):
    with pytest.raises(error):
        tile_starts(*args)


def test_tile_grid_is_row_major_with_equal_tiles():
    regions = tile_grid((100, 70), (40, 32), 8)
    assert len(regions) == 3 * 3
    assert [r[0] for r in regions[:3]] == [regions[0][0]] * 3
    assert {(r[0].stop - r[0].start, r[1].stop - r[1].start) for r in regions} == {(40, 32)}
    count = np.zeros((100, 70), int)
    for region in regions:
        count[region] += 1
    assert count.min() >= 1


# --- weights and blending ----------------------------------------------------


def test_blend_weights_ramp_towards_neighbours_and_stay_one_at_the_border():
    weight = blend_weights((slice(0, 40), slice(30, 70)), (100, 70), 16)
    assert weight.dtype == np.float32 and weight.shape == (40, 40)
    assert weight.min() > 0
    assert weight[0, -1] == 1  # top and right touch the image border
    assert weight[0, 0] < 0.01 and weight[-1, -1] < 0.01  # left and bottom have neighbours
    assert np.all(weight[:24, 16:] == 1)
    assert np.all(blend_weights((slice(0, 9), slice(0, 5)), (9, 5), 4) == 1)


def test_blending_a_constant_gives_the_constant():
    image = np.full((2, 90, 75), 3.7, np.float32)
    np.testing.assert_allclose(blend(image, (32, 40), 8), image, rtol=1e-6)


def test_blending_tiles_of_a_ramp_reconstructs_it():
    y, x = np.mgrid[:70, :130].astype(np.float32)
    image = np.stack([0.01 * y + 0.02 * x + 1, 3 - 0.05 * x])
    np.testing.assert_allclose(blend(image, (48, 48), 12), image, atol=1e-5)


@pytest.mark.parametrize("size", [100, 90])  # overlaps of exactly 20, and of 30 > 20
def test_tiles_differing_by_a_constant_blend_without_a_seam(size):
    image = np.zeros((1, 8, size), np.float32)

    def offset(region):  # each tile is off by its index: 0, then 1
        return np.full((1, 8, 60), region[1].start > 0, np.float32)

    row = blend(image, (8, 60), 20, offset)[0, 0]
    assert row[0] == 0 and row[-1] == 1
    assert np.all(np.diff(row) >= 0)
    assert np.abs(np.diff(row)).max() < 2 / 20  # a hard seam would jump by 1


def test_scale_region_maps_to_the_finer_grid():
    assert scale_region((slice(2, 5), slice(0, 4)), 3) == (slice(6, 15), slice(0, 12))
    with pytest.raises(ValueError):
        scale_region((slice(None, 5), slice(0, 4)), 2)


def test_super_resolution_tiles_blend_on_the_output_grid():
    factor, overlap = 2, 6
    low, high = (40, 50), (80, 100)
    blender = Blender((3, *high))
    for region in tile_grid(low, (24, 24), overlap):
        out = scale_region(region, factor)
        tile = np.full((3, 48, 48), 0.25, np.float32)
        blender.add(tile, out, blend_weights(out, high, overlap * factor))
    np.testing.assert_allclose(blender.result(), 0.25, rtol=1e-6)


def test_preview_fills_uncovered_pixels_and_shows_the_pending_tile():
    shape = (2, 40, 40)
    regions = tile_grid(shape[-2:], (24, 24), 8)
    weights = [blend_weights(r, shape[-2:], 8) for r in regions]
    blender = Blender(shape)
    blender.add(np.ones((2, 24, 24)), regions[0], weights[0])
    fallback = np.full(shape[-2:], 5.0)
    preview = blender.preview(fallback)
    assert preview.shape == shape and preview.dtype == np.float32
    assert np.all(preview[:, :24, :24] == 1) and np.all(preview[:, 30:, 30:] == 5)
    live = blender.preview(fallback, pending=(np.ones((2, 24, 24)), regions[3], weights[3]))
    assert np.all(live[:, 30:, 30:] == 1) and np.all(live[:, :16, 30:] == 5)
    with pytest.raises(ValueError, match="not covered"):
        blender.result()


def test_blender_rejects_mismatched_tiles():
    blender = Blender((2, 20, 20))
    region = (slice(0, 10), slice(0, 10))
    with pytest.raises(ValueError, match="shape"):
        blender.add(np.ones((10, 10)), region, np.ones((10, 10)))
    with pytest.raises(ValueError, match="positive"):
        blender.add(np.ones((2, 10, 10)), region, np.zeros((10, 10)))
