"""Image files for both front ends: finding, reading and atomically writing them.

Formats: TIFF and OME-TIFF (``tifffile``; axes and pixel sizes from the
OME-XML or ImageJ metadata when present), PNG and JPEG (``imageio``), and
Zarr arrays or OME-Zarr images (``zarr``).  A result is written in the same
family (OME-TIFF for TIFF, PNG for PNG and JPEG, Zarr for Zarr) with the
pixel sizes carried over and the run's record in the file's metadata, first
to a temporary name beside its final one, then renamed: a run killed midway
never leaves a half-written result under the final name.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ImageFile",
    "find_inputs",
    "output_path",
    "read_image",
    "read_record",
    "uncertainty_path",
    "write_result",
]

TIFF = (".tif", ".tiff")
PICTURE = (".png", ".jpg", ".jpeg")
ZARR = (".zarr",)
#: Marks the temporary name of a result being written.
PARTIAL = ".partial-"
#: The key of the run's record in a result's metadata.
RECORD_KEY = "napari_dip"


@dataclass
class ImageFile:
    """An input image: its pixels (or, before reading, its shape and dtype), what its
    metadata says of its axes and pixel sizes, and its format family."""

    path: Path
    kind: str  # "tiff", "picture" or "zarr"
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str | None = None
    #: Physical size of a pixel along each of "T", "Z", "Y", "X" that the file gives: (value, unit).
    sizes: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    data: Any = None
    #: OME-Zarr input: whether the result is written as OME-Zarr too.
    ome: bool = False


def find_inputs(patterns: list[str]) -> list[Path]:
    """The image files named by ``patterns``: files, globs and folders (their images).

    Sorted and without repeats; a pattern that names nothing raises
    FileNotFoundError.  Results of earlier runs' temporary files are skipped.
    """
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern))) or (
            [pattern] if Path(pattern).exists() else []
        )
        if not matches:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        for match in map(Path, matches):
            if match.is_dir() and not _is_zarr(match):
                found += sorted(p for p in match.iterdir() if _kind(p) and PARTIAL not in p.name)
            elif PARTIAL not in match.name:
                found.append(match)
    return list(dict.fromkeys(path.resolve() for path in found))


def _is_zarr(path: Path) -> bool:
    return (
        path.suffix.lower() in ZARR or (path / "zarr.json").exists() or (path / ".zarray").exists()
    )


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in TIFF:
        return "tiff"
    if suffix in PICTURE:
        return "picture"
    if _is_zarr(path):
        return "zarr"
    return None


def stem(path: Path) -> str:
    """The file's name without its format's extensions (``a.ome.tif`` -> ``a``)."""
    name = path.name
    for ending in (".ome.tiff", ".ome.tif", ".ome.zarr", *TIFF, *PICTURE, *ZARR):
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return path.stem


def output_path(path: Path, out_dir: Path | None, suffix: str) -> Path:
    """Where the result of ``path`` goes: ``out_dir`` (default: beside it), same family
    (OME-TIFF for a file that is no image: reading it fails, as one failed file)."""
    kind = _kind(path)
    ending = {"picture": ".png", "zarr": ".zarr"}.get(kind, ".ome.tif")
    return (out_dir or path.parent) / f"{stem(path)}_{suffix}{ending}"


def uncertainty_path(result: Path) -> Path:
    """Where a result's uncertainty goes: beside it, an OME-TIFF of float32
    (``cells_inpainted.png`` -> ``cells_inpainted_uncertainty.ome.tif``)."""
    return result.parent / f"{stem(result)}_uncertainty.ome.tif"


def read_image(path: Path, *, pixels: bool = True) -> ImageFile:
    """Read ``path`` (only its shape, dtype and metadata when ``pixels`` is False).

    Raises ValueError with a one-line reason for a file that is not a
    readable image.
    """
    kind = _kind(path)
    if kind is None:
        raise ValueError("not a TIFF, PNG, JPEG or Zarr file")
    try:
        return {"tiff": _read_tiff, "picture": _read_picture, "zarr": _read_zarr}[kind](
            path, pixels
        )
    except Exception as error:  # whatever the reader's complaint, one line saying which file
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"cannot be read as an image: {first}") from error


def _read_tiff(path: Path, pixels: bool) -> ImageFile:
    import tifffile

    logging.getLogger("tifffile").setLevel(logging.ERROR)  # its reasons are in the error
    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ValueError("no image in the file")
        series = tif.series[0]
        image = ImageFile(path, "tiff", tuple(series.shape), np.dtype(series.dtype))
        if tif.is_ome or tif.is_imagej:
            image.axes = _our_axes(series.axes)
        if tif.is_ome:
            image.sizes = _ome_sizes(tif.ome_metadata)
        elif tif.is_imagej:
            image.sizes = _imagej_sizes(tif)
        if pixels:
            image.data = series.asarray()
    return image


def _our_axes(axes: str) -> str | None:
    """tifffile's axes in our letters (S, RGB samples, is C); None when they say nothing sure."""
    axes = axes.upper().replace("S", "C")
    return axes if set(axes) <= set("TZCYX") and len(set(axes)) == len(axes) else None


def _ome_sizes(xml: str) -> dict:
    pixels = next(
        (e for e in ElementTree.fromstring(xml).iter() if e.tag.endswith("}Pixels")), None
    )
    sizes = {}
    for letter in "XYZ":
        value = None if pixels is None else pixels.get(f"PhysicalSize{letter}")
        if value is not None:
            sizes[letter] = (float(value), pixels.get(f"PhysicalSize{letter}Unit", "µm"))
    return sizes


def _imagej_sizes(tif) -> dict:
    sizes = {}
    unit = (tif.imagej_metadata or {}).get("unit")
    tags = tif.pages[0].tags
    for letter, tag in (("X", "XResolution"), ("Y", "YResolution")):
        if tag in tags:
            numerator, denominator = tags[tag].value
            if numerator:
                sizes[letter] = (denominator / numerator, unit)
    spacing = (tif.imagej_metadata or {}).get("spacing")
    if spacing:
        sizes["Z"] = (float(spacing), unit)
    return sizes


def _read_picture(path: Path, pixels: bool) -> ImageFile:
    import imageio.v3 as iio

    array = iio.imread(path)
    axes = "YXC" if array.ndim == 3 else "YX"
    return ImageFile(path, "picture", array.shape, array.dtype, axes, data=array)


def _read_zarr(path: Path, pixels: bool) -> ImageFile:
    import zarr

    node = zarr.open(str(path), mode="r")
    axes, sizes, ome = None, {}, False
    if isinstance(node, zarr.Group):
        multiscales = _multiscales(dict(node.attrs))
        if multiscales is None:
            raise ValueError("a Zarr group without OME multiscales metadata")
        dataset = multiscales["datasets"][0]
        names = [axis["name"].upper() for axis in multiscales["axes"]]
        axes = _our_axes("".join(names))
        scale = next(
            (
                t["scale"]
                for t in dataset.get("coordinateTransformations", [])
                if t["type"] == "scale"
            ),
            None,
        )
        if scale is not None:
            units = [axis.get("unit") for axis in multiscales["axes"]]
            sizes = {n: (float(s), u) for n, s, u in zip(names, scale, units) if n in "TZYX"}
        node, ome = node[dataset["path"]], True
    image = ImageFile(path, "zarr", tuple(node.shape), np.dtype(node.dtype), axes, sizes, ome=ome)
    if pixels:
        image.data = node[...]
    return image


def _multiscales(attrs: dict) -> dict | None:
    listed = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
    return listed[0] if listed else None


def write_result(
    path: Path, array: np.ndarray, axes: str, sizes: dict, record: dict, *, ome: bool = True
) -> None:
    """Write ``array`` to ``path`` (format from its name) with ``sizes`` and ``record``, atomically.

    ``sizes`` maps "T", "Z", "Y", "X" to ``(value, unit)``; ``record`` goes into the
    file's metadata under ``"napari_dip"`` (the OME description, a PNG text
    chunk, the Zarr attributes).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_partials(path)
    partial = path.with_name(f".{path.name}{PARTIAL}{uuid.uuid4().hex[:8]}")
    text = json.dumps({RECORD_KEY: record})
    try:
        if path.name.lower().endswith((".ome.tif", ".ome.tiff")):
            write_tiff(partial, array, axes, sizes, text)
        elif path.suffix == ".png":
            _write_png(partial, array, text)
        else:
            _write_zarr(partial, array, axes, sizes, text, ome)
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(partial, path)
    except BaseException:
        _remove(partial)
        raise


def _remove_partials(path: Path) -> None:
    """Temporary files an interrupted run left for ``path``."""
    for leftover in path.parent.glob(f".{path.name}{PARTIAL}*"):
        _remove(leftover)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def write_tiff(path: Path, array, axes: str, sizes: dict, text: str = "") -> None:
    """OME-TIFF, its axes in OME's order (T, Z, C, Y, X): ``read_image`` gives them back;
    ``text`` is its description (a result's record)."""
    import tifffile

    order = "".join(letter for letter in "TZCYX" if letter in axes)  # OME's XYCZT, reversed
    array = np.transpose(array, [axes.index(letter) for letter in order])
    metadata: dict[str, Any] = {"axes": order, "Description": text}
    for letter, (value, unit) in sizes.items():
        if letter in "XYZ":
            metadata[f"PhysicalSize{letter}"] = value
            if unit:
                metadata[f"PhysicalSize{letter}Unit"] = unit
    tifffile.imwrite(path, array, ome=True, metadata=metadata, photometric="minisblack")


def _write_png(path: Path, array, text: str) -> None:
    from PIL import Image, PngImagePlugin

    if array.dtype not in (np.uint8, np.uint16):
        raise TypeError(
            f"PNG holds 8- or 16-bit integers, not {array.dtype}: "
            "use --output-dtype input (or uint8/uint16), or a TIFF input"
        )
    info = PngImagePlugin.PngInfo()
    info.add_text(RECORD_KEY, text)
    image = Image.fromarray(array)
    with open(path, "wb") as file:
        image.save(file, format="PNG", pnginfo=info)


def _write_zarr(path: Path, array, axes: str, sizes: dict, text: str, ome: bool) -> None:
    import zarr

    chunks = tuple(min(n, 256) if letter in "YX" else 1 for n, letter in zip(array.shape, axes))
    if not ome:
        target = zarr.open_array(
            str(path), mode="w", shape=array.shape, dtype=array.dtype, chunks=chunks
        )
        target[...] = array
        target.attrs[RECORD_KEY] = json.loads(text)[RECORD_KEY]
        return
    group = zarr.open_group(str(path), mode="w")
    target = group.create_array("0", shape=array.shape, dtype=array.dtype, chunks=chunks)
    target[...] = array
    names = {"T": "time", "Z": "space", "Y": "space", "X": "space", "C": "channel"}
    described = []
    for letter in axes:
        axis = {"name": letter.lower(), "type": names[letter]}
        if sizes.get(letter, (None, None))[1]:
            axis["unit"] = sizes[letter][1]
        described.append(axis)
    scale = [sizes.get(letter, (1.0, None))[0] for letter in axes]
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": described,
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
            ],
        }
    ]
    group.attrs[RECORD_KEY] = json.loads(text)[RECORD_KEY]


def read_record(path: Path) -> dict | None:
    """The record a result holds (``write_result``), or None when it is missing or unreadable."""
    try:
        if path.name.lower().endswith((".ome.tif", ".ome.tiff")):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                pixels = ElementTree.fromstring(tif.ome_metadata)
            description = next(e for e in pixels.iter() if e.tag.endswith("}Description"))
            return json.loads(description.text)[RECORD_KEY]
        if path.suffix == ".png":
            from PIL import Image

            with Image.open(path) as image:
                return json.loads(image.text[RECORD_KEY])[RECORD_KEY]
        import zarr

        return dict(zarr.open(str(path), mode="r").attrs)[RECORD_KEY]
    except Exception:  # absent, partial or foreign: the result is to be made again
        return None
