"""The automatic stop's held-out pixels, and the check for noise shared between neighbours."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_dip.core.holdout import CORRELATED_HOLE, HoldoutStop, hole_size, neighbour_ratio


def scene(shape=(128, 128)):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return 0.5 + 0.2 * np.sin(y / 9.0) * np.cos(x / 7.0)


def as_target(image):
    image = np.asarray(image, np.float32)
    return torch.from_numpy(image.reshape(1, -1, *image.shape[-2:]))


@pytest.mark.parametrize("sigma", [0.005, 0.02, 0.1])
def test_independent_noise_is_held_out_pixel_by_pixel(sigma):
    noisy = scene() + np.random.default_rng(0).normal(0, sigma, (128, 128))
    assert neighbour_ratio(as_target(noisy)) > 0.7  # even faint noise on a smooth scene
    assert hole_size(as_target(noisy)) == 1


def test_noise_shared_between_neighbours_is_held_out_in_holes():
    shared = ndimage.gaussian_filter(np.random.default_rng(0).normal(0, 0.3, (128, 128)), 0.7)
    noisy = scene() + shared
    assert neighbour_ratio(as_target(noisy)) < 0.45
    assert hole_size(as_target(noisy)) == CORRELATED_HOLE


def test_poisson_counts_count_as_independent():
    counts = np.random.default_rng(1).poisson(20 * scene()).astype(np.float32)
    assert hole_size(as_target(counts)) == 1


def test_unknown_pixels_are_left_out_of_the_check():
    noisy = scene() + np.random.default_rng(0).normal(0, 0.05, (128, 128))
    known = np.ones((128, 128), bool)
    known[:, ::2] = False  # every other column unknown, and filled with a smooth ramp
    noisy[:, ::2] = np.linspace(0, 1, 128)[:, None]
    target = as_target(noisy)
    assert neighbour_ratio(target, torch.from_numpy(known)[None, None]) > 0.85


def test_channels_are_checked_one_by_one():
    rng = np.random.default_rng(2)
    image = np.stack([scene() + rng.normal(0, 0.05, (128, 128)) * s for s in (1, 100)])
    assert neighbour_ratio(as_target(image)) > 0.85  # each channel's own noise level


def test_holes_keep_a_margin_around_the_scored_pixels():
    target = torch.zeros(1, 1, 64, 64)
    stop = HoldoutStop(target, 0.2, 10, 0, seed=1, members=2, block=5)
    assert stop.held.shape == stop.fitted.shape == (2, 1, 64, 64)
    assert torch.any(stop.held[0] != stop.held[1])  # each member its own holes
    fitted_nearby = torch.nn.functional.max_pool2d(stop.fitted, 5, stride=1, padding=2)
    # no pixel within 2 of a scored pixel is fitted: shared noise cannot leak into the score
    assert not torch.any((stop.held > 0) & (fitted_nearby > 0))
    held_out = 1 - stop.fitted.mean().item()
    assert 0.1 < held_out < 0.25


def test_holes_in_a_volume_lie_in_its_planes():
    target = torch.zeros(1, 1, 4, 32, 32)
    stop = HoldoutStop(target, 0.3, 10, 0, seed=0, block=3)
    held = stop.held[0, 0].bool()
    unfitted = stop.fitted[0, 0] == 0
    assert held.any()
    for z, y, x in held.nonzero().tolist():
        assert unfitted[z, y - 1 : y + 2, x - 1 : x + 2].all()
        for other in {z - 1, z + 1} & set(range(4)):  # the planes around are still fitted there
            assert not held[other, y, x] or unfitted[other, y, x]
    assert (1 - stop.fitted).sum() < 9 * held.sum() + 1


def test_single_pixel_hold_out_is_what_it_always_was():
    target = torch.zeros(1, 1, 16, 16)
    stop = HoldoutStop(target, 0.1, 10, 0, seed=3)
    generator = torch.Generator().manual_seed(3)
    expected = (torch.rand((1, 1, 16, 16), generator=generator) < 0.1).float()
    assert torch.equal(stop.held, expected) and torch.equal(stop.fitted, 1 - expected)


def _stop_iteration(stop: HoldoutStop, scores) -> tuple[int | None, int]:
    """Where ``stop`` ends a fit whose held-out scores are ``scores``, and its pick."""
    for iteration, score in enumerate(scores, start=1):
        stop.update(score, iteration)
        if stop.should_stop(iteration):
            return iteration, stop.best_iteration
    return None, stop.best_iteration


def test_a_tolerance_stops_on_a_plateau_where_none_runs_on():
    """A score that keeps falling by small steps (0.0001% an iteration here, after 200
    iterations of 1% steps): a 0.1% tolerance ends the fit its patience after the last
    fall by more than 0.1%, with the last (lowest) estimate; without a tolerance every
    new low restarts the patience and the fit runs on to the cap."""
    scores = [0.99**i for i in range(1, 201)] + [0.99**200 * 0.999999**i for i in range(1, 801)]
    target = torch.zeros(1, 1, 16, 16)
    tolerant = HoldoutStop(target, 0.1, 60, 50, seed=0, tolerance=0.001)
    assert _stop_iteration(tolerant, scores) == (260, 260)
    untolerant = HoldoutStop(target, 0.1, 60, 50, seed=0)
    assert _stop_iteration(untolerant, scores) == (None, 1000)


def test_a_score_that_rises_again_stops_at_its_minimum_whatever_the_tolerance():
    scores = [1.0 - 0.01 * i for i in range(50)] + [0.51 + 0.001 * i for i in range(200)]
    for tolerance in (0.0, 0.001):
        stop = HoldoutStop(torch.zeros(1, 1, 8, 8), 0.1, 60, 0, seed=0, tolerance=tolerance)
        assert _stop_iteration(stop, scores) == (50 + 60, 50)
