"""Ensembles: several networks fitted at once, their mean as the result and their spread."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import THREE_LEVEL_NET, shrunk

import napari_dip
from napari_dip.core.fit import Fit, _flip, _member_mean
from napari_dip.core.operators import Identity

ENSEMBLE = shrunk("fast", "tiny-ensemble", net=THREE_LEVEL_NET, members=3, flips=True, stop_block=3)


def noisy_image(shape=(32, 40), seed=0):
    y, x = np.mgrid[: shape[0], : shape[1]]
    clean = 100 + 50 * np.sin(y / 3.0) * np.cos(x / 4.0)
    return (clean + np.random.default_rng(seed).normal(0, 10, shape)).astype(np.float32)


@pytest.mark.slow
def test_members_are_fitted_as_separate_networks_each_from_its_own_seed():
    fit = run_fit(replace(ENSEMBLE, flips=False), 0)
    assert len(fit.net) == 3 and fit.z.shape[0] == 3
    first, second = (dict(member.named_parameters()) for member in fit.net[:2])
    assert all(not torch.equal(first[name], second[name]) for name in first)
    assert not torch.equal(fit.z[0], fit.z[1])


@pytest.mark.parametrize(
    ("k", "axes"), [(0, []), (1, [-1]), (2, [-2]), (3, [-1, -2]), (4, []), (5, [-1])]
)
def test_each_member_sees_the_image_mirrored_its_own_way_in_2d(k, axes):
    member = torch.arange(2 * 3 * 4.0).reshape(1, 2, 3, 4)
    expected = member.flip(axes) if axes else member
    assert torch.equal(_flip(member, k), expected)


def test_flips_in_3d_include_z():
    member = torch.arange(2 * 3 * 4.0).reshape(1, 1, 2, 3, 4)
    assert torch.equal(_flip(member, 4), member.flip(-3))
    assert torch.equal(_flip(member, 7), member.flip([-1, -2, -3]))


def test_member_mean_leaves_out_members_that_held_a_pixel_out():
    estimates = torch.tensor([1.0, 2.0, 4.0]).view(3, 1, 1, 1).expand(3, 1, 1, 2).clone()
    weights = torch.tensor([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]).view(3, 1, 1, 2)
    mean = _member_mean(estimates, weights)
    torch.testing.assert_close(mean.flatten(), torch.tensor([2.5, 7 / 3]))
    assert torch.equal(_member_mean(estimates[:1], weights[:1]), estimates[:1])


def run_fit(recipe, seed, image=None):
    image = noisy_image() if image is None else image
    target = torch.from_numpy((image - image.min()) / np.ptp(image))[None, None]
    fit = Fit(
        target, Identity(), recipe, image.shape, max_iter=30, auto_stop=True, seed=seed, threads=1
    )
    for _ in fit.snapshots(every=10):
        pass
    return fit


@pytest.mark.slow
def test_ensemble_is_deterministic_per_seed():
    first, again, other = run_fit(ENSEMBLE, 0), run_fit(ENSEMBLE, 0), run_fit(ENSEMBLE, 1)
    assert np.array_equal(first.result, again.result)
    assert np.array_equal(first.uncertainty, again.uncertainty)
    assert not np.array_equal(first.result, other.result)


@pytest.mark.slow
def test_ensemble_result_is_the_mean_and_uncertainty_the_spread_of_members():
    fit = run_fit(replace(ENSEMBLE, stop_block=1, flips=False), 0)
    assert fit.result.shape == fit.uncertainty.shape == (1, 32, 40)
    assert np.all(fit.uncertainty >= 0) and fit.uncertainty.mean() > 0
    assert run_fit(replace(ENSEMBLE, members=1), 0).uncertainty is None


@pytest.mark.slow
def test_restoration_uncertainty_has_the_result_shape_and_units():
    image = np.rint(np.stack([noisy_image(), noisy_image(seed=1) * 3], axis=-1))  # YXC
    kwargs = dict(preset=ENSEMBLE, axes="YXC", max_iter=20, seed=0, threads=1)
    r = napari_dip.Restoration("denoise", image, **kwargs)
    r.run()
    assert r.uncertainty.shape == r.result.shape == image.shape
    assert r.uncertainty.dtype == np.float32 and np.all(r.uncertainty >= 0)
    # Integers times 8 plus 1024 normalise to exactly the same network input (fits amplify
    # even rounding differences): eight times the spread, and the offset does not count.
    scaled = napari_dip.Restoration("denoise", image * 8 + 1024, **kwargs)
    scaled.run()
    np.testing.assert_allclose(scaled.uncertainty, 8 * r.uncertainty, rtol=1e-6)


@pytest.mark.slow
def test_restoration_uncertainty_of_a_stack_and_of_super_resolution():
    stack = np.stack([noisy_image((16, 16), seed) for seed in range(3)])
    r = napari_dip.Restoration(
        "denoise", stack, preset=ENSEMBLE, axes="TYX", max_iter=10, seed=0, threads=1
    )
    r.run()
    assert r.uncertainty.shape == stack.shape and np.isfinite(r.uncertainty).all()
    sr = napari_dip.Restoration(
        "super_resolve", noisy_image((16, 16)), factor=2, preset=ENSEMBLE, max_iter=10, seed=0
    )
    sr.run()
    assert sr.uncertainty.shape == sr.result.shape == (32, 32)


def test_inpainting_is_certain_where_it_kept_the_measured_pixels():
    image = noisy_image()
    mask = np.zeros(image.shape, bool)
    mask[10:20, 12:24] = True
    r = napari_dip.Restoration(
        "inpaint", image, mask=mask, preset=ENSEMBLE, max_iter=20, seed=0, threads=1
    )
    r.run()
    assert np.all(r.uncertainty[~mask] == 0)
    assert np.all(r.uncertainty[mask] > 0)


def test_no_uncertainty_from_a_single_network():
    r = napari_dip.Restoration(
        "denoise", noisy_image(), preset=replace(ENSEMBLE, members=1), max_iter=5, seed=0
    )
    r.run()
    assert r.uncertainty is None


def test_stopped_before_a_block_leaves_its_uncertainty_unknown():
    stack = np.stack([noisy_image((16, 16), seed) for seed in range(2)])
    r = napari_dip.Restoration(
        "denoise", stack, preset=ENSEMBLE, axes="TYX", max_iter=20, seed=0, threads=1
    )
    r.run(callback=lambda snapshot: snapshot.iteration >= 10, every=10)  # in the first frame
    assert np.isfinite(r.uncertainty[0]).all() and np.isnan(r.uncertainty[1]).all()


def test_info_records_the_ensemble_and_the_holes_the_stop_chose():
    recipe = replace(ENSEMBLE, stop_block=None, stop_min_iter=1, stop_patience=5)
    r = napari_dip.Restoration("denoise", noisy_image(), preset=recipe, max_iter=15, seed=0)
    r.run()
    info = r.info
    assert info.recipe["members"] == 3 and info.recipe["flips"] is True
    assert info.recipe["stop_block"] is None
    assert info.stop_holes == (1,)  # independent noise: single pixels
