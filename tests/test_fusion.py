"""Denoising's fusion: the Wiener filter the network steers, chosen on held-out pixels."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import THREE_LEVEL_NET, shrunk

import napari_dip
from napari_dip._tasks import UNCERTAINTY_PREDICTED
from napari_dip.core.data_terms import Gaussian
from napari_dip.core.fusion import (
    ERROR_SCALE,
    fill_unseen,
    fitted_residual_power,
    fuse_members,
    local_noise,
    residual_power,
    wiener_error,
    wiener_filter,
)
from napari_dip.core.holdout import HoldoutStop

#: The default's fusion on an ensemble of two mirrored members, whose spread is the uncertainty.
TINY = shrunk(
    "fast-denoising",
    "tiny-fused",
    net=THREE_LEVEL_NET,
    max_iter=80,
    stop_patience=10,
    members=2,
    flips=True,
)


def pattern(shape=(64, 64)):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return 0.5 + 0.3 * np.sin(y / 5.0) * np.cos(x / 7.0)


def noisy(clean, sigma=0.1, seed=0):
    return clean + np.random.default_rng(seed).normal(0, sigma, clean.shape)


def tensor(array):
    return torch.as_tensor(np.asarray(array), dtype=torch.float64)


def mse(a, b):
    return float(((np.asarray(a) - np.asarray(b)) ** 2).mean())


def test_the_filter_steered_by_a_good_pilot_removes_most_of_the_noise():
    clean = pattern()
    y = noisy(clean)
    pilot = noisy(clean, sigma=0.03, seed=1)  # a rough estimate, far better than the data
    out = wiener_filter(tensor(y)[None], tensor(pilot)[None], patch=8).numpy()[0]
    assert mse(out, clean) < 0.2 * mse(y, clean)
    assert mse(out, clean) < mse(pilot, clean)  # the data corrected the pilot's errors


def test_a_constant_passes_unchanged_and_channels_and_slices_are_filtered_alike():
    constant = torch.full((1, 20, 24), 0.7, dtype=torch.float64)
    assert torch.allclose(wiener_filter(constant, constant), constant)
    y = tensor(noisy(np.stack([pattern((20, 24))] * 3)))  # (Z, Y, X) slices
    pilot = tensor(np.stack([pattern((20, 24))] * 3))
    power = residual_power(y[None], pilot[None], 8)
    volume = wiener_filter(y[None], pilot[None], 8, 1.0, power)[0]
    for z in range(3):
        plane = wiener_filter(y[z][None], pilot[z][None], 8, 1.0, power)[0]
        assert torch.allclose(volume[z], plane)


def test_the_noise_power_follows_noise_shared_between_neighbours():
    white = tensor(noisy(np.zeros((64, 64))))[None]
    shared = (white + torch.roll(white, 1, -1)) / 2  # correlated: low frequencies carry it
    zero = torch.zeros_like(white)
    flat, low_pass = residual_power(white, zero, 8)[0], residual_power(shared, zero, 8)[0]
    assert flat[1:].std() / flat[1:].mean() < 0.3
    assert low_pass[1] > 5 * low_pass[7]  # DCT coefficient (0, 1) against (0, 7) along X


def test_with_the_truth_for_pilot_the_predicted_error_bounds_the_filters_own():
    """Each patch's expected error, averaged over the patches a pixel lies in, bounds the
    error of their average (overlapping patches' errors partly cancel), within 2.5 times."""
    clean = pattern((96, 96))
    power = torch.full((1, 64), 0.01, dtype=torch.float64)  # white noise, sigma 0.1
    for seed in (0, 1):
        y = tensor(noisy(clean, seed=seed))[None]
        actual = mse(wiener_filter(y, tensor(clean)[None], 8, 1.0, power)[0], clean)
        predicted = float(wiener_error(y, tensor(clean)[None], 8, 1.0, power).mean())
        assert actual < predicted < 2.5 * actual


def test_the_predicted_error_follows_the_noise_where_it_is_stronger():
    clean = pattern((96, 96))
    _, x = np.mgrid[:96, :96]
    sigma = np.where(x < 48, 0.05, 0.15)  # three times as strong on the right
    y = tensor(clean + sigma * np.random.default_rng(3).normal(size=clean.shape))[None]
    pilot = tensor(clean)[None]
    level = local_noise(y, pilot)[0]
    assert 7 < float(level[:, 56:88].mean() / level[:, 8:40].mean()) < 11  # 9 in power
    error = wiener_error(y, pilot, 8, 1.0, residual_power(y, pilot, 8))[0]
    actual = (wiener_filter(y, pilot, 8, 1.0, residual_power(y, pilot, 8))[0] - pilot[0]) ** 2
    assert float(actual[:, 56:88].mean() / actual[:, 8:40].mean()) > 3
    assert float(error[:, 56:88].mean() / error[:, 8:40].mean()) > 3


@pytest.mark.slow
@pytest.mark.parametrize("block", [1, 3])
def test_the_scored_estimate_never_sees_the_held_out_pixels(block):
    """The filter run on a member's filled image, at a held-out pixel, does not move
    when that pixel's value (and its hole's) changes: the score is honest."""
    clean = pattern()
    y = tensor(noisy(clean))[None, None]
    stop = HoldoutStop(y, 0.1, 10, 1, seed=0, members=1, block=block)
    held, fitted = stop.held[0], stop.fitted[0]
    estimate = tensor(clean)[None] + 0.01
    q = tuple(int(i) for i in torch.nonzero(held[0])[0])
    hole = tuple(slice(max(i - block // 2, 0), i + block // 2 + 1) for i in q)

    def scored(target):
        fill = fill_unseen(target, estimate, fitted)
        power = fitted_residual_power(target, estimate, fitted, 12)
        return wiener_filter(fill, estimate, 12, 1.4, power)[(0, *q)]

    changed = y[0].clone()
    changed[(0, *hole)] += 5.0
    assert torch.equal(scored(y[0]), scored(changed))
    # while the filter on the data itself, which the result uses, does see it
    assert wiener_filter(changed, estimate)[(0, *q)] != wiener_filter(y[0], estimate)[(0, *q)]


def fuse(members, y, seed=0, block=1, **kw):
    stop = HoldoutStop(y, 0.1, 10, 1, seed=seed, members=len(members), block=block)
    return fuse_members(members, y, stop.held, stop.fitted, Gaussian(), block, **kw)


@pytest.mark.slow
def test_fusion_weighs_the_filter_in_when_the_held_out_pixels_say_it_helps():
    clean = pattern()
    y = tensor(noisy(clean))[None, None]
    members = tensor(np.stack([noisy(clean, 0.04, seed=s) for s in (1, 2)]))[:, None]
    fused, choice = fuse(members, y)
    assert 0 < choice.weight <= 1 and choice.held_out_fused < choice.held_out_network
    assert mse(fused.mean(0)[0], clean) < 0.5 * mse(members.mean(0)[0], clean)


def test_fusion_leaves_the_members_alone_when_no_filter_fits_the_plane():
    y = tensor(noisy(pattern((20, 20))))[None, None]  # half the plane is under 12 pixels
    members = tensor(np.stack([pattern((20, 20))] * 2))[:, None]
    fused, choice = fuse(members, y, grid=((12, 1.0),))
    assert fused is members and choice.weight == 0 and choice.patch == 0


def run(image, preset=TINY, **options):
    restoration = napari_dip.Restoration(
        "denoise", image, preset=preset, seed=0, threads=1, **options
    )
    return restoration, restoration.run()


@pytest.mark.slow
def test_denoising_records_its_fusion_and_is_deterministic_per_seed():
    image = (noisy(pattern()) * 1000).astype(np.float32)
    first, result = run(image)
    (choice,) = first.info.fusions
    assert set(choice) == {"patch", "scale", "weight", "held_out_network", "held_out_fused"}
    assert choice["held_out_fused"] <= choice["held_out_network"]
    _, again = run(image)
    assert np.array_equal(result, again)
    _, unfused = run(image, preset=replace(TINY, fuse=False))
    assert not np.array_equal(result, unfused) or choice["weight"] == 0
    assert first.uncertainty.shape == result.shape and np.all(first.uncertainty > 0)
    assert first.info.uncertainty == UNCERTAINTY_PREDICTED
    record = json.loads(json.dumps(first.info.to_dict()))
    assert napari_dip.RunInfo.from_dict(record) == first.info
    rerun = napari_dip.rerun(record, image)
    assert np.array_equal(rerun, result)


@pytest.mark.slow
def test_a_record_from_before_the_fusion_reruns_without_it():
    image = (noisy(pattern((48, 48))) * 1000).astype(np.float32)
    restoration, result = run(image, preset=replace(TINY, fuse=False))
    record = restoration.info.to_dict()
    del record["fusions"], record["recipe"]["fuse"]
    info = napari_dip.RunInfo.from_dict(record)
    assert info.fusions == () and info.recipe["fuse"] is False  # what the record meant
    rerun = napari_dip.rerun(record, image)
    assert np.array_equal(rerun, result)


@pytest.mark.slow
def test_no_fusion_without_held_out_pixels():
    image = np.random.default_rng(0).poisson(50 * pattern((48, 48))).astype(np.uint16)
    restoration, _ = run(image, auto_stop=False)
    assert restoration.info.fusions == ()


def photon_counts(shape=(48, 48)):
    return np.random.default_rng(0).poisson(20 * pattern(shape)).astype(np.uint16)


@pytest.mark.slow
def test_photon_counts_are_fused_scored_by_the_poisson_deviance():
    image = photon_counts()
    restoration, result = run(image, noise="poisson")
    (choice,) = restoration.info.fusions
    assert choice["held_out_fused"] <= choice["held_out_network"]
    _, unfused = run(image, noise="poisson", preset=replace(TINY, fuse=False))
    assert not np.array_equal(result, unfused) or choice["weight"] == 0
    # the held-out scores are Poisson deviances: those of the Gaussian run differ
    gaussian, _ = run(image)
    assert gaussian.info.fusions[0]["held_out_network"] != choice["held_out_network"]


@pytest.mark.slow
def test_a_poisson_record_from_before_photon_counts_were_fused_reruns_unfused():
    image = photon_counts()
    restoration, unfused = run(image, noise="poisson", preset=replace(TINY, fuse=False))
    record = json.loads(json.dumps(restoration.info.to_dict()))
    record["recipe"]["fuse"] = True  # what such a run recorded: the preset's recipe, no fusion
    assert record["fusions"] == [] and record["stop_reason"] == "auto"
    assert napari_dip.RunInfo.from_dict(record).recipe["fuse"] is False
    assert np.array_equal(napari_dip.rerun(record, image), unfused)
    record["noise"] = "gaussian"  # a Gaussian run with no fusion recorded keeps its recipe
    assert napari_dip.RunInfo.from_dict(record).recipe["fuse"] is True


@pytest.mark.slow
def test_a_volume_is_fused_slice_by_slice_and_its_record_says_so():
    volume = np.stack([pattern((40, 40)) * (1 + z / 10) for z in range(4)])
    image = (noisy(volume) * 1000).astype(np.float32)
    restoration, result = run(image, axes="ZYX", stack="volume")
    (choice,) = restoration.info.fusions
    assert choice["held_out_fused"] <= choice["held_out_network"]
    assert result.shape == image.shape and np.isfinite(result).all()


@pytest.mark.slow
def test_a_stopped_fit_returns_its_best_estimate_at_once_unfused():
    image = (noisy(pattern((48, 48))) * 1000).astype(np.float32)
    patient = replace(TINY, stop_patience=1000, max_iter=200)  # its best is in before the stop
    restoration = napari_dip.Restoration("denoise", image, preset=patient, seed=0, threads=1)
    for snapshot in restoration.snapshots(every=10):
        if snapshot.iteration == 70:
            assert snapshot.best_iteration >= 50
            restoration.stop()
    assert restoration.info.stop_reason.value == "stopped" and restoration.info.fusions == ()


@pytest.mark.slow
def test_a_denoisings_uncertainty_is_its_fusions_predicted_error_in_the_images_units():
    """One network's run gives the error its fusion predicts, ``ERROR_SCALE`` times the
    filter's own; in the input's units: ten times the image, ten times the error."""
    image = (noisy(pattern((48, 48))) * 100).astype(np.float32)
    single = replace(TINY, members=1, flips=False)
    restoration, result = run(image, preset=single)
    (choice,) = restoration.info.fusions
    assert restoration.info.uncertainty == UNCERTAINTY_PREDICTED
    assert restoration.uncertainty.shape == result.shape
    assert np.isfinite(restoration.uncertainty).all() and restoration.uncertainty.min() > 0
    ten, _ = run(image * 10, preset=single)  # the same fit, to rounding
    ratio = ten.uncertainty / restoration.uncertainty
    assert 9.5 < np.median(ratio) < 10.5
    assert choice["weight"] > 0
    # the actual error is of the predicted size (the pattern is the truth)
    actual = np.sqrt(np.mean((result - 100 * pattern((48, 48))) ** 2))
    predicted = np.sqrt(np.mean(restoration.uncertainty**2))
    assert 0.4 < actual / predicted < 2.5
    assert ERROR_SCALE > 1


@pytest.mark.slow
def test_a_denoising_stopped_before_its_fusion_has_no_predicted_error():
    image = (noisy(pattern((48, 48))) * 1000).astype(np.float32)
    single = replace(TINY, members=1, flips=False, stop_patience=1000, max_iter=200)
    restoration = napari_dip.Restoration("denoise", image, preset=single, seed=0, threads=1)
    for snapshot in restoration.snapshots(every=10):
        if snapshot.iteration == 30:
            restoration.stop()
    assert restoration.info.uncertainty == UNCERTAINTY_PREDICTED
    assert np.isnan(restoration.uncertainty).all()
