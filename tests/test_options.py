"""The options' one definition: signatures, docstrings and checks built from it."""

import inspect
import pydoc
import typing
from dataclasses import fields

import numpy as np
import pytest

import napari_dip
from napari_dip import Options
from napari_dip._options import Noise
from napari_dip._tasks import COMMON_OPTIONS, TASK_TABLE

SHORTCUTS = [
    napari_dip.denoise,
    napari_dip.inpaint,
    napari_dip.super_resolve,
    napari_dip.deconvolve,
]
#: Keywords that are not options: the data, and how to follow the run.
NOT_OPTIONS = {"mask", "psf", "callback", "every"}
#: ``restore_layer``'s keywords that are not options: what to do with the layers.
LAYER_SETTINGS = {"plane", "new_layer", "uncertainty"}
_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def hints(function) -> dict:
    """``function``'s annotations evaluated, the names they import for type checkers only
    supplied: a written-out type compares with the option's as the same type."""
    import napari
    from numpy.typing import ArrayLike

    from napari_dip import Recipe, Snapshot

    names = {"ArrayLike": ArrayLike, "Recipe": Recipe, "Snapshot": Snapshot, "napari": napari}
    return typing.get_type_hints(function, localns=names)


def restore_layer():
    from napari_dip._napari.layer_run import restore_layer

    return restore_layer


#: Every public function that takes options, the options it takes in their order, and
#: the options whose type it widens (a layer's guide may be an Image layer).
SIGNATURES = [
    *[(f, TASK_TABLE[f.__name__].keyword_options + COMMON_OPTIONS, {}) for f in SHORTCUTS],
    (napari_dip.Restoration.__init__, Options.names(), {}),
    (
        restore_layer,
        tuple(n for n in Options.names() if n != "channel_axis"),  # a layer has its axes
        {"guide": "Image | ArrayLike | None"},
    ),
]


@pytest.mark.parametrize(
    "function, names, widened", SIGNATURES, ids=lambda v: getattr(v, "__qualname__", "")
)
def test_written_out_signatures_are_the_options_definition(function, names, widened):
    """A field missing, renamed, reordered, or with another default or type fails here."""
    if function is restore_layer:
        function = restore_layer()
    definition = {f.name: f for f in fields(Options)}
    parameters = inspect.signature(function).parameters
    keywords = [n for n, p in parameters.items() if p.kind is _KEYWORD]
    assert [n for n in keywords if n not in NOT_OPTIONS | LAYER_SETTINGS] == list(names)
    written, defined = hints(function), hints(Options)
    for name in names:
        assert parameters[name].kind is _KEYWORD, name
        assert parameters[name].default == definition[name].default, name
        if name in widened:
            assert parameters[name].annotation == widened[name]
        else:
            assert written[name] == defined[name], name


def test_the_signature_check_sees_a_drifted_default_and_type():
    """The check above compares values and evaluated types, not the text it was built from."""

    def drifted(image, *, noise: Noise = "poisson", offset: int = 0):  # noqa: ARG001
        pass

    parameters = inspect.signature(drifted).parameters
    assert parameters["noise"].default != Options.noise
    assert hints(drifted)["offset"] != hints(Options)["offset"]
    assert hints(drifted)["noise"] == hints(Options)["noise"]


@pytest.mark.parametrize("function", SHORTCUTS, ids=lambda f: f.__name__)
def test_help_lists_every_parameter_with_its_type_default_and_documentation(function):
    text = pydoc.render_doc(function, renderer=pydoc.plaintext)
    assert "channels: 'ChannelMode' = 'joint'" in text  # its choices in the docstring:
    assert '\n    channels : {"joint", "independent"}\n' in function.__doc__
    assert "max_iter: 'int | None' = None" in text and "every: 'int' = 50" in text
    for name in inspect.signature(function).parameters:
        assert f"\n    {name} : " in function.__doc__, name
    for section in ("Parameters", "Returns", "References", "Examples"):
        assert f"\n    {section}\n    ---" in function.__doc__


def test_restoration_and_restore_layer_document_every_option():
    for name in Options.names():
        assert f"\n    {name} : " in napari_dip.Restoration.__doc__
        assert name == "channel_axis" or f"\n    {name} : " in restore_layer().__doc__


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="unexpected keyword argument 'nosie'"):
        napari_dip.denoise(np.zeros((16, 16)), nosie="poisson")
    with pytest.raises(TypeError, match="'kernel'"):  # super-resolution's option only
        napari_dip.denoise(np.zeros((16, 16)), kernel="box")


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
    assert run.info.device == "cpu" and run.info.options.device == "cpu"
