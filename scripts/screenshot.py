"""Screenshot napari with the "Deep Image Prior" widget mid-run and after Stop, for the docs.

It also walks through the widget end to end, as a user would: open napari,
load the noisy cells sample, dock the widget, choose a task, click Run, watch
the preview and the plot change, take the first screenshot, click Stop, check
that the result layer sits where the input is (same scale and translate), and
take the second.

    xvfb-run -a python scripts/screenshot.py    # docs/images/screenshot.png, screenshot-stopped.png
    xvfb-run -a python scripts/screenshot.py --task super_resolve --output /tmp/shot.png
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# Qt6, as the tests (napari 0.9 deprecates PyQt5); no notification in the picture.
os.environ.setdefault("QT_API", "pyqt6")
os.environ.setdefault("NAPARI_APPLICATION_GUI_NOTIFICATION_LEVEL", "error")

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        QApplication.processEvents()
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "images" / "screenshot.png")
    parser.add_argument(
        "--task", default="denoise", choices=["denoise", "super_resolve", "deconvolve"]
    )
    parser.add_argument(
        "--previews", type=int, default=10, help="preview updates before the screenshot"
    )
    parser.add_argument("--every", type=int, default=25, help="iterations between previews")
    args = parser.parse_args()

    viewer = napari.Viewer()
    viewer.window.resize(1280, 760)
    (source,) = viewer.open_sample("napari-dip", "noisy_cells")
    _, widget = viewer.window.add_plugin_dock_widget("napari-dip", "Deep Image Prior")
    widget.task.value = args.task
    widget.every.value = args.every
    widget.seed.value = 0
    viewer.canvas.grid.enabled = True  # input and preview side by side

    widget.run_button.native.click()
    run = widget.current_run
    previews = []
    run.snapshot.connect(lambda snapshot: previews.append(snapshot.iteration))
    wait_until(lambda: len(previews) >= args.previews, 600, f"{args.previews} preview updates")
    print(f"preview updated at iterations {previews}")

    viewer.reset_view()
    QApplication.processEvents()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.output), canvas_only=False)
    print(f"wrote {args.output}")

    widget.stop_button.native.click()
    result = run.wait(timeout=120)
    assert result is not None, widget.status.value
    factor = result.metadata["napari_dip"]["factor"] or 1
    np.testing.assert_allclose(result.scale, source.scale / factor)
    expected = source.translate + source.scale * (1 / factor - 1) / 2
    np.testing.assert_allclose(result.translate, expected)
    print(
        f"{result.name}: scale {result.scale}, translate {result.translate}; {widget.status.value}"
    )
    viewer.reset_view()  # the input and the result side by side, the plot with the stop's pick
    for _ in range(20):  # let the status line's new text settle into the layout
        QApplication.processEvents()
        time.sleep(0.02)
    stopped = args.output.with_name(f"{args.output.stem}-stopped{args.output.suffix}")
    viewer.screenshot(str(stopped), canvas_only=False)
    print(f"wrote {stopped}")
    viewer.close()


if __name__ == "__main__":
    main()
