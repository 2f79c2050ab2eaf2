"""Memory and time estimates of a fit, the tile chosen for a memory budget, and reading budgets."""

import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import napari_dip
from napari_dip.core import estimate
from napari_dip.core.estimate import (
    FitEstimate,
    choose_tile,
    default_memory_budget,
    estimate_fit,
)
from napari_dip.core.nets import NetSpec, SkipNet, level_strides
from napari_dip.core.presets import PRESETS
from napari_dip.imaging.tiling import tile_starts

FAST = PRESETS["fast"]
GIB = 2**30


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
    assert large.seconds_per_iteration == pytest.approx(
        estimate.ITERATION_OVERHEAD * large.flops_per_iteration / 1e10
    )
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
    threads = torch.get_num_threads()
    first = estimate._effective_rate(torch.device("cpu"))
    assert torch.get_num_threads() == threads  # each count it timed was given back
    estimate._net_cost(FAST.net, 32, 5, (5, 5))
    assert torch.equal(torch.rand(3), expected)
    assert 1e7 < first < 1e14
    assert estimate._effective_rate(torch.device("cpu")) == first


def test_typical_iterations_of_the_defaults_the_cap_and_unknown_recipes():
    default = PRESETS["fast-denoising"]
    cold, warm = estimate.TYPICAL_STOP["fast-denoising"]
    assert estimate.typical_iterations(default, 2000, True, warm=False) == cold
    assert estimate.typical_iterations(default, 2000, True, warm=True) == warm
    assert estimate.typical_iterations(default, 100, True, warm=False) == 100  # within the cap
    assert estimate.typical_iterations(default, 700, False, warm=True) == 700  # no stop
    assert estimate.typical_iterations(FAST, 2000, True, warm=False) is None  # not measured
    photons = estimate.TYPICAL_STOP_PHOTONS["fast-denoising"]
    assert photons[0] > cold  # photon counts stop later
    assert estimate.typical_iterations(default, 2000, True, False, "poisson") == photons[0]
    assert estimate.typical_iterations(default, 2000, True, True, "poisson") == photons[1]
    inpainting = PRESETS["fast-inpainting"]  # no photon figure: the Gaussian one
    assert estimate.typical_iterations(inpainting, 2000, True, False, "poisson") == 700


def test_a_photon_count_denoising_is_expected_to_run_longer():
    image = np.random.default_rng(0).poisson(20, (64, 64)).astype(np.uint16)
    gaussian = napari_dip.Restoration("denoise", image).plan.expected_iterations
    poisson = napari_dip.Restoration("denoise", image, noise="poisson").plan.expected_iterations
    assert (gaussian, poisson) == (400, 700)


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


def test_default_memory_budget_on_the_cpu():
    budget = default_memory_budget("cpu")
    assert 0 < budget <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
