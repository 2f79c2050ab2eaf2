"""Batch runs over real files: the command line, resuming, formats, metadata, a Dask cluster."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import counts, shrunk

import napari_dip
from napari_dip import batch
from napari_dip.batch.cli import main
from napari_dip.batch.files import PARTIAL, read_image, read_record

#: The fast preset, made tiny: a few quick iterations.
TINY = shrunk("fast", "test-batch", input_depth=4, max_iter=6, auto_stop=False)
#: Command-line settings of a quick, reproducible run.
QUICK = ["--preset", "fast", "--max-iter", "4", "--seed", "0", "--quiet"]


@pytest.mark.slow
def test_a_corrupt_file_is_reported_and_the_good_ones_restored(folder, capsys):
    out = folder.parent / "restored"
    assert main(["denoise", str(folder / "*.tif"), "--out", str(out), *QUICK]) == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "cell0_denoised.ome.tif",
        "cell1_denoised.ome.tif",
    ]
    summary = capsys.readouterr().err
    assert "2 restored, 0 skipped (done already), 1 failed" in summary
    failed = [line for line in summary.splitlines() if "failed:" in line]
    assert len(failed) == 1 and "broken.tif: cannot be read as an image" in failed[0]


def test_a_file_that_is_no_image_is_reported_as_one_failure(folder, capsys):
    (folder / "broken.tif").unlink()
    (folder / "notes.txt").write_text("not an image")
    out = folder.parent / "restored"
    assert main(["denoise", str(folder / "*"), "--out", str(out), *QUICK]) == 1
    summary = capsys.readouterr().err
    assert "2 restored, 0 skipped (done already), 1 failed" in summary
    assert "notes.txt: not a TIFF, PNG, JPEG or Zarr file" in summary


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


def test_axes_and_pixel_sizes_come_from_ome_metadata_and_are_carried_over(tmp_path):
    image = counts((2, 24, 24))  # two channels: read as planes (ZYX) without the metadata
    path = tmp_path / "two.ome.tif"
    tifffile.imwrite(
        path,
        image,
        ome=True,
        metadata={"axes": "CYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.3},
    )
    assert napari_dip.guess_axes(image.shape)[0] != "CYX"
    (report,) = batch.restore_files(
        "super_resolve", path, factor=2, preset=TINY, seed=1, out=tmp_path / "out"
    )
    assert report.status == "restored", report.reason
    result = read_image(Path(report.output))
    assert result.axes == "CYX" and result.shape == (2, 48, 48)
    assert result.sizes["X"] == (pytest.approx(0.1), "µm")
    assert result.sizes["Y"] == (pytest.approx(0.15), "µm")
    record = read_record(Path(report.output))
    assert record["run"]["axes"] == "CYX" and record["run"]["seed"] == 1
    assert record["run"]["version"] == napari_dip.__version__
    assert record["run"]["recipe"]["name"] == TINY.name and record["request"]["task"] == (
        "super_resolve"
    )


def test_imagej_metadata_gives_the_axes_too(tmp_path):
    path = tmp_path / "frames.tif"
    tifffile.imwrite(path, counts((3, 20, 20)), imagej=True, metadata={"axes": "TYX"})
    (report,) = batch.restore_files("denoise", path, preset=TINY, seed=0)
    assert read_record(Path(report.output))["run"]["axes"] == "TYX"
    assert Path(report.output).parent == tmp_path  # beside the input by default


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


def test_ome_zarr_and_plain_zarr_round_trip(tmp_path):
    import zarr

    group = zarr.open_group(str(tmp_path / "vol.ome.zarr"), mode="w")
    group.create_array("0", shape=(3, 24, 24), dtype="uint16")[...] = counts((3, 24, 24))
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": "z"}, {"name": "y", "unit": "micrometer"}, {"name": "x"}],
            "datasets": [
                {
                    "path": "0",
                    "coordinateTransformations": [{"type": "scale", "scale": [2, 0.5, 0.5]}],
                }
            ],
        }
    ]
    plain = zarr.open_array(str(tmp_path / "flat.zarr"), mode="w", shape=(24, 24), dtype="f4")
    plain[...] = counts((24, 24)) / 10.0
    reports = batch.restore_files("denoise", tmp_path / "*.zarr", preset=TINY, seed=0)
    assert [r.status for r in reports] == ["restored", "restored"]
    flat, volume = (read_image(Path(r.output)) for r in reports)
    assert flat.shape == (24, 24) and not flat.ome and flat.dtype == np.float32
    assert volume.ome and volume.axes == "ZYX" and volume.sizes["Z"][0] == 2
    assert read_record(Path(reports[1].output))["run"]["stack"] == "volume"


def test_dry_run_prints_each_plan_and_writes_nothing(folder, capsys):
    assert main(["denoise", str(folder), "--dry-run", "--max-iter", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and sum("fails: cannot be read" in line for line in lines) == 1
    assert all("YX (32, 32): 1 fit, ~" in line for line in lines if "cell" in line)
    assert sorted(p.name for p in folder.iterdir()) == ["broken.tif", "cell0.tif", "cell1.tif"]


def test_usage_errors_exit_with_2(folder, capsys):
    assert main(["denoise", str(folder / "nothing*.tif")]) == 2
    assert "no file matches" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["deconvolve", str(folder)])  # a PSF is required
    assert exit_.value.code == 2


@pytest.mark.slow
def test_python_m_napari_dip_is_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "napari_dip", "super-resolve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--factor FACTOR" in done.stdout and "--kernel {lanczos2,box}" in done.stdout
    assert "--offset OFFSET" in done.stdout
    assert "[--guide PATTERN | --guide-channel GUIDE_CHANNEL]" in done.stdout
    assert "'{stem}_dapi.tif'" in done.stdout and "docs/guided.md" in done.stdout


@pytest.mark.slow
def test_a_local_cluster_of_two_processes_writes_the_same_files(folder, tmp_path):
    """The same seeds give bitwise the same files on 2 worker processes as in a loop."""
    loop = batch.restore_files("denoise", folder, out=tmp_path / "loop", preset=TINY, seed=3)
    cluster = batch.restore_files(
        "denoise", folder, out=tmp_path / "cluster", preset=TINY, seed=3, workers=2
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
def test_restore_dask_blends_tiles_of_a_zarr_array_without_seams(tmp_path):
    import dask.array as da
    import zarr

    y, x = np.mgrid[:96, :96]
    clean = (100 + 50 * np.sin(x / 9.0) * np.cos(y / 11.0)).astype(np.float32)
    noisy = clean + np.random.default_rng(0).normal(0, 5, clean.shape).astype(np.float32)
    source = zarr.open_array(str(tmp_path / "big.zarr"), mode="w", shape=noisy.shape, dtype="f4")
    source[...] = noisy
    lazy = batch.restore_dask(
        da.from_zarr(str(tmp_path / "big.zarr")),
        tile=48,
        overlap=12,
        preset=TINY,
        max_iter=40,
        seed=0,
    )
    assert lazy.shape == (96, 96) and lazy.numblocks == (2, 2)
    lazy.to_zarr(str(tmp_path / "restored.zarr"))
    restored = zarr.open_array(str(tmp_path / "restored.zarr"), mode="r")[...]
    error = restored - clean
    steps = np.abs(np.diff(error, axis=1))
    at_seam, elsewhere = steps[:, 47], np.delete(steps, [47], axis=1)
    assert at_seam.mean() < 2 * elsewhere.mean()  # no jump where the tiles meet
    # Away from the overlaps, a tile's pixels are that tile's own restoration.
    alone = napari_dip.denoise(
        noisy[:60, :60], axes="YX", preset=TINY, max_iter=40, seed=0, threads=1
    )
    assert np.array_equal(restored[:36, :36], alone[:36, :36])


def test_job_requests_are_plain_json(folder):
    (job, *_) = batch.make_jobs("denoise", folder, preset=TINY, seed=0)
    request = job.request()
    assert json.loads(json.dumps(request)) == request
    assert request["options"]["preset"]["name"] == TINY.name and request["options"]["threads"] == 1


def test_an_earlier_run_s_results_beside_their_inputs_are_not_inputs(tmp_path):
    tifffile.imwrite(tmp_path / "cells.tif", counts((32, 32)))
    (first,) = batch.restore_files("denoise", tmp_path, preset=TINY, seed=0)
    assert Path(first.output).parent == tmp_path  # the result lies beside its input
    jobs = batch.make_jobs("denoise", tmp_path / "*.tif", preset=TINY, seed=0)
    assert [job.input.name for job in jobs] == ["cells.tif"]
    assert [r.status for r in batch.restore_files("denoise", tmp_path, preset=TINY, seed=0)] == [
        "skipped"
    ]


def test_each_file_is_restored_with_its_guide_named_in_the_result(guided):
    out = guided.parent / "restored"
    arguments = [str(guided / "*.tif"), "--guide", "{stem}_dapi.tif", "--out", str(out)]
    assert main(["denoise", *arguments, *QUICK]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "cell0_denoised.ome.tif",
        "cell1_denoised.ome.tif",
    ]
    for i in range(2):
        record = read_record(out / f"cell{i}_denoised.ome.tif")
        assert record["request"]["guide"]["name"] == f"cell{i}_dapi.tif"
        assert record["run"]["guide"] == "image 32 x 32" and record["run"]["guide_channel"] is None
        assert len(record["run"]["guide_choices"]) == 1
    # A new guide is another request: the result is made again.
    tifffile.imwrite(guided / "cell1_dapi.tif", counts((32, 32), seed=7))
    reports = batch.restore_files(
        "denoise",
        guided / "*.tif",
        guide="{stem}_dapi.tif",
        out=out,
        preset="fast",
        max_iter=4,
        seed=0,
    )
    assert [r.status for r in reports] == ["skipped", "restored"]


def test_dry_run_reports_a_missing_or_wrong_shaped_guide(guided, capsys):
    (guided / "cell0_dapi.tif").unlink()
    tifffile.imwrite(guided / "cell1_dapi.tif", counts((16, 16)))
    tifffile.imwrite(guided / "cell2.tif", counts((32, 32)))
    tifffile.imwrite(guided / "cell2_dapi.tif", counts((32, 32, 2)))  # channels last
    assert main(["denoise", str(guided / "*.tif"), "--guide", "{stem}_dapi.tif", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith(f"fails: its guide {guided / 'cell0_dapi.tif'} does not exist")
    assert lines[1].endswith(
        "fails: guide has shape (16, 16); its Y and X must be the image's, 32 x 32 "
        "(a channel axis may come first or last)"
    )
    assert "cell2.tif" in lines[2] and "YX (32, 32): 2 fits, ~" in lines[2]


def test_a_wrong_shaped_guide_fails_its_file_only(guided, capsys):
    tifffile.imwrite(guided / "cell0_dapi.tif", counts((16, 16)))
    out = guided.parent / "restored"
    arguments = [str(guided / "*.tif"), "--guide", "{stem}_dapi.tif", "--out", str(out)]
    assert main(["denoise", *arguments, *QUICK]) == 1
    assert [p.name for p in out.iterdir()] == ["cell1_denoised.ome.tif"]
    summary = capsys.readouterr().err.splitlines()
    assert "1 restored, 0 skipped (done already), 1 failed" in summary[-2]
    assert summary[-1] == (
        f"  failed: {guided / 'cell0.tif'}: guide has shape (16, 16); its Y and X must be the "
        "image's, 32 x 32 (a channel axis may come first or last)"
    )


def test_guide_channel_guides_the_other_channels_of_each_file(tmp_path):
    path = tmp_path / "two.ome.tif"
    tifffile.imwrite(path, counts((2, 32, 32)), ome=True, metadata={"axes": "CYX"})
    assert main(["denoise", str(path), "--guide-channel", "1", *QUICK]) == 0
    result = tmp_path / "two_denoised.ome.tif"
    assert read_image(result).shape == (2, 32, 32)
    record = read_record(result)
    assert record["request"]["options"]["guide_channel"] == 1 and "guide" not in record["request"]
    assert record["run"]["guide"] == "channel 1" and record["run"]["guide_channel"] == 1
    assert record["run"]["fits"] == 3  # channel 1 alone; channel 0 guided, and unguided


def test_guide_and_guide_channel_exclude_each_other(guided, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["denoise", str(guided), "--guide", "{stem}_dapi.tif", "--guide-channel", "0"])
    assert exit_.value.code == 2
    assert "--guide-channel: not allowed with argument --guide" in capsys.readouterr().err
    with pytest.raises(ValueError, match="a guide pattern or a guide_channel, not both"):
        batch.make_jobs("denoise", guided, guide="{stem}_dapi.tif", guide_channel=0)
    assert main(["denoise", str(guided), "--guide", "{stme}_dapi.tif"]) == 2
    assert "its variables are {stem} and {name}" in capsys.readouterr().err


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
def test_guided_files_on_a_local_cluster_are_the_loop_s_bit_for_bit(guided, tmp_path):
    settings = dict(guide="{stem}_dapi.tif", preset=TINY, seed=0)
    loop = batch.restore_files("denoise", guided, out=tmp_path / "loop", **settings)
    cluster = batch.restore_files(
        "denoise", guided, out=tmp_path / "cluster", workers=1, **settings
    )
    assert [r.status for r in cluster] == [r.status for r in loop] == ["restored", "restored"]
    for a, b in zip(loop, cluster):
        assert np.array_equal(tifffile.imread(a.output), tifffile.imread(b.output))
        assert read_record(Path(b.output))["run"]["guide"] == "image 32 x 32"
