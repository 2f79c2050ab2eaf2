"""The public, Qt-free API: numpy in, numpy out, in scikit-image's style."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .imaging.checks import as_channels_first, check_factor, check_mask, check_psf
from .imaging.intensity import Intensity

if TYPE_CHECKING:
    from .core.fit import Snapshot
    from .core.presets import Recipe

__all__ = ["TASKS", "Restoration", "deconvolve", "denoise", "inpaint", "super_resolve"]

TASKS = ("denoise", "inpaint", "super_resolve", "deconvolve")

Callback = Callable[["Snapshot"], Any]


class Restoration:
    """A restoration, validated up front, run step by step or to the end.

    Use it to follow a fit (``for snapshot in r.snapshots(every=50)``), to stop
    it from another thread (``r.stop()``), and to read ``r.result`` and
    ``r.info`` afterwards.  ``denoise``, ``inpaint``, ``super_resolve`` and
    ``deconvolve`` are shortcuts that build one and run it.

    Parameters
    ----------
    task : {"denoise", "inpaint", "super_resolve", "deconvolve"}
    image : array_like
        2D (YX) or 3D (ZYX) intensities, plus one channel axis if
        ``channel_axis`` is given.  Integer or float; never modified.
    mask : array_like, for "inpaint"
        Spatial shape of the image; nonzero marks missing pixels to fill.
    factor : int, for "super_resolve"
        Upscaling factor (>= 2) of the Y and X axes.
    kernel : {"lanczos2", "box"}, for "super_resolve"
        Low-pass filter of the forward model: the paper's Lanczos-2, or block
        averaging (binning).
    psf : array_like, for "deconvolve"
        Point spread function, 2D, or 3D for a ZYX stack (a 2D PSF blurs each
        plane); see ``gaussian_psf``.  Normalised to sum to one.
    channel_axis : int, optional
        Axis of ``image`` holding channels (e.g. -1 for RGB); channels are
        fitted jointly by one network.
    preset : str or Recipe
        ``"default"`` (fast, stops by itself), ``"paper"`` (the paper's recipe
        for the task) or a name from ``napari_dip.PRESETS``.
    max_iter : int, optional
        Iteration cap; the preset's when None.
    auto_stop : bool, optional
        Stop when the result stops improving (no ground truth needed); the
        preset's choice when None.
    seed : int, optional
        Fixes the network's initialisation and noise; the same seed gives the
        same result on the CPU.  Drawn at random (and reported in ``info``)
        when None.
    device : str
        ``"auto"`` (CUDA, then Apple MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.

    Notes
    -----
    Intensities: each channel is mapped linearly from its [min, max] (over the
    known pixels when inpainting) to [0, 1] for the network and back, so the
    result is float32 in the input's own units (uint8 levels, uint16 counts,
    float values), within the input channel's range for the sigmoid-output
    presets.
    """

    def __init__(
        self,
        task: str,
        image,
        *,
        mask=None,
        factor: int | None = None,
        kernel: str = "lanczos2",
        psf=None,
        channel_axis: int | None = None,
        preset: str | Recipe = "default",
        max_iter: int | None = None,
        auto_stop: bool | None = None,
        seed: int | None = None,
        device: str = "auto",
    ):
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        data = as_channels_first(image, channel_axis)
        spatial = data.shape[1:]
        missing = None
        if task == "inpaint":
            if mask is None:
                raise ValueError("inpaint needs a mask (nonzero = missing pixels to fill)")
            missing = check_mask(mask, spatial)
        if task == "super_resolve":
            factor = check_factor(factor)
        if task == "deconvolve":
            if psf is None:
                raise ValueError("deconvolve needs a psf (see napari_dip.gaussian_psf)")
            psf = check_psf(psf, spatial)
        if max_iter is not None and (
            isinstance(max_iter, bool)
            or not isinstance(max_iter, (int, np.integer))
            or max_iter < 1
        ):
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed must be an integer or None, got {seed!r}")

        import torch

        from .core import operators
        from .core.fit import Fit
        from .core.presets import resolve_preset

        recipe = resolve_preset(preset, task, factor)
        self.task = task
        self.recipe = recipe
        self.channel_axis = channel_axis
        self._input_ndim = np.ndim(image)
        self._intensity = Intensity(data, missing)
        target = self._intensity.normalise(data)
        out_shape = spatial
        if task == "inpaint":
            target[:, missing] = 0.0
            operator = operators.Mask(torch.from_numpy(~missing)[None, None])
        elif task == "super_resolve":
            operator = operators.Downsample(factor, kernel)
            out_shape = spatial[:-2] + (spatial[-2] * factor, spatial[-1] * factor)
        elif task == "deconvolve":
            operator = operators.Blur(torch.from_numpy(psf))
        else:
            operator = operators.Identity()
        self._fit = Fit(
            torch.from_numpy(target)[None],
            operator,
            recipe,
            out_shape,
            max_iter=int(max_iter or recipe.max_iter),
            auto_stop=recipe.auto_stop if auto_stop is None else bool(auto_stop),
            seed=None if seed is None else int(seed),
            device=device,
        )
        self._settings = {
            "factor": factor,
            "kernel": kernel if task == "super_resolve" else None,
            "psf_shape": None if psf is None else list(np.shape(psf)),
        }
        self.result: np.ndarray | None = None

    def _to_user(self, image: np.ndarray) -> np.ndarray:
        """``(C, *spatial)`` normalised -> the input's layout and units."""
        image = self._intensity.restore(image)
        if self.channel_axis is None:
            return image[0]
        return np.moveaxis(image, 0, self.channel_axis % self._input_ndim)

    def snapshots(self, every: int = 50) -> Iterator[Snapshot]:
        """Run the fit, yielding a ``Snapshot`` every ``every`` iterations.

        Snapshot images are in the input's layout and units.  The last
        snapshot has ``done=True``; ``result`` is then set.
        """
        for snapshot in self._fit.snapshots(every):
            snapshot = replace(
                snapshot,
                image=self._to_user(snapshot.image),
                smoothed=self._to_user(snapshot.smoothed),
            )
            if snapshot.done:
                self.result = self._to_user(self._fit.result)
            yield snapshot

    def run(self, callback: Callback | None = None, every: int = 50) -> np.ndarray:
        """Run to the end and return the result.

        ``callback(snapshot)`` is called every ``every`` iterations and at the
        end; returning True from it stops the fit (the best result so far is
        returned).
        """
        for snapshot in self.snapshots(every):
            if callback is not None and callback(snapshot) is True:
                self.stop()
        return self.result

    def stop(self) -> None:
        """Ask the fit to stop after the current iteration; safe from any thread."""
        self._fit.stop()

    @property
    def info(self) -> dict:
        """What was run and how it went: settings, seed, device, iterations, time."""
        fit = self._fit
        recipe = self.recipe
        return {
            "task": self.task,
            "preset": recipe.name,
            "recipe": {
                "lr": recipe.lr,
                "input_depth": recipe.input_depth,
                "input": recipe.input,
                "reg_noise_std": recipe.reg_noise_std,
                "ema": recipe.ema,
                "net": {
                    "down": list(recipe.net.down),
                    "up": list(recipe.net.up),
                    "skip": list(recipe.net.skip),
                    "upsample": recipe.net.upsample,
                    "output": recipe.net.output,
                },
            },
            **self._settings,
            "channel_axis": self.channel_axis,
            "max_iter": fit.max_iter,
            "auto_stop": fit.auto_stop,
            "iterations": fit.iteration,
            "stop_reason": fit.stop_reason,
            "backtracks": fit.backtracks,
            "seed": fit.seed,
            "device": str(fit.device),
            "wall_time_s": round(fit.elapsed, 3),
            "finished_at": fit.finished_at,
        }


_COMMON = """
    channel_axis : int, optional
        Axis holding channels (e.g. -1 for RGB); None for a single channel.
    preset : str, optional
        "default" (fast, stops by itself), "paper", or a name in ``PRESETS``.
    max_iter : int, optional
        Iteration cap (the preset's when None).
    auto_stop : bool, optional
        Stop when the estimate stops improving (the preset's choice when None).
    seed : int, optional
        Same seed, same result on the CPU; random when None.
    device : str, optional
        "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
    callback : callable, optional
        Called with a ``Snapshot`` every ``every`` iterations and at the end;
        return True to stop early and keep the best result so far.
    every : int, optional
        Iterations between callbacks.

    Returns
    -------
    restored : ndarray of float32
        In the input's layout and intensity units (see ``Restoration``).
"""


def _run(task, image, callback, every, **kwargs) -> np.ndarray:
    return Restoration(task, image, **kwargs).run(callback, every)


def denoise(
    image,
    *,
    channel_axis=None,
    preset="default",
    max_iter=None,
    auto_stop=None,
    seed=None,
    device="auto",
    callback=None,
    every=50,
) -> np.ndarray:
    return _run(
        "denoise",
        image,
        callback,
        every,
        channel_axis=channel_axis,
        preset=preset,
        max_iter=max_iter,
        auto_stop=auto_stop,
        seed=seed,
        device=device,
    )


def inpaint(
    image,
    mask,
    *,
    channel_axis=None,
    preset="default",
    max_iter=None,
    auto_stop=None,
    seed=None,
    device="auto",
    callback=None,
    every=50,
) -> np.ndarray:
    return _run(
        "inpaint",
        image,
        callback,
        every,
        mask=mask,
        channel_axis=channel_axis,
        preset=preset,
        max_iter=max_iter,
        auto_stop=auto_stop,
        seed=seed,
        device=device,
    )


def super_resolve(
    image,
    factor,
    *,
    kernel="lanczos2",
    channel_axis=None,
    preset="default",
    max_iter=None,
    auto_stop=None,
    seed=None,
    device="auto",
    callback=None,
    every=50,
) -> np.ndarray:
    return _run(
        "super_resolve",
        image,
        callback,
        every,
        factor=factor,
        kernel=kernel,
        channel_axis=channel_axis,
        preset=preset,
        max_iter=max_iter,
        auto_stop=auto_stop,
        seed=seed,
        device=device,
    )


def deconvolve(
    image,
    psf,
    *,
    channel_axis=None,
    preset="default",
    max_iter=None,
    auto_stop=None,
    seed=None,
    device="auto",
    callback=None,
    every=50,
) -> np.ndarray:
    return _run(
        "deconvolve",
        image,
        callback,
        every,
        psf=psf,
        channel_axis=channel_axis,
        preset=preset,
        max_iter=max_iter,
        auto_stop=auto_stop,
        seed=seed,
        device=device,
    )


denoise.__doc__ = f"""Remove noise with a Deep Image Prior.

    Parameters
    ----------
    image : array_like
        2D (YX) or 3D (ZYX) image, plus a channel axis if ``channel_axis`` is set.
{_COMMON}"""

inpaint.__doc__ = f"""Fill missing pixels with a Deep Image Prior.

    Parameters
    ----------
    image : array_like
        2D (YX) or 3D (ZYX) image, plus a channel axis if ``channel_axis`` is set.
    mask : array_like
        The image's spatial shape; nonzero marks a missing pixel to fill.
{_COMMON}"""

super_resolve.__doc__ = f"""Upscale Y and X by ``factor`` with a Deep Image Prior.

    Parameters
    ----------
    image : array_like
        2D (YX) or 3D (ZYX) low-resolution image, plus a channel axis if set.
    factor : int
        Upscaling factor, >= 2; the result has ``factor`` times the Y and X size.
    kernel : {{"lanczos2", "box"}}, optional
        Low-pass filter assumed before subsampling.
{_COMMON}"""

deconvolve.__doc__ = f"""Undo a known blur with a Deep Image Prior.

    Parameters
    ----------
    image : array_like
        2D (YX) or 3D (ZYX) blurred image, plus a channel axis if set.
    psf : array_like
        Point spread function (2D, or 3D for a stack); see ``gaussian_psf``.
{_COMMON}"""
