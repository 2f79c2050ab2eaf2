"""Guided restoration in napari: the widget's Guide control and ``restore_layer(guide=...)``.

Run under a virtual X server: ``xvfb-run -a python -m pytest tests/test_guide_napari.py``.
Images are tiny and fits short (a few seconds in all).
"""

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from helpers import TINY, configure
from qtpy.QtWidgets import QApplication

import napari_dip
from napari_dip._napari import layer_run
from napari_dip._napari.layer_run import restore_layer
from napari_dip.core.presets import PRESETS

SHAPE = (32, 32)


def pattern(shape=SHAPE, phase=0.0):
    """A smooth pattern on the last two axes, the same in every plane."""
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    return np.broadcast_to(200 + 100 * np.sin(y / 4.0 + phase) * np.cos(x / 5.0), shape)


def noisy(shape=SHAPE, seed=0):
    noise = np.random.default_rng(seed).normal(0, 20, shape)
    return np.clip(pattern(shape) + noise, 0, None).astype(np.uint16)


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def widget(viewer, monkeypatch):
    """The widget with the TINY recipe as its preset, on the CPU, the automatic stop on: a
    guided fit and an unguided one, blended by the held-out pixels."""
    monkeypatch.setitem(PRESETS, TINY.name, TINY)
    _, widget = viewer.window.add_plugin_dock_widget("napari-dip", "Deep Image Prior")
    configure(widget, preset=TINY.name, device="cpu", seed=0, every=5)
    return widget


@pytest.fixture
def cells(viewer):
    return viewer.add_image(noisy(), name="cells")


@pytest.fixture
def nuclei(viewer):
    return viewer.add_image(pattern().astype(np.float32), name="nuclei")


def offered(widget) -> set:
    """The Guide control's choices after "none", which comes first: layers by name, channels by
    index (magicgui keeps the choices that stay where they are and adds new ones at the end)."""
    assert widget.guide.choices[0] is None
    return {getattr(value, "name", value) for value in widget.guide.choices[1:]}


def test_the_guide_choice_offers_layers_on_the_result_s_grid(viewer, widget, cells, nuclei):
    viewer.add_image(np.stack([pattern()] * 3, -1).astype(np.uint8), name="rgb", rgb=True)
    viewer.add_image(pattern((2, *SHAPE)), name="two channels")
    viewer.add_image(pattern((16, 16)), name="smaller")
    viewer.add_image(pattern((64, 64)), name="twice")
    viewer.add_image(pattern((2, 2, *SHAPE)), name="4D")
    viewer.add_labels(np.zeros(SHAPE, np.uint8), name="labels")
    widget.image.value = cells
    assert offered(widget) == {"nuclei", "rgb", "two channels"}
    assert widget.guide.native.isVisibleTo(widget.native)
    configure(widget, task="super_resolve", factor=2)  # the result's Y and X
    assert offered(widget) == {"twice"}
    widget.factor.value = 3
    assert offered(widget) == set()
    widget.task.value = "deconvolve"
    widget.guide.value = nuclei
    nuclei.name = "nuclei, renamed"  # still chosen
    assert widget.guide.value is nuclei and widget.guide.current_choice == "nuclei, renamed"
    added = viewer.add_image(pattern(), name="added")
    assert "added" in offered(widget) and widget.guide.value is nuclei
    viewer.layers.remove(nuclei)
    assert "nuclei, renamed" not in offered(widget) and widget.guide.value is None
    viewer.layers.remove(added)
    assert "added" not in offered(widget)
    widget.axes.value = "ZYX"  # does not fit the image: nothing to match
    assert offered(widget) == set()


def test_the_guide_choice_offers_the_channels_of_the_input_but_for_inpainting(viewer, widget):
    image = viewer.add_image(noisy((3, *SHAPE)), name="three", axis_labels=("c", "y", "x"))
    viewer.add_image(pattern(), name="plain")
    configure(widget, image=image)
    assert widget.axes.value == "CYX"
    assert offered(widget) == {"plain", 0, 1, 2}
    assert widget.guide.current_choice == "none"
    widget.guide.value = 1
    settings = widget.settings()
    assert settings.options.guide_channel == 1 and settings.data["guide"] is None
    widget.task.value = "inpaint"  # the channel misses the pixels to fill too
    assert offered(widget) == {"plain"} and widget.guide.value is None


def test_a_guide_stack_is_offered_for_one_plane_of_a_stack(viewer, widget):
    stack = viewer.add_image(noisy((3, *SHAPE)), name="stack")
    guides = viewer.add_image(pattern((3, *SHAPE)), name="guides")  # a guide per plane
    viewer.add_image(pattern((4, *SHAPE)), name="four channels")
    widget.image.value = stack
    assert widget.axes.value == "ZYX"
    assert offered(widget) == {"four channels"}  # a whole run: the stack is not a guide
    widget.current_plane.value = True
    assert offered(widget) == {"guides", "four channels"}
    widget.guide.value = guides
    widget.current_plane.value = False
    assert widget.guide.value is None


def test_a_run_with_a_guide_layer_records_it_and_copies_as_python(
    viewer, widget, cells, nuclei, qtbot
):
    """The widget's fits choose their threads up to the caller's count: 1 here, so bit for bit."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_guided_and_copy(widget, cells, nuclei, qtbot)
    finally:
        torch.set_num_threads(threads)


def run_guided_and_copy(widget, cells, nuclei, qtbot):
    guide_data = nuclei.data.copy()
    configure(widget, guide=nuclei, max_iter=10, auto_stop=True)
    qtbot.waitUntil(lambda: widget.estimate.value.startswith("Estimate: 2 fits"), timeout=30_000)
    result = widget.run().wait(60)
    info = result.metadata["napari_dip"]
    assert (info["guide"], info["guide_layer"], info["guide_channel"]) == (
        "image 32 x 32",
        "nuclei",
        None,
    )
    assert info["fits"] == 2 and len(info["guide_choices"]) == 1  # guided and unguided
    assert 0 <= info["guide_choices"][0]["guide_weight"] <= 1
    assert "; guide weight " in widget.status.value
    np.testing.assert_array_equal(nuclei.data, guide_data)

    widget.copy_button.native.click()
    code = QApplication.clipboard().text()
    assert "guide=guide" in code and "guide: the data of layer 'nuclei'" in code
    copied = {"image": cells.data, "guide": nuclei.data}
    exec(code, copied)
    assert np.array_equal(copied["result"], result.data)


def test_restore_layer_takes_a_guide_layer_without_changing_it(viewer, cells, qtbot):
    guide = viewer.add_image(pattern(phase=1.0), name="guide")
    guide_data = guide.data.copy()
    run = restore_layer(
        viewer, cells, "denoise", guide=guide, preset=TINY, max_iter=6, seed=1, threads=1
    )
    result = run.wait(60)
    info = result.metadata["napari_dip"]
    assert (info["guide"], info["guide_layer"]) == ("image 32 x 32", "guide")
    assert len(info["guide_choices"]) == 1
    np.testing.assert_array_equal(guide.data, guide_data)
    again = napari_dip.rerun(result, cells.data, guide=guide.data)
    assert np.array_equal(again, result.data)
    with pytest.raises(ValueError, match="pass it as guide="):
        napari_dip.rerun(result, cells.data)


def test_restore_layer_with_a_guide_channel(viewer, qtbot):
    image = viewer.add_image(noisy((2, *SHAPE)), name="two")
    run = restore_layer(
        viewer, image, "denoise", axes="CYX", guide_channel=0, preset=TINY, max_iter=4, seed=0
    )
    info = run.wait(60).metadata["napari_dip"]
    assert (info["guide"], info["guide_channel"]) == ("channel 0", 0)
    assert "guide_layer" not in info and len(info["guide_choices"]) == 1


def test_one_plane_is_guided_by_the_same_plane_of_a_guide_stack(viewer, qtbot):
    stack = viewer.add_image(noisy((3, *SHAPE)), name="stack")
    planes = np.stack([pattern(phase=phase) for phase in (0.0, 1.0, 2.0)])
    guides = viewer.add_image(planes, name="guides")
    run = restore_layer(
        viewer, stack, "denoise", plane=(1,), guide=guides, preset=TINY, max_iter=4, threads=1
    )
    result = run.wait(60)
    info = result.metadata["napari_dip"]
    assert info["guide"] == "image 32 x 32" and info["guide_layer"] == "guides"
    plane = stack.data[1:2]
    assert np.array_equal(napari_dip.rerun(result, plane, guide=planes[1]), result.data)
    assert not np.array_equal(napari_dip.rerun(result, plane, guide=planes[0]), result.data)

    flat = viewer.add_image(pattern(phase=1.0), name="flat")  # 2D: guides the plane as it is
    result = restore_layer(
        viewer, stack, "denoise", plane=(1,), guide=flat, preset=TINY, max_iter=4, threads=1
    ).wait(60)
    assert np.array_equal(napari_dip.rerun(result, plane, guide=planes[1]), result.data)


@pytest.mark.parametrize(
    "guide, options, error, match",
    [
        ("smaller", {}, ValueError, r"guide has shape \(16, 16\); its Y and X must be the image's"),
        ("nuclei", {"task": "super_resolve", "factor": 2}, ValueError, "must be the result's"),
        ("labels", {}, TypeError, "guide must be a napari Image layer or an array"),
        ("nuclei", {"guide_channel": 0}, ValueError, "not both"),
        (None, {"guide_channel": 0}, ValueError, "needs an image with several channels"),
        (None, {"task": "inpaint", "axes": "CYX", "guide_channel": 0}, ValueError, "inpainting"),
    ],
)
def test_a_guide_that_does_not_fit_is_refused_before_anything_is_added(
    viewer, cells, nuclei, monkeypatch, guide, options, error, match
):
    viewer.add_image(pattern((16, 16)), name="smaller")
    viewer.add_labels(np.zeros(SHAPE, np.uint8), name="labels")
    layers = [layer.name for layer in viewer.layers]
    options = {"task": "denoise", **options}
    if options.get("axes") == "CYX":
        cells = viewer.add_image(noisy((2, *SHAPE)), name="two")
        layers.append("two")
        options["mask"] = np.zeros(SHAPE, np.uint8)
    started = []
    monkeypatch.setattr(layer_run, "fit_snapshots", lambda *args: started.append(args))
    with pytest.raises(error, match=match):
        restore_layer(
            viewer, cells, guide=None if guide is None else viewer.layers[guide], **options
        )
    assert started == [] and [layer.name for layer in viewer.layers] == layers


def test_settings_from_a_result_choose_its_guide_again(viewer, widget, cells, nuclei, qtbot):
    configure(widget, guide=nuclei, max_iter=4)
    result = widget.run().wait(60)
    widget.guide.value = None
    viewer.layers.selection.active = result
    widget.settings_button.native.click()
    assert widget.guide.value is nuclei and widget.status.value.endswith("again")

    viewer.layers.remove(nuclei)
    viewer.layers.selection.active = result
    widget.settings_button.native.click()
    assert widget.guide.value is None
    assert widget.status.value.endswith("it was guided by layer 'nuclei': choose it under Guide")

    image = viewer.add_image(noisy((2, *SHAPE)), name="two", axis_labels=("c", "y", "x"))
    configure(widget, image=image, guide=1)
    result = widget.run().wait(60)
    widget.guide.value = None
    viewer.layers.selection.active = result
    widget.settings_button.native.click()
    assert widget.guide.value == 1 and result.metadata["napari_dip"]["guide"] == "channel 1"
