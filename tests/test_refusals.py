"""One table of refused options, run through every entry point that takes options.

``Options(...)``, ``Restoration``, the shortcut functions, the command line and
``restore_layer`` must refuse the same values with the same error: a new check, or a new
entry point, is one row or one test here.
"""

import inspect
import re
from dataclasses import fields
from typing import NamedTuple

import numpy as np
import pytest

import napari_dip
from napari_dip import Options


class Refusal(NamedTuple):
    options: dict
    error: type[Exception]
    match: str
    #: Whether ``Options`` itself refuses it, before any pixel is read.  The others (a preset's
    #: name, a device, axes) are refused once the run is planned for an image.
    by_options: bool = True


REFUSALS = [
    Refusal({"kernel": "bicubic"}, ValueError, "unknown kernel 'bicubic'.*'lanczos2', 'box'"),
    Refusal({"kernel": "cubic"}, ValueError, "kernel"),
    Refusal({"noise": "laplace"}, ValueError, "unknown noise"),
    Refusal({"offset": 100}, ValueError, "applies to noise='poisson' only"),
    Refusal({"noise": "poisson", "offset": "100"}, TypeError, "offset must be a number"),
    Refusal({"noise": "poisson", "offset": float("nan")}, ValueError, "offset must be finite"),
    Refusal({"channels": "split"}, ValueError, "unknown channels"),
    Refusal({"channels": "separate"}, ValueError, "unknown channels"),
    Refusal({"stack": "cube"}, ValueError, "unknown stack"),
    Refusal({"stack": "3d"}, ValueError, "unknown stack"),
    Refusal({"warm_start": 1}, TypeError, "warm_start must be True or False"),
    Refusal({"warm_start": "no"}, TypeError, "warm_start"),
    Refusal({"auto_stop": "yes"}, TypeError, "auto_stop must be True or False"),
    Refusal({"auto_stop": "no"}, TypeError, "auto_stop"),  # used to read as True
    Refusal({"max_iter": 0}, ValueError, "max_iter must be a positive integer"),
    Refusal({"seed": 1.5}, TypeError, "seed must be an integer"),
    Refusal({"seed": "x"}, TypeError, "seed"),
    Refusal({"seed": -1}, ValueError, "seed"),
    Refusal({"seed": 2**64}, ValueError, "seed"),
    Refusal({"seed": -(2**70)}, ValueError, "seed"),
    Refusal({"threads": 0}, ValueError, "threads must be a positive integer"),
    Refusal({"memory_budget": "lots"}, ValueError, "cannot read 'lots'"),
    Refusal({"memory_budget": 0.5}, ValueError, "memory_budget"),  # used to be 0 bytes
    Refusal({"output_dtype": "complex64"}, TypeError, "integer or float type"),
    Refusal({"output_dtype": "nonsense"}, TypeError, "output_dtype"),
    Refusal({"output_dtype": 0}, TypeError, "output_dtype"),
    Refusal({"output_dtype": bool}, TypeError, "output_dtype"),
    Refusal({"preset": 3}, TypeError, "preset must be a name or a Recipe"),
    Refusal({"factor": 1}, ValueError, "factor must be an integer from 2 to 16"),
    Refusal({"factor": 1000}, ValueError, "factor must be an integer from 2 to 16"),
    Refusal({"factor": 2.5}, TypeError, "factor"),
    Refusal({"axes": 5}, TypeError, "axes must be a string"),
    Refusal({"device": None}, TypeError, "device must be a string"),
    Refusal({"guide_channel": -1}, TypeError, "guide_channel"),
    Refusal({"preset": "nope"}, ValueError, "unknown preset 'nope'", by_options=False),
    Refusal({"device": "gpu0"}, ValueError, "unknown device", by_options=False),
    Refusal({"axes": "YQ"}, ValueError, "unknown letter", by_options=False),
    Refusal({"axes": "ZYX"}, ValueError, "names 3 axes", by_options=False),
    Refusal({"axes": "YX", "channel_axis": 0}, ValueError, "disagrees", by_options=False),
]


def cases(refusals):
    return [
        pytest.param(r, id=" ".join(f"{k}={v!r}" for k, v in r.options.items())) for r in refusals
    ]


class Unreadable:
    """An "image" whose pixels must not be read: any conversion to an array fails."""

    shape, dtype, ndim = (16, 16), np.dtype(np.float32), 2

    def __array__(self, *args, **kwargs):
        raise AssertionError("the pixels were read")


def image_for(refusal):
    """An image that must not be read when ``Options`` refuses the row, else a real one."""
    return Unreadable() if refusal.by_options else np.zeros((16, 16), np.float32)


@pytest.mark.parametrize("refusal", cases(r for r in REFUSALS if r.by_options))
def test_options_refuse(refusal):
    with pytest.raises(refusal.error, match=refusal.match):
        Options(**refusal.options)


@pytest.mark.parametrize("refusal", cases(REFUSALS))
def test_restoration_refuses(refusal):
    with pytest.raises(refusal.error, match=refusal.match):
        napari_dip.Restoration("denoise", image_for(refusal), **refusal.options)


#: Each shortcut with the data it needs besides the image.
SHORTCUTS = {
    napari_dip.denoise: {},
    napari_dip.inpaint: {"mask": np.eye(16, dtype=bool)},
    napari_dip.super_resolve: {"factor": 2},
    napari_dip.deconvolve: {"psf": np.ones((3, 3))},
}


def takers(refusal) -> list:
    """The shortcuts that take all the row's options; at least one does."""
    functions = [
        f for f in SHORTCUTS if set(refusal.options) <= set(inspect.signature(f).parameters)
    ]
    assert functions
    return functions


@pytest.mark.parametrize("refusal", cases(REFUSALS))
def test_the_shortcuts_refuse(refusal):
    """Each shortcut that takes the row's options refuses it (``factor`` is super_resolve's)."""
    for function in takers(refusal):
        with pytest.raises(refusal.error, match=refusal.match):
            function(image_for(refusal), **{**SHORTCUTS[function], **refusal.options})


#: What each subcommand needs besides the options, with ``folder``'s masks in ``masks/``.
NEEDS = {
    "denoise": [],
    "inpaint": ["--mask", "masks/{stem}.tif"],
    "super-resolve": ["--factor", "2"],
    "deconvolve": ["--psf-sigma", "1.5"],
}


OPTION_TYPES = {option.name: option.type for option in fields(Options)}


def typed(name: str, value) -> str | None:
    """``value`` as typed after the option's flag, or None where text cannot say it: an on/off
    flag takes no value, and a number typed for a text option (or text for a number option)
    is read as another value than the row's."""
    annotation = OPTION_TYPES[name]
    if annotation in (bool, bool | None) or not isinstance(value, str | int | float):
        return None
    reads_numbers = annotation in (int, float, int | None)
    is_number = not isinstance(value, str | bool)
    return str(value) if is_number == reads_numbers else None


def command_line(options: dict) -> list[str] | None:
    """The row's flags, or None where the command line cannot say it."""
    flags = []
    for name, value in options.items():
        text = typed(name, value)
        if text is None:
            return None
        flags += ["--" + name.replace("_", "-"), text]
    return flags


@pytest.mark.parametrize(
    "refusal", cases(r for r in REFUSALS if command_line(r.options) is not None)
)
def test_the_command_line_refuses(refusal, folder, capsys):
    """For each subcommand with the row's flags: a usage error (exit status 2) in the options'
    words, or argparse's naming the flag (a choice, a number).  What needs the image fails
    each file.  A dry run, so that a value let through is planned, not run."""
    import tifffile

    from napari_dip.batch.cli import main

    (folder / "masks").mkdir()
    for name in ("cell0", "cell1"):
        tifffile.imwrite(folder / "masks" / f"{name}.tif", np.eye(32, dtype=np.uint8))
    flags = command_line(refusal.options)
    for function in takers(refusal):
        command = function.__name__.replace("_", "-")
        needs = NEEDS[command] if "--factor" not in flags else []
        arguments = [command, str(folder / "cell*.tif"), *needs, "--dry-run", *flags]
        try:
            status = main(arguments)
        except SystemExit as exit_:  # argparse: a value outside the choices, or not a number
            assert exit_.code == 2 and f"argument {flags[0]}:" in capsys.readouterr().err
            continue
        out, err = capsys.readouterr()
        if refusal.by_options:
            assert status == 2 and re.search(refusal.match, err), (command, out, err)
        else:
            lines = out.splitlines()
            assert status == 0 and len(lines) == 2, (command, out, err)
            assert all(re.search("fails: .*" + refusal.match, line) for line in lines), lines


def test_restore_layer_refuses_before_any_fit_starts(viewer, monkeypatch):
    """Checked in the caller's thread: no worker, no preview, nothing added.  One viewer for
    all the rows, as a viewer each costs about a second."""
    from napari_dip._napari import layer_run

    started = []
    monkeypatch.setattr(layer_run, "fit_snapshots", lambda *args: started.append(args))
    image = viewer.add_image(np.zeros((16, 16), np.float32), name="cells")
    for refusal in REFUSALS:
        if "channel_axis" not in refusal.options:  # a layer has its axes: see the next test
            options = {"factor": 2, **refusal.options}
            with pytest.raises(refusal.error, match=refusal.match):
                layer_run.restore_layer(viewer, image, "super_resolve", **options)
    assert started == [] and [layer.name for layer in viewer.layers] == ["cells"]


def test_restore_layer_takes_no_channel_axis(viewer):
    """A layer has its axes: the one option ``restore_layer`` does not take."""
    from napari_dip._napari.layer_run import restore_layer

    image = viewer.add_image(np.zeros((16, 16), np.float32), name="cells")
    with pytest.raises(TypeError, match="unexpected keyword argument 'channel_axis'"):
        restore_layer(viewer, image, "denoise", channel_axis=-1)
