"""Restore napari layers in a thread worker: the run behind the widget, usable from scripts.

``restore_layer`` validates its input, starts the fit in a napari
``GeneratorWorker`` and returns a ``LayerRestoration`` at once.  While the fit
runs, a preview layer follows it and a napari progress bar counts iterations;
at the end a result layer appears (or replaces the previous result of the same
input and task).  ``LayerRestoration.wait()`` blocks, keeping the viewer
responsive, until then.

Only plain values (a ``napari_dip.Restoration`` and an int) go into the worker
thread; layers are read and written in the main thread, from its signals.
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from napari.layers import Image, Labels, Layer
from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import notification_manager
from napari.utils.transforms import Affine
from psygnal import Signal
from qtpy.QtWidgets import QApplication
from superqt.utils import GeneratorWorker

import napari_dip

__all__ = ["LayerRestoration", "restore_layer", "result_placement"]

RESULT_SUFFIX = {
    "denoise": "denoised",
    "inpaint": "inpainted",
    "super_resolve": "super-resolved",
    "deconvolve": "deconvolved",
}


def result_placement(layer: Image, factor: int = 1) -> dict:
    """Layer keyword arguments that place a result of ``layer`` over ``layer``.

    napari puts the centre of pixel ``i`` at ``translate + scale * i`` (then
    rotates, shears and applies ``affine``).  Super-resolution by ``factor``
    splits each input pixel of Y and X into ``factor`` output pixels, so
    ``scale' = scale / factor``; the first output pixel's outer edge must stay
    on the first input pixel's outer edge::

        translate' - scale' / 2 = translate - scale / 2
        translate' = translate + scale * (1 / factor - 1) / 2

    Then output pixels ``factor * i ... factor * i + factor - 1`` tile input
    pixel ``i`` exactly, and their mean centre is its centre.  With rotation
    or shear the shift is rotated and sheared like the pixel grid.
    """
    scale = np.asarray(layer.scale, dtype=float)
    translate = np.asarray(layer.translate, dtype=float)
    if factor != 1:
        shift = np.zeros_like(scale)
        shift[-2:] = scale[-2:] * (1 / factor - 1) / 2
        grid = Affine(rotate=layer.rotate, shear=layer.shear, ndim=layer.ndim).linear_matrix
        translate = translate + grid @ shift
        scale = scale.copy()
        scale[-2:] /= factor
    return {
        "scale": scale,
        "translate": translate,
        "rotate": layer.rotate,
        "shear": layer.shear,
        "affine": layer.affine.affine_matrix,
        "units": layer.units,
        "axis_labels": layer.axis_labels,
    }


class FitError(Exception):
    """The fit failed in the worker thread (re-raised from a RuntimeError).

    superqt takes a RuntimeError escaping a worker for a deleted Qt object and
    drops it silently, without ``errored`` or ``finished``; this keeps it visible.
    """


def _fit_snapshots(restoration, every: int):
    """The worker thread's generator: the fit's snapshots."""
    try:
        yield from restoration.snapshots(every)
    except RuntimeError as error:
        raise FitError(str(error)) from error


class _FitWorker(GeneratorWorker):
    """A generator worker whose ``quit()`` also stops the fit, within one iteration.

    napari quits running workers when its window closes; a plain generator
    worker would only notice at the next snapshot, possibly minutes later.
    Derived from superqt's class rather than napari's, whose error
    notifications are never connected under PyQt5 (its mixin's ``__init__``
    is not reached): ``LayerRestoration`` reports errors itself.
    """

    def __init__(self, func, restoration, every):
        super().__init__(func, restoration, every)
        self._restoration = restoration

    def quit(self) -> None:
        self._restoration.stop()
        super().quit()


#: Runs in progress.  Qt holds bound-method slots weakly, so a run whose
#: handle the caller dropped would otherwise lose its handlers mid-fit.
_RUNNING: set[LayerRestoration] = set()


class LayerRestoration:
    """One restoration of a napari image layer, running in a thread worker.

    Created (and started) by ``restore_layer``.  ``stop()`` ends the fit early
    and keeps the best result so far; ``cancel()`` ends it without a result;
    ``wait()`` blocks until the run ends and returns the result layer.

    Attributes
    ----------
    restoration : napari_dip.Restoration
        The fit; its ``info`` ends up in the result layer's metadata.
    worker : superqt.utils.GeneratorWorker
        Made by ``napari.qt.threading.create_worker`` (so napari lists it as a task).
    source : napari.layers.Image
        The input layer (never modified).
    preview_layer, result_layer : napari.layers.Image or None
    error : Exception or None
        Why the run failed, if it did.
    done : bool
        True once the worker has finished (result, error or cancel).

    Signals (emitted in the main thread): ``snapshot(Snapshot)`` after each
    preview update and for the final snapshot; ``finished()`` at the end.
    """

    snapshot = Signal(object)
    finished = Signal()

    def __init__(
        self, viewer, source: Image, restoration, *, every: int, new_layer: bool, settings: dict
    ):
        self.viewer = viewer
        self.source = source
        self.restoration = restoration
        self.new_layer = new_layer
        self.name = f"{source.name} {RESULT_SUFFIX[restoration.task]}"
        self.preview_layer: Image | None = None
        self.result_layer: Image | None = None
        self.error: Exception | None = None
        self.done = False
        self._settings = settings
        info = restoration.info
        self._placement = result_placement(source, info["factor"] or 1)
        self._display = {
            "contrast_limits": source.contrast_limits,
            "gamma": source.gamma,
            "rgb": source.rgb,
        }
        if not source.rgb:
            self._display["colormap"] = source.colormap
        self._progress = progress(total=info["max_iter"], desc=f"Deep Image Prior: {self.name}")
        self.worker = create_worker(
            _fit_snapshots, restoration, every, _worker_class=_FitWorker, _ignore_errors=True
        )
        self.worker.yielded.connect(self._on_snapshot)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        _RUNNING.add(self)
        self.worker.start()

    def stop(self) -> None:
        """End the fit within one iteration; the best result so far becomes the result layer."""
        self.restoration.stop()

    def cancel(self) -> None:
        """End the fit without a result layer, and remove the preview."""
        if not self.done:
            self.worker.quit()
            self._remove_preview()

    def wait(self, timeout: float | None = None) -> Image | None:
        """Block until the run ends, processing Qt events; return the result layer.

        Raises the run's error if it failed, and ``TimeoutError`` after
        ``timeout`` seconds (the run goes on).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} still running after {timeout} s")
            QApplication.processEvents()
            time.sleep(0.01)
        if self.error is not None:
            raise self.error
        return self.result_layer

    def _on_snapshot(self, snapshot) -> None:
        if self.done or self.worker.abort_requested:  # cancelled, or the viewer is closing
            return
        if not snapshot.done:  # the result layer comes with `finished`, once the thread is done
            self._show_preview(snapshot.smoothed)
        self.snapshot.emit(snapshot)
        # Last: napari's progress bar widget processes pending Qt events (`finished` among them).
        self._progress.update(snapshot.iteration - self._progress.n)

    def _on_error(self, error: Exception) -> None:
        self.error = error
        self._remove_preview()
        notification_manager.receive_error(type(error), error, error.__traceback__)

    def _on_finished(self) -> None:
        self.done = True
        if self.error is None and not self.worker.abort_requested:
            self._show_result()
        self._progress.close()
        _RUNNING.discard(self)
        self.finished.emit()

    def _show_preview(self, image) -> None:
        if self.preview_layer is None:
            self.preview_layer = self.viewer.add_image(
                image, name=f"{self.name} (preview)", **self._placement, **self._display
            )
        else:
            self.preview_layer.data = image

    def _show_result(self) -> None:
        self._remove_preview()
        image = self.restoration.result
        metadata = {"napari_dip": {**self.restoration.info, **self._settings}}
        previous = self._previous_result()
        if previous is None:
            self.result_layer = self.viewer.add_image(
                image, name=self.name, metadata=metadata, **self._placement, **self._display
            )
            return
        previous.data = image
        for key, value in self._placement.items():
            setattr(previous, key, value)
        previous.metadata = metadata
        self.result_layer = previous

    def _previous_result(self) -> Image | None:
        """The earlier result of this input and task, which a new run replaces."""
        if self.new_layer or self.name not in self.viewer.layers:
            return None
        layer = self.viewer.layers[self.name]
        mine = isinstance(layer, Image) and "napari_dip" in layer.metadata
        return layer if mine and layer.rgb == self.source.rgb else None

    def _remove_preview(self) -> None:
        if self.preview_layer is not None and self.preview_layer in self.viewer.layers:
            self.viewer.layers.remove(self.preview_layer)
        self.preview_layer = None


def restore_layer(
    viewer,
    layer: Image,
    task: str,
    *,
    mask=None,
    factor: int | None = None,
    kernel: str = "lanczos2",
    psf=None,
    preset: str = "default",
    max_iter: int | None = None,
    auto_stop: bool | None = None,
    seed: int | None = None,
    device: str = "auto",
    every: int = 25,
    new_layer: bool = False,
) -> LayerRestoration:
    """Restore an image layer of ``viewer`` in a background thread, with a live preview.

    Returns at once; call ``.wait()`` on the result to block until the result
    layer is there.  Invalid input raises ``ValueError`` or ``TypeError`` here,
    before anything is added to the viewer.

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Image
        2D grey, RGB, or 3D (ZYX) single-channel image; never modified.
    task : {"denoise", "inpaint", "super_resolve", "deconvolve"}
    mask : napari.layers.Labels or array_like, for "inpaint"
        Nonzero marks the pixels to fill; the image's spatial shape.
    factor, kernel : for "super_resolve"
        See ``napari_dip.Restoration``.
    psf : float, napari.layers.Image or array_like, for "deconvolve"
        A number is the sigma, in pixels, of a 2D Gaussian PSF (a stack is
        blurred plane by plane); a layer or an array holds the PSF itself.
    preset, max_iter, auto_stop, seed, device
        See ``napari_dip.Restoration``.
    every : int
        Iterations between preview updates.
    new_layer : bool
        Add a new result layer instead of replacing this input and task's
        previous result.
    """
    if not isinstance(layer, Image):
        raise TypeError(f"layer must be a napari Image layer, got {type(layer).__name__}")
    if layer.multiscale:
        raise ValueError(f"layer {layer.name!r} is multiscale; pick a single-resolution image")
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise ValueError(f"every must be a positive integer, got {every!r}")
    settings = {"source": layer.name, "every": int(every)}
    if task == "inpaint":
        if mask is None:
            raise ValueError(
                "inpainting needs a mask: a Labels layer, nonzero where pixels are missing"
            )
        if isinstance(mask, Labels):
            settings["mask_layer"] = mask.name
    if task == "deconvolve":
        if isinstance(psf, numbers.Real) and not isinstance(psf, bool):
            settings["psf_sigma"] = float(psf)
            psf = napari_dip.gaussian_psf(float(psf))
        elif isinstance(psf, Layer):
            settings["psf_layer"] = psf.name
    restoration = napari_dip.Restoration(
        task,
        np.asarray(layer.data),
        mask=_data(mask) if task == "inpaint" else None,
        factor=factor if task == "super_resolve" else None,
        kernel=kernel,
        psf=_data(psf) if task == "deconvolve" else None,
        channel_axis=-1 if layer.rgb else None,
        preset=preset,
        max_iter=max_iter,
        auto_stop=auto_stop,
        seed=seed,
        device=device,
    )
    return LayerRestoration(
        viewer, layer, restoration, every=int(every), new_layer=new_layer, settings=settings
    )


def _data(value):
    return np.asarray(value.data) if isinstance(value, Layer) else value
