"""The stop-trajectory benchmark (benchmarks/stop_trajectory.py) on a tiny synthetic plane."""

import numpy as np
import pytest
from helpers import benchmark


@pytest.fixture(scope="module")
def stop_trajectory():
    return benchmark("stop_trajectory")


def test_a_trajectory_records_every_iteration_and_fuses_every_few(stop_trajectory):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:32, :32]
    clean = (100 + 50 * np.sin(y / 4) * np.cos(x / 5))[None]
    noisy = clean + rng.normal(0, 10, clean.shape)

    def psnr(estimate):
        return float(10 * np.log10(100**2 / np.mean((estimate - clean) ** 2)))

    row = stop_trajectory.trajectory(noisy, psnr, seed=0, iterations=12, fuse_every=4)
    assert len(row["scores"]) == len(row["network"]) == 12
    assert sorted(row["fused"]) == sorted(row["fused_scores"]) == [4, 8, 12]
    assert all(np.isfinite(v) for v in [*row["scores"], *row["network"], *row["fused"].values()])
    # Estimates are scored in the noisy image's units (in [0, 1] they would score about 0 dB).
    assert min(row["network"]) > 5 and min(row["fused"].values()) > 5


def test_the_recorded_scores_go_through_the_stops_own_rule(stop_trajectory):
    """1% falls up to iteration 200, then 0.0001% an iteration: a 0.1% tolerance ends the fit
    60 iterations after 200 with the last estimate; without one it runs to the end."""
    scores = [0.99**i for i in range(1, 201)] + [0.99**200 * 0.999999**i for i in range(1, 401)]
    fused = {str(i): 30.0 + i / 100 for i in range(50, 601, 50)}
    found = stop_trajectory.stops({"scores": scores, "fused": fused})
    assert found[0.0] == (600, 600, pytest.approx(36.0))
    assert found[0.001] == (260, 260, pytest.approx(32.6))
    table = stop_trajectory.report([{"case": "synthetic", "scores": scores, "fused": fused}])
    assert "stop 260, pick 260: 32.60 dB (-3.40)" in table
