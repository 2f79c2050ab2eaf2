"""The plane-size benchmark (benchmarks/plane_sizes.py), run on the CPU on a tiny synthetic plane.

It is the script a lent GPU runs (``--device cuda``): what it reports must hold together on the
CPU first (no benchmark data: the plane is written here).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import BENCHMARKS, benchmark


@pytest.fixture(scope="module")
def plane_sizes():
    return benchmark("plane_sizes")


@pytest.fixture
def plane(tmp_path):
    """A 32x32 plane of blurred blobs in camera counts, as a TIFF."""
    y, x = np.mgrid[:32, :32]
    blobs = 200 + 800 * np.exp(-((y - 10) ** 2 + (x - 20) ** 2) / 30)
    path = tmp_path / "plane.tif"
    tifffile.imwrite(path, blobs.astype(np.uint16))
    return path


def test_the_field_is_a_noisy_centre_crop_of_the_plane_enlarged_twice(plane_sizes, plane):
    image = plane_sizes.field(48, plane)
    assert image.shape == (48, 48) and image.dtype == np.float32
    assert np.array_equal(image, plane_sizes.field(48, plane))  # the noise is seeded
    assert 100 < image.mean() < 1000


def test_a_default_case_reports_its_time_memory_estimate_and_network_share(plane_sizes, plane):
    row = plane_sizes.measure(plane_sizes.field(64, plane), "default", "cpu", 1, 2, 2)
    assert row["size"] == 64 and row["device"] == "cpu" and row["threads"] == 1
    assert 0 < row["iterations"] <= 2000
    assert row["result_seconds"] == row["seconds"] > 0
    assert row["seconds_per_iteration"] == pytest.approx(row["seconds"] / row["iterations"])
    assert row["estimated_seconds"] > 0 and row["estimated_peak_bytes"] > 0
    if Path("/proc/self/status").exists():
        assert row["peak_bytes"] > 0
    # the networks alone cost part of an iteration of the run, not several
    assert 0 < row["network_seconds_per_iteration"] < 1.5 * row["seconds_per_iteration"]


def test_the_paper_recipe_is_extrapolated_to_its_full_count(plane_sizes, plane):
    row = plane_sizes.measure(plane_sizes.field(32, plane), "paper", "cpu", 1, 2, 1)
    assert row["iterations"] == 2
    assert row["result_seconds"] == pytest.approx(3000 * row["seconds_per_iteration"])
    assert row["estimated_seconds"] == pytest.approx(3000 * row["estimated_seconds_per_iteration"])


@pytest.mark.slow
def test_the_script_runs_each_case_in_its_own_process_and_renders_the_ratios(
    plane_sizes, plane, tmp_path
):
    rows = tmp_path / "rows.jsonl"
    command = [sys.executable, str(BENCHMARKS / "plane_sizes.py"), "--rows", str(rows)]
    command += ["--device", "cpu", "--sizes", "32", "64", "--presets", "paper", "--threads", "1"]
    command += ["--paper-iterations", "1", "--network-iterations", "1", "--image", str(plane)]
    printed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [(r["preset"], r["size"]) for r in found] == [("paper", 32), ("paper", 64)]
    assert "| paper | 64 | 1 |" in printed
    table = plane_sizes.render([{**r, "size": r["size"] * 8} for r in found])
    assert "| paper | 512 | x" in table and "| x4 |" in table  # 512 against 256: 4x the pixels
