"""The public, Qt-free API: numpy in, numpy out, in scikit-image's style.

``denoise``, ``inpaint``, ``super_resolve`` and ``deconvolve`` build a
``Restoration`` and run it; ``rerun`` runs one again from its record.  Their
signatures and parameter documentation come from the one definition of the
options (``_options.Options``), so every option is listed, with its type and
default, by ``help()`` and ``inspect.signature``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ._options import DATA_DOCS, REFERENCES, option_parameter, parameters_doc
from ._records import RunInfo
from ._restoration import Restoration

if TYPE_CHECKING:
    from .core.fit import Snapshot

__all__ = [
    "deconvolve",
    "denoise",
    "inpaint",
    "rerun",
    "super_resolve",
]

#: Options every task takes, in the order the signatures list them.
COMMON_OPTIONS = (
    "guide",
    "guide_channel",
    "noise",
    "offset",
    "axes",
    "channel_axis",
    "channels",
    "stack",
    "preset",
    "max_iter",
    "auto_stop",
    "warm_start",
    "memory_budget",
    "output_dtype",
    "seed",
    "device",
    "threads",
)
#: Options of one task only.
TASK_OPTIONS = {"inpaint": ("keep_known",), "super_resolve": ("kernel",)}

_P = inspect.Parameter
_IMAGE = _P("image", _P.POSITIONAL_OR_KEYWORD, annotation="ArrayLike")
#: The data each task takes after the image, and how it is documented.
_DATA = {
    "denoise": [],
    "inpaint": [_P("mask", _P.POSITIONAL_OR_KEYWORD, annotation="ArrayLike")],
    "super_resolve": [_P("factor", _P.POSITIONAL_OR_KEYWORD, annotation=int)],
    "deconvolve": [_P("psf", _P.POSITIONAL_OR_KEYWORD, annotation="ArrayLike")],
}
_RUN_PARAMETERS = [
    _P("callback", _P.KEYWORD_ONLY, default=None, annotation="Callable[[Snapshot], Any] | None"),
    _P("every", _P.KEYWORD_ONLY, default=50, annotation=int),
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


def _run(task: str, function: Callable, *args, **kwargs) -> np.ndarray:
    """Call ``function``'s restoration with the arguments its signature binds."""
    arguments = function.__signature__.bind(*args, **kwargs)
    arguments.apply_defaults()
    values = dict(arguments.arguments)
    callback, every = values.pop("callback"), values.pop("every")
    data = {name: values.pop(name) for name in ("image", "mask", "psf") if name in values}
    return Restoration(task, **data, **values).run(callback, every)


def denoise(*args, **kwargs) -> np.ndarray:
    return _run("denoise", denoise, *args, **kwargs)


def inpaint(*args, **kwargs) -> np.ndarray:
    return _run("inpaint", inpaint, *args, **kwargs)


def super_resolve(*args, **kwargs) -> np.ndarray:
    return _run("super_resolve", super_resolve, *args, **kwargs)


def deconvolve(*args, **kwargs) -> np.ndarray:
    return _run("deconvolve", deconvolve, *args, **kwargs)


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
        ``Restoration.info``, its ``as_dict()`` (what a napari result layer
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
    >>> again = napari_dip.rerun(run.info.as_dict(), noisy)
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
    data = {"mask": mask} if record.task == "inpaint" else {}
    if record.task == "deconvolve":
        data["psf"] = psf
    if record.guide is not None and record.guide_channel is None:
        if guide is None:
            raise ValueError(f"this run was guided by an {record.guide}: pass it as guide=")
        data["guide"] = guide
    elif guide is not None:
        raise ValueError("this run had no guide image: rerun it without guide=")
    return Restoration(record.task, image, **data, **record.options()).run(callback, every)


def _signature(task: str) -> inspect.Signature:
    options = TASK_OPTIONS.get(task, ()) + COMMON_OPTIONS
    return inspect.Signature(
        [_IMAGE, *_DATA[task], *map(option_parameter, options), *_RUN_PARAMETERS],
        return_annotation=np.ndarray,
    )


def _docstring(task: str, summary: str, example: str) -> str:
    options = TASK_OPTIONS.get(task, ()) + COMMON_OPTIONS
    data = "\n".join(DATA_DOCS[p.name] for p in [_IMAGE, *_DATA[task]])
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
    one, independent channels and tiles are fitted one after the other.

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
_SUMMARIES = {
    "denoise": "Remove noise with a Deep Image Prior.",
    "inpaint": "Fill missing pixels with a Deep Image Prior.",
    "super_resolve": "Upscale Y and X by ``factor`` with a Deep Image Prior.",
    "deconvolve": "Undo a known blur with a Deep Image Prior.",
}

for _function in (denoise, inpaint, super_resolve, deconvolve):
    _task = _function.__name__
    _function.__signature__ = _signature(_task)
    _function.__doc__ = _docstring(_task, _SUMMARIES[_task], _EXAMPLES[_task])
