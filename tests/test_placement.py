"""Where results land in the world: super-resolved pixels tile the input's, rotation and 3D included."""

import numpy as np
import pytest

pytest.importorskip("napari")

from helpers import LAYOUT, SHAPE, blobs
from napari.layers import Image

from napari_dip._napari.placement import result_placement


def test_super_resolution_pixels_tile_the_input_pixels(viewer, image):
    factor = 3
    placed = Image(
        np.zeros((SHAPE[0] * factor, SHAPE[1] * factor)), **result_placement(image, factor)
    )
    np.testing.assert_allclose(
        placed.translate,
        np.array(LAYOUT["translate"]) + np.array(LAYOUT["scale"]) * (1 / factor - 1) / 2,
    )
    # The centre of the block of output pixels covering input pixel (i, j) is that pixel's centre,
    # and the outer edges of both grids coincide.
    for index in [(0, 0), (5, 7), (31, 31)]:
        block_centre = np.array(index) * factor + (factor - 1) / 2
        np.testing.assert_allclose(placed.data_to_world(block_centre), image.data_to_world(index))
    np.testing.assert_allclose(
        placed.data_to_world((-0.5, -0.5)), image.data_to_world((-0.5, -0.5))
    )


def test_super_resolution_placement_with_rotation_and_3d(viewer):
    stack = viewer.add_image(
        blobs((3, 8, 8)),
        scale=(4.0, 0.5, 0.7),
        translate=(1.0, 2.0, 3.0),
        rotate=30.0,
        shear=[0.1, 0, 0.2],
    )
    placed = Image(np.zeros((3, 16, 16)), **result_placement(stack, 2))
    assert placed.scale[0] == 4.0
    for index in [(0, 0, 0), (2, 3, 5)]:
        block_centre = np.array(index) * (1, 2, 2) + (0, 0.5, 0.5)  # Y, X: 2 i + (2 - 1) / 2
        np.testing.assert_allclose(
            placed.data_to_world(block_centre), stack.data_to_world(index), atol=1e-9
        )
