"""The denoising benchmark's VST+BM3D anchor: its Anscombe transform and unbiased inverse.

A wrong transform would weaken the bar the default is measured against, so it is tested here
(on simulated Poisson-Gaussian noise; no benchmark data).
"""

import numpy as np
import pytest
from helpers import benchmark


@pytest.fixture(scope="module")
def anscombe():
    return benchmark("quality").Anscombe


def poisson_gaussian(levels, gain, read, rng):
    """Photon counts at ``levels`` times ``gain`` plus Gaussian read noise of sigma ``read``."""
    return gain * rng.poisson(levels) + rng.normal(0, read, np.shape(levels))


def test_the_fitted_transform_makes_the_noise_variance_one_across_levels(anscombe):
    rng = np.random.default_rng(0)
    ramp = np.repeat(np.linspace(2, 60, 256)[None], 256, axis=0)  # photons, along X
    image = poisson_gaussian(ramp, 0.01, 0.02, rng)
    vst = anscombe(image)
    assert vst.gain == pytest.approx(0.01, rel=0.25)
    levels = np.full((4000, 3), [10.0, 30, 60])  # below ~5 photons it is only approximate
    transformed = vst.forward(poisson_gaussian(levels, 0.01, 0.02, rng))
    assert np.allclose(transformed.std(axis=0), 1.0, atol=0.12)


@pytest.mark.parametrize("photons", [2.0, 5.0, 20.0, 100.0])
def test_the_inverse_is_unbiased_where_the_algebraic_one_is_not(anscombe, photons):
    rng = np.random.default_rng(1)
    ramp = np.repeat(np.linspace(1, 100, 256)[None], 256, axis=0)
    vst = anscombe(poisson_gaussian(ramp, 1.0, 0.5, rng))
    samples = poisson_gaussian(np.full(200_000, photons), 1.0, 0.5, rng)
    mean_transformed = vst.forward(samples).mean()  # what an ideal denoiser returns
    assert vst.inverse(mean_transformed) == pytest.approx(photons, rel=0.03, abs=0.1)
    algebraic = vst.gain * ((mean_transformed / 2) ** 2 - 3 / 8 - vst.read)
    if photons <= 5:
        assert abs(algebraic - photons) > 2 * abs(vst.inverse(mean_transformed) - photons)
