"""The samples napari-dip lists in napari's File > Open Sample."""

import numpy as np
import pytest

pytest.importorskip("napari")

from napari.layers import Image, Labels


def test_manifest_samples_open_with_a_scale(viewer):
    (noisy,) = viewer.open_sample("napari-dip", "noisy_cells")
    assert isinstance(noisy, Image) and noisy.data.dtype == np.uint16
    assert tuple(noisy.scale) == (0.325, 0.325) and str(noisy.units[0]) == "micrometer"
    damaged, defects = viewer.open_sample("napari-dip", "damaged_cells")
    assert isinstance(defects, Labels) and defects.data.shape == damaged.data.shape
    assert 0 < defects.data.mean() < 0.2
    faint, bright = viewer.open_sample("napari-dip", "faint_cells")
    assert faint.data.shape == bright.data.shape and tuple(bright.scale) == (0.325, 0.325)
    above_offset = faint.data.astype(float) - 100, bright.data.astype(float) - 100
    assert 20 < above_offset[1].mean() / above_offset[0].mean() < 40  # 32 times the photons
    assert np.corrcoef(faint.data.ravel(), bright.data.ravel())[0, 1] > 0.5  # the same field
