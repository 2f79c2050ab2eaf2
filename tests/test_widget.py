"""The napari layer: manifest, sample data, the "Deep Image Prior" widget and scripted runs.

Run under a virtual X server: ``xvfb-run -a python -m pytest tests/test_widget.py``.
Images are tiny and fits short, so the whole file runs in well under a minute.
"""

import json
import threading
import time

import numpy as np
import pytest
from helpers import LAYOUT, SHAPE, TINY, TINY_ENSEMBLE, blobs, configure, new_messages, wait_for

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.utils.notifications import notification_manager
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QApplication

import napari_dip
from napari_dip._napari import layer_run
from napari_dip._napari.layer_run import restore_layer
from napari_dip._napari.worker import FitError, fit_pool, fit_snapshots
from napari_dip.core.presets import PRESETS


@pytest.fixture
def widget(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-dip", "Deep Image Prior")
    return widget


@pytest.fixture
def tiny_widget(viewer, monkeypatch):
    """The widget with the TINY recipe as its preset (listed for this test only), on the CPU."""
    monkeypatch.setitem(PRESETS, TINY.name, TINY)
    _, widget = viewer.window.add_plugin_dock_widget("napari-dip", "Deep Image Prior")
    configure(widget, preset=TINY.name, device="cpu", seed=0, every=2)
    return widget


def shown(widget, name):
    return getattr(widget, name).native.isVisibleTo(widget.native)


def test_widget_is_listed_under_layers_filter(viewer):
    from napari._app_model import get_app_model

    menu = get_app_model().menus.get_menu("napari/layers/filter")
    assert "napari-dip.make_widget" in [
        item.command.id for item in menu if hasattr(item, "command")
    ]


def test_controls_follow_the_task(widget):
    expected = {
        "denoise": {"noise"},
        "inpaint": {"mask"},
        "super_resolve": {"factor", "kernel"},
        "deconvolve": {"psf", "psf_sigma", "noise"},
    }
    task_controls = ["mask", "factor", "kernel", "psf", "psf_sigma", "psf_layer", "noise"]
    for task, controls in expected.items():
        widget.task.value = task
        assert {name for name in task_controls if shown(widget, name)} == controls
    widget.psf.value = "Image layer"
    assert shown(widget, "psf_layer") and not shown(widget, "psf_sigma")
    axes_controls = ["channels", "stack", "warm_start", "current_plane"]
    assert not any(shown(widget, name) for name in axes_controls)  # no image, no axes
    assert "cpu" in widget.device.choices and widget.device.choices == tuple(
        napari_dip.available_devices()
    )


def test_preset_sets_the_iteration_cap_but_keeps_user_edits(widget):
    assert (widget.max_iter.value, widget.auto_stop.value) == (2000, True)  # fast-denoising
    widget.task.value = "super_resolve"  # "default" is "fast-super-resolution" there
    assert widget.max_iter.value == 3000
    widget.preset.value = "fast"
    widget.max_iter.value = 123
    widget.task.value = "inpaint"  # the same recipe: the edit stays
    assert widget.max_iter.value == 123
    widget.preset.value = "paper"
    assert (widget.max_iter.value, widget.auto_stop.value) == (6001, False)  # paper-inpainting


@pytest.mark.parametrize("task", napari_dip.TASKS)
def test_each_task_end_to_end(task, viewer, widget, image, qtbot):
    original = image.data.copy()
    if task == "inpaint":
        mask = np.zeros(SHAPE, np.uint8)
        mask[10:14, :] = 1
        viewer.add_labels(mask, name="defects")
        widget.mask.value = viewer.layers["defects"]
    configure(widget, task=task, max_iter=12, every=4, seed=0, device="cpu")
    layers_before = len(viewer.layers)
    run = widget.run()
    assert not widget.run_button.enabled and widget.stop_button.enabled
    wait_for(run, qtbot)

    suffix = {"denoise": "denoised", "inpaint": "inpainted", "super_resolve": "super-resolved"}
    result = viewer.layers[f"cells {suffix.get(task, 'deconvolved')}"]
    assert run.result_layer == result and len(viewer.layers) == layers_before + 1  # preview gone
    factor = 2 if task == "super_resolve" else 1
    assert result.data.shape == (SHAPE[0] * factor, SHAPE[1] * factor)
    assert result.data.dtype == np.float32
    np.testing.assert_array_equal(image.data, original)
    np.testing.assert_allclose(result.scale, np.array(LAYOUT["scale"]) / factor)
    assert result.units == image.units and result.axis_labels == image.axis_labels
    info = result.metadata["napari_dip"]
    assert info["task"] == task and info["source"] == "cells"
    assert (info["seed"], info["device"], info["iterations"], info["max_iter"]) == (
        0,
        "cpu",
        12,
        12,
    )
    assert info["wall_time_s"] > 0
    if task == "deconvolve":
        assert info["psf_sigma"] == 1.5
    if task == "inpaint":
        assert info["mask_layer"] == "defects"
    assert widget.run_button.enabled and not widget.stop_button.enabled
    assert "12 iterations" in widget.status.value and "seed 0" in widget.status.value


def test_preview_updates_live_and_stop_keeps_the_result(viewer, widget, image, qtbot):
    configure(widget, max_iter=100_000, every=2, seed=0, device="cpu")
    run = widget.run()
    updates = []
    run.snapshot.connect(lambda snapshot: updates.append(snapshot.iteration))
    qtbot.waitUntil(lambda: len(updates) >= 3, timeout=30_000)
    assert run.preview_layer is not None and run.preview_layer.name == "cells denoised (preview)"
    assert "s/iteration" in widget.status.value and "left" in widget.status.value
    qtbot.waitUntil(lambda: widget.estimate.value.startswith("Measured: 1 fit"), timeout=30_000)
    np.testing.assert_allclose(run.preview_layer.scale, image.scale)

    widget.stop_button.native.click()
    wait_for(run, qtbot)
    result = viewer.layers["cells denoised"]
    info = result.metadata["napari_dip"]
    assert info["stop_reason"] == "stopped" and updates[-2] <= info["iterations"] < 100_000
    assert "cells denoised (preview)" not in viewer.layers
    assert "stopped after" in widget.status.value


def test_running_again_replaces_the_result_unless_asked_for_a_new_layer(
    viewer, widget, image, qtbot
):
    configure(widget, max_iter=3, every=3, seed=1, device="cpu")
    first = widget.run()
    wait_for(first, qtbot)
    widget.max_iter.value = 4
    second = widget.run()
    wait_for(second, qtbot)
    assert second.result_layer == first.result_layer
    assert second.result_layer.metadata["napari_dip"]["iterations"] == 4
    assert [layer.name for layer in viewer.layers] == ["cells", "cells denoised"]

    widget.new_layer.value = True
    third = widget.run()
    wait_for(third, qtbot)
    assert third.result_layer != first.result_layer
    assert len(viewer.layers) == 3


def test_wrong_mask_shape_shows_an_error_and_adds_no_layer(viewer, widget, image):
    viewer.add_labels(np.ones((20, 20), np.uint8), name="defects")
    configure(widget, task="inpaint", mask=viewer.layers["defects"])
    records = len(notification_manager.records)
    widget.run_button.native.click()
    assert [layer.name for layer in viewer.layers] == ["cells", "defects"]
    assert any("mask of shape (20, 20)" in message for message in new_messages(records))
    assert "Not started" in widget.status.value and widget.run_button.enabled
    assert widget.current_run is None


def test_copy_as_python_gives_code_that_reruns_to_the_same_array(viewer, widget, qtbot):
    """The widget's fits choose their threads up to the caller's count: 1 here, so bit for bit."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        copy_and_rerun(viewer, widget, qtbot)
    finally:
        torch.set_num_threads(threads)


def copy_and_rerun(viewer, widget, qtbot):
    cells = viewer.add_image(blobs(), name="cells")
    configure(widget, task="deconvolve", max_iter=4, seed=5, device="cpu", every=2)
    before = widget.copy_python()  # the form's settings, before any run
    assert "napari_dip.deconvolve(" in before and "seed=5" in before
    assert "napari_dip.gaussian_psf(1.5)" in before and "of layer 'cells'" in before
    run = widget.run()
    wait_for(run, qtbot)
    widget.copy_button.native.click()
    code = QApplication.clipboard().text()
    assert code == run.result_layer.metadata["napari_dip"]["python"]
    assert "Copied Python" in widget.status.value
    copied = {"image": cells.data}
    exec(code, copied)
    assert np.array_equal(copied["result"], run.result_layer.data)


def test_worker_error_becomes_a_notification(viewer, widget, image, qtbot, monkeypatch):
    def failing_snapshots(self, every=50):
        raise RuntimeError("the fit diverged")
        yield

    monkeypatch.setattr(napari_dip.Restoration, "snapshots", failing_snapshots)
    records = len(notification_manager.records)
    run = widget.run()
    wait_for(run, qtbot)
    assert isinstance(run.error, FitError) and run.result_layer is None
    assert any("the fit diverged" in str(r.message) for r in notification_manager.records[records:])
    assert "Failed" in widget.status.value and widget.run_button.enabled
    with pytest.raises(FitError):
        run.wait()
    assert [layer.name for layer in viewer.layers] == ["cells"]


def start_long_run(widget, qtbot):
    configure(widget, max_iter=100_000, every=1, device="cpu")
    run = widget.run()
    qtbot.waitUntil(lambda: run.preview_layer is not None, timeout=30_000)
    return run


@pytest.mark.parametrize("how", ["dock close button", "close()"])
def test_closing_the_widget_during_a_run_stops_it(how, viewer, widget, image, qtbot):
    run = start_long_run(widget, qtbot)
    if how == "close()":
        widget.close()
    else:  # what napari does when the dock's close button is clicked
        viewer.window.remove_dock_widget(widget.native)
    wait_for(run, qtbot, timeout=10_000)
    assert run.result_layer is None and [layer.name for layer in viewer.layers] == ["cells"]
    assert run.restoration.info.iterations < 100_000


def test_closing_the_viewer_during_a_run_stops_it(viewer, widget, image, qtbot):
    run = start_long_run(widget, qtbot)
    viewer.close()
    wait_for(run, qtbot, timeout=10_000)
    assert run.result_layer is None
    assert run.restoration.info.iterations < 100_000


#: How long the next test measures while two fits run together, and the longest GUI pause it allows.
TOGETHER_S, MAX_GAP_S = 1.5, 0.2


def test_two_runs_at_once_keep_the_viewer_responsive(viewer, qtbot, monkeypatch):
    """Fits run on a thread pool of their own, so Qt's global pool stays free for napari.

    napari's activity spinner (a QMovie) converts its frames on Qt's global
    pool, one thread per core, and waits for them: with two fits on that pool
    (2 cores), the GUI thread hung until one of them ended.  A 50 ms timer
    ticks while both fits run, with no preview (adding a layer is the GUI's
    own work); a plain Python thread stops them 0.5 s after the measurement,
    so a frozen GUI fails the test instead of hanging it.
    """
    began, pending = [], []  # when each fit started, in its worker thread, and its restoration
    stopper = threading.Timer(TOGETHER_S + 0.5, lambda: [r.stop() for r in pending])

    def fit_for_a_while(restoration, every):
        pending.append(restoration)
        began.append(time.perf_counter())
        if len(began) == 2:
            stopper.start()
        yield from fit_snapshots(restoration, every)

    monkeypatch.setattr(layer_run, "fit_snapshots", fit_for_a_while)
    layers = [viewer.add_image(blobs(seed=seed), name=f"cells {seed}") for seed in (0, 1)]
    ticks = []
    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    try:
        runs = [
            restore_layer(
                viewer, layer, "denoise", preset=TINY, max_iter=20_000, every=20_000, device="cpu"
            )
            for layer in layers
        ]
        returned = time.perf_counter()  # building the runs is the main thread's own work
        for run in runs:
            wait_for(run, qtbot, timeout=120_000)
    finally:
        timer.stop()
        stopper.cancel()
    assert all(run.error is None and run.result_layer is not None for run in runs)
    assert all(run.result_layer.metadata["napari_dip"]["stop_reason"] == "stopped" for run in runs)
    start = max(max(began), returned)
    gaps = [
        round(later - earlier, 3)
        for earlier, later in zip(ticks, ticks[1:])
        if later > start and earlier < start + TOGETHER_S
    ]
    assert gaps and max(gaps) < MAX_GAP_S, f"the GUI thread stalled while two fits ran: {gaps}"
    assert len(gaps) > 5, f"too few timer ticks while the fits ran together: {gaps}"


def test_stop_right_after_the_start_ends_the_run_with_a_result(viewer, image, qtbot):
    run = restore_layer(viewer, image, "denoise", preset=TINY, max_iter=100_000, device="cpu")
    run.stop()  # most likely before the worker has built the restoration
    wait_for(run, qtbot)
    info = run.result_layer.metadata["napari_dip"]
    assert info["stop_reason"] == "stopped" and info["iterations"] < 100_000


def test_a_run_waits_for_a_free_thread_and_stop_ends_it_at_once(viewer, tiny_widget, qtbot):
    """Runs beyond the pool's thread count wait, shown as waiting; Stop ends a waiting run at once."""
    cells = viewer.add_image(blobs(), name="cells")
    busy = viewer.add_image(blobs(seed=1), name="busy")
    pool = fit_pool()
    threads = pool.maxThreadCount()
    first = None
    try:
        pool.setMaxThreadCount(1)
        first = restore_layer(
            viewer, busy, "denoise", preset=TINY, max_iter=100_000, device="cpu", every=1
        )
        assert not first.queued
        configure(tiny_widget, image=cells, max_iter=20)
        waiting = tiny_widget.run()
        assert waiting.queued and tiny_widget.status.value.startswith("Waiting: 1 runs")
        tiny_widget.stop()  # taken out of the queue: no fit, no result
        assert waiting.done and waiting.result_layer is None and waiting.preview_layer is None
        assert tiny_widget.status.value == "Cancelled" and tiny_widget.run_button.enabled
        second = tiny_widget.run()
        assert second.queued
        first.stop()
        wait_for(first, qtbot)
        wait_for(second, qtbot)
        assert not second.queued and second.result_layer.name == "cells denoised"
        assert "iteration cap reached after 20 iterations" in tiny_widget.status.value
    finally:
        if first is not None:
            first.stop()
            wait_for(first, qtbot)
        pool.setMaxThreadCount(threads)


def test_uint16_z_stack_with_channels(viewer, tiny_widget, qtbot):
    layout = {
        "scale": (2.0, 1.0, 0.5, 0.5),
        "translate": (4.0, 0.0, 10.0, -3.0),
        "axis_labels": ("z", "c", "y", "x"),
    }
    stack = viewer.add_image(blobs((3, 3, 32, 32)), name="stack", **layout)
    widget = tiny_widget
    assert widget.image.value is stack and widget.axes.value == "ZCYX"
    assert "axis labels" in widget.axes.tooltip
    assert all(shown(widget, name) for name in ("channels", "stack", "current_plane"))
    assert not shown(widget, "warm_start")  # one volume: nothing to start from
    widget.stack.value = "planes"
    assert shown(widget, "warm_start")
    widget.stack.value = "volume"
    widget.max_iter.value = 4
    run = widget.run()
    wait_for(run, qtbot)
    result = run.result_layer
    assert result.data.shape == stack.data.shape == (3, 3, 32, 32)
    for key in ("scale", "translate"):
        np.testing.assert_allclose(getattr(result, key), layout[key])
    assert result.axis_labels == stack.axis_labels and result.units == stack.units
    info = result.metadata["napari_dip"]
    assert (info["axes"], info["channels"], info["stack"], info["fits"]) == (
        "ZCYX",
        "joint",
        "volume",
        1,
    )
    assert info["shape"] == "Z=3 C=3 Y=32 X=32" and info["iterations"] == 4


def test_time_lapse_restores_each_frame(viewer, tiny_widget, qtbot):
    viewer.add_image(blobs((3, 32, 32)), name="movie")
    widget = tiny_widget
    assert widget.axes.value == "ZYX"  # the shape alone cannot tell frames from planes
    widget.axes.value = "tyx"
    assert shown(widget, "warm_start") and shown(widget, "current_plane")
    assert not shown(widget, "stack") and not shown(widget, "channels")
    configure(widget, max_iter=4, noise="poisson")
    run = widget.run()
    assert run._progress.total == 0  # indeterminate until the worker has made the plan
    totals, statuses = [], []
    run.planned.connect(lambda _: totals.append(run._progress.total))
    run.snapshot.connect(lambda _: statuses.append(widget.status.value))
    wait_for(run, qtbot)
    assert totals == [3 * 4]  # all fits
    result = run.result_layer
    assert result.data.shape == (3, 32, 32)
    info = result.metadata["napari_dip"]
    assert (info["axes"], info["fits"], info["noise"]) == ("TYX", 3, "poisson")
    assert info["fit_iterations"] == [4, 4, 4] and info["warm_start"]
    assert any("(fit 2/3)" in status for status in statuses)
    assert "after 3 fits, 12 iterations" in widget.status.value


def test_current_plane_only(viewer, tiny_widget, qtbot):
    viewer.add_image(np.zeros((2, 8, 16, 16), np.uint8), name="4D")  # the viewer gets 4 dims
    data = blobs((4, 32, 32))
    data[2] += 1000  # plane 2 stands out
    stack = viewer.add_image(data, name="stack", scale=(3.0, 1.0, 1.0), translate=(10.0, 0, 0))
    widget = tiny_widget
    widget.image.value = stack
    assert widget.axes.value == "ZYX" and shown(widget, "current_plane")
    viewer.dims.set_point(1, 16.0)  # the stack's plane 2, at 10 + 3 * 2
    configure(widget, current_plane=True, max_iter=4)
    assert not shown(widget, "stack") and not shown(widget, "warm_start")
    result = widget.run().wait(60)
    assert result.data.shape == (1, 32, 32) and result.data.mean() > 900
    np.testing.assert_allclose(result.translate, (16.0, 0.0, 0.0))
    np.testing.assert_allclose(result.scale, stack.scale)
    np.testing.assert_allclose(result.extent.world[:, 0], 16.0)  # on that plane only
    info = result.metadata["napari_dip"]
    assert info["plane"] == {"Z": 2} and info["fits"] == 1
    viewer.dims.set_point(1, 2.0)  # above the stack
    qtbot.waitUntil(lambda: "current position is outside" in widget.estimate.value)


def test_invalid_axes_show_an_error_and_add_no_layer(viewer, widget, image, qtbot):
    widget.axes.value = "ZYX"
    qtbot.waitUntil(lambda: "names 3 axes" in widget.estimate.value, timeout=10_000)
    records = len(notification_manager.records)
    widget.run_button.native.click()
    assert [layer.name for layer in viewer.layers] == ["cells"]
    assert any("axes 'ZYX' names 3 axes but the image has 2" in m for m in new_messages(records))
    assert "Not started" in widget.status.value and widget.current_run is None
    widget.axes.value = "YQ"
    qtbot.waitUntil(lambda: "unknown letter(s) 'Q'" in widget.estimate.value, timeout=10_000)


def test_estimate_line_follows_the_settings(viewer, widget, image, qtbot):
    assert widget.axes.value == "YX" and "guess" in widget.axes.tooltip
    qtbot.waitUntil(lambda: widget.estimate.value.startswith("Estimate: 1 fit, ~"), timeout=30_000)
    assert "s/iteration, usually ~" in widget.estimate.value  # where the default stops
    assert ", at most ~" in widget.estimate.value  # and its cap
    widget.memory_budget.value = "lots"
    qtbot.waitUntil(lambda: "No estimate: cannot read 'lots'" in widget.estimate.value)
    widget.memory_budget.value = "1MB"
    qtbot.waitUntil(lambda: "more than the budget" in widget.estimate.value, timeout=10_000)
    records = len(notification_manager.records)
    widget.run_button.native.click()  # a MemoryError, in the run's thread: reported, not raised
    wait_for(widget.current_run, qtbot)
    assert any("more than the budget" in message for message in new_messages(records))
    assert widget.status.value.startswith("Failed: a 32x32 tile") and widget.run_button.enabled
    assert [layer.name for layer in viewer.layers] == ["cells"]


def test_stop_after_the_run_has_finished_leaves_the_status_alone(viewer, tiny_widget, image, qtbot):
    configure(tiny_widget, max_iter=2)
    run = tiny_widget.run()
    wait_for(run, qtbot)
    status = tiny_widget.status.value
    tiny_widget.stop()
    assert tiny_widget.status.value == status and "Stopping" not in status


def test_widget_offers_the_uncertainty_layer_for_inpainting_with_its_held_out_holes(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-dip", "Deep Image Prior")
    configure(widget, task="denoise", preset="fast")
    assert not widget.uncertainty.enabled
    configure(widget, task="inpaint", preset="default")
    assert widget.uncertainty.enabled  # calibrated on the held-out holes
    configure(widget, auto_stop=False)
    assert not widget.uncertainty.enabled  # no holes held out, no calibration
    configure(widget, auto_stop=True)
    assert widget.uncertainty.enabled


def test_widget_offers_the_uncertainty_layer_for_the_default_denoising(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-dip", "Deep Image Prior")
    configure(widget, task="denoise", preset="default")
    assert widget.uncertainty.enabled  # the error its fusion predicts
    configure(widget, auto_stop=False)
    assert not widget.uncertainty.enabled  # no held-out pixels, no fusion
    configure(widget, auto_stop=True, preset="fast")
    assert not widget.uncertainty.enabled  # no fusion


def test_widget_offers_the_uncertainty_layer_for_ensembles(viewer, image, qtbot, monkeypatch):
    for recipe in (TINY, TINY_ENSEMBLE):
        monkeypatch.setitem(PRESETS, recipe.name, recipe)
    _, widget = viewer.window.add_plugin_dock_widget("napari-dip", "Deep Image Prior")
    configure(widget, preset=TINY.name, device="cpu", seed=0, every=2)
    assert not widget.uncertainty.enabled  # one network: nothing to spread
    configure(widget, preset=TINY_ENSEMBLE.name, uncertainty=True)
    assert widget.uncertainty.enabled
    wait_for(widget.run(), qtbot)
    assert "cells denoised uncertainty" in viewer.layers


@pytest.mark.slow
def test_the_plot_follows_the_scores_and_marks_the_stop_s_pick(viewer, widget, qtbot):
    viewer.add_image(blobs(), name="cells")
    configure(widget, preset="fast", max_iter=400, seed=0, device="cpu", every=10)
    run = widget.run()
    wait_for(run, qtbot, timeout=120_000)
    plot = widget.plot
    iterations = [point[0] for point in plot.points]
    assert iterations == list(range(10, iterations[-1] + 1, 10)) and len(iterations) > 5
    assert all(loss > 0 and held > 0 for _, loss, held in plot.points)
    info = run.result_layer.metadata["napari_dip"]
    assert info["stop_reason"] == "auto" and 50 <= plot.best < info["iterations"]
    assert plot.title.endswith(f"best held-out at {plot.best} (stopped)")
    picture = plot.grab().toImage()
    colours = {
        picture.pixel(x, y) for x in range(0, picture.width(), 3) for y in range(picture.height())
    }
    assert len(colours) > 10  # axes, two curves, the pick and the labels were drawn
    widget.run()  # a new run starts a new plot
    assert plot.points == [] and plot.title == ""
    widget.stop()
    wait_for(widget.current_run, qtbot)


@pytest.mark.slow
def test_the_plot_shows_the_current_fit_of_several(viewer, widget, qtbot):
    viewer.add_image(blobs((2, 32, 32)), name="stack")
    configure(widget, axes="ZYX", stack="planes", max_iter=20, seed=0, device="cpu", every=5)
    run = widget.run()
    wait_for(run, qtbot)
    assert widget.plot.title.startswith("fit 2/2, iteration 40")
    assert [point[0] for point in widget.plot.points] == [25, 30, 35]  # the second fit's


@pytest.mark.slow
def test_a_saved_result_reopens_with_its_settings_and_reruns_bit_for_bit(
    viewer, widget, qtbot, tmp_path
):
    stack = viewer.add_image(blobs((2, 24, 24)), name="stack", scale=(2.0, 0.5, 0.5), units="um")
    settings = dict(preset="fast", noise="poisson", offset=50.0, max_iter=5, seed=4, threads=1)
    result = restore_layer(viewer, stack, "denoise", **settings).wait(60)
    viewer.layers.selection = {result}
    path = str(tmp_path / "denoised.ome.tif")
    assert viewer.layers.save(path, selected=True, plugin="napari-dip") == [path]
    (opened,) = viewer.open(path, plugin="napari-dip")
    assert np.array_equal(opened.data, result.data) and opened.name.startswith("stack denoised")
    np.testing.assert_allclose(opened.scale, result.scale)
    np.testing.assert_allclose(opened.translate, result.translate)
    assert opened.units == result.units
    assert opened.metadata["napari_dip"] == json.loads(json.dumps(result.metadata["napari_dip"]))
    assert np.array_equal(napari_dip.rerun(opened, stack.data), result.data)

    configure(widget, task="inpaint", preset="quality", seed=-1, axes="YX")
    viewer.layers.selection.active = opened
    widget.settings_button.native.click()
    assert widget.task.value == "denoise" and widget.image.value is stack
    assert (widget.preset.value, widget.seed.value, widget.max_iter.value) == ("fast", 4, 5)
    assert (widget.noise.value, widget.offset.value) == ("poisson", 50.0)
    assert widget.axes.value == "ZYX" and "Run restores stack again" in widget.status.value


def test_the_noise_model_is_suggested_from_the_image_and_why_is_shown(viewer, widget):
    counts = np.random.default_rng(0).poisson(np.linspace(1, 60, 96 * 96).reshape(96, 96))
    viewer.add_image(counts.astype(np.uint16), name="counts")
    assert widget.noise.value == "poisson"
    assert "counts: integer counts whose noise grows" in widget.noise.tooltip
    assert "Noise: Poisson (photon counts)" in widget.status.value
    assert shown(widget, "offset") and widget.offset.value == 0
    (sample,) = viewer.open_sample("napari-dip", "noisy_cells")  # counts on an offset of 100
    widget.image.value = sample
    assert widget.noise.value == "gaussian" and 90 <= widget.offset.value <= 110
    assert f"offset of about {widget.offset.value:g}" in widget.noise.tooltip
    assert not shown(widget, "offset") and widget.settings().options.offset == 0.0
    widget.noise.value = "poisson"  # the offset found is ready for a Poisson fit
    assert shown(widget, "offset") and widget.settings().options.offset == widget.offset.value


def test_the_status_line_says_how_much_of_the_result_is_the_networks():
    from napari_dip._napari.widget import _classical_share

    blend = {"method": "biharmonic", "network_weight": 0.7}
    assert _classical_share({"classical_blends": [blend]}) == "; network 70% / biharmonic 30%"
    two = [blend, {**blend, "network_weight": 0.2}]
    assert _classical_share({"classical_blends": two}) == "; network 45% / biharmonic 55%"
    assert _classical_share({"classical_blends": []}) == ""
    assert _classical_share({}) == ""  # a record from before the blend
    lucy = {"method": "richardson-lucy", "network_weight": 0.6, "setting": 20}
    assert _classical_share({"classical_blends": [lucy]}) == (
        "; network 60% where the PSF passes / richardson-lucy (20 iterations) 40%"
    )
    planes = [lucy, {**lucy, "setting": 40}]
    assert _classical_share({"classical_blends": planes}).endswith("(20-40 iterations) 40%")


def test_the_progress_line_says_when_the_run_usually_ends_and_at_most():
    from napari_dip._napari.widget import _progress_line
    from napari_dip.core.fit import Snapshot

    snapshot = Snapshot(100, 2000, 0.01, None, None, elapsed=50.0)
    line = _progress_line(snapshot, 0.5, auto_stop=True, expected=700)
    assert line.endswith("usually ~5 min 00 s left, at most 15 min 50 s left")
    late = Snapshot(900, 2000, 0.01, None, None, elapsed=450.0)
    assert _progress_line(late, 0.5, True, 700).endswith(", at most 9 min 10 s left")
    assert "usually" not in _progress_line(snapshot, 0.5, True, None)  # no benchmark of it
    assert _progress_line(snapshot, 0.5, False, 700).endswith("s/iteration, 15 min 50 s left")
