"""An inpainting's uncertainty, calibrated on the held-out holes (core.calibration)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import TINY

import napari_dip
from napari_dip.core.calibration import FillFeatures, calibrated_uncertainty
from napari_dip.core.fit import Fit
from napari_dip.core.operators import Mask
from napari_dip.core.presets import resolve_preset

BLENDING = replace(TINY, auto_stop=True, stop_shape="mask", classical=True, stop_min_iter=1)


def _features(disagreement: torch.Tensor) -> FillFeatures:
    """Features whose disagreement is ``disagreement`` and whose gradient is 0."""
    flat = torch.zeros_like(disagreement)
    return FillFeatures(disagreement, flat, flat)


def test_the_map_predicts_an_error_that_grows_with_the_disagreement():
    generator = torch.Generator().manual_seed(0)
    disagreement = torch.rand((1, 1, 200, 200), generator=generator)
    sigma = 0.02 + 0.5 * disagreement  # the error's true standard deviation
    errors = sigma * torch.randn(disagreement.shape, generator=generator)
    held = torch.rand(disagreement.shape, generator=generator) < 0.3
    spread = calibrated_uncertainty(_features(disagreement), errors, held, _features(disagreement))
    assert spread.shape == disagreement.shape
    ratio = spread[~held] / sigma[~held]
    assert 0.8 < float(ratio.median()) < 1.25
    order = torch.argsort(disagreement.flatten())
    assert bool((torch.diff(spread.flatten()[order]) >= -1e-6).all())  # never falls
    within = (errors.abs() <= spread)[~held].float().mean()
    assert 0.6 < float(within) < 0.76


def test_an_error_the_features_do_not_explain_gets_one_level():
    generator = torch.Generator().manual_seed(1)
    features = _features(torch.zeros((1, 2, 64, 64)))
    errors = 0.1 * torch.randn((1, 2, 64, 64), generator=generator)
    held = torch.ones_like(errors, dtype=torch.bool)
    spread = calibrated_uncertainty(features, errors, held, features)
    np.testing.assert_allclose(spread.numpy(), float(errors.pow(2).mean().sqrt()), rtol=1e-5)


def _smooth(shape=(48, 48)):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (0.5 + 0.3 * np.sin(y / 7.0) * np.cos(x / 5.0)).astype(np.float32)


def _holes(shape=(48, 48)):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return ((y - 12) ** 2 + (x - 12) ** 2 <= 25) | ((y - 30) ** 2 + (x - 34) ** 2 <= 25)


def test_a_blending_fit_gives_its_calibrated_map_not_the_members_spread():
    image, missing = _smooth(), _holes()
    known = torch.from_numpy(~missing).float()[None, None]
    target = torch.from_numpy(np.where(missing, 0, image))[None, None]
    recipe = replace(BLENDING, members=2)
    fit = Fit(target, Mask(known), recipe, image.shape, max_iter=30, auto_stop=True, seed=0)
    for _ in fit.snapshots(every=30):
        pass
    assert fit.calibrated is not None
    np.testing.assert_array_equal(fit.uncertainty, fit.calibrated.numpy()[0])
    assert np.all(fit.uncertainty > 0)


def _inpaint(image, missing, **options):
    preset = replace(resolve_preset("default", "inpaint"), net=TINY.net, stop_min_iter=1)
    options = {"seed": 0, "max_iter": 40, "threads": 1, "preset": preset, **options}
    return napari_dip.Restoration("inpaint", image, mask=missing, **options)


def test_the_default_inpainting_gives_an_uncertainty_in_the_images_units():
    image, missing = _smooth(), _holes()
    damaged = np.where(missing, 0, image)
    run = _inpaint(damaged, missing)
    run.run()
    assert run.uncertainty.dtype == np.float32 and run.uncertainty.shape == image.shape
    assert np.all(run.uncertainty[~missing] == 0)  # measured pixels are kept
    assert np.all(np.isfinite(run.uncertainty[missing]) & (run.uncertainty[missing] > 0))
    assert run.info.uncertainty == "error calibrated on held-out holes"
    assert napari_dip.RunInfo.from_dict(run.info.to_dict()).uncertainty == run.info.uncertainty
    scaled = _inpaint(1000 * damaged, missing)
    scaled.run()
    np.testing.assert_allclose(scaled.uncertainty, 1000 * run.uncertainty, rtol=1e-4, atol=1e-4)


def test_an_inpainting_stopped_before_its_blend_has_no_uncertainty_there():
    image, missing = _smooth(), _holes()
    run = _inpaint(np.where(missing, 0, image), missing, max_iter=200)
    for snapshot in run.snapshots(every=5):
        if not snapshot.done:
            run.stop()
    assert np.all(np.isnan(run.uncertainty[missing])) and np.all(run.uncertainty[~missing] == 0)


@pytest.mark.parametrize("options", [{"auto_stop": False}, {"preset": "fast"}])
def test_without_held_out_holes_and_the_blend_a_single_network_gives_none(options):
    image, missing = _smooth(), _holes()
    run = _inpaint(np.where(missing, 0, image), missing, max_iter=5, **options)
    run.run()
    assert run.uncertainty is None and run.info.uncertainty is None


def test_an_ensembles_record_names_its_spread():
    image = _smooth()
    preset = replace(TINY, members=2)
    run = napari_dip.Restoration("denoise", image, preset=preset, max_iter=3, seed=0, threads=1)
    run.run()
    assert run.uncertainty is not None and run.info.uncertainty == "members' spread"
