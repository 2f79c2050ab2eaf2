"""The denoising uncertainty benchmark (benchmarks/denoising_uncertainty.py) on tiny images."""

from dataclasses import replace

import numpy as np
import pytest
from helpers import THREE_LEVEL_NET, benchmark

import napari_dip
import napari_dip.core.fit as fit_module
from napari_dip._tasks import UNCERTAINTY_PREDICTED


@pytest.fixture(scope="module")
def uncertainty():
    return benchmark("denoising_uncertainty")


def _pattern():
    y, x = np.mgrid[:40, :40]
    return 100 + 60 * np.sin(y / 3) * np.cos(x / 4)


@pytest.mark.slow
def test_a_case_measures_the_predicted_error_against_the_actual_one(uncertainty, monkeypatch):
    clean = _pattern()[None]
    noisy = clean + np.random.default_rng(0).normal(0, 15, clean.shape)
    found = {"noisy": noisy, "clean": clean, "calibration": [(1.0, 0.0)]}
    monkeypatch.setattr(uncertainty, "case", lambda name, seed: found)
    monkeypatch.setattr(uncertainty, "photon_counts", lambda name, seed: (clean, noisy))
    tiny = replace(
        napari_dip.PRESETS["fast-denoising"], net=THREE_LEVEL_NET, max_iter=60, stop_min_iter=5
    )
    monkeypatch.setitem(napari_dip.PRESETS, "fast-denoising", tiny)
    predicted = fit_module.predicted_error

    row = uncertainty.measure("bpae", 0, threads=1)
    assert fit_module.predicted_error is predicted  # the fit's own step again
    assert row["kind"] == UNCERTAINTY_PREDICTED and row["noise"] == "gaussian"
    assert not row["design"] and 0 < row["uncertainty_seconds"] < row["seconds"]
    u = row["uncertainty"]
    assert len(u["ratios"]) == 10 and all(r > 0 for r in u["ratios"])
    assert 0 < u["within_1"] <= u["within_2"] <= 1

    # The benchmark's PSNR is a plain run's: it only timed the prediction.
    plain = napari_dip.Restoration("denoise", noisy.astype(np.float32), axes="CYX", seed=0)
    error = plain.run() - clean
    assert row["psnr"] == pytest.approx(10 * np.log10(255**2 / np.mean(error**2)), abs=1e-6)

    photons = uncertainty.measure("fish", 1, threads=1, noise="poisson")
    assert photons["noise"] == "poisson" and not photons["design"]
    design = dict(row, image="fish", design=True)
    table = uncertainty.render([row, photons, design])
    assert f"| bpae | 0 | {row['psnr']:.2f} |" in table
    assert "| fish, photons | 1 |" in table and "| fish (design) | 0 |" in table
    for label in uncertainty.GROUPS.values():
        assert f"The 1 cases of {label}:" in table
