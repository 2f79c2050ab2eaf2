"""Where a result lands in the viewer: world-coordinate placement of layers.

``result_placement`` gives the layer keywords that put a result (of all or
part of a layer, super-resolved or not) exactly over its input;
``current_indices`` reads the data index of the viewer's current position.
"""

from __future__ import annotations

import numpy as np
import pint
from napari.layers import Image
from napari.utils.transforms import Affine

__all__ = ["current_indices", "result_placement"]


def result_placement(
    layer: Image, factor: int = 1, *, axes: str | None = None, origin=None
) -> dict:
    """Layer keyword arguments that place a result of ``layer`` over ``layer``.

    napari puts the centre of pixel ``i`` at ``translate + scale * i`` (then
    rotates, shears and applies ``affine``).  Super-resolution by ``factor``
    splits each input pixel of Y and X into ``factor`` output pixels, so
    ``scale' = scale / factor``; the first output pixel's outer edge must stay
    on the first input pixel's outer edge::

        translate' - scale' / 2 = translate - scale / 2
        translate' = translate + scale * (1 / factor - 1) / 2

    Then output pixels ``factor * i ... factor * i + factor - 1`` tile input
    pixel ``i`` exactly, and their mean centre is its centre.  ``axes`` (the
    layer's, e.g. "ZYX") says where Y and X are: the last two layer axes by
    default.  A result of part of the layer, whose first pixel is input pixel
    ``origin`` (e.g. ``(5, 0, 0)`` for plane 5 of a stack), is moved there:
    ``translate' = translate + scale * origin``.  With rotation or shear the
    shifts are rotated and sheared like the pixel grid.
    """
    scale = np.asarray(layer.scale, dtype=float)
    translate = np.asarray(layer.translate, dtype=float)
    shift = np.zeros_like(scale) if origin is None else np.array(origin, dtype=float)
    if factor != 1:
        yx = [-2, -1] if axes is None else [axes.index("Y"), axes.index("X")]
        shift[yx] += (1 / factor - 1) / 2
    if shift.any():
        grid = Affine(rotate=layer.rotate, shear=layer.shear, ndim=layer.ndim).linear_matrix
        translate = translate + grid @ (scale * shift)
    if factor != 1:
        scale = scale.copy()
        scale[yx] /= factor
    return {
        "scale": scale,
        "translate": translate,
        "rotate": layer.rotate,
        "shear": layer.shear,
        "affine": layer.affine.affine_matrix,
        "units": layer.units,
        "axis_labels": layer.axis_labels,
    }


def current_indices(viewer, layer: Image) -> list[int]:
    """The data index of each layer axis at the viewer's current position, as napari slices it.

    A layer holds the viewer's last ``layer.ndim`` dimensions.  The position
    is converted from the viewer's units to the layer's (as napari does when
    they differ), then through the layer's world-to-data transform, and
    rounded to the nearest pixel.
    """
    point = np.asarray(viewer.dims.point, dtype=float)[-layer.ndim :]
    units = viewer.dims.units
    if units is not None and len(units) >= layer.ndim:
        registry = pint.get_application_registry()
        point = point * [
            registry.get_base_units(world)[0] / registry.get_base_units(own)[0]
            for world, own in zip(units[-layer.ndim :], layer.units)
        ]
    return [int(np.round(x)) for x in layer.world_to_data(point)]
