"""Noise models in restorations, intensity normalisation and the output dtype."""

import numpy as np
import pytest
import torch

import napari_dip
from napari_dip import NetSpec, Recipe
from napari_dip.core.data_terms import data_term
from napari_dip.core.fit import Fit
from napari_dip.core.operators import Identity
from napari_dip.imaging.intensity import Intensity, cast_result

# --- intensities ---------------------------------------------------------------


def pattern(shape=(256, 256), seed=0):
    """A smooth structure with shot noise, values about 50..150."""
    y, x = np.mgrid[: shape[0], : shape[1]] / max(shape)
    clean = 100 + 50 * np.sin(6 * x) * np.cos(4 * y)
    return np.random.default_rng(seed).poisson(clean).astype(np.float32)


def test_single_hot_pixel_does_not_compress_the_rest():
    image = pattern()
    hot = image.copy()
    hot[100, 120] = 100 * image.max()
    intensity = Intensity(hot[None])
    assert intensity.low.item() == image.min()
    assert intensity.low.item() + intensity.span.item() == image.max()
    assert intensity.normalise(hot[None])[0, 100, 120] > 50  # the sigmoid cannot follow it


def test_hot_camera_pixel_through_a_stack_is_isolated_in_each_plane():
    stack = np.stack([pattern((64, 64), seed) for seed in range(4)])  # Z, Y, X
    hot = stack.copy()
    hot[:, 30, 40] = 20000  # the same camera pixel in every plane
    channels = np.moveaxis(np.stack([hot, hot / 2]), 0, 1)  # Z, C, Y, X: channels not contiguous
    intensity = Intensity(np.moveaxis(channels, 1, 0))
    assert intensity.span.ravel().tolist() == [
        stack.max() - stack.min(),
        (stack.max() - stack.min()) / 2,
    ]


def test_dead_pixel_far_below_the_rest_is_an_outlier():
    image = pattern() + 1000
    dead = image.copy()
    dead[7, 9] = 0
    assert Intensity(dead[None]).low.item() == image.min()


def test_small_bright_spots_keep_their_values():
    yy, xx = np.mgrid[:512, :512]
    spots = np.zeros((512, 512), np.float32)
    for cy, cx, peak in [(50, 60, 2000), (200, 300, 800), (400, 100, 1500), (300, 450, 3000)]:
        spots += peak * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2.0)  # sigma: one pixel
    assert 0.0004 < np.mean(spots > 10) < 0.0006  # about 0.05% of the pixels
    image = pattern((512, 512)) + spots
    intensity = Intensity(image[None])
    normalised = intensity.normalise(image[None])
    assert normalised.min() == 0 and normalised.max() == 1
    assert np.allclose(intensity.denormalise(normalised), image[None], rtol=1e-6)


def test_missing_pixels_do_not_set_the_range():
    image = pattern((64, 64))
    missing = np.zeros(image.shape, bool)
    missing[:, :20] = True
    image[missing] = 0
    intensity = Intensity(image[None], missing)
    assert intensity.low.item() == image[~missing].min()


@pytest.mark.parametrize("zero_floor", [False, True])
def test_constant_channel_maps_to_half_and_back(zero_floor):
    image = np.stack([np.full((8, 8), 7.0), np.zeros((8, 8))]).astype(np.float32)
    intensity = Intensity(image, zero_floor=zero_floor)
    normalised = intensity.normalise(image)
    assert np.all(normalised[0] == 0.5)
    assert np.array_equal(intensity.denormalise(normalised), image)


def test_uint16_round_trip_keeps_counts():
    image = np.random.default_rng(0).integers(100, 60000, (2, 32, 32)).astype(np.uint16)
    intensity = Intensity(image.astype(np.float32))
    normalised = intensity.normalise(image.astype(np.float32))
    assert normalised.min() == 0 and normalised.max() == 1
    restored = cast_result(intensity.denormalise(normalised), image.dtype)
    assert restored.dtype == np.uint16 and np.array_equal(restored, image)


def test_zero_floor_is_a_pure_scale_and_keeps_negative_values():
    image = pattern((64, 64)) - 60  # an offset subtracted: some values below zero
    intensity = Intensity(image[None], zero_floor=True)
    assert intensity.low.item() == 0 and intensity.span.item() == image.max()
    normalised = intensity.normalise(image[None])
    assert normalised.min() < 0 and normalised.max() == 1
    assert np.allclose(normalised * image.max(), image[None], atol=1e-4)
    assert Intensity(image[None]).low.item() == image.min()


# --- output dtype --------------------------------------------------------------


def test_cast_result_rounds_and_clips_integers_without_wrapping():
    result = np.array([-3.6, 0.4, 0.6, 254.7, 300.0, 70000.0], dtype=np.float32)
    assert cast_result(result, np.uint8).tolist() == [0, 0, 1, 255, 255, 255]
    assert cast_result(result, np.uint16).tolist() == [0, 0, 1, 255, 300, 65535]
    assert cast_result(result, np.int16).tolist() == [-4, 0, 1, 255, 300, 32767]
    assert cast_result(np.array([-1e30], np.float32), "int16").tolist() == [-32768]


def test_cast_result_floats_default_to_float32_and_do_not_overflow():
    result = np.array([1.25, 1e5], dtype=np.float32)
    assert cast_result(result).dtype == np.float32
    half = cast_result(result, np.float16)
    assert half.dtype == np.float16 and half.tolist() == [1.25, 65504.0]
    assert cast_result(result, np.float64).dtype == np.float64


@pytest.mark.parametrize("dtype", [bool, np.complex64, object, "U3"])
def test_cast_result_rejects_non_real_dtypes(dtype):
    with pytest.raises(TypeError, match="integer or float"):
        cast_result(np.zeros(3, np.float32), dtype)


# --- behaviour -----------------------------------------------------------------

SMALL = Recipe(
    name="test-small",
    description="small and quick, for tests",
    net=NetSpec(down=(16, 16, 16), up=(16, 16, 16), skip=(4, 4, 4)),
    input_depth=8,
)


def spots_and_filaments(size=48):
    """Sparse spots and dim filaments on a dark background (benchmarks/noise_models.py)."""
    rng = np.random.default_rng(123)
    y, x = np.mgrid[:size, :size].astype(float)
    image = np.full((size, size), 0.02)
    for _ in range(4):
        a, b, c = rng.normal(size=3)
        distance = np.abs(a * (x - size / 2) + b * (y - size / 2) + c * size / 4) / np.hypot(a, b)
        image += 0.15 * np.exp(-0.5 * (distance / 1.2) ** 2)
    for cy, cx in rng.uniform(6, size - 6, (8, 2)):
        image += rng.uniform(0.4, 1.0) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 1.5**2))
    return (image / image.max()).astype(np.float32)


def denoised_psnr(noisy, clean, noise, max_iter):
    intensity = Intensity(noisy[None], zero_floor=noise == "poisson")
    target = torch.from_numpy(intensity.normalise(noisy[None]))[None]
    fit = Fit(
        target,
        Identity(),
        SMALL,
        noisy.shape,
        data_term=data_term(noise),
        max_iter=max_iter,
        auto_stop=False,
        seed=0,
        device="cpu",
    )
    list(fit.snapshots(every=max_iter))
    estimate = intensity.denormalise(fit.result)[0]
    return 10 * np.log10(clean.max() ** 2 / np.mean((estimate - clean) ** 2))


@pytest.mark.slow
def test_poisson_mode_beats_gaussian_mode_on_photon_counts(one_thread):
    # Measured (benchmarks/noise_models.py and 6 noise seeds at 48x48): Poisson leads
    # by 1.9 to 3.1 dB after 150 iterations, and by 0.8 to 1.9 dB at each mode's best.
    clean = spots_and_filaments() * 10  # a peak of 10 photons
    noisy = np.random.default_rng(0).poisson(clean).astype(np.float32)
    gaussian = denoised_psnr(noisy, clean, "gaussian", 150)
    poisson = denoised_psnr(noisy, clean, "poisson", 150)
    noisy_psnr = 10 * np.log10(clean.max() ** 2 / np.mean((noisy - clean) ** 2))
    assert noisy_psnr < gaussian < poisson - 1.0


# --- which noise the data look like ------------------------------------------------------


def waves(shape=(160, 160)):
    y, x = np.mgrid[: shape[0], : shape[1]]
    return 0.5 + 0.3 * np.sin(x / 9) * np.cos(y / 7)


@pytest.mark.parametrize("seed", range(3))
def test_photon_counts_are_suggested_poisson_and_an_offset_is_named(seed):
    from napari_dip.imaging.noise import suggest_noise

    rng = np.random.default_rng(seed)
    for photons in (30, 1000):
        noise, offset, why = suggest_noise(rng.poisson(waves() * photons))
        assert (noise, offset) == ("poisson", 0.0) and "from zero" in why
    noise, offset, why = suggest_noise(rng.poisson(waves() * 300) + 100)  # a camera offset of 100
    assert noise == "gaussian" and 80 < offset < 120
    assert why.startswith(f"camera counts on an offset of about {offset:g}, whose read noise")


def test_other_data_are_suggested_gaussian_with_the_reason():
    from napari_dip.imaging.noise import suggest_noise

    rng = np.random.default_rng(0)
    noisy = waves() + rng.normal(0, 0.05, waves().shape)
    assert suggest_noise(noisy) == ("gaussian", 0.0, "not integer counts")
    levels = np.round(noisy * 1000).astype(np.int32) + 500  # integers, constant noise
    assert suggest_noise(levels) == ("gaussian", 0.0, "the noise does not grow with the signal")
    assert suggest_noise(np.zeros((16, 16), np.uint8)) == ("gaussian", 0.0, "too small to tell")


# --- the camera's offset ------------------------------------------------------------


def test_the_offset_is_the_zero_of_a_pure_scale():
    image = pattern((64, 64)) + 40  # counts on an offset of 100, read noise below it
    intensity = Intensity(image[None], zero_floor=True, zero=100.0)
    assert intensity.low.item() == 100 and intensity.span.item() == image.max() - 100
    normalised = intensity.normalise(image[None])
    assert np.allclose(normalised * (image.max() - 100), image[None] - 100, atol=1e-4)
    assert np.allclose(intensity.denormalise(normalised), image[None], atol=1e-3)
    with pytest.raises(ValueError, match="no value above the offset 500"):
        Intensity(image[None], zero_floor=True, zero=500.0)


@pytest.mark.slow
def test_poisson_with_an_offset_fits_the_counts_above_it():
    counts = np.random.default_rng(0).poisson(20 * waves((48, 48))).astype(np.uint16)
    settings = dict(noise="poisson", max_iter=8, seed=0, threads=1, device="cpu")
    plain = napari_dip.denoise(counts, **settings)
    on_offset = napari_dip.denoise(counts + np.uint16(100), offset=100, **settings)
    assert np.allclose(on_offset - 100, plain, atol=1e-3)  # the same fit, in the input's units
    ignored = napari_dip.denoise(counts + np.uint16(100), **settings)  # zero photons read as 100
    assert not np.allclose(ignored - 100, plain, atol=0.5)
