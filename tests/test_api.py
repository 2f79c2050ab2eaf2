"""The public numpy API: shapes, intensities, tasks end to end, and bad input."""

from dataclasses import replace

import numpy as np
import pytest
from helpers import IMAGE, SMALL, waves

import napari_dip
from napari_dip import Restoration


def psnr(estimate, clean, data_range=1.0):
    return 10 * np.log10(data_range**2 / np.mean((estimate - clean) ** 2))


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, napari_dip; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_denoise_raises_psnr_and_keeps_input():
    clean = waves((48, 48))
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1)
    before = noisy.copy()
    restored = napari_dip.denoise(noisy, preset=SMALL, seed=0)
    assert restored.dtype == np.float64 and restored.shape == clean.shape  # as wide as the input
    assert psnr(restored, clean) > psnr(noisy, clean) + 5
    assert np.array_equal(noisy, before)


@pytest.mark.slow
def test_inpaint_fills_half_missing_pixels_of_smooth_image():
    clean = waves((48, 48))
    mask = np.random.default_rng(2).random(clean.shape) < 0.5
    damaged = clean.copy()
    damaged[mask] = 0
    mask_before = mask.copy()
    filled = napari_dip.inpaint(damaged, mask, preset=SMALL, max_iter=400, seed=0)
    assert psnr(filled[mask], clean[mask]) > 30
    assert np.array_equal(mask, mask_before)


@pytest.mark.parametrize("factor", [2, 3])
def test_super_resolve_shape(factor):
    low = waves((10, 12))
    high = napari_dip.super_resolve(low, factor, preset=SMALL, max_iter=5, seed=0)
    assert high.shape == (10 * factor, 12 * factor)


@pytest.mark.slow
def test_super_resolve_recovers_smooth_image():
    high_res = waves((64, 64))
    import torch

    from napari_dip.core.operators import Downsample

    low = Downsample(4)(torch.from_numpy(high_res)[None, None])[0, 0].numpy()
    estimate = napari_dip.super_resolve(low, 4, preset=SMALL, max_iter=300, seed=0)
    bicubic_like = np.kron(low, np.ones((4, 4)))  # nearest upsampling as a floor
    assert (
        psnr(estimate[4:-4, 4:-4], high_res[4:-4, 4:-4])
        > psnr(bicubic_like[4:-4, 4:-4], high_res[4:-4, 4:-4]) + 3
    )


@pytest.mark.slow
def test_deconvolve_sharpens_blurred_image():
    clean = np.zeros((40, 40), np.float32)
    clean[10:30, 18:22] = 1.0
    psf = napari_dip.gaussian_psf(1.5)
    import torch

    from napari_dip.core.operators import Blur

    blurred = Blur(torch.from_numpy(psf))(torch.from_numpy(clean)[None, None])[0, 0].numpy()
    linear = replace(SMALL, net=replace(SMALL.net, output="linear"))
    sharp = napari_dip.deconvolve(blurred, psf, preset=linear, max_iter=300, seed=0)
    assert sharp.shape == clean.shape
    assert psnr(sharp, clean) > psnr(blurred, clean) + 2


def test_uint16_result_in_input_units_and_channels_last():
    rng = np.random.default_rng(0)
    image = (1000 + 300 * rng.random((24, 24, 3))).astype(np.uint16)
    image[..., 2] += 2000
    out = napari_dip.denoise(image, channel_axis=-1, preset=SMALL, max_iter=20, seed=0)
    assert out.dtype == np.float32 and out.shape == image.shape
    for c in range(3):
        assert image[..., c].min() <= out[..., c].min() and out[..., c].max() <= image[..., c].max()
    assert out[..., 2].mean() > out[..., 0].mean() + 1500


def test_channel_axis_first_and_3d_stack():
    stack = waves((32, 32))[None].repeat(5, axis=0)
    out = napari_dip.denoise(stack, preset=SMALL, max_iter=3, seed=0)
    assert out.shape == (5, 32, 32)
    cyx = np.stack([waves(), 1 - waves()])
    assert napari_dip.denoise(cyx, channel_axis=0, preset=SMALL, max_iter=3).shape == (2, 32, 32)


def test_constant_image_comes_back_constant():
    image = np.full((20, 20), 7, np.uint8)
    out = napari_dip.denoise(image, preset=SMALL, max_iter=10, seed=0)
    assert np.allclose(out, 7, atol=0.5)


def test_same_seed_same_result():
    noisy = waves() + np.random.default_rng(0).normal(0, 0.1, (32, 32)).astype(np.float32)
    a = napari_dip.denoise(noisy, preset=SMALL, max_iter=15, seed=11)
    b = napari_dip.denoise(noisy, preset=SMALL, max_iter=15, seed=11)
    assert np.array_equal(a, b)


def test_callback_sees_progress_and_can_stop():
    seen = []

    def callback(snapshot):
        seen.append(snapshot.iteration)
        return snapshot.iteration >= 20

    out = napari_dip.denoise(waves(), preset=SMALL, max_iter=500, callback=callback, every=10)
    assert seen == [10, 20, 20]  # the last call is the final snapshot
    assert out.shape == (32, 32)


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: napari_dip.denoise(np.zeros(16)), ValueError, "spatial axes"),
        (lambda: napari_dip.denoise(np.zeros((2, 2, 8, 8, 8))), ValueError, "needs axes="),
        (lambda: napari_dip.denoise(np.zeros((0, 8))), ValueError, "empty"),
        (lambda: napari_dip.denoise(np.zeros((8, 8), bool)), TypeError, "boolean"),
        (lambda: napari_dip.denoise(np.zeros((8, 8), complex)), TypeError, "complex"),
        (lambda: napari_dip.denoise(np.zeros((8, 8), object)), TypeError, "dtype"),
        (lambda: napari_dip.denoise(np.full((8, 8), np.nan)), ValueError, "NaN"),
        (lambda: napari_dip.denoise(np.array([[1.0, np.inf], [0, 0]])), ValueError, "infinite"),
        (lambda: napari_dip.denoise(IMAGE, channel_axis=3), ValueError, "channel_axis"),
        (lambda: napari_dip.inpaint(IMAGE, np.ones((8, 8))), ValueError, "does not match"),
        (lambda: Restoration("inpaint", IMAGE), ValueError, "needs a mask"),
        (lambda: napari_dip.inpaint(IMAGE, np.zeros((16, 16))), ValueError, "no pixel"),
        (lambda: napari_dip.inpaint(IMAGE, np.ones((16, 16))), ValueError, "every pixel"),
        (lambda: napari_dip.deconvolve(IMAGE, np.ones((32, 3))), ValueError, "larger"),
        (lambda: napari_dip.deconvolve(IMAGE, np.zeros((3, 3))), ValueError, "sum"),
        (lambda: napari_dip.deconvolve(IMAGE, np.ones(3)), ValueError, "axes"),
        (lambda: Restoration("sharpen", IMAGE), ValueError, "unknown task"),
    ],
)
def test_bad_input_raises_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bad_input_leaves_arrays_untouched():
    image = np.arange(256, dtype=np.float32).reshape(16, 16)
    mask = np.zeros((16, 16), np.uint8)
    before = image.copy()
    with pytest.raises(ValueError):
        napari_dip.inpaint(image, mask)
    assert np.array_equal(image, before)


# --- defects found by fuzzing --------------------------------------------------


def test_torch_tensors_are_accepted_even_with_gradients():
    torch = pytest.importorskip("torch")
    image = waves((16, 16))
    tensor = torch.from_numpy(image.copy()).requires_grad_()
    out = napari_dip.denoise(tensor, preset=SMALL, max_iter=2, seed=0)
    assert np.allclose(out, napari_dip.denoise(image, preset=SMALL, max_iter=2, seed=0), atol=1e-4)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[4:6, 4:6] = True
    psf = torch.from_numpy(napari_dip.gaussian_psf(1.0)).requires_grad_()
    assert napari_dip.inpaint(tensor, mask, preset=SMALL, max_iter=1).shape == (16, 16)
    assert napari_dip.deconvolve(tensor, psf, preset=SMALL, max_iter=1).shape == (16, 16)
