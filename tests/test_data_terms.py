"""Data terms: the Gaussian and Poisson noise models, weighted by the pixels that count."""

import pytest
import torch
from helpers import photon_counts

import napari_dip
from napari_dip.core.data_terms import NOISE_MODELS, Gaussian, Poisson, data_term
from napari_dip.core.operators import Blur, Downsample, Mask
from napari_dip.imaging.psf import gaussian_psf


def test_noise_models_listed_and_gaussian_is_the_mean_squared_error():
    assert (
        NOISE_MODELS
        == ("gaussian", "poisson")
        == napari_dip.Options.__dataclass_fields__["noise"].type.__args__
    )
    assert isinstance(data_term("gaussian"), Gaussian) and data_term("poisson").noise == "poisson"
    x, y = torch.rand(1, 2, 8, 8), torch.rand(1, 2, 8, 8)
    assert Gaussian()(x, y).item() == pytest.approx(torch.mean((x - y) ** 2).item())


def test_weights_pick_the_pixels_averaged_over():
    x, y = torch.rand(1, 2, 8, 8), torch.rand(1, 2, 8, 8)
    weights = torch.zeros(1, 1, 8, 8)
    weights[..., :3, :] = 1  # broadcast over channels
    expected = torch.mean((x[..., :3, :] - y[..., :3, :]) ** 2)
    assert Gaussian()(x, y, weights).item() == pytest.approx(expected.item(), rel=1e-6)
    assert Gaussian()(x, y, torch.zeros(1, 1, 8, 8)).item() == 0.0  # nothing picked: no NaN


def test_unknown_noise_name_raises():
    with pytest.raises(ValueError, match="noise must be one of"):
        data_term("laplace")


def test_poisson_loss_is_zero_at_perfect_fit_and_positive_otherwise():
    op = Poisson()
    y = photon_counts()
    assert (y == 0).any()
    assert op(y, y).item() == 0.0
    for wrong in (y + 0.5, y * 1.2, torch.full_like(y, y.mean())):
        assert op(wrong, y).item() > 0


def test_poisson_gradient_is_finite_where_counts_or_prediction_are_zero():
    y = photon_counts()
    x = torch.rand_like(y).requires_grad_()
    Poisson()(x * (y > 0), y).backward()
    assert torch.isfinite(x.grad).all()


def test_poisson_minimiser_over_a_constant_is_the_mean():
    y = photon_counts(mean=2.5)
    op = Poisson()
    level = torch.tensor(y.mean().item(), requires_grad=True)
    loss = op(level.expand_as(y), y)
    loss.backward()
    assert level.grad.abs().item() < 1e-6
    for off in (0.9, 1.1):
        assert op(torch.full_like(y, y.mean() * off), y) > loss


def test_poisson_loss_scales_with_the_data_so_its_minimiser_is_scale_invariant():
    y = photon_counts()
    # Predictions above the floor even once scaled down (an unseeded draw near 0 made it flaky).
    x = 0.5 + 3.5 * torch.rand(y.shape, generator=torch.Generator().manual_seed(0))
    op = Poisson()
    assert op(x / 250, y / 250).item() == pytest.approx(op(x, y).item() / 250, rel=1e-4)


def test_poisson_keeps_negative_values_and_floors_the_prediction():
    op = Poisson()
    y = photon_counts(mean=0.5) - 0.4  # read noise below zero after offset subtraction
    assert (y < 0).any() and y.mean() > 0
    level = torch.tensor(y.mean().item(), requires_grad=True)
    loss = op(level.expand_as(y), y)
    loss.backward()
    assert loss.item() > 0 and level.grad.abs().item() < 1e-5  # the mean: no upward bias
    below = torch.full_like(y, -0.3)  # e.g. a linear output, or Lanczos ringing
    assert torch.isfinite(op(below, y)) and op(below, y) > loss
    assert op(below, torch.zeros_like(y)).item() == 0.0  # the floor is the best fit of 0


def test_poisson_mask_ignores_missing_pixels_and_averages_over_known():
    known = torch.zeros(1, 1, 4, 4)
    known[..., :2, :] = 1
    mask, term = Mask(known), Poisson()
    y = photon_counts((1, 3, 4, 4)) + 1
    x = y.clone()
    x[..., 2:, :] = 7.0  # missing pixels do not count

    def op(x, y):
        return term(mask(x), y, mask.observed)

    assert op(x, y).item() == 0.0
    x[0, 0, 0, 0] = y[0, 0, 0, 0] * 2  # one known pixel of one channel off
    lam, count = x[0, 0, 0, 0], y[0, 0, 0, 0]
    one = lam - count + count * torch.log(count / lam)
    assert op(x, y).item() == pytest.approx(one.item() / (8 * 3), rel=1e-5)


@pytest.mark.parametrize("noise", NOISE_MODELS)
def test_data_terms_through_blur_and_downsample(noise):
    x = photon_counts((1, 1, 16, 16), mean=4.0)
    term = data_term(noise)
    for op in (Blur(torch.from_numpy(gaussian_psf(1.0))), Downsample(2)):
        assert term(op(x), op(x)).item() == pytest.approx(0.0, abs=1e-6)
        assert term(op(x * 1.5), op(x)).item() > 0.01
