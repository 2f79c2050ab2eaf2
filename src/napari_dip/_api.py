"""The public, Qt-free API: numpy in, numpy out, in scikit-image's style.

``denoise``, ``inpaint``, ``super_resolve`` and ``deconvolve`` build a
``Restoration`` and run it; ``rerun`` runs one again from its record.  Their
signatures are written out (so editors and type checkers read them) and a
test holds them to the one definition of the options (``_options.Options``);
their parameter documentation is built from it.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ._options import (
    DATA_DOCS,
    REFERENCES,
    ChannelMode,
    Kernel,
    Noise,
    Options,
    StackMode,
    parameters_doc,
)
from ._records import RunInfo
from ._restoration import Restoration
from ._tasks import COMMON_OPTIONS, TASK_TABLE

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .core.fit import Snapshot
    from .core.presets import Recipe

__all__ = [
    "deconvolve",
    "denoise",
    "inpaint",
    "rerun",
    "super_resolve",
]

_RUN_DOC = """    callback : callable, optional
        Called with a ``Snapshot`` every ``every`` iterations and at the end;
        return True to stop early and keep the best result so far.
    every : int, optional
        Iterations between callbacks."""
_RETURNS = """    Returns
    -------
    restored : ndarray
        In the input's layout and intensity units, float32 (float64 for
        float64 and wide integer inputs) unless ``output_dtype`` says
        otherwise.  Super-resolution multiplies Y and X by ``factor``."""
_SEE_ALSO = """    See Also
    --------
    Restoration : the same run step by step, with snapshots and a stop.
    rerun : run a result's recorded settings again."""


def _run(task: str, arguments: dict) -> np.ndarray:
    """Run ``task`` with a shortcut's ``arguments`` (its ``locals()``)."""
    data = {name: arguments[name] for name in ("mask", "psf") if name in arguments}
    options = Options.from_arguments(arguments)
    restoration = Restoration.from_options(task, arguments["image"], options=options, **data)
    return restoration.run(arguments["callback"], arguments["every"])


def denoise(
    image: ArrayLike,
    *,
    guide: ArrayLike | None = None,
    guide_channel: int | None = None,
    noise: Noise = "gaussian",
    offset: float = 0.0,
    axes: str | None = None,
    channel_axis: int | None = None,
    channels: ChannelMode = "joint",
    stack: StackMode = "volume",
    preset: str | Recipe = "default",
    max_iter: int | None = None,
    auto_stop: bool | None = None,
    warm_start: bool = True,
    memory_budget: int | str | None = None,
    output_dtype: np.dtype | type | str | None = None,
    seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    callback: Callable[[Snapshot], object] | None = None,
    every: int = 50,
) -> np.ndarray:
    """Remove noise with a Deep Image Prior.

    Parameters and examples: ``help(napari_dip.denoise)`` (built from ``Options``).
    """
    return _run("denoise", locals())


def inpaint(
    image: ArrayLike,
    mask: ArrayLike,
    *,
    keep_known: bool = True,
    guide: ArrayLike | None = None,
    guide_channel: int | None = None,
    noise: Noise = "gaussian",
    offset: float = 0.0,
    axes: str | None = None,
    channel_axis: int | None = None,
    channels: ChannelMode = "joint",
    stack: StackMode = "volume",
    preset: str | Recipe = "default",
    max_iter: int | None = None,
    auto_stop: bool | None = None,
    warm_start: bool = True,
    memory_budget: int | str | None = None,
    output_dtype: np.dtype | type | str | None = None,
    seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    callback: Callable[[Snapshot], object] | None = None,
    every: int = 50,
) -> np.ndarray:
    """Fill missing pixels with a Deep Image Prior.

    Parameters and examples: ``help(napari_dip.inpaint)`` (built from ``Options``).
    """
    return _run("inpaint", locals())


def super_resolve(
    image: ArrayLike,
    factor: int,
    *,
    kernel: Kernel = "lanczos2",
    guide: ArrayLike | None = None,
    guide_channel: int | None = None,
    noise: Noise = "gaussian",
    offset: float = 0.0,
    axes: str | None = None,
    channel_axis: int | None = None,
    channels: ChannelMode = "joint",
    stack: StackMode = "volume",
    preset: str | Recipe = "default",
    max_iter: int | None = None,
    auto_stop: bool | None = None,
    warm_start: bool = True,
    memory_budget: int | str | None = None,
    output_dtype: np.dtype | type | str | None = None,
    seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    callback: Callable[[Snapshot], object] | None = None,
    every: int = 50,
) -> np.ndarray:
    """Upscale Y and X by ``factor`` with a Deep Image Prior.

    Parameters and examples: ``help(napari_dip.super_resolve)`` (built from ``Options``).
    """
    return _run("super_resolve", locals())


def deconvolve(
    image: ArrayLike,
    psf: ArrayLike,
    *,
    guide: ArrayLike | None = None,
    guide_channel: int | None = None,
    noise: Noise = "gaussian",
    offset: float = 0.0,
    axes: str | None = None,
    channel_axis: int | None = None,
    channels: ChannelMode = "joint",
    stack: StackMode = "volume",
    preset: str | Recipe = "default",
    max_iter: int | None = None,
    auto_stop: bool | None = None,
    warm_start: bool = True,
    memory_budget: int | str | None = None,
    output_dtype: np.dtype | type | str | None = None,
    seed: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    callback: Callable[[Snapshot], object] | None = None,
    every: int = 50,
) -> np.ndarray:
    """Undo a known blur with a Deep Image Prior.

    Parameters and examples: ``help(napari_dip.deconvolve)`` (built from ``Options``).
    """
    return _run("deconvolve", locals())


def rerun(
    info,
    image,
    *,
    mask=None,
    psf=None,
    guide=None,
    callback: Callable[[Snapshot], object] | None = None,
    every: int = 50,
) -> np.ndarray:
    """Run a restoration again from its record: the same settings, recipe and seed.

    Parameters
    ----------
    info : RunInfo, dict or napari layer
        ``Restoration.info``, its ``to_dict()`` (what a napari result layer
        keeps in ``metadata["napari_dip"]``), or the result layer itself.
    image : array_like
        The input that was restored (for a run of one plane of a layer, that
        plane, with its size-1 axes).
    mask, psf : array_like, optional
        The inpainting mask, or the deconvolution's PSF; a PSF recorded as a
        Gaussian's sigma (``psf_sigma``, as the widget records it) is rebuilt.
    guide : array_like, optional
        The guide image of a run that had one (``info.guide`` names it; a guide
        channel is recorded and taken from ``image`` again).
    callback, every
        As for ``denoise``.

    Returns
    -------
    restored : ndarray
        Bit for bit the recorded run's result on the CPU when it ran with a
        fixed ``threads`` count (adaptive threads may sum in another order).

    Examples
    --------
    >>> import numpy as np
    >>> import napari_dip
    >>> noisy = np.random.default_rng(0).poisson(50, (48, 48)).astype(np.uint16)
    >>> run = napari_dip.Restoration("denoise", noisy, max_iter=10, seed=1, threads=1)
    >>> restored = run.run()
    >>> again = napari_dip.rerun(run.info.to_dict(), noisy)
    >>> bool(np.array_equal(again, restored))
    True
    """
    record = getattr(info, "metadata", {}).get("napari_dip", info)
    if isinstance(record, dict):
        if psf is None and record.get("psf_sigma") is not None:
            from .imaging.psf import gaussian_psf

            psf = gaussian_psf(record["psf_sigma"])
        record = RunInfo.from_dict(record)
    if not isinstance(record, RunInfo):
        raise TypeError(f"info must be a RunInfo, a dict or a napari layer, got {info!r}")
    wanted = TASK_TABLE[record.task].data
    data = {name: value for name, value in (("mask", mask), ("psf", psf)) if name == wanted}
    options = record.options
    if record.guide is not None and options.guide_channel is None:
        if guide is None:
            raise ValueError(f"this run was guided by an {record.guide}: pass it as guide=")
        options = dataclasses.replace(options, guide=guide)
    elif guide is not None:
        raise ValueError("this run had no guide image: rerun it without guide=")
    return Restoration.from_options(record.task, image, options=options, **data).run(
        callback, every
    )


def _docstring(function: Callable, example: str) -> str:
    """``function``'s whole docstring: its summary line, then the sections built from
    the options' definition (so each option is documented once)."""
    summary = function.__doc__.splitlines()[0]
    spec = TASK_TABLE[function.__name__]
    options = spec.keyword_options + COMMON_OPTIONS
    classical = (
        f"""

    The default preset ends weighing a classical estimate in ({spec.classical})
    as far as pixels held out of the fit show it helps; the record says how much."""
        if spec.classical
        else ""
    )
    parameters = inspect.signature(function).parameters.values()
    data = "\n".join(DATA_DOCS[p.name] for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD)
    return f"""{summary}

    Fits an untrained convolutional network to the image through the task's
    forward model [1]_; the network's structure is the prior.  Every option is
    also a keyword of ``Restoration``.

    Parameters
    ----------
{data}
{parameters_doc(options)}
{_RUN_DOC}

{_RETURNS}

{_SEE_ALSO}

    Notes
    -----
    Intensities: each channel is mapped from its range to [0, 1] for the
    network and back (see docs/noise.md).  Frames, planes restored one by
    one, independent channels and tiles are fitted one after the other.{classical}

{REFERENCES}

    Examples
    --------
    >>> import numpy as np
    >>> import napari_dip
    >>> rng = np.random.default_rng(0)
    >>> image = rng.poisson(50, (48, 48)).astype(np.uint16)
{example}
    """


_EXAMPLES = {
    "denoise": """    >>> restored = napari_dip.denoise(image, max_iter=10, seed=0)
    >>> restored.shape, restored.dtype
    ((48, 48), dtype('float32'))""",
    "inpaint": """    >>> mask = np.zeros(image.shape, bool)
    >>> mask[20:28, 20:28] = True  # missing
    >>> filled = napari_dip.inpaint(image, mask, max_iter=10, seed=0)
    >>> bool((filled[~mask] == image[~mask]).all())  # measured pixels kept
    True""",
    "super_resolve": """    >>> napari_dip.super_resolve(image, 2, max_iter=10, seed=0).shape
    (96, 96)""",
    "deconvolve": """    >>> psf = napari_dip.gaussian_psf(1.5)
    >>> napari_dip.deconvolve(image, psf, max_iter=10, seed=0).shape
    (48, 48)""",
}

for _function in (denoise, inpaint, super_resolve, deconvolve):
    _task = _function.__name__
    _function.__doc__ = _docstring(_function, _EXAMPLES[_task])
