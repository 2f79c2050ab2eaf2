"""Reading a napari layer for a restoration: its arrays, axes and what to record.

``read_layer`` turns an image layer (and a Labels mask, a PSF given as a
sigma or a layer, a guide layer, one plane of a stack) into the arrays and
axes the Qt-free API takes, in the main thread, without reading or copying
the image.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from napari.layers import Image, Labels, Layer

import napari_dip

from .._options import Options
from .._plan import CheckedPlan, check_plan
from .._tasks import task_spec
from ..imaging.axes import axes_of_mask, check_axes
from ..imaging.checks import as_array
from .placement import current_indices

__all__ = ["LayerInput", "has_image_planes", "read_layer"]


@dataclass(frozen=True)
class LayerInput:
    """A layer read for a restoration.

    ``image`` is the layer's data, or a view of the plane to restore (not
    read); ``mask`` and ``psf`` are arrays where the task needs them.
    ``settings`` go into the result's metadata (the layer names, the axes'
    guess, the plane, a Gaussian PSF's sigma); ``origin`` is the index, in
    the layer, of the restored region's first pixel (None: the whole layer).
    ``options`` are the caller's; ``axes`` the layer's (as given, or
    guessed) and ``guide`` the guide's data (a layer's, or the restored plane
    of it), both of which ``check`` puts in them.  Nothing is copied:
    ``copied()`` reads the mask and the guide for a run.
    """

    image: Any
    options: Options
    axes: str
    guide: Any
    mask: Any
    psf: Any
    settings: dict
    origin: tuple[int, ...] | None

    def copied(self) -> LayerInput:
        """The mask and the guide read now: a run takes them as painted when Run was
        pressed, even if it waits for a thread."""
        mask = None if self.mask is None else np.array(self.mask)
        return replace(self, mask=mask, guide=None if self.guide is None else np.array(self.guide))

    def check(self, task: str) -> CheckedPlan:
        """Check the restoration's plan but for its memory (``check_plan``), with the
        layer's axes and guide in the options."""
        options = replace(self.options, axes=self.axes, guide=self.guide)
        return check_plan(task, self.image.shape, self.image.dtype, options, **self._shapes())

    def _shapes(self) -> dict:
        return {"mask_shape": None if self.mask is None else np.shape(self.mask), "psf": self.psf}


def read_layer(
    viewer, layer, task: str, options: Options, *, mask=None, psf=None, plane=None, guide=None
) -> LayerInput:
    """Check ``layer`` and what comes with it for ``task``; see ``restore_layer``.

    ``options`` have been checked already (built); their ``axes``, when None,
    are guessed from the layer.  ``guide`` is an Image layer or an array.
    """
    if not isinstance(layer, Image):
        raise TypeError(f"layer must be a napari Image layer, got {type(layer).__name__}")
    if layer.multiscale:
        raise ValueError(f"layer {layer.name!r} is multiscale; pick a single-resolution image")
    data = layer.data
    settings = {"source": layer.name}
    axes = options.axes
    if axes is None:
        axes, settings["axes_guess"] = napari_dip.guess_axes(
            data.shape, rgb=layer.rgb, axis_labels=layer.axis_labels
        )
    axes = check_axes(axes, data.ndim, shape=data.shape)
    if layer.rgb and axes[-1] != "C":
        raise ValueError(
            f"axes {axes!r}: the last axis of an RGB layer holds its colours; end the axes with C"
        )
    wanted = task_spec(task).data
    if wanted == "mask":
        if mask is None:
            raise ValueError(
                "inpainting needs a mask: a Labels layer, nonzero where pixels are missing"
            )
        if isinstance(mask, Labels):
            settings["mask_layer"] = mask.name
        mask = _data(mask)
    if wanted == "psf":
        if isinstance(psf, numbers.Real) and not isinstance(psf, bool):
            settings["psf_sigma"] = float(psf)
            psf = napari_dip.gaussian_psf(float(psf))
        elif isinstance(psf, Layer):
            settings["psf_layer"] = psf.name
        psf = _data(psf)
    if isinstance(guide, Layer):
        settings["guide_layer"] = guide.name
        guide = _guide_data(guide)
    elif guide is not None:
        guide = as_array(guide, "guide")
    origin = None
    if plane is not None:
        where = _plane(viewer, layer, axes, plane)
        settings["plane"] = {axes[axis]: index for axis, index in where.items()}
        origin = tuple(where.get(axis, 0) for axis in range(layer.ndim))
        if wanted == "mask":
            mask = _mask_plane(np.asarray(mask), axes, data.shape, settings["plane"])
        if guide is not None and has_image_planes(np.shape(guide), data.shape, where):
            guide = guide[tuple(where.get(axis, slice(None)) for axis in range(data.ndim))]
        data = data[tuple(_one(where.get(axis)) for axis in range(data.ndim))]
    return LayerInput(
        image=data,
        options=options,
        axes=axes,
        guide=guide,
        mask=mask if wanted == "mask" else None,
        psf=psf if wanted == "psf" else None,
        settings=settings,
        origin=origin,
    )


def _one(index: int | None) -> slice:
    """The slice of one index, keeping its axis; all of the axis for None."""
    return slice(None) if index is None else slice(index, index + 1)


def _plane(viewer, layer: Image, axes: str, plane) -> dict[int, int]:
    """The plane to restore: its index along each T and Z axis of the layer, by axis position."""
    axes_tz = [axis for axis, letter in enumerate(axes) if letter in "TZ"]
    if not axes_tz:
        raise ValueError(
            f"layer {layer.name!r} ({axes}) has no T or Z axis: it is a single plane already"
        )
    if isinstance(plane, str):
        if plane != "current":
            raise ValueError(f"plane must be a tuple of indices or 'current', got {plane!r}")
        indices = current_indices(viewer, layer)
        where = {axis: indices[axis] for axis in axes_tz}
        outside = [
            axes[axis] for axis, index in where.items() if not 0 <= index < layer.data.shape[axis]
        ]
        if outside:
            raise ValueError(
                f"the viewer's current position is outside layer {layer.name!r} along "
                f"{', '.join(outside)}: move the slider onto it"
            )
        return where
    names = "".join(axes[axis] for axis in axes_tz)
    if (
        not isinstance(plane, (tuple, list))
        or len(plane) != len(axes_tz)
        or not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in plane)
    ):
        raise ValueError(
            f"plane must hold one index per T and Z axis of the layer ({names}), got {plane!r}"
        )
    where = dict(zip(axes_tz, (int(i) for i in plane)))
    sizes = " ".join(f"{axes[axis]}={layer.data.shape[axis]}" for axis in axes_tz)
    if not all(0 <= index < layer.data.shape[axis] for axis, index in where.items()):
        raise ValueError(f"plane {tuple(plane)} is outside layer {layer.name!r} ({sizes})")
    return where


def has_image_planes(guide_shape, image_shape, plane_axes) -> bool:
    """Whether a guide has the image's T and Z axes ``plane_axes`` (positions in the image):
    as many axes as the image, and the same sizes along them; it then guides a run of one
    plane with the same plane of it."""
    return (
        bool(plane_axes)
        and len(guide_shape) == len(image_shape)
        and all(guide_shape[axis] == image_shape[axis] for axis in plane_axes)
    )


def _guide_data(layer: Layer):
    """The data of a guide layer, not read."""
    if not isinstance(layer, Image):
        raise TypeError(
            f"guide must be a napari Image layer or an array, got {type(layer).__name__}"
        )
    if layer.multiscale:
        raise ValueError(
            f"guide layer {layer.name!r} is multiscale; pick a single-resolution image"
        )
    return layer.data


def _mask_plane(mask: np.ndarray, axes: str, image_shape, plane: dict[str, int]) -> np.ndarray:
    """The part of an inpainting mask over one plane, keeping its axes (see ``canonical_mask``)."""
    mask_axes = axes_of_mask(mask.shape, axes, image_shape)  # errors name the whole layer
    return mask[tuple(_one(plane.get(letter)) for letter in mask_axes)]


def _data(value):
    return np.asarray(value.data) if isinstance(value, Layer) else value
