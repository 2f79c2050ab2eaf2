"""The ``napari-dip`` command line: exit statuses, summaries, dry runs, usage errors, guides."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile
from helpers import QUICK, counts

from napari_dip import batch
from napari_dip.batch.cli import main
from napari_dip.imaging.files import read_image, read_record


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


@pytest.mark.slow
def test_demo_restores_the_sample_and_writes_a_before_after_picture(tmp_path, capsys):
    from PIL import Image

    from napari_dip.imaging.samples import PIXEL_UM, SIZE, noisy_cells

    out = tmp_path / "results"
    assert main(["demo", "--out", str(out), "--max-iter", "5", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "noisy_cells.ome.tif",
        "noisy_cells_before_after.png",
        "noisy_cells_denoised.ome.tif",
    ]
    said = capsys.readouterr().err
    assert "noisy_cells.ome.tif: YX (160, 160): 1 fit" in said  # the estimate, before the run
    assert f"before and after: {out / 'noisy_cells_before_after.png'}" in said
    result = read_image(out / "noisy_cells_denoised.ome.tif")
    assert (
        result.sizes["X"] == (PIXEL_UM, "µm") and read_record(result.path)["run"]["max_iter"] == 5
    )
    picture = np.asarray(Image.open(out / "noisy_cells_before_after.png"))
    assert picture.shape == (SIZE, 2 * SIZE + 8) and picture.dtype == np.uint8
    before = picture[:, :SIZE].astype(float)
    assert np.corrcoef(before.ravel(), noisy_cells().ravel())[0, 1] > 0.99  # the input, left
    assert not np.array_equal(picture[:, SIZE + 8 :], picture[:, :SIZE])  # the result, right


def test_demo_reports_a_bad_option_in_one_line(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--max-iter", "0"]) == 2
    assert capsys.readouterr().err.startswith("napari-dip: max_iter")


def test_uncertainty_is_written_beside_an_inpainted_result(tmp_path, capsys):
    image = np.tile(np.linspace(0, 200, 32, dtype=np.float32), (32, 1))
    mask = np.zeros((32, 32), np.uint8)
    mask[10:16, 12:18] = 1
    tifffile.imwrite(tmp_path / "cell.tif", image)
    tifffile.imwrite(tmp_path / "cell_mask.tif", mask)
    arguments = ["inpaint", str(tmp_path), "--mask", "{stem}_mask.tif", "--uncertainty"]
    arguments += ["--max-iter", "60", "--seed", "0", "--quiet"]
    assert main(arguments) == 0
    written = read_image(tmp_path / "cell_inpainted_uncertainty.ome.tif")
    assert written.data.dtype == np.float32 and written.data.shape == image.shape
    assert np.all(written.data[mask == 0] == 0)
    assert np.all(np.isfinite(written.data[mask == 1]) & (written.data[mask == 1] > 0))
    record = read_record(tmp_path / "cell_inpainted_uncertainty.ome.tif")
    assert record["uncertainty_of"] == "cell_inpainted.ome.tif"
    assert main(arguments) == 0  # again: done already, and neither result is an input
    assert "0 restored, 1 skipped (done already), 0 failed" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cell.tif",
        "cell_inpainted.ome.tif",
        "cell_inpainted_uncertainty.ome.tif",
        "cell_mask.tif",
    ]


def test_uncertainty_is_refused_where_a_run_gives_none(folder, capsys):
    assert main(["denoise", str(folder), "--uncertainty", *QUICK]) == 2
    assert "fast gives no uncertainty for denoise" in capsys.readouterr().err
