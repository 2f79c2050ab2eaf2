"""The options' one definition: signatures, docstrings and checks built from it."""

import inspect
import pydoc
from dataclasses import fields

import numpy as np
import pytest

import napari_dip
from napari_dip import Options
from napari_dip._api import COMMON_OPTIONS, TASK_OPTIONS

SHORTCUTS = [
    napari_dip.denoise,
    napari_dip.inpaint,
    napari_dip.super_resolve,
    napari_dip.deconvolve,
]
#: Parameters that are not options: the data, and how to follow the run.
NOT_OPTIONS = {"image", "mask", "factor", "psf", "callback", "every"}


class Unreadable:
    """An "image" whose pixels must not be read: any conversion to an array fails."""

    shape, dtype, ndim = (16, 16), np.dtype(np.float32), 2

    def __array__(self, *args, **kwargs):
        raise AssertionError("the pixels were read")


@pytest.mark.parametrize("function", SHORTCUTS, ids=lambda f: f.__name__)
def test_shortcut_signatures_are_the_options_definition(function):
    definition = {f.name: f for f in fields(Options)}
    parameters = inspect.signature(function).parameters
    options = [name for name in parameters if name not in NOT_OPTIONS]
    assert options == list(TASK_OPTIONS.get(function.__name__, ()) + COMMON_OPTIONS)
    for name in options:
        assert parameters[name].default == definition[name].default
        assert parameters[name].annotation == definition[name].type
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("function", SHORTCUTS, ids=lambda f: f.__name__)
def test_help_lists_every_parameter_with_its_type_default_and_documentation(function):
    text = pydoc.render_doc(function, renderer=pydoc.plaintext)
    assert "channels: Literal['joint', 'independent'] = 'joint'" in text
    assert "max_iter: int | None = None" in text and "every: int = 50" in text
    for name in inspect.signature(function).parameters:
        assert f"\n    {name} : " in function.__doc__, name
    for section in ("Parameters", "Returns", "References", "Examples"):
        assert f"\n    {section}\n    ---" in function.__doc__


def test_restoration_and_restore_layer_take_every_option():
    restoration = inspect.signature(napari_dip.Restoration).parameters
    assert set(Options.names()) <= set(restoration)
    for name in Options.names():
        assert f"\n    {name} : " in napari_dip.Restoration.__doc__
    from napari_dip._napari.layer_run import restore_layer

    layer = inspect.signature(restore_layer).parameters
    assert set(Options.names()) - set(layer) == {"channel_axis"}  # a layer has its axes


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="unexpected keyword argument 'nosie'"):
        napari_dip.denoise(np.zeros((16, 16)), nosie="poisson")
    with pytest.raises(TypeError, match="'kernel'"):  # super-resolution's option only
        napari_dip.denoise(np.zeros((16, 16)), kernel="box")


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"kernel": "bicubic"}, ValueError, "unknown kernel 'bicubic'"),
        ({"noise": "laplace"}, ValueError, "unknown noise"),
        ({"offset": 100}, ValueError, "applies to noise='poisson' only"),
        ({"noise": "poisson", "offset": "100"}, TypeError, "offset must be a number"),
        ({"noise": "poisson", "offset": float("nan")}, ValueError, "offset must be finite"),
        ({"channels": "split"}, ValueError, "unknown channels"),
        ({"stack": "cube"}, ValueError, "unknown stack"),
        ({"warm_start": 1}, TypeError, "warm_start must be True or False"),
        ({"auto_stop": "yes"}, TypeError, "auto_stop must be True or False"),
        ({"max_iter": 0}, ValueError, "max_iter must be a positive integer"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
        ({"threads": 0}, ValueError, "threads must be a positive integer"),
        ({"memory_budget": "lots"}, ValueError, "cannot read 'lots'"),
        ({"output_dtype": "complex64"}, TypeError, "integer or float type"),
        ({"preset": 3}, TypeError, "preset must be a name or a Recipe"),
        ({"factor": 1}, ValueError, "factor must be an integer >= 2"),
        ({"axes": 5}, TypeError, "axes must be a string"),
        ({"device": None}, TypeError, "device must be a string"),
    ],
)
def test_invalid_options_are_refused_before_the_image_is_read(options, error, match):
    with pytest.raises(error, match=match):
        Options(**options)
    with pytest.raises(error, match=match):
        napari_dip.Restoration("denoise", Unreadable(), **options)


def test_options_keep_their_values_and_give_them_back_as_keywords():
    options = Options(noise="poisson", seed=3, memory_budget="1GB")
    keywords = options.keywords()
    assert list(keywords) == list(Options.names())
    assert keywords["noise"] == "poisson" and keywords["seed"] == 3
    assert Options(**keywords) == options


def test_a_torch_device_is_taken_by_its_name_and_recorded_as_such():
    import torch

    assert Options(device=torch.device("cpu")).device == "cpu"
    image = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    run = napari_dip.Restoration("denoise", image, device=torch.device("cpu"), max_iter=2, seed=0)
    run.run()
    assert run.info.device == "cpu" and run.info.options()["device"] == "cpu"
