"""Batch jobs over files: resuming, masks and guides found by pattern, requests, a Dask cluster."""

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import QUICK, TINY_FAST, counts

from napari_dip import batch
from napari_dip.batch.cli import main
from napari_dip.imaging.files import PARTIAL, read_record


def test_a_rerun_after_a_crash_finishes_the_rest_without_redoing_or_corrupting(folder):
    (folder / "broken.tif").unlink()
    out = folder.parent / "restored"
    assert main(["denoise", str(folder), "--out", str(out), *QUICK]) == 0
    done = out / "cell0_denoised.ome.tif"
    finished_at = done.stat().st_mtime_ns
    # A crash while writing cell1: its result missing, a partial file left behind.
    (out / "cell1_denoised.ome.tif").unlink()
    partial = out / f".cell1_denoised.ome.tif{PARTIAL}dead"
    partial.write_bytes(b"half a file")
    reports = batch.restore_files("denoise", folder, out=out, preset="fast", max_iter=4, seed=0)
    assert [r.status for r in reports] == ["skipped", "restored"]
    assert done.stat().st_mtime_ns == finished_at and not partial.exists()
    assert tifffile.imread(out / "cell1_denoised.ome.tif").shape == (32, 32)
    # Other settings: the result no longer matches, so it is made again.
    again = batch.restore_files("denoise", folder, out=out, preset="fast", max_iter=5, seed=0)
    assert [r.status for r in again] == ["restored", "restored"]
    assert [r.iterations for r in again] == [5, 5]


def test_masks_are_found_by_pattern_and_known_pixels_kept(tmp_path):
    import imageio.v3 as iio

    image = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:20, 10:20] = 255
    iio.imwrite(tmp_path / "scan.png", image)
    (tmp_path / "masks").mkdir()
    iio.imwrite(tmp_path / "masks" / "scan-mask.png", mask)
    out = tmp_path / "out"
    code = main(
        [
            "inpaint",
            str(tmp_path / "scan.png"),
            "--mask",
            "masks/{stem}-mask.png",
            "--out",
            str(out),
        ]
        + ["--max-iter", "4", "--seed", "0", "--quiet"]
    )
    assert code == 0
    filled = iio.imread(out / "scan_inpainted.png")
    assert filled.dtype == np.uint8  # PNG results keep the input's dtype
    assert np.array_equal(filled[mask == 0], image[mask == 0])
    missing = batch.restore_files("inpaint", tmp_path / "scan.png", mask="{stem}.nothing")
    assert missing[0].status == "failed"
    assert missing[0].reason == f"its mask {tmp_path / 'scan.nothing'} does not exist"
    iio.imwrite(tmp_path / "scan.txt", mask)
    foreign = batch.restore_files("inpaint", tmp_path / "scan.png", mask="{stem}.txt")
    assert foreign[0].reason == "its mask scan.txt: not a TIFF, PNG, JPEG or Zarr file"


def test_job_requests_are_plain_json(folder):
    (job, *_) = batch.make_jobs("denoise", folder, preset=TINY_FAST, seed=0)
    request = job.request()
    assert json.loads(json.dumps(request)) == request
    assert (
        request["options"]["preset"]["name"] == TINY_FAST.name
        and request["options"]["threads"] == 1
    )


def test_an_earlier_run_s_results_beside_their_inputs_are_not_inputs(tmp_path):
    tifffile.imwrite(tmp_path / "cells.tif", counts((32, 32)))
    (first,) = batch.restore_files("denoise", tmp_path, preset=TINY_FAST, seed=0)
    assert Path(first.output).parent == tmp_path  # the result lies beside its input
    jobs = batch.make_jobs("denoise", tmp_path / "*.tif", preset=TINY_FAST, seed=0)
    assert [job.input.name for job in jobs] == ["cells.tif"]
    assert [
        r.status for r in batch.restore_files("denoise", tmp_path, preset=TINY_FAST, seed=0)
    ] == ["skipped"]


def test_guides_masks_and_the_psf_the_inputs_glob_matches_are_not_inputs(guided):
    jobs = batch.make_jobs("denoise", guided / "*.tif", guide="{stem}_dapi.tif")
    assert [(job.input.name, job.guide.name) for job in jobs] == [
        ("cell0.tif", "cell0_dapi.tif"),
        ("cell1.tif", "cell1_dapi.tif"),
    ]
    jobs = batch.make_jobs("inpaint", guided, mask="{stem}_dapi.tif")
    assert [job.input.name for job in jobs] == ["cell0.tif", "cell1.tif"]
    jobs = batch.make_jobs("deconvolve", guided / "cell*.tif", psf=guided / "cell1_dapi.tif")
    assert [job.input.name for job in jobs] == ["cell0.tif", "cell0_dapi.tif", "cell1.tif"]


@pytest.mark.slow
def test_a_local_cluster_of_two_processes_writes_the_same_files(folder, tmp_path):
    """The same seeds give bitwise the same files on 2 worker processes as in a loop."""
    loop = batch.restore_files("denoise", folder, out=tmp_path / "loop", preset=TINY_FAST, seed=3)
    cluster = batch.restore_files(
        "denoise", folder, out=tmp_path / "cluster", preset=TINY_FAST, seed=3, workers=2
    )
    assert (
        [r.status for r in cluster]
        == [r.status for r in loop]
        == [
            "failed",
            "restored",
            "restored",
        ]
    )
    assert cluster[0].reason == loop[0].reason
    for a, b in zip(loop[1:], cluster[1:]):
        assert np.array_equal(tifffile.imread(a.output), tifffile.imread(b.output))
        assert read_record(Path(a.output))["run"]["seed"] == 3


@pytest.mark.slow
def test_guided_files_on_a_local_cluster_are_the_loop_s_bit_for_bit(guided, tmp_path):
    settings = dict(guide="{stem}_dapi.tif", preset=TINY_FAST, seed=0)
    loop = batch.restore_files("denoise", guided, out=tmp_path / "loop", **settings)
    cluster = batch.restore_files(
        "denoise", guided, out=tmp_path / "cluster", workers=1, **settings
    )
    assert [r.status for r in cluster] == [r.status for r in loop] == ["restored", "restored"]
    for a, b in zip(loop, cluster):
        assert np.array_equal(tifffile.imread(a.output), tifffile.imread(b.output))
        assert read_record(Path(b.output))["run"]["guide"] == "image 32 x 32"
