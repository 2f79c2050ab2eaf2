"""The classical estimate weighed in: biharmonic fill, held-out holes shaped like the mask's,
Richardson-Lucy with its iteration count chosen on held-out pixels, the weight chosen on them,
and the record of it."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import TINY
from scipy import ndimage
from skimage.restoration import inpaint_biharmonic, richardson_lucy

import napari_dip
from napari_dip.core.classical import NETWORK_WEIGHTS, RL_ITERATIONS, biharmonic, choose_weight
from napari_dip.core.fit import Fit
from napari_dip.core.holdout import HoldoutStop, mask_shaped
from napari_dip.core.operators import Blur, Identity, Mask
from napari_dip.core.presets import resolve_preset
from napari_dip.imaging.psf import gaussian_psf

#: A tiny recipe with the hole-shaped stop and the blend, picking from the first iteration.
BLENDING = replace(TINY, auto_stop=True, stop_shape="mask", classical=True, stop_min_iter=1)


def _smooth(shape=(48, 48), seed=0):
    y, x = np.mgrid[: shape[0], : shape[1]]
    phase = np.random.default_rng(seed).random()
    return (0.5 + 0.3 * np.sin(y / 7.0 + phase) * np.cos(x / 5.0)).astype(np.float32)


def _round_holes(shape=(48, 48), centres=((12, 12), (30, 34)), radius=5):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return np.any([(y - cy) ** 2 + (x - cx) ** 2 <= radius**2 for cy, cx in centres], axis=0)


def _known(missing):
    return torch.from_numpy(~missing).float()[None, None]


def test_biharmonic_is_scikit_images_per_channel_with_known_pixels_unchanged():
    image = np.stack([_smooth(seed=0), _smooth(seed=1)])
    missing = _round_holes()
    values = torch.from_numpy(np.where(missing, 0, image))[None]
    filled = biharmonic(values, _known(missing))[0].numpy()
    for c in range(2):
        expected = inpaint_biharmonic(np.where(missing, 0, image[c]).astype(np.float64), missing)
        np.testing.assert_allclose(filled[c], expected, atol=1e-6)
    assert np.array_equal(filled[:, ~missing], values[0].numpy()[:, ~missing])


def test_biharmonic_fills_a_volume_as_a_volume():
    volume = np.stack([_smooth(seed=s) for s in range(4)])  # (Z, Y, X)
    missing = np.zeros(volume.shape, bool)
    missing[1:3, 20:26, 20:26] = True
    values = torch.from_numpy(np.where(missing, 0, volume))[None, None]
    filled = biharmonic(values, torch.from_numpy(~missing).float()[None, None])[0, 0].numpy()
    np.testing.assert_allclose(filled, inpaint_biharmonic(values[0, 0].numpy(), missing), atol=1e-6)


@pytest.mark.parametrize("kind", ["holes", "pixels"])
def test_held_out_pixels_are_shaped_like_the_mask_and_lie_on_known_pixels(kind):
    rng = np.random.default_rng(0)
    missing = _round_holes((96, 96), ((20, 20), (60, 70)), 8) if kind == "holes" else None
    if missing is None:
        missing = rng.random((96, 96)) < 0.5
    observed = _known(missing)
    held = mask_shaped(observed, 0.1, members=2, seed=3)
    assert held.shape == (2, 1, 96, 96)
    for k in range(2):
        pieces = held[k, 0].numpy() > 0
        assert not (pieces & missing).any()  # only known pixels are held out
        assert 0.07 < pieces.sum() / (~missing).sum() < 0.13  # about the fraction asked
        labels, count = ndimage.label(pieces)
        sizes = np.bincount(labels.ravel())[1:]
        if kind == "holes":  # blobs up to the holes' size (201 pixels), not single pixels
            assert sizes.max() > 100 and sizes.max() <= 201
        else:  # scattered like the mask's missing pixels
            assert np.median(sizes) < 5
    assert not torch.equal(held[0], held[1])  # each member its own
    assert torch.equal(held, mask_shaped(observed, 0.1, members=2, seed=3))  # seeded


def test_a_mask_on_one_channel_holds_out_pixels_known_in_every_channel():
    missing = np.zeros((2, 64, 64), bool)
    missing[0] = _round_holes((64, 64), ((20, 20),), 6)
    missing[1, 40:50, 40:50] = True
    held = mask_shaped(torch.from_numpy(~missing).float()[None], 0.1, members=1, seed=0)[0, 0]
    assert not (held.numpy() > 0)[missing.any(0)].any()


def test_the_rule_holds_out_the_shaped_pixels_when_the_recipe_asks():
    missing = _round_holes()
    target = torch.from_numpy(_smooth())[None, None]
    recipe = replace(resolve_preset("default", "inpaint"), stop_block=1)
    rule = HoldoutStop.for_fit(target, recipe, 5, False, _known(missing))
    assert torch.equal(rule.held, mask_shaped(_known(missing), recipe.stop_holdout, 1, 5))
    assert torch.equal(rule.fitted, 1 - rule.held)
    scattered = HoldoutStop.for_fit(target, replace(recipe, stop_shape="pixels"), 5, False)
    assert not torch.equal(scattered.held, rule.held)


def test_the_weight_is_the_one_that_predicts_the_held_out_pixels():
    truth = torch.linspace(0, 1, 100)
    network, classical = truth + 0.1, truth - 0.1  # the truth is halfway
    choice = choose_weight(network, classical, lambda e: float((e - truth).square().mean()), "m")
    assert choice.network_weight == 0.5 and choice.held_out_blend < 1e-10
    assert choice.held_out_network == pytest.approx(0.01) == choice.held_out_classical


@pytest.mark.parametrize("better, weight", [("network", 1.0), ("classical", 0.0)])
def test_the_better_estimate_alone_is_taken(better, weight):
    truth = torch.zeros(50)
    good, bad = truth, truth + torch.linspace(0.1, 1, 50)
    network, classical = (good, bad) if better == "network" else (bad, good)
    choice = choose_weight(network, classical, lambda e: float(e.square().mean()), "m")
    assert choice.network_weight == weight


def test_ties_go_to_the_classical_estimate():
    same = torch.ones(10)
    choice = choose_weight(same, same, lambda e: 0.0, "m")
    assert choice.network_weight == 0.0 and NETWORK_WEIGHTS[0] == 0.0


def _fit(missing, image, recipe, max_iter):
    target = torch.from_numpy(np.where(missing, 0, image))[None, None]
    operator = Mask(_known(missing))
    fit = Fit(target, operator, recipe, image.shape, max_iter=max_iter, auto_stop=True, seed=0)
    for _ in fit.snapshots(every=max_iter):
        pass
    return fit, target


def test_a_fit_ends_blending_the_classical_estimate_with_the_weight_it_records():
    image, missing = _smooth(), _round_holes()
    fit, target = _fit(missing, image, BLENDING, 30)
    choice = fit.classical_blend
    assert choice.method == "biharmonic" and choice.network_weight in NETWORK_WEIGHTS
    assert choice.held_out_blend <= min(choice.held_out_network, choice.held_out_classical)
    classical = biharmonic(target, _known(missing))[0, 0].numpy()
    w = choice.network_weight
    unblended, _ = _fit(missing, image, replace(BLENDING, classical=False), 30)
    expected = w * unblended.result[0] + (1 - w) * classical
    np.testing.assert_allclose(fit.result[0], expected, atol=1e-5)


def test_a_useless_network_gives_the_classical_answer_exactly():
    image, missing = _smooth(), _round_holes()
    fit, target = _fit(missing, image, replace(BLENDING, lr=1e-6), 2)  # barely trained
    assert fit.classical_blend.network_weight == 0.0
    assert np.array_equal(fit.result, biharmonic(target, _known(missing))[0].numpy())


def test_a_stopped_fit_keeps_its_estimate_without_blending():
    image, missing = _smooth(), _round_holes()
    target = torch.from_numpy(np.where(missing, 0, image))[None, None]
    fit = Fit(
        target, Mask(_known(missing)), BLENDING, image.shape, max_iter=50, auto_stop=True, seed=0
    )
    for snapshot in fit.snapshots(every=5):
        if not snapshot.done:
            fit.stop()
    assert fit.classical_blend is None


def test_the_default_records_the_blend_and_keeps_known_pixels():
    image, missing = _smooth(), _round_holes()
    damaged = np.where(missing, 0, image)
    run = napari_dip.Restoration(
        "inpaint",
        damaged,
        mask=missing,
        seed=0,
        max_iter=60,
        threads=1,
        preset=replace(resolve_preset("default", "inpaint"), net=TINY.net, stop_min_iter=1),
    )
    result = run.run()
    assert np.array_equal(result[~missing], damaged[~missing])
    (blend,) = run.info.classical_blends
    assert blend["method"] == "biharmonic" and 0 <= blend["network_weight"] <= 1
    assert napari_dip.RunInfo.from_dict(run.info.to_dict()) == run.info
    rerun = napari_dip.rerun(run.info, damaged, mask=missing)
    assert np.array_equal(rerun, result)


def test_held_out_holes_of_a_volume_are_moved_in_y_and_x_only():
    missing = np.zeros((3, 40, 40), bool)
    missing[1, 10:16, 10:16] = True  # a hole in the middle plane only
    observed = torch.from_numpy(~missing).float()[None, None]
    held = mask_shaped(observed, 0.05, members=1, seed=0)[0, 0].numpy() > 0
    assert held.shape == (3, 40, 40) and held.any()
    assert not held[0].any() and not held[2].any()  # the copies stay in the hole's plane


def test_holes_too_big_to_copy_leave_single_pixels_at_random():
    missing = np.zeros((64, 64), bool)
    missing[:, :40] = True  # most of the image: no copy of it fits on the known pixels
    held = mask_shaped(_known(missing), 0.1, members=1, seed=0)[0, 0].numpy() > 0
    assert not (held & missing).any()
    assert 0.05 < held.sum() / (~missing).sum() < 0.15


def test_a_recipe_that_blends_runs_on_tasks_without_a_classical_answer():
    image = _smooth((32, 32))
    fit = Fit(
        torch.from_numpy(image)[None, None],
        Identity(),
        BLENDING,
        image.shape,
        max_iter=5,
        auto_stop=True,
        seed=0,
    )
    for _ in fit.snapshots(every=5):
        pass
    assert fit.classical_blend is None and Identity.classical_method is None


def test_an_unknown_hole_shape_is_refused_when_the_recipe_is_built():
    with pytest.raises(ValueError, match="stop_shape must be one of"):
        replace(TINY, stop_shape="blobs")


def _blurred(shape=(48, 48), sigma=1.5, photons=200, seed=0):
    """A sharp pattern, its PSF, and its blur with photon noise (as a fit's target)."""
    sharp = _smooth(shape, seed) ** 4 + 0.05  # peaks sharper than a sine, on a background
    psf = gaussian_psf(sigma)
    blur = Blur(torch.from_numpy(psf))
    clean = blur(torch.from_numpy(sharp)[None, None])
    counts = np.random.default_rng(seed).poisson(clean.numpy() * photons) / photons
    return sharp, psf, torch.from_numpy(counts.astype(np.float32))


def test_richardson_lucy_is_scikit_images_on_the_image_mirrored_at_its_borders():
    _, psf, y = _blurred()
    ours = dict(Blur(torch.from_numpy(psf)).classical(y, torch.ones_like(y), (5, 20)))
    mirrored = np.pad(y[0, 0].double().numpy(), 96, mode="reflect")  # as the fit's model pads
    for count in (5, 20):
        theirs = richardson_lucy(mirrored, psf, num_iter=count, clip=False)[96:-96, 96:-96]
        np.testing.assert_allclose(ours[count][0, 0], theirs, rtol=1e-3)


def _after_ten(blur, values, known):
    ((_, estimate),) = blur.classical(values, known, (10,))
    return estimate


def test_richardson_lucy_never_sees_the_pixels_it_is_not_given():
    _, psf, y = _blurred()
    known = torch.ones_like(y)
    known[..., 20:26, 20:26] = 0
    changed = y.clone()
    changed[..., 20:26, 20:26] += 1.0
    blur = Blur(torch.from_numpy(psf))
    assert torch.equal(_after_ten(blur, y, known), _after_ten(blur, changed, known))
    assert not torch.equal(_after_ten(blur, y, known), _after_ten(blur, y, torch.ones_like(y)))


def test_richardson_lucy_lifts_values_below_zero_and_gives_them_back():
    _, psf, y = _blurred()
    blur, ones = Blur(torch.from_numpy(psf)), torch.ones_like(y)
    shifted = _after_ten(blur, y - 0.5, ones) + 0.5  # a background below zero
    assert torch.isfinite(shifted).all()
    np.testing.assert_allclose(shifted, _after_ten(blur, y, ones), atol=0.02)


def test_a_deconvolution_chooses_the_iteration_count_then_the_weight_and_records_both():
    sharp, psf, y = _blurred()
    blur = Blur(torch.from_numpy(psf))

    def fit(recipe):
        fit = Fit(y, blur, recipe, sharp.shape, max_iter=40, auto_stop=True, seed=0)
        for _ in fit.snapshots(every=40):
            pass
        return fit

    recipe = replace(TINY, auto_stop=True, classical=True, stop_min_iter=1)
    blended = fit(recipe)
    choice = blended.classical_blend
    assert choice.method == "richardson-lucy" and choice.setting in RL_ITERATIONS
    assert choice.held_out_blend <= min(choice.held_out_network, choice.held_out_classical)
    # the count scored best among those offered, Richardson-Lucy seeing only the fitted pixels
    held, fitted = blended.holdout.held, blended.holdout.fitted
    scores = {
        n: float(blended._loss(estimate, held))
        for n, estimate in blur.classical(y, fitted, RL_ITERATIONS)
    }
    assert choice.setting == min(scores, key=lambda n: (scores[n], n))
    assert choice.held_out_classical == pytest.approx(scores[choice.setting], rel=1e-5)
    # the result: Richardson-Lucy on every pixel, plus the weight's share of what the
    # network adds to it where the PSF passes
    w = choice.network_weight
    ((_, classical),) = blur.classical(y, torch.ones_like(y), (choice.setting,))
    network = torch.from_numpy(fit(replace(recipe, classical=False)).result)[None]
    expected = classical + w * blur.passband(network - classical)
    np.testing.assert_allclose(blended.result[0], expected[0, 0], atol=1e-5)


def test_a_deconvolution_weighs_the_network_only_where_the_psf_passes(monkeypatch):
    """With the weight held at one half (the tiny fit above chooses 0, where the two
    formulas agree), the result is Richardson-Lucy plus half the network's departure from
    it filtered to the PSF's band, not half of each."""
    import napari_dip.core.classical as classical_module

    sharp, psf, y = _blurred()
    blur = Blur(torch.from_numpy(psf))
    recipe = replace(TINY, auto_stop=True, classical=True, stop_min_iter=1)

    def fit(recipe):
        fit = Fit(y, blur, recipe, sharp.shape, max_iter=40, auto_stop=True, seed=0)
        for _ in fit.snapshots(every=40):
            pass
        return fit

    network = torch.from_numpy(fit(replace(recipe, classical=False)).result)[None]
    monkeypatch.setattr(classical_module, "NETWORK_WEIGHTS", (0.5,))
    blended = fit(recipe)
    assert blended.classical_blend.network_weight == 0.5
    ((_, classical),) = blur.classical(y, torch.ones_like(y), (blended.classical_blend.setting,))
    expected = classical + 0.5 * blur.passband(network - classical)
    np.testing.assert_allclose(blended.result[0], expected[0, 0], atol=1e-5)
    everywhere = 0.5 * network + 0.5 * classical  # the blend before 2026-12-08
    assert np.abs(blended.result[0] - everywhere[0, 0].numpy()).max() > 1e-3
