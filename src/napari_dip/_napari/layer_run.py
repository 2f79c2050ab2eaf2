"""Restore napari layers in a thread worker: the run behind the widget, usable from scripts.

``restore_layer`` checks its input from the layer's shapes and options,
starts a napari ``GeneratorWorker`` and returns a ``LayerRestoration`` at
once: the worker builds the ``napari_dip.Restoration`` (reading the pixels,
choosing the tiles) and runs it, so that nothing which scales with the image
runs in the GUI thread.  While the fit runs, a preview layer follows it and a
napari progress bar counts iterations; at the end the preview layer becomes
the result layer (or the previous result of the same input and task shows
the preview and is then replaced: napari pauses for a garbage collection each
time a layer is removed).  ``LayerRestoration.wait()`` blocks, keeping the
viewer responsive, until then.

Only plain values go into the worker thread; layers are read and written in
the main thread, from its signals.
The layer's axes (``"ZYX"``, ``"TZCYX"``, ...) are guessed from its shape and
axis labels unless given; one plane (or frame) can be restored on its own, its
result landing on that plane.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Literal

import numpy as np
from napari.layers import Image, Labels
from napari.qt.threading import create_worker
from napari.utils import progress
from napari.utils.notifications import notification_manager
from psygnal import Signal
from qtpy.QtWidgets import QApplication

from .._options import (
    ChannelMode,
    Kernel,
    Noise,
    Options,
    StackMode,
    check_every,
    check_flag,
    parameters_doc,
)
from .._restoration import Restoration
from .._tasks import Task, task_spec

# PyTorch and the modules a plan's checks use (a second or two, once), imported
# with this module: starting a run then imports nothing in the GUI thread.
from ..core import estimate, fit, presets  # noqa: F401
from .layer_input import read_layer
from .placement import result_placement
from .worker import (
    RUNNING,
    FitWorker,
    PendingRestoration,
    end_unstarted,
    fit_pool,
    fit_snapshots,
)

if TYPE_CHECKING:
    import napari
    from numpy.typing import ArrayLike

    from ..core.presets import Recipe

__all__ = ["LayerRestoration", "restore_layer", "result_placement", "run_layer"]

#: The options a layer's restoration takes: all but ``channel_axis`` (a layer has ``axes``).
LAYER_OPTIONS = tuple(name for name in Options.names() if name != "channel_axis")


class LayerRestoration:
    """One restoration of a napari image layer, running in a thread worker.

    Created (and started) by ``restore_layer``.  ``stop()`` ends the fit early
    and keeps the best result so far; ``cancel()`` ends it without a result;
    ``wait()`` blocks until the run ends and returns the result layer.

    Attributes
    ----------
    task : str
    restoration : napari_dip.Restoration or None
        The fit, built in the worker thread when the run starts (None until
        then, and when building it failed); its ``info`` ends up in the
        result layer's metadata.
    worker : superqt.utils.GeneratorWorker
        Made by ``napari.qt.threading.create_worker`` (so napari lists it as a task).
    source : napari.layers.Image
        The input layer (never modified).
    preview_layer, result_layer : napari.layers.Image or None
        The preview becomes the result.  A run that replaces an earlier
        result shows its preview in that layer, and puts the earlier result
        back if it fails or is cancelled.
    uncertainty_layer : napari.layers.Image or None
        ``Restoration.uncertainty``, placed over the result, when asked for and
        the run gives one.
    fit : int
        The number, from 1, of the fit the last snapshot came from; a run has
        ``restoration.plan.fits`` fits (frames, planes, channels, tiles).
    error : Exception or None
        Why the run failed, if it did.
    done : bool
        True once the worker has finished (result, error or cancel).
    queued : bool
        True while the run waits for a free thread: as many runs as the
        machine has cores (at least two) run at once, the others wait for one
        of them to end.

    Signals (emitted in the main thread): ``started()`` when the fit's thread
    starts; ``planned(Restoration)`` once the worker has built it;
    ``snapshot(Snapshot)`` after each preview update and for the final
    snapshot; ``finished()`` at the end.
    """

    started = Signal()
    planned = Signal(object)
    snapshot = Signal(object)
    finished = Signal()

    def __init__(
        self,
        viewer,
        source: Image,
        task: str,
        pending: PendingRestoration,
        *,
        every: int,
        new_layer: bool,
        settings: dict,
        placement: dict,
        uncertainty: bool = False,
    ):
        self.viewer = viewer
        self.source = source
        self.task = task
        self.restoration: Restoration | None = None
        self._pending = pending
        self.new_layer = new_layer
        self.name = f"{source.name} {task_spec(task).result_suffix}"
        self.preview_layer: Image | None = None
        #: The earlier result the preview is shown in: its data, metadata and placement.
        self._replaced: tuple | None = None
        self.result_layer: Image | None = None
        self.uncertainty_layer: Image | None = None
        self._wants_uncertainty = uncertainty
        self.error: Exception | None = None
        self.done = False
        self.fit = 1
        self._settings = settings
        self._placement = placement
        self._display = {
            "contrast_limits": source.contrast_limits,
            "gamma": source.gamma,
            "rgb": source.rgb,
        }
        if not source.rgb:
            self._display["colormap"] = source.colormap
        # Indeterminate until the plan says how many fits there are.
        self._progress = progress(total=0, desc=f"Deep Image Prior: {self.name}")
        self.worker = create_worker(
            fit_snapshots, pending, every, _worker_class=FitWorker, _ignore_errors=True
        )
        self.worker.yielded.connect(self._on_yielded)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.worker.started.connect(self._on_started)
        RUNNING.add(self)
        pool = fit_pool()
        self.queued = pool.activeThreadCount() >= pool.maxThreadCount()
        self.worker.start()

    def stop(self) -> None:
        """End the fit within one iteration; the best result so far becomes the result layer.

        A run still waiting for a thread ends at once, without a result layer.
        """
        self._pending.stop()
        self._unqueue()

    def cancel(self) -> None:
        """End the fit without a result layer, and remove the preview."""
        if not self.done:
            self.worker.quit()
            self._unqueue()
            self._drop_preview()

    def _unqueue(self) -> None:
        """End a run still waiting for a thread: out of the queue, finished without a result."""
        if self.done or not self.queued:
            return
        try:
            taken = fit_pool().tryTake(self.worker)
        except RuntimeError:  # the worker ran and Qt deleted it; `finished` is on its way
            return
        if taken:
            end_unstarted(self.worker)

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

    def _on_yielded(self, item) -> None:
        if isinstance(item, Restoration):
            self._on_planned(item)
        else:
            self._on_snapshot(item)

    def _on_planned(self, restoration: Restoration) -> None:
        self.restoration = restoration
        # The snapshots' max_iter: the cap of all fits together.
        self._progress.total = restoration.plan.fits * restoration.plan.max_iter
        self.planned.emit(restoration)

    def _on_snapshot(self, snapshot) -> None:
        if self.done or self.worker.abort_requested:  # cancelled, or the viewer is closing
            return
        self.fit = max(1, snapshot.fit)
        if not snapshot.done:  # the result layer comes with `finished`, once the thread is done
            self._show_preview(snapshot.smoothed)
        self.snapshot.emit(snapshot)
        # Last: napari's progress bar widget processes pending Qt events (`finished` among them).
        self._progress.update(snapshot.iteration - self._progress.n)

    def _on_error(self, error: Exception) -> None:
        self.error = error
        self._drop_preview()
        notification_manager.receive_error(type(error), error, error.__traceback__)

    def _on_finished(self) -> None:
        self.done = True
        self.queued = False
        if self.error is None and not self.worker.abort_requested:
            self._show_result()
        self._progress.close()
        RUNNING.discard(self)
        self.finished.emit()

    def _show_preview(self, image) -> None:
        if self.preview_layer is None:
            previous = self._previous(self.name)
            if previous is None:
                self.preview_layer = self.viewer.add_image(
                    image, name=f"{self.name} (preview)", **self._placement, **self._display
                )
                return
            placement = {key: getattr(previous, key) for key in self._placement}
            self._replaced = (previous.data, previous.metadata, placement)
            self.preview_layer = previous
            for key, value in self._placement.items():
                setattr(previous, key, value)
        self.preview_layer.data = image

    def _show_result(self) -> None:
        image = self.restoration.result
        info = self.restoration.info
        python = info.python(psf_sigma=self._settings.get("psf_sigma"), source=self._described())
        metadata = {"napari_dip": {**info.to_dict(), **self._settings, "python": python}}
        preview, self.preview_layer, self._replaced = self.preview_layer, None, None
        if preview is not None and preview not in self.viewer.layers:
            preview = None  # the user removed it
        self.result_layer = self._put_layer(self.name, image, metadata, self._display, preview)
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

    def _described(self) -> str:
        """The input, for the comment of the result's Python."""
        plane = self._settings.get("plane")
        where = (
            "" if plane is None else ", the plane " + " ".join(f"{a}={i}" for a, i in plane.items())
        )
        guide = self._settings.get("guide_layer")
        guided = "" if guide is None else f"; guide: the data of layer {guide!r}"
        return f"the data of layer {self.source.name!r}{where}{guided}"

    def _put_layer(
        self, name: str, data, metadata: dict, display: dict, layer: Image | None = None
    ) -> Image:
        """Put ``data`` in ``layer`` (the preview), in the earlier layer ``name`` of this input
        and task, or in a new layer over the input."""
        if layer is None:
            layer = self._previous(name)
        if layer is None:
            return self.viewer.add_image(
                data, name=name, metadata=metadata, **self._placement, **display
            )
        layer.data = data
        for key, value in self._placement.items():
            setattr(layer, key, value)
        layer.metadata = metadata
        layer.name = name  # made unique by napari ("name [1]") when it is a new layer's
        return layer

    def _previous(self, name: str) -> Image | None:
        """The earlier layer ``name`` of this input and task, which a new run replaces."""
        if self.new_layer or name not in self.viewer.layers:
            return None
        layer = self.viewer.layers[name]
        mine = isinstance(layer, Image) and "napari_dip" in layer.metadata
        return layer if mine and layer.rgb == self.source.rgb else None

    def _drop_preview(self) -> None:
        """Remove the preview layer, or put back the earlier result it was shown in."""
        layer, self.preview_layer = self.preview_layer, None
        if layer is None or layer not in self.viewer.layers:
            return
        if self._replaced is None:
            self.viewer.layers.remove(layer)
            return
        (layer.data, layer.metadata, placement), self._replaced = self._replaced, None
        for key, value in placement.items():
            setattr(layer, key, value)


def run_layer(
    viewer,
    layer,
    task: str,
    options: Options,
    *,
    mask=None,
    psf=None,
    plane=None,
    guide=None,
    every: int = 25,
    new_layer: bool = False,
    uncertainty: bool = False,
) -> LayerRestoration:
    """``restore_layer`` with its options already built (the widget's way in)."""
    every = check_every(every)
    uncertainty = check_flag("uncertainty", uncertainty)
    new_layer = check_flag("new_layer", new_layer)
    source = read_layer(viewer, layer, task, options, mask=mask, psf=psf, plane=plane, guide=guide)
    source = source.copied()
    checked = source.check(task)  # in the GUI thread; the worker adds the tiles and pixels
    placement = result_placement(layer, checked.factor, axes=checked.axes, origin=source.origin)
    build = functools.partial(Restoration.from_checked, checked, source.image, mask=source.mask)
    return LayerRestoration(
        viewer,
        layer,
        task,
        PendingRestoration(build),
        every=every,
        new_layer=new_layer,
        settings={**source.settings, "every": every},
        placement=placement,
        uncertainty=uncertainty,
    )


def restore_layer(
    viewer: napari.Viewer,
    layer: Image,
    task: Task,
    *,
    mask: Labels | ArrayLike | None = None,
    psf: float | Image | ArrayLike | None = None,
    plane: tuple[int, ...] | Literal["current"] | None = None,
    every: int = 25,
    new_layer: bool = False,
    uncertainty: bool = False,
    axes: str | None = None,
    channels: ChannelMode = "joint",
    stack: StackMode = "volume",
    noise: Noise = "gaussian",
    offset: float = 0.0,
    factor: int | None = None,
    kernel: Kernel = "lanczos2",
    keep_known: bool = True,
    guide: Image | ArrayLike | None = None,
    guide_channel: int | None = None,
    preset: str | Recipe = "default",
    max_iter: int | None = None,
    auto_stop: bool | None = None,
    warm_start: bool = True,
    memory_budget: int | str | None = None,
    output_dtype: np.dtype | type | str | None = None,
    seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> LayerRestoration:
    """Restore an image layer of ``viewer`` in a background thread, with a live preview.

    Parameters: ``help(napari_dip.restore_layer)`` (built from ``Options``).
    """
    options = Options.from_arguments(locals(), exclude=("guide",))  # a guide layer is read below
    return run_layer(
        viewer,
        layer,
        task,
        options,
        mask=mask,
        psf=psf,
        plane=plane,
        guide=guide,
        every=every,
        new_layer=new_layer,
        uncertainty=uncertainty,
    )


restore_layer.__doc__ = f"""Restore an image layer of ``viewer`` in a background thread, with a live preview.

    Returns at once; call ``.wait()`` on the result to block until the result
    layer is there.  Invalid input raises ``ValueError`` or ``TypeError``
    here, before anything is added to the viewer or any fit starts: the
    checks read the layer's shape, dtype and the options, not its pixels.
    What needs the pixels or the memory model, a NaN in the image or a
    ``MemoryError`` when even the smallest tile exceeds the memory budget,
    fails the run in its thread: a notification says why, ``.error`` holds
    it and ``.wait()`` raises it; nothing is added to the viewer.

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Image
        Grey or RGB, 2D to 5D (see ``axes``); never modified.
    task : {{"denoise", "inpaint", "super_resolve", "deconvolve"}}
    mask : napari.layers.Labels or array_like, for "inpaint"
        Nonzero marks the pixels to fill; the image's axes without C (a YX
        mask applies to every plane and frame).
    psf : float, napari.layers.Image or array_like, for "deconvolve"
        A number is the sigma, in pixels, of a 2D Gaussian PSF (a stack is
        blurred plane by plane); a layer or an array holds the PSF itself.
    plane : tuple of int or "current", optional
        Restore one plane only: its indices along the layer's T and Z axes, in
        the layer's order, or "current" for the viewer's current position.
        The result keeps size-1 T and Z axes and sits on that plane.  A guide
        with the layer's T and Z axes (as many axes, the same sizes along
        them) guides it with the same plane of its own.
    every : int
        Iterations between preview updates.
    new_layer : bool
        Add a new result layer instead of replacing this input and task's
        previous result.
    uncertainty : bool
        Also add ``Restoration.uncertainty`` (in the image's units: a denoising's
        expected error predicted by its fusion, an inpainting's calibrated on
        held-out holes, or the spread of an ensemble's members) as a layer over the
        result, named "<result> uncertainty"; the default denoising, presets with
        several members and inpainting with the automatic stop make one.
{parameters_doc(LAYER_OPTIONS)}

    Notes
    -----
    The layer's axes are guessed with ``napari_dip.guess_axes`` from its shape
    and ``axis_labels`` when ``axes`` is None (the guess is recorded in the
    metadata).  With ``threads=None`` the fit adapts its threads in the worker
    thread only.  The result layer's ``metadata["napari_dip"]`` holds the
    run's record (``RunInfo.to_dict()``) and this call's settings;
    ``napari_dip.rerun`` runs it again.  ``guide`` may be an Image layer too:
    its data is copied here (the layer is never modified), and the settings
    name it (``guide_layer``).

    Examples
    --------
    In a script or a notebook with an open viewer (not run as a doctest: it
    needs a window):

    >>> import napari  # doctest: +SKIP
    >>> from napari_dip import restore_layer
    >>> viewer = napari.Viewer()  # doctest: +SKIP
    >>> (image,) = viewer.open_sample("napari-dip", "noisy_cells")  # doctest: +SKIP
    >>> run = restore_layer(viewer, image, "denoise", seed=0)  # doctest: +SKIP
    >>> result = run.wait()  # doctest: +SKIP
    >>> result.metadata["napari_dip"]["seed"]  # doctest: +SKIP
    0
    """
