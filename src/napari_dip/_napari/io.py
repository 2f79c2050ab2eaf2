"""napari's File > Save and Open for results: OME-TIFF that keeps the run's settings.

The writer stores an image layer as OME-TIFF with its physical pixel sizes,
and, in the OME description, the layer's placement (name, scale, translate,
units, axis labels) and its ``metadata["napari_dip"]``: the run's record.
The reader opens such a file (and the command line's results) back as a
layer in the same place with the same record, which ``napari_dip.rerun`` and
the widget's "Settings from result" read.  Other OME-TIFFs are left to other
readers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..imaging.files import read_image, read_record, write_result

__all__ = ["get_reader", "write_ome_tiff"]

#: OME's names of the units napari layers use most.
OME_UNITS = {"micrometer": "µm", "nanometer": "nm", "millimeter": "mm", "meter": "m"}
OME_ENDINGS = (".ome.tif", ".ome.tiff")


def write_ome_tiff(path: str, data, meta: dict) -> list[str]:
    """npe2 writer of one image layer: OME-TIFF with its pixel sizes, placement and record."""
    import napari_dip

    if not str(path).lower().endswith(OME_ENDINGS):
        path = f"{path}.ome.tif"
    array = np.asarray(data)
    record = meta.get("metadata", {}).get("napari_dip")
    if record is not None and "axes" in record:
        axes = record["axes"]
    else:
        axes = napari_dip.guess_axes(array.shape, rgb=bool(meta.get("rgb")))[0]
    units = [str(unit) for unit in meta.get("units") or ()]
    layer_axes = axes.replace("C", "") if meta.get("rgb") else axes
    sizes = {
        letter: (float(scale), OME_UNITS.get(unit, unit) if unit != "pixel" else None)
        for letter, scale, unit in zip(layer_axes, meta["scale"], units or ["pixel"] * 5)
        if letter in "ZYX"
    }
    layer = {
        "name": meta.get("name"),
        "scale": [float(v) for v in meta["scale"]],
        "translate": [float(v) for v in meta["translate"]],
        "units": units,
        "axis_labels": list(meta.get("axis_labels") or ()),
        "rgb": bool(meta.get("rgb")),
    }
    write_result(Path(path), array, axes, sizes, {"layer": layer, "result": record})
    return [str(path)]


def get_reader(path):
    """npe2 reader: a function for a napari-dip result, None for any other file."""
    if isinstance(path, list) or not str(path).lower().endswith(OME_ENDINGS):
        return None
    record = read_record(Path(path))
    if not record or not ({"result", "run"} & set(record)):
        return None
    return _read


def _read(path) -> list[tuple]:
    image = read_image(Path(path))
    record = read_record(Path(path))
    if "run" in record:  # a command-line result: its run, and what it was made from
        metadata = {**record["run"], "request": record["request"]}
    else:
        metadata = record["result"]
    layer = record.get("layer") or {}
    data = image.data
    axes = (metadata or {}).get("axes")
    if axes and image.axes and sorted(axes) == sorted(image.axes) and axes != image.axes:
        data = np.transpose(data, [image.axes.index(letter) for letter in axes])  # e.g. RGB
    keywords = {
        "name": layer.get("name") or Path(path).name.split(".")[0],
        "metadata": {} if metadata is None else {"napari_dip": metadata},
    }
    if layer:
        keywords.update(scale=layer["scale"], translate=layer["translate"], rgb=layer["rgb"])
        if layer["units"]:
            keywords["units"] = layer["units"]
        if layer["axis_labels"]:
            keywords["axis_labels"] = layer["axis_labels"]
    else:
        axes = image.axes or ""
        keywords["scale"] = [image.sizes.get(letter, (1.0, None))[0] for letter in axes]
    return [(data, keywords, "image")]
