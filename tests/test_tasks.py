"""The task table (_tasks.py): one row per task, read by every front end."""

import pytest

import napari_dip
from napari_dip import Options, resolve_preset
from napari_dip._tasks import (
    COMMON_OPTIONS,
    OWN_OPTIONS,
    TASK_TABLE,
    TASKS,
    UNCERTAINTY_CALIBRATED,
    UNCERTAINTY_PREDICTED,
    UNCERTAINTY_SPREAD,
    task_spec,
)
from napari_dip.batch.cli import build_parser


def test_the_table_has_a_row_per_task_in_the_literal_s_order():
    assert tuple(TASK_TABLE) == TASKS == ("denoise", "inpaint", "super_resolve", "deconvolve")
    assert all(spec.name == name for name, spec in TASK_TABLE.items())


def test_a_task_s_options_are_options_and_every_option_has_its_place():
    names = set(Options.names())
    for spec in TASK_TABLE.values():
        assert set(spec.options) <= names and set(spec.required) <= set(spec.options)
        assert not set(spec.options) & set(COMMON_OPTIONS)
    assert set(COMMON_OPTIONS) | OWN_OPTIONS == names
    assert len({spec.result_suffix for spec in TASK_TABLE.values()}) == len(TASK_TABLE)


def test_each_task_has_its_shortcut_and_subcommand(capsys):
    for spec in TASK_TABLE.values():
        assert callable(getattr(napari_dip, spec.name))
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([spec.command, "--help"])
        assert exited.value.code == 0 and f"napari-dip {spec.command}" in capsys.readouterr().out


def test_what_a_task_needs_is_asked_for_by_name():
    with pytest.raises(ValueError, match="inpaint needs a mask"):
        task_spec("inpaint").check_data(None)
    with pytest.raises(ValueError, match="deconvolve needs a psf"):
        task_spec("deconvolve").check_data(None)
    task_spec("denoise").check_data(None)  # needs nothing beside the image
    with pytest.raises(ValueError, match="unknown task 'denoising'; choose one of 'denoise'"):
        task_spec("denoising")


def test_the_shortcuts_docs_name_the_classical_estimate_the_table_gives():
    for spec in TASK_TABLE.values():
        documented = (
            f"classical estimate in ({spec.classical})" in getattr(napari_dip, spec.name).__doc__
        )
        assert documented == (spec.classical is not None)


def test_each_run_names_the_kind_of_uncertainty_it_gives():
    def kind(task, preset, auto_stop=True):
        return task_spec(task).uncertainty(resolve_preset(preset, task), auto_stop)

    assert kind("denoise", "default") == kind("denoise", "quality") == UNCERTAINTY_PREDICTED
    assert kind("denoise", "fast") is None and kind("denoise", "default", False) is None
    assert kind("denoise", "quality", False) == UNCERTAINTY_SPREAD  # members, no fusion
    assert kind("inpaint", "default") == UNCERTAINTY_CALIBRATED
    assert kind("super_resolve", "quality") == kind("deconvolve", "quality") == UNCERTAINTY_SPREAD
    assert kind("super_resolve", "default") is None and kind("deconvolve", "default") is None
