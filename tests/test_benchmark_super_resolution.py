"""The super-resolution benchmark (benchmarks/super_resolution.py) on a tiny synthetic image."""

from dataclasses import replace

import numpy as np
import pytest
from helpers import THREE_LEVEL_NET, benchmark

import napari_dip


@pytest.fixture(scope="module")
def super_resolution():
    return benchmark("super_resolution")


def test_one_fit_gives_the_default_before_and_after_its_back_projection(
    super_resolution, monkeypatch
):
    y, x = np.mgrid[:32, :32]
    image = 0.5 + 0.3 * np.sin(y / 3) * np.cos(x / 4)
    monkeypatch.setattr(super_resolution, "SIZE", 32)
    monkeypatch.setattr(super_resolution, "clean", lambda name: np.stack([image, 1 - image]))
    tiny = replace(napari_dip.PRESETS["fast-super-resolution"], net=THREE_LEVEL_NET, max_iter=30)
    monkeypatch.setitem(napari_dip.PRESETS, "fast-super-resolution", tiny)

    row = super_resolution.measure_case("bpae", 2, seed=0, check=True)
    # The step applied to the fit without it is the default's own result.
    assert row["check_max_difference"] < 1e-5
    assert row["default"] != row["without_back_projection"]
    assert row["iterations"] == 30 and row["stop"] == "max_iter"
    assert all(5 < row[key] < 80 for key in ("bicubic", "lanczos", "default"))

    assert "one_step" not in row  # x2 takes one step: the default is that
    four = super_resolution.measure_case("bpae", 4, seed=0)
    assert four["one_step"] not in (four["default"], four["without_back_projection"])

    rows = [row, {**row, "seed": 1, "default": row["default"] + 0.2}, four]
    table = super_resolution.render(rows)
    gain = row["default"] - row["bicubic"] + 0.1
    assert f"| x2 | microscopy | 2 | {gain:+.2f} dB |" in table
    assert "| 0.20 dB |" in table  # the seeds' spread
    assert "differ by at most" in table
    more = four["default"] - four["one_step"]
    assert f"| {more:+.2f} dB, {more:+.2f} dB |" in table  # x4's steps against one
