"""Inpainting keeps the measured pixels, accepts NaN under the mask and masks per channel."""

import numpy as np
import pytest

import napari_dip


def _holes(shape, seed=1):
    mask = np.zeros(shape, dtype=bool)
    mask[..., 4:10, 5:12] = True
    mask |= np.random.default_rng(seed).random(shape) < 0.1
    return mask


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (np.uint8, np.float32),
        (np.uint16, np.float32),
        (np.int16, np.float32),
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int32, np.float64),
    ],
)
def test_known_pixels_come_back_bit_for_bit(dtype, expected):
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        image = (rng.random((24, 24)) * 3 - 1).astype(dtype)
    else:
        image = rng.integers(0, min(np.iinfo(dtype).max, 60000), (24, 24)).astype(dtype)
    original = image.copy()
    mask = _holes(image.shape)
    result = napari_dip.inpaint(image, mask, max_iter=3, seed=0)
    assert result.dtype == expected
    assert np.array_equal(result[~mask], image[~mask].astype(expected))
    assert not np.array_equal(result[mask], image[mask].astype(expected))  # filled by the fit
    assert np.array_equal(image, original)


def test_known_pixels_in_the_input_dtype():
    image = np.random.default_rng(0).integers(0, 4000, (3, 24, 24)).astype(np.uint16)
    mask = _holes((24, 24))
    result = napari_dip.inpaint(image, mask, axes="CYX", output_dtype="input", max_iter=3, seed=0)
    assert result.dtype == np.uint16
    assert np.array_equal(result[:, ~mask], image[:, ~mask])


def test_keep_known_false_returns_the_fit_everywhere():
    image = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    mask = _holes(image.shape)
    joint = napari_dip.inpaint(image, mask, keep_known=False, max_iter=3, seed=0)
    kept = napari_dip.inpaint(image, mask, max_iter=3, seed=0)
    assert not np.array_equal(joint[~mask], image[~mask])
    assert np.array_equal(joint[mask], kept[mask])  # the same fit fills the holes


def test_snapshots_show_the_measured_pixels():
    image = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    mask = _holes(image.shape)
    run = napari_dip.Restoration("inpaint", image, mask=mask, max_iter=4, seed=0)
    for snapshot in run.snapshots(every=2):
        assert np.array_equal(snapshot.smoothed[~mask], image[~mask])


def test_nan_under_the_mask_is_ignored():
    image = np.random.default_rng(0).random((16, 16))
    image[5, 5] = np.nan
    image[2, 9] = np.inf
    result = napari_dip.inpaint(image, ~np.isfinite(image), max_iter=3, seed=0)
    assert np.isfinite(result).all()
    known = np.isfinite(image)
    assert np.array_equal(result[known], image[known])


def test_nan_outside_the_mask_is_refused():
    image = np.random.default_rng(0).random((16, 16))
    image[5, 5] = np.nan
    mask = np.zeros(image.shape, dtype=bool)
    mask[0, 0] = True
    with pytest.raises(ValueError, match="1 NaN or infinite value.*outside the mask"):
        napari_dip.inpaint(image, mask, max_iter=1)
    with pytest.raises(ValueError, match="NaN"):  # other tasks refuse NaN anywhere
        napari_dip.denoise(image, max_iter=1)


def test_one_mask_per_channel():
    image = np.random.default_rng(0).random((2, 16, 16))
    mask = np.zeros(image.shape, dtype=bool)
    mask[0, :, :8] = True
    mask[1, :, 8:] = True
    result = napari_dip.inpaint(image, mask, axes="CYX", max_iter=3, seed=0)
    assert result.shape == image.shape and np.isfinite(result).all()
    assert np.array_equal(result[~mask], image[~mask])


@pytest.mark.parametrize("channels", ["joint", "independent"])
def test_a_channel_with_no_known_pixel_is_named(channels):
    image = np.random.default_rng(0).random((2, 16, 16))
    mask = np.zeros(image.shape, dtype=bool)
    mask[1] = True
    with pytest.raises(ValueError, match="no known pixel in channel 1"):
        napari_dip.inpaint(image, mask, axes="CYX", channels=channels, max_iter=1)
