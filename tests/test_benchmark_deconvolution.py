"""The deconvolution benchmark (benchmarks/deconvolution.py) on a tiny synthetic image."""

from dataclasses import replace

import numpy as np
import pytest
from helpers import THREE_LEVEL_NET, benchmark

import napari_dip
import napari_dip.core.fit as fit_module
from napari_dip.core.classical import NETWORK_WEIGHTS


@pytest.fixture(scope="module")
def deconvolution():
    return benchmark("deconvolution")


@pytest.mark.slow
def test_one_fit_gives_the_default_and_the_blend_over_all_frequencies_before_it(
    deconvolution, monkeypatch
):
    y, x = np.mgrid[:32, :32]
    image = 0.5 + 0.3 * np.sin(y / 3) * np.cos(x / 4)
    photons = 2 + 98 * np.stack([image, 1 - image])
    monkeypatch.setattr(deconvolution, "in_photons", lambda name, dark, bright: photons)
    tiny = replace(
        napari_dip.PRESETS["fast-deconvolution"], net=THREE_LEVEL_NET, max_iter=60, stop_min_iter=5
    )
    monkeypatch.setitem(napari_dip.PRESETS, "fast-deconvolution", tiny)
    blend = fit_module._with_classical

    row = deconvolution.measure("bpae", 0, "default", threads=1)
    assert fit_module._with_classical is blend  # the fit's own step again
    before = row["before"]
    assert before["weight"] in NETWORK_WEIGHTS
    assert before["psnr"] != row["psnr"] and all(10 < v < 60 for v in (before["psnr"], row["psnr"]))

    # The default's result is the one a plain run gives: the benchmark only looked.
    _, noisy, psf, axes = deconvolution.case("bpae", 0)
    plain = napari_dip.Restoration(
        "deconvolve", noisy, psf=psf, axes=axes, seed=0, threads=1, preset="default"
    ).run()
    assert deconvolution.psnr(plain, photons) == pytest.approx(row["psnr"], abs=1e-9)

    rl = {"image": "bpae", "seed": 0, "method": "rl", "psnr": row["psnr"] - 0.5, "iterations": 4}
    rl["seconds"] = 1.0
    table = deconvolution.render([row, rl])
    assert f"| {before['psnr']:.2f} ({before['weight']:.2f}) |" in table
    assert f"| before | 1 | {row['psnr'] - before['psnr']:+.2f} dB |" in table
    assert "| Richardson-Lucy (oracle) | 1 | +0.50 dB |" in table
