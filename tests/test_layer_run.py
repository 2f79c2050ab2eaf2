"""restore_layer and LayerRestoration: a layer restored in a thread, its result, uncertainty and rerun.

Run under a virtual X server: ``xvfb-run -a python -m pytest tests/test_layer_run.py``.
"""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from helpers import TINY, TINY_ENSEMBLE, blobs, new_messages, wait_for
from napari.utils.notifications import notification_manager

import napari_dip
from napari_dip._napari.layer_run import restore_layer
from napari_dip._tasks import UNCERTAINTY_PREDICTED
from napari_dip.core.presets import PRESETS


@pytest.mark.slow
def test_rgb_and_stack_layers(viewer, qtbot):
    rgb = viewer.add_image(
        np.stack([blobs((24, 24), seed) // 2 for seed in range(3)], -1).astype(np.uint8), rgb=True
    )
    run = restore_layer(viewer, rgb, "denoise", max_iter=6, every=3, seed=0, device="cpu")
    assert run.wait(60).rgb and run.result_layer.data.shape == (24, 24, 3)
    info = run.result_layer.metadata["napari_dip"]
    assert info["axes"] == "YXC" and "RGB" in info["axes_guess"]

    stack = viewer.add_image(blobs((3, 16, 16)), name="stack", scale=(2.0, 0.5, 0.5))
    run = restore_layer(
        viewer, stack, "super_resolve", factor=2, max_iter=4, every=2, seed=0, device="cpu"
    )
    result = run.wait(60)
    assert result.data.shape == (3, 32, 32)
    np.testing.assert_allclose(result.scale, (2.0, 0.25, 0.25))


def test_validation_errors_raise_from_scripts(viewer, image):
    with pytest.raises(ValueError, match="needs a mask"):
        restore_layer(viewer, image, "inpaint")
    with pytest.raises(ValueError, match="factor"):
        restore_layer(viewer, image, "super_resolve", factor=1)
    with pytest.raises(ValueError, match="names 3 axes but the image has 2"):
        restore_layer(viewer, image, "denoise", axes="ZYX")
    with pytest.raises(ValueError, match="single plane already"):
        restore_layer(viewer, image, "denoise", plane="current")
    stack = viewer.add_image(blobs((4, 16, 16)), name="stack")
    with pytest.raises(ValueError, match=r"plane \(4,\) is outside layer 'stack' \(Z=4\)"):
        restore_layer(viewer, stack, "denoise", plane=(4,))
    with pytest.raises(ValueError, match="one index per T and Z axis"):
        restore_layer(viewer, stack, "denoise", axes="ZYX", plane=(0, 0))
    assert len(viewer.layers) == 2


def test_a_budget_too_small_fails_the_run_in_its_thread_and_adds_no_layer(viewer, image, qtbot):
    """The memory model needs PyTorch's cost model (seconds, the first time): not in the GUI
    thread, so its MemoryError arrives as the run's error."""
    records = len(notification_manager.records)
    run = restore_layer(
        viewer, image, "super_resolve", factor=2, preset="paper", memory_budget="20MB"
    )
    wait_for(run, qtbot)
    assert isinstance(run.error, MemoryError) and "more than the budget" in str(run.error)
    assert run.restoration is None and run.result_layer is None
    assert any("more than the budget" in message for message in new_messages(records))
    with pytest.raises(MemoryError, match="more than the budget"):
        run.wait()
    assert [layer.name for layer in viewer.layers] == ["cells"]


@pytest.mark.parametrize("plane", [None, (1,)])
def test_a_result_layer_reruns_from_its_metadata_bit_for_bit(viewer, monkeypatch, qtbot, plane):
    monkeypatch.setitem(PRESETS, TINY.name, TINY)
    stack = viewer.add_image(blobs((2, 24, 24)), name="stack", **{"scale": (2.0, 0.5, 0.5)})
    run = restore_layer(
        viewer, stack, "denoise", preset=TINY.name, max_iter=6, seed=3, threads=1, plane=plane
    )
    wait_for(run, qtbot)
    restored = run.result_layer.data
    image = stack.data if plane is None else stack.data[plane[0] : plane[0] + 1]
    assert np.array_equal(napari_dip.rerun(run.result_layer, image), restored)
    metadata = run.result_layer.metadata["napari_dip"]
    assert metadata["recipe"]["name"] == TINY.name and metadata["threads"] == 1
    copied = {"image": image}
    exec(metadata["python"], copied)  # the result's own Python gives the same array
    assert np.array_equal(copied["result"], restored)


def test_inpaint_one_plane_of_a_stack_with_its_mask(viewer, qtbot):
    stack = viewer.add_image(blobs((3, 32, 32)), name="stack", translate=(5.0, 0, 0))
    mask = np.zeros((3, 32, 32), np.uint8)
    mask[1, 10:14] = 1
    labels = viewer.add_labels(mask, name="defects")
    run = restore_layer(
        viewer, stack, "inpaint", mask=labels, plane=(1,), preset=TINY, max_iter=2, seed=0
    )
    result = run.wait(60)
    assert result.data.shape == (1, 32, 32) and result.translate[0] == 6.0
    info = result.metadata["napari_dip"]
    assert info["plane"] == {"Z": 1} and info["mask_layer"] == "defects"


def test_uncertainty_layer_lies_over_the_result(viewer, image, qtbot):
    run = restore_layer(
        viewer, image, "denoise", preset=TINY_ENSEMBLE, seed=0, device="cpu", uncertainty=True
    )
    result = run.wait(60)
    spread = run.uncertainty_layer
    assert spread.name == "cells denoised uncertainty"
    np.testing.assert_array_equal(spread.data, run.restoration.uncertainty)
    assert spread.data.shape == result.data.shape and spread.data.max() > 0
    for key in ("scale", "translate"):
        np.testing.assert_allclose(getattr(spread, key), getattr(result, key))
    assert tuple(spread.units) == tuple(result.units)
    assert spread.metadata["napari_dip"]["uncertainty_of"] == "cells denoised"
    again = restore_layer(
        viewer, image, "denoise", preset=TINY_ENSEMBLE, seed=1, device="cpu", uncertainty=True
    )
    again.wait(60)  # a new run replaces both layers
    assert again.uncertainty_layer is spread and len(viewer.layers) == 3


@pytest.mark.slow
def test_a_fused_denoisings_uncertainty_layer_is_its_predicted_error(viewer, image, qtbot):
    fused = replace(TINY, name="test-tiny-fused", fuse=True, auto_stop=True, stop_patience=10)
    run = restore_layer(
        viewer, image, "denoise", preset=fused, seed=0, device="cpu", uncertainty=True
    )
    result = run.wait(60)
    error = run.uncertainty_layer
    assert run.restoration.info.uncertainty == UNCERTAINTY_PREDICTED
    assert error.metadata["napari_dip"]["uncertainty"] == UNCERTAINTY_PREDICTED
    np.testing.assert_array_equal(error.data, run.restoration.uncertainty)
    assert error.data.shape == result.data.shape and np.isfinite(error.data).all()
    assert error.data.min() > 0  # an error's size, in the image's units, everywhere


def test_uncertainty_layer_of_an_rgb_image_is_rgb(viewer, qtbot):
    rgb = viewer.add_image(
        np.stack([blobs((24, 24), seed) // 2 for seed in range(3)], -1).astype(np.uint8), rgb=True
    )
    run = restore_layer(
        viewer, rgb, "denoise", preset=TINY_ENSEMBLE, seed=0, device="cpu", uncertainty=True
    )
    run.wait(60)
    assert run.uncertainty_layer.rgb and run.uncertainty_layer.data.shape == (24, 24, 3)


def test_uncertainty_must_be_a_flag(viewer, image):
    with pytest.raises(TypeError, match="uncertainty"):
        restore_layer(viewer, image, "denoise", uncertainty="yes")


@pytest.mark.parametrize(("every", "error"), [(0, ValueError), (2.5, TypeError), (True, TypeError)])
def test_preview_interval_is_checked_like_the_api(viewer, image, every, error):
    with pytest.raises(error, match="every"):
        restore_layer(viewer, image, "denoise", every=every)
