"""Restore napari layers in a thread worker: the run behind the widget, usable from scripts.

``restore_layer`` validates its input, starts the fit in a napari
``GeneratorWorker`` and returns a ``LayerRestoration`` at once.  While the fit
runs, a preview layer follows it and a napari progress bar counts iterations;
at the end a result layer appears (or replaces the previous result of the same
input and task).  ``LayerRestoration.wait()`` blocks, keeping the viewer
responsive, until then.

Only plain values (a ``napari_dip.Restoration`` and an int) go into the worker
thread; layers are read and written in the main thread, from its signals.
The layer's axes (``"ZYX"``, ``"TZCYX"``, ...) are guessed from its shape and
axis labels unless given; one plane (or frame) can be restored on its own, its
result landing on that plane.
"""

from __future__ import annotations

import atexit
import numbers
import time

import numpy as np
import pint
from napari.layers import Image, Labels, Layer
from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import notification_manager
from napari.utils.transforms import Affine
from psygnal import Signal
from qtpy.QtCore import QThread, QThreadPool
from qtpy.QtWidgets import QApplication
from superqt.utils import GeneratorWorker

import napari_dip
from napari_dip._api import _check_every, _flag
from napari_dip.imaging.axes import canonical_mask, check_axes

__all__ = ["LayerRestoration", "restore_layer", "result_placement"]

RESULT_SUFFIX = {
    "denoise": "denoised",
    "inpaint": "inpainted",
    "super_resolve": "super-resolved",
    "deconvolve": "deconvolved",
}


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


class FitError(Exception):
    """The fit failed in the worker thread (re-raised from a RuntimeError).

    superqt takes a RuntimeError escaping a worker for a deleted Qt object and
    drops it silently, without ``errored`` or ``finished``; this keeps it visible.
    """


def _fit_snapshots(restoration, every: int):
    """The worker thread's generator: the snapshots, each with the number of its fit (from 1).

    The number is read here, while the run waits at the snapshot: by the time
    the main thread handles it, the next fit may have started.
    """
    fits = restoration.info["fits"]
    try:
        for snapshot in restoration.snapshots(every):
            yield snapshot, min(len(restoration.info["fit_iterations"]) + 1, fits)
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

    def start(self) -> None:
        """Queue the worker on the fits' own thread pool (``_fit_pool``), not Qt's global one.

        Registered in superqt's worker set as ``WorkerBase.start`` does, so
        napari asks it to quit when the application quits.  Started at once,
        not on the next event loop turn as superqt does in the main thread:
        ``LayerRestoration`` connects its handlers before starting.
        """
        if self in self._worker_set:
            raise RuntimeError("This worker is already started!")
        self._worker_set.add(self)
        self._finished.connect(self._set_discard)
        _fit_pool().start(self)


#: The fit workers' thread pool (see ``_fit_pool``).
_POOL: QThreadPool | None = None


def _fit_pool() -> QThreadPool:
    """The thread pool that runs the fits, made on first use: never Qt's global one.

    Qt and napari run short tasks of the GUI thread on the global pool, one
    thread per core, and block until they are done (e.g. converting images
    while drawing): fits there froze the window until one of them ended.
    This pool runs as many fits at once as the machine has cores, and at
    least two, so that a second run need not wait for a first long one;
    each fit chooses its own torch thread count.  Further runs wait in the
    pool's queue (``LayerRestoration.queued``) until a running one ends.
    When the application quits or Python exits, the fits are stopped and
    their threads waited for.
    """
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(max(2, QThread.idealThreadCount()))
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(_stop_fits)
        atexit.register(_stop_fits)
    return _POOL


def _stop_fits() -> None:
    """Stop the fits still running or waiting, and wait until their threads are done.

    Connected to the application's ``aboutToQuit`` and run at Python's exit:
    napari only waits for Qt's global pool, and without this a script that
    ends during a run hangs at exit until the fit reaches its cap.
    """
    if _POOL is None:
        return
    for run in list(_RUNNING):
        run.worker.quit()
    _POOL.waitForDone()


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
    uncertainty_layer : napari.layers.Image or None
        The members' spread, placed over the result, when asked for and the
        preset fits an ensemble.
    fit : int
        The number, from 1, of the fit the last snapshot came from; a run has
        ``restoration.info["fits"]`` fits (frames, planes, channels, tiles).
    error : Exception or None
        Why the run failed, if it did.
    done : bool
        True once the worker has finished (result, error or cancel).
    queued : bool
        True while the run waits for a free thread: as many runs as the
        machine has cores (at least two) run at once, the others wait for one
        of them to end.

    Signals (emitted in the main thread): ``started()`` when the fit's thread
    starts; ``snapshot(Snapshot)`` after each preview update and for the
    final snapshot; ``finished()`` at the end.
    """

    started = Signal()
    snapshot = Signal(object)
    finished = Signal()

    def __init__(
        self,
        viewer,
        source: Image,
        restoration,
        *,
        every: int,
        new_layer: bool,
        settings: dict,
        placement: dict,
        uncertainty: bool = False,
    ):
        self.viewer = viewer
        self.source = source
        self.restoration = restoration
        self.new_layer = new_layer
        self.name = f"{source.name} {RESULT_SUFFIX[restoration.task]}"
        self.preview_layer: Image | None = None
        self.result_layer: Image | None = None
        self.uncertainty_layer: Image | None = None
        self._wants_uncertainty = uncertainty
        self.error: Exception | None = None
        self.done = False
        self.fit = 1
        self._settings = settings
        info = restoration.info
        self._placement = placement
        self._display = {
            "contrast_limits": source.contrast_limits,
            "gamma": source.gamma,
            "rgb": source.rgb,
        }
        if not source.rgb:
            self._display["colormap"] = source.colormap
        # The snapshots' max_iter: the cap of all fits together.
        total = info["fits"] * info["max_iter"]
        self._progress = progress(total=total, desc=f"Deep Image Prior: {self.name}")
        self.worker = create_worker(
            _fit_snapshots, restoration, every, _worker_class=_FitWorker, _ignore_errors=True
        )
        self.worker.yielded.connect(self._on_snapshot)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.worker.started.connect(self._on_started)
        _RUNNING.add(self)
        pool = _fit_pool()
        self.queued = pool.activeThreadCount() >= pool.maxThreadCount()
        self.worker.start()

    def stop(self) -> None:
        """End the fit within one iteration; the best result so far becomes the result layer.

        A run still waiting for a thread ends at once, without a result layer.
        """
        self.restoration.stop()
        self._unqueue()

    def cancel(self) -> None:
        """End the fit without a result layer, and remove the preview."""
        if not self.done:
            self.worker.quit()
            self._unqueue()
            self._remove_preview()

    def _unqueue(self) -> None:
        """End a run still waiting for a thread: out of the queue, finished without a result."""
        if self.done or not self.queued:
            return
        try:
            taken = _fit_pool().tryTake(self.worker)
        except RuntimeError:  # the worker ran and Qt deleted it; `finished` is on its way
            return
        if taken:  # what the worker emits when it is aborted, which `finished` handlers expect
            self.worker.quit()
            self.worker.aborted.emit()
            self.worker.finished.emit()
            self.worker._finished.emit(self.worker)  # out of superqt's worker set

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

    def _on_started(self) -> None:
        self.queued = False
        self.started.emit()

    def _on_snapshot(self, yielded) -> None:
        if self.done or self.worker.abort_requested:  # cancelled, or the viewer is closing
            return
        snapshot, self.fit = yielded
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
        self.queued = False
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
        self.result_layer = self._put_layer(self.name, image, metadata, self._display)
        spread = self.restoration.uncertainty
        if self._wants_uncertainty and spread is not None:
            high = float(np.nanmax(spread)) if np.isfinite(spread).any() else 0.0
            display = {
                "contrast_limits": (0.0, high if high > 0 else 1.0),
                "rgb": self.source.rgb,
                "blending": "translucent",
                "opacity": 0.7,
            }
            if not self.source.rgb:
                display["colormap"] = "inferno"
            self.uncertainty_layer = self._put_layer(
                f"{self.result_layer.name} uncertainty",
                spread,
                {
                    "napari_dip": {
                        "uncertainty_of": self.result_layer.name,
                        **metadata["napari_dip"],
                    }
                },
                display,
            )

    def _put_layer(self, name: str, data, metadata: dict, display: dict) -> Image:
        """Add an image layer over the input, or update the earlier one of that name."""
        previous = self._previous(name)
        if previous is None:
            return self.viewer.add_image(
                data, name=name, metadata=metadata, **self._placement, **display
            )
        previous.data = data
        for key, value in self._placement.items():
            setattr(previous, key, value)
        previous.metadata = metadata
        return previous

    def _previous(self, name: str) -> Image | None:
        """The earlier layer ``name`` of this input and task, which a new run replaces."""
        if self.new_layer or name not in self.viewer.layers:
            return None
        layer = self.viewer.layers[name]
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
    axes: str | None = None,
    channels: str = "joint",
    stack: str = "volume",
    noise: str = "gaussian",
    preset="default",
    max_iter: int | None = None,
    auto_stop: bool | None = None,
    warm_start: bool = True,
    memory_budget=None,
    plane=None,
    seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    keep_known: bool = True,
    every: int = 25,
    new_layer: bool = False,
    uncertainty: bool = False,
) -> LayerRestoration:
    """Restore an image layer of ``viewer`` in a background thread, with a live preview.

    Returns at once; call ``.wait()`` on the result to block until the result
    layer is there.  Invalid input raises ``ValueError``, ``TypeError`` (or
    ``MemoryError`` when even the smallest tile exceeds the memory budget)
    here, before anything is added to the viewer.

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Image
        Grey or RGB, 2D to 5D (see ``axes``); never modified.
    task : {"denoise", "inpaint", "super_resolve", "deconvolve"}
    mask : napari.layers.Labels or array_like, for "inpaint"
        Nonzero marks the pixels to fill; the image's axes without C (a YX
        mask applies to every plane and frame).
    factor, kernel : for "super_resolve"
        See ``napari_dip.Restoration``.
    psf : float, napari.layers.Image or array_like, for "deconvolve"
        A number is the sigma, in pixels, of a 2D Gaussian PSF (a stack is
        blurred plane by plane); a layer or an array holds the PSF itself.
    axes : str, optional
        The layer's axes, e.g. "YX", "ZYX", "CZYX", "TZCYX", with C last for
        an RGB layer; guessed with ``napari_dip.guess_axes`` from the shape
        and ``layer.axis_labels`` when None (the guess is recorded in the
        metadata).
    plane : tuple of int or "current", optional
        Restore one plane only: its indices along the layer's T and Z axes, in
        the layer's order, or "current" for the viewer's current position.
        The result keeps size-1 T and Z axes and sits on that plane.
    channels, stack, noise, preset, max_iter, auto_stop, warm_start, memory_budget, seed, device
        See ``napari_dip.Restoration``; ``preset`` may be a ``Recipe``.
    threads, keep_known
        See ``napari_dip.Restoration``: CPU threads of the fit (None adapts
        them to the machine's load, in the worker thread only), and for
        "inpaint" whether the pixels outside the mask are returned as measured.
    every : int
        Iterations between preview updates.
    new_layer : bool
        Add a new result layer instead of replacing this input and task's
        previous result.
    uncertainty : bool
        Also add ``Restoration.uncertainty`` (the spread of the ensemble's
        members, in the image's units) as a layer over the result, named
        "<result> uncertainty"; only presets with several members make one.
    """
    every = _check_every(every)
    arguments, settings, origin = _prepare(
        viewer,
        layer,
        task,
        mask=mask,
        factor=factor,
        kernel=kernel,
        psf=psf,
        axes=axes,
        channels=channels,
        stack=stack,
        noise=noise,
        preset=preset,
        max_iter=max_iter,
        auto_stop=auto_stop,
        warm_start=warm_start,
        memory_budget=memory_budget,
        plane=plane,
        seed=seed,
        device=device,
        threads=threads,
        keep_known=keep_known,
    )
    restoration = napari_dip.Restoration(**arguments)
    settings["every"] = every
    placement = result_placement(
        layer, restoration.info["factor"] or 1, axes=restoration.axes, origin=origin
    )
    return LayerRestoration(
        viewer,
        layer,
        restoration,
        every=every,
        new_layer=new_layer,
        settings=settings,
        placement=placement,
        uncertainty=_flag("uncertainty", uncertainty),
    )


def _prepare(
    viewer, layer, task, *, mask=None, factor=None, psf=None, axes=None, plane=None, **options
):
    """``restore_layer``'s checks, in the main thread: what to pass to ``Restoration``.

    Returns the ``Restoration`` keyword arguments, the settings for the
    result's metadata, and the index of the restored region's first pixel in
    the layer (None for the whole layer).  Cheap: the image is neither read nor copied.
    """
    if not isinstance(layer, Image):
        raise TypeError(f"layer must be a napari Image layer, got {type(layer).__name__}")
    if layer.multiscale:
        raise ValueError(f"layer {layer.name!r} is multiscale; pick a single-resolution image")
    data = layer.data
    settings = {"source": layer.name}
    if axes is None:
        axes, settings["axes_guess"] = napari_dip.guess_axes(
            data.shape, rgb=layer.rgb, axis_labels=layer.axis_labels
        )
    axes = check_axes(axes, data.ndim, shape=data.shape)
    if layer.rgb and axes[-1] != "C":
        raise ValueError(
            f"axes {axes!r}: the last axis of an RGB layer holds its colours; end the axes with C"
        )
    if task == "inpaint":
        if mask is None:
            raise ValueError(
                "inpainting needs a mask: a Labels layer, nonzero where pixels are missing"
            )
        if isinstance(mask, Labels):
            settings["mask_layer"] = mask.name
        mask = _data(mask)
    if task == "deconvolve":
        if isinstance(psf, numbers.Real) and not isinstance(psf, bool):
            settings["psf_sigma"] = float(psf)
            psf = napari_dip.gaussian_psf(float(psf))
        elif isinstance(psf, Layer):
            settings["psf_layer"] = psf.name
        psf = _data(psf)
    origin = None
    if plane is not None:
        where = _plane(viewer, layer, axes, plane)
        settings["plane"] = {axes[axis]: index for axis, index in where.items()}
        origin = tuple(where.get(axis, 0) for axis in range(layer.ndim))
        if task == "inpaint":
            mask = _mask_plane(np.asarray(mask), axes, data.shape, settings["plane"])
        data = data[tuple(_one(where.get(axis)) for axis in range(data.ndim))]
    arguments = {
        "task": task,
        "image": data,  # converted by Restoration: in a worker thread for estimates
        "mask": mask if task == "inpaint" else None,
        "factor": factor if task == "super_resolve" else None,
        "psf": psf if task == "deconvolve" else None,
        "axes": axes,
        **options,
    }
    return arguments, settings, origin


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
        indices = _current_indices(viewer, layer)
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


def _current_indices(viewer, layer: Image) -> list[int]:
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


def _mask_plane(mask: np.ndarray, axes: str, image_shape, plane: dict[str, int]) -> np.ndarray:
    """The part of an inpainting mask over one plane, keeping its axes (see ``canonical_mask``)."""
    canonical_mask(mask, axes, image_shape)  # errors name the whole layer's shape
    mask_axes = axes if mask.ndim == len(axes) else axes.replace("C", "")[-mask.ndim :]
    return mask[tuple(_one(plane.get(letter)) for letter in mask_axes)]


def _data(value):
    return np.asarray(value.data) if isinstance(value, Layer) else value
