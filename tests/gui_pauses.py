"""Measure the GUI thread's longest pause from just before Run to the result, in a fresh process.

Run by ``test_gui_pauses.py`` under the test's X server (``python tests/gui_pauses.py``);
prints one JSON object: per case, the longest gap between the ticks of a 10 ms Qt timer
(seconds), the gaps over 0.1 s (when after Run, how long) and how long the run took; and,
to compare with, the pause napari itself takes to add such layers with no run going.

The process starts as a user's does: napari, a viewer, the widget opened (which warms up
PyTorch's cost model in the background), the images open.  Then one full garbage
collection, so that the collection Python would soon run for the set-up's objects does
not fall into a measurement.
"""

from __future__ import annotations

import gc
import json
import os
import time

os.environ.setdefault("QT_API", "pyqt6")

#: The image sizes: a large plane, and a Z-stack restored plane by plane.
PLANE, STACK = (1024, 1024), (8, 512, 512)


def main() -> dict:
    import napari
    import numpy as np
    from helpers import TINY as tiny
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_dip import restore_layer
    from napari_dip.core.presets import PRESETS

    PRESETS[tiny.name] = tiny
    rng = np.random.default_rng(0)

    def noisy(shape):
        return (200 + 20 * rng.standard_normal(shape)).astype(np.uint16)

    viewer = napari.Viewer(show=False)
    cells = viewer.add_image(noisy(PLANE), name="cells")
    more = viewer.add_image(noisy(PLANE), name="more cells")
    stack = viewer.add_image(noisy(STACK), name="stack")
    _, widget = viewer.window.add_plugin_dock_widget("napari-dip", "Deep Image Prior")
    widget.image.value = cells
    for name, value in {"preset": tiny.name, "max_iter": 4, "seed": 0, "device": "cpu"}.items():
        getattr(widget, name).value = value
    widget.every.value = 2

    def settle(until=lambda: True, seconds=0.2):
        """Process events until ``until()`` (at most 2 minutes), then for ``seconds`` more."""
        start = time.perf_counter()
        while not until() and time.perf_counter() - start < 120:
            QApplication.processEvents()
            time.sleep(0.002)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            QApplication.processEvents()
            time.sleep(0.002)

    settle(lambda: widget.estimate.value.startswith("Estimate"))  # warmed up
    gc.collect()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    settle()

    def measure(start_runs) -> dict:
        """The pauses from now until the runs ``start_runs()`` returns are done."""
        before = time.perf_counter()
        runs = start_runs()
        settle(lambda: all(run.done for run in runs))
        done = time.perf_counter()
        settle()
        errors = [repr(run.error) for run in runs if run.result_layer is None]
        times = np.array([before, *(t for t in ticks if t > before)])
        gaps = np.diff(times)
        return {
            "max_gap_s": round(float(gaps.max()), 3),
            "long_gaps": [
                (round(float(at - before), 2), round(float(gap), 3))
                for at, gap in zip(times[:-1], gaps)
                if gap > 0.1
            ],
            "run_s": round(done - before, 2),
            "errors": errors,
        }

    def add_layers():
        """napari's own pause: the layers the runs add (a plane, a stack), added with no run
        going; the longer of the two, each the median of 3."""
        pauses = []
        for data in (cells.data, stack.data):
            added = []
            for _ in range(3):
                added.append(
                    measure(lambda data=data: (viewer.add_image(data), [])[1])["max_gap_s"]
                )
                viewer.layers.pop()
                settle()
            pauses.append(sorted(added)[1])
        return {"max_gap_s": max(pauses)}

    def click():
        widget.run_button.native.click()
        return [widget.current_run]

    def layer_run(*layers, **options):
        keywords = {"preset": tiny, "max_iter": 4, "every": 2, "seed": 0, "device": "cpu"}
        keywords.update(options)
        return [restore_layer(viewer, layer, "denoise", **keywords) for layer in layers]

    return {
        "napari adds a layer": add_layers(),
        "widget, 1024x1024": measure(click),
        "widget again (replaces its result)": measure(click),
        "restore_layer, 1024x1024": measure(lambda: layer_run(more)),
        "restore_layer, two 1024x1024 at once": measure(
            lambda: layer_run(cells, more, new_layer=True)
        ),
        "restore_layer, 8x512x512 stack": measure(lambda: layer_run(stack, axes="ZYX", max_iter=2)),
    }


if __name__ == "__main__":
    print(json.dumps(main()), flush=True)
    os._exit(0)  # without waiting for napari's and Qt's threads to wind down
