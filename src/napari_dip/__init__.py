"""Deep Image Prior restoration for microscopy images, with a napari plugin.

The Python API needs no Qt: ``denoise``, ``inpaint``, ``super_resolve`` and
``deconvolve`` take numpy arrays and return float32 arrays; ``Restoration``
runs the same fits step by step.  Torch is imported on first use, so importing
this package (and napari's plugin discovery) stays fast.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "Restoration": "._restoration",
    "Options": "._options",
    "TASKS": "._tasks",
    "Plan": "._plan",
    "RunEstimate": "._plan",
    "RunInfo": "._records",
    "StopReason": "._records",
    "rerun": "._api",
    "guess_axes": ".imaging.axes",
    "denoise": "._api",
    "inpaint": "._api",
    "super_resolve": "._api",
    "deconvolve": "._api",
    "gaussian_psf": ".imaging.psf",
    "PRESETS": ".core.presets",
    "Recipe": ".core.presets",
    "preset_names": ".core.presets",
    "resolve_preset": ".core.presets",
    "restore_layer": "._napari.layer_run",
    "NetSpec": ".core.nets",
    "Snapshot": ".core.fit",
    "available_devices": ".core.devices",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
