"""Image files of batch runs: OME and ImageJ metadata, Zarr, pixel sizes and records carried over."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import TINY_FAST, counts

import napari_dip
from napari_dip import batch
from napari_dip.imaging.files import read_image, read_record


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
        "super_resolve", path, factor=2, preset=TINY_FAST, seed=1, out=tmp_path / "out"
    )
    assert report.status == "restored", report.reason
    result = read_image(Path(report.output))
    assert result.axes == "CYX" and result.shape == (2, 48, 48)
    assert result.sizes["X"] == (pytest.approx(0.1), "µm")
    assert result.sizes["Y"] == (pytest.approx(0.15), "µm")
    record = read_record(Path(report.output))
    assert record["run"]["axes"] == "CYX" and record["run"]["seed"] == 1
    assert record["run"]["version"] == napari_dip.__version__
    assert record["run"]["recipe"]["name"] == TINY_FAST.name and record["request"]["task"] == (
        "super_resolve"
    )


def test_imagej_metadata_gives_the_axes_too(tmp_path):
    path = tmp_path / "frames.tif"
    tifffile.imwrite(path, counts((3, 20, 20)), imagej=True, metadata={"axes": "TYX"})
    (report,) = batch.restore_files("denoise", path, preset=TINY_FAST, seed=0)
    assert read_record(Path(report.output))["run"]["axes"] == "TYX"
    assert Path(report.output).parent == tmp_path  # beside the input by default


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
    reports = batch.restore_files("denoise", tmp_path / "*.zarr", preset=TINY_FAST, seed=0)
    assert [r.status for r in reports] == ["restored", "restored"]
    flat, volume = (read_image(Path(r.output)) for r in reports)
    assert flat.shape == (24, 24) and not flat.ome and flat.dtype == np.float32
    assert volume.ome and volume.axes == "ZYX" and volume.sizes["Z"][0] == 2
    assert read_record(Path(reports[1].output))["run"]["stack"] == "volume"
