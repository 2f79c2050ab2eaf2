"""Tiles and their blending; memory and time estimates, tile choice and memory budgets."""

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from napari_dip.core import estimate
from napari_dip.core.estimate import (
    FitEstimate,
    choose_tile,
    default_memory_budget,
    estimate_fit,
    format_bytes,
    parse_memory,
)
from napari_dip.core.nets import NetSpec, SkipNet, level_strides
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


# --- estimates ---------------------------------------------------------------


@pytest.fixture
def fixed_rate(monkeypatch):
    """Skip timing the CPU: 10 GFLOP/s."""
    monkeypatch.setattr(estimate, "_effective_rate", lambda device: 1e10)


def test_estimate_grows_linearly_with_pixels_and_with_the_network(fixed_rate):
    tiny = estimate_fit(FAST, (128, 128), 1)
    small = estimate_fit(FAST, (256, 256), 1)
    large = estimate_fit(FAST, (512, 512), 1)
    assert isinstance(small, FitEstimate) and large.network_shape == (512, 512)
    # A fixed part (the weights and their copies) plus a part per pixel.
    per_pixel = (large.tensor_bytes - small.tensor_bytes) / (512**2 - 256**2)
    assert (small.tensor_bytes - tiny.tensor_bytes) / (256**2 - 128**2) == pytest.approx(per_pixel)
    assert large.flops_per_iteration / small.flops_per_iteration == pytest.approx(4)
    assert 2.5 < large.peak_bytes / small.peak_bytes < 4
    assert large.seconds_per_iteration == pytest.approx(large.flops_per_iteration / 1e10)
    paper = estimate_fit(PRESETS["paper-denoising"], (256, 256), 1)
    assert paper.peak_bytes > 2 * small.peak_bytes
    assert paper.parameters > 2e6 > small.parameters
    assert small.describe().startswith("~") and "MB, ~" in small.describe()
    assert small.describe().endswith("s/iteration")


def test_estimate_of_a_stack_and_of_super_resolution(fixed_rate):
    stack = estimate_fit(FAST, (16, 128, 128), 1)
    plane = estimate_fit(FAST, (128, 128), 1)
    assert stack.network_shape == (16, 128, 128) and stack.tensor_bytes > 4 * plane.tensor_bytes
    sr = estimate_fit(FAST, (256, 256), 3, target_shape=(64, 64))
    assert sr.peak_bytes < estimate_fit(FAST, (256, 256), 3).peak_bytes


def test_estimate_of_an_ensemble_counts_its_members(fixed_rate):
    from dataclasses import replace

    one = estimate_fit(FAST, (256, 256), 1)
    four = estimate_fit(replace(FAST, members=4), (256, 256), 1)
    assert four.flops_per_iteration == pytest.approx(4 * one.flops_per_iteration)
    assert four.parameters == 4 * one.parameters
    # Members run one after the other: their activations are not all alive at once.
    assert one.peak_bytes < four.peak_bytes < 2 * one.peak_bytes


def test_saved_activations_counted_on_meta_match_the_cpu():
    spec = NetSpec(down=(8, 8, 8), up=(8, 8, 8), skip=(2, 2, 2))
    shape = (64, 64)  # the calibration shape of three halvings per axis
    cost = estimate._net_cost(spec, 4, 1, (3, 3))
    net = SkipNet(4, 1, spec, 2, level_strides(shape, spec.levels))
    target = torch.rand(1, 1, *shape)
    skip = {p.untyped_storage().data_ptr() for p in [target, *net.parameters()]}
    saved = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        F.mse_loss(net(torch.rand(1, 4, *shape)), target)
    assert cost.activation_bytes * math.prod(shape) == sum(saved.values())
    assert cost.parameters == sum(p.numel() for p in net.parameters())


def test_calibrations_are_cached_and_leave_random_numbers_alone():
    estimate._effective_rate.cache_clear()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    first = estimate._effective_rate(torch.device("cpu"))
    estimate._net_cost(FAST.net, 32, 5, (5, 5))
    assert torch.equal(torch.rand(3), expected)
    assert 1e7 < first < 1e14
    assert estimate._effective_rate(torch.device("cpu")) == first


# --- tile choice -------------------------------------------------------------


def test_choose_tile_none_when_the_whole_image_fits(fixed_rate):
    assert choose_tile(FAST, (200, 150), 1, 64 * GIB) is None
    assert choose_tile(FAST, (128, 128), 1, 64 * GIB, depth=16) is None


@pytest.mark.parametrize("depth, factor", [(None, 1), (None, 4), (8, 1)])
def test_choose_tile_splits_into_the_fewest_pieces_within_the_budget(fixed_rate, depth, factor):
    lead = () if depth is None else (depth,)

    def peak(tile):
        out = lead + (tile[0] * factor, tile[1] * factor)
        return estimate_fit(FAST, out, 1, target_shape=lead + tile).peak_bytes

    budget = peak((256, 256)) + 1
    tile = choose_tile(FAST, (2000, 1500), 1, budget, depth=depth, factor=factor, overlap=16)
    # 2000 rows in 8 pieces overlapping by 16 need 264-row tiles (272 on the 16-pixel grid): too
    # big; 9 pieces need 237 (240), not 256, which would fit but cover no fewer pieces.
    assert tile == (240, 240) and peak(tile) <= budget < peak((272, 272))
    assert len(tile_starts(2000, 240, 16)) == 9
    narrow = choose_tile(FAST, (2000, 200), 1, budget, depth=depth, factor=factor, overlap=16)
    assert narrow[1] == 200 and peak(narrow) <= budget


def test_choose_tile_halves_an_image_just_over_the_budget(fixed_rate):
    budget = estimate_fit(FAST, (2048, 2048), 1).peak_bytes - 1
    assert choose_tile(FAST, (2048, 2048), 1, budget) == (1040, 1040)  # 4 tiles, not 4 of 2032


def test_choose_tile_raises_when_nothing_fits(fixed_rate):
    with pytest.raises(MemoryError, match="budget of 10 MB: raise the .* plane by plane"):
        choose_tile(FAST, (1000, 1000), 1, 10 * 2**20, depth=8)
    with pytest.raises(MemoryError, match="budget, or use the smaller 'fast' preset"):
        choose_tile(PRESETS["paper-denoising"], (1000, 1000), 1, 10 * 2**20)


# --- memory budgets ----------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("4GB", 4 * GIB),
        ("4 GiB", 4 * GIB),
        ("512MB", 512 * 2**20),
        ("1.5G", int(1.5 * GIB)),
        ("2 kb", 2048),
        (" 100 ", 100),
        ("100B", 100),
        (2**31, 2**31),
        (1e9, 10**9),
        (np.int64(5), 5),
        ("3Gi", 3 * GIB),
    ],
)
def test_parse_memory(value, expected):
    assert parse_memory(value) == expected


@pytest.mark.parametrize(
    "value", ["four GB", "4 PB", "", "-1GB", "1.2.3G", "4 iB", 0, -5, True, None, float("nan")]
)
def test_parse_memory_rejects_nonsense(value):
    with pytest.raises(ValueError):
        parse_memory(value)


def test_format_bytes_reads_back():
    assert format_bytes(1.5 * GIB) == "1.5 GB"
    assert format_bytes(512 * 2**20) == "512 MB"
    assert format_bytes(100) == "100 B"
    assert parse_memory(format_bytes(3 * GIB)) == 3 * GIB


def test_default_memory_budget_on_the_cpu():
    budget = default_memory_budget("cpu")
    assert 0 < budget <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_parse_memory_takes_huge_amounts_as_no_limit_and_names_the_argument():
    assert parse_memory(10**400) == estimate.MAX_MEMORY  # no OverflowError
    assert parse_memory("9" * 400 + " GB") == estimate.MAX_MEMORY
    assert parse_memory(1e300) == estimate.MAX_MEMORY
    with pytest.raises(ValueError, match="memory_budget"):
        parse_memory("lots", "memory_budget")
    with pytest.raises(ValueError, match="memory_budget"):
        parse_memory(0.5, "memory_budget")  # would be 0 bytes
