"""Forward models: what each task's operator does, as a torch module."""

import math

import numpy as np
import pytest
import torch

from napari_dip.core.data_terms import Gaussian
from napari_dip.core.operators import (
    Blur,
    Downsample,
    Identity,
    Mask,
    lanczos_kernel,
    make_operator,
)
from napari_dip.imaging.psf import gaussian_psf


def smooth_image(shape=(32, 32)):
    y, x = np.mgrid[: shape[0], : shape[1]] / max(shape)
    return (0.5 + 0.25 * np.sin(6 * x) * np.cos(4 * y)).astype(np.float32)


def test_make_operator_builds_each_task_s_model():
    known = torch.ones(1, 1, 8, 8)
    psf = torch.from_numpy(gaussian_psf(1.0))
    assert type(make_operator("denoise")) is Identity
    assert type(make_operator("inpaint", known=known)) is Mask
    down = make_operator("super_resolve", factor=3, kernel="box")
    assert type(down) is Downsample and down.factor == 3
    assert type(make_operator("deconvolve", psf=psf)) is Blur
    with pytest.raises(ValueError, match="unknown task"):
        make_operator("sharpen")


def test_operators_keep_their_tensors_as_buffers():
    """Buffers follow .to() and show in the state dict; only the mask observes part of y."""
    mask = Mask(torch.ones(1, 1, 4, 4))
    down = Downsample(2)
    blur = Blur(torch.ones(3, 3) / 9)
    assert set(mask.state_dict()) == {"observed"} and set(down.state_dict()) == {"taps"}
    assert set(blur.state_dict()) == {"psf"} and list(Identity().state_dict()) == []
    assert Identity().observed is None and down.observed is None
    moved = mask.to(torch.float64)
    assert moved is mask and mask.observed.dtype == torch.float64
    assert Identity().pixelwise and mask.pixelwise and not down.pixelwise and not blur.pixelwise


def test_identity_returns_input():
    x = torch.rand(1, 2, 8, 8)
    assert torch.equal(Identity()(x), x)


def test_mask_keeps_known_pixels_and_its_data_term_ignores_missing_ones():
    known = torch.zeros(1, 1, 4, 4)
    known[..., :2, :] = 1
    op = Mask(known)
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(op(x)[..., 2:, :], torch.zeros(1, 3, 2, 4))
    assert torch.equal(op(x)[..., :2, :], x[..., :2, :])
    y = x.clone()
    y[..., 2:, :] += 5  # differences on missing pixels do not count
    assert Gaussian()(op(x), y, op.observed).item() == 0.0
    y[0, 0, 0, 0] += 1  # one known pixel of one channel off by one
    assert Gaussian()(op(x), y, op.observed).item() == pytest.approx(1 / (8 * 3))


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
@pytest.mark.parametrize("kernel", ["lanczos2", "box"])
def test_downsample_shape_and_constant_preserved(factor, kernel):
    op = Downsample(factor, kernel)
    x = torch.full((1, 2, 8 * factor, 5 * factor), 0.7)
    y = op(x)
    assert y.shape == (1, 2, 8, 5)
    assert torch.allclose(y, torch.full_like(y, 0.7), atol=1e-6)


def test_downsample_acts_on_yx_of_stacks():
    op = Downsample(2)
    assert op(torch.rand(1, 1, 3, 16, 12)).shape == (1, 1, 3, 8, 6)


def test_downsample_of_smooth_image_matches_subsampling():
    hr = torch.from_numpy(smooth_image((64, 64)))[None, None]
    lr = Downsample(4)(hr)
    centres = torch.nn.functional.avg_pool2d(hr, 4)  # values at block centres, roughly
    assert (lr - centres)[..., 2:-2, 2:-2].abs().max() < 0.01


@pytest.mark.parametrize("kernel", ["lanczos2", "box"])
def test_back_projection_moves_the_estimate_towards_the_observation(kernel):
    """One step shrinks what the estimate's downsampled copy misses of the observation; it
    commutes with a gain and an offset (the fit's normalisation), and leaves a stack's Z."""
    op = Downsample(2, kernel)
    generator = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(6, 1, 34, 34, generator=generator), 3, 1)
    truth = smooth.reshape(1, 2, 3, 32, 32)  # a 2-channel stack of 3 planes
    y = op(truth)
    blurred = torch.nn.functional.avg_pool2d(smooth, 5, 1, 2, count_include_pad=False)
    x = blurred.reshape(truth.shape)  # an estimate that misses the detail
    stepped = op.back_project(x, y)
    assert stepped.shape == x.shape
    before, after = (y - op(x)).norm(), (y - op(stepped)).norm()
    assert after < 0.5 * before
    assert (stepped - truth).norm() < (x - truth).norm()
    assert torch.allclose(op.back_project(3 * x + 2, 3 * y + 2), 3 * stepped + 2, atol=1e-5)
    # More steps pull closer to the observation; x2 takes one by default, x4 three.
    assert (y - op(op.back_project(x, y, steps=3))).norm() < after
    assert [Downsample(f).back_projection_steps for f in (2, 3, 4, 8)] == [1, 2, 3, 3]
    # A plane's step does not depend on the other planes of its stack.
    alone = op.back_project(x[:, :, 1], y[:, :, 1])
    assert torch.allclose(alone, stepped[:, :, 1], atol=1e-6)


def test_box_downsample_is_block_average():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = Downsample(2, "box")(x)
    assert torch.allclose(y, torch.nn.functional.avg_pool2d(x, 2))


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_lanczos_kernel_symmetric_and_normalised(factor):
    taps = lanczos_kernel(factor)
    assert taps.sum() == pytest.approx(1.0)
    assert np.allclose(taps, taps[::-1])
    assert (len(taps) - factor) % 2 == 0


def test_downsample_rejects_unknown_kernel():
    with pytest.raises(ValueError, match="kernel"):
        Downsample(2, "bicubic")


def test_blur_delta_psf_is_identity_and_preserves_mean():
    delta = torch.zeros(5, 5)
    delta[2, 2] = 1
    x = torch.rand(1, 1, 20, 17)
    assert torch.allclose(Blur(delta)(x), x, atol=1e-5)
    psf = torch.from_numpy(gaussian_psf(1.5))
    blurred = Blur(psf)(x)
    assert blurred.shape == x.shape
    assert blurred.std() < x.std()
    assert blurred.mean().item() == pytest.approx(x.mean().item(), abs=0.02)


def test_blur_shift_follows_psf_offset():
    psf = torch.zeros(3, 3)
    psf[1, 2] = 1  # kernel centre at (1, 1): moves content one pixel along +x
    x = torch.zeros(1, 1, 9, 9)
    x[..., 4, 4] = 1
    y = Blur(psf)(x)
    assert y[0, 0, 4, 5] == pytest.approx(1, abs=1e-5)


def test_blur_3d_and_2d_psf_on_stack():
    x = torch.rand(1, 1, 6, 16, 16)
    assert Blur(torch.from_numpy(gaussian_psf(1.0, ndim=3)))(x).shape == x.shape
    planes = Blur(torch.from_numpy(gaussian_psf(1.0)))(x)
    single = Blur(torch.from_numpy(gaussian_psf(1.0)))(x[:, :, 2])
    assert torch.allclose(planes[:, :, 2], single, atol=1e-5)


def test_blur_passband_keeps_what_the_psf_passes_and_removes_what_it_wipes_out():
    blur = Blur(torch.from_numpy(gaussian_psf(2.0)))
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(40.0), indexing="ij")
    slow = torch.cos(2 * math.pi * x / 39)[None, None]  # even about both borders; |H|^2 0.95
    checkerboard = (-1.0) ** (y + x)[None, None]  # Nyquist: |H|^2 under 1e-30
    constant = torch.full((1, 1, 32, 40), 3.0)
    assert torch.allclose(blur.passband(constant), constant, atol=1e-5)
    assert torch.allclose(blur.passband(slow + checkerboard), slow, atol=0.002)
    kept = blur.passband(slow)
    assert float((kept * slow).sum() / (slow * slow).sum()) == pytest.approx(1.0, abs=0.01)


def test_blur_passband_on_a_stack_and_a_volume():
    stack = torch.rand(2, 3, 5, 16, 16)
    planes = Blur(torch.from_numpy(gaussian_psf(1.0)))
    assert torch.allclose(
        planes.passband(stack)[:, :, 2], planes.passband(stack[:, :, 2]), atol=1e-5
    )
    volume = Blur(torch.from_numpy(gaussian_psf(1.0, ndim=3)))
    assert volume.passband(stack).shape == stack.shape


def test_gaussian_psf_per_axis_sigma():
    psf = gaussian_psf((2.0, 1.0, 1.0))
    assert psf.shape == (13, 7, 7)
    assert psf.sum() == pytest.approx(1.0)
    assert psf[6].max() == psf.max()
    with pytest.raises(ValueError):
        gaussian_psf(0)
    with pytest.raises(ValueError):
        gaussian_psf((1.0, 2.0), ndim=3)


def test_the_kernels_are_those_the_options_offer():
    """The core cannot import the API's definition (it would import upward): they must agree."""
    from napari_dip._options import KERNELS as OFFERED
    from napari_dip.core.operators import KERNELS

    assert KERNELS == OFFERED == ("lanczos2", "box")
