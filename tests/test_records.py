"""Run records: complete, JSON-ready, and enough to run a result again bit for bit."""

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import napari_dip
from napari_dip import NetSpec, Recipe, RunInfo, StopReason

CUSTOM = Recipe(
    name="custom",
    description="not a preset: only the record knows it",
    net=NetSpec(down=(8, 8), up=(8, 8), skip=(2, 2), upsample="nearest"),
    input_depth=4,
    lr=0.02,
    reg_noise_std=0.05,
    members=2,
    flips=True,
    max_iter=25,
)


def noisy(shape=(24, 24), seed=0):
    return np.random.default_rng(seed).poisson(40, shape).astype(np.uint16)


def test_stop_reasons_are_shared_values_with_descriptions():
    assert [r.value for r in StopReason] == ["max_iter", "auto", "stopped"]
    assert StopReason("auto") is StopReason.AUTO and StopReason.AUTO == "auto"
    assert StopReason.MAX_ITER.description == "iteration cap reached"


def test_info_before_and_after_a_run():
    run = napari_dip.Restoration("denoise", noisy(), preset=CUSTOM, seed=4, threads=1)
    before = run.info
    assert before.stop_reason is None and before.iterations == 0 and before.seed == 4
    run.run()
    after = run.info
    assert after.stop_reason is StopReason.MAX_ITER and after.iterations == 25
    assert after.fit_iterations == (25,) and after.version == napari_dip.__version__
    assert after.recipe["net"]["upsample"] == "nearest" and after.recipe["lr"] == 0.02


def test_record_round_trips_through_json():
    run = napari_dip.Restoration("super_resolve", noisy(), factor=2, preset=CUSTOM, seed=1)
    run.run()
    record = json.loads(json.dumps(run.info.to_dict()))
    assert record["stop_reason"] == "max_iter" and record["fit_iterations"] == [25]
    assert RunInfo.from_dict({**record, "source": "a layer's own setting"}) == run.info
    del record["offset"]  # a record from before the option: zero photons read as 0
    assert RunInfo.from_dict(record).offset == 0.0


def test_the_record_holds_the_options_as_resolved_and_they_rerun_the_run():
    image = noisy()
    run = napari_dip.Restoration("inpaint", image, mask=image > 60, max_iter=8, seed=2, threads=1)
    result = run.run()
    options = run.info.options
    assert isinstance(options, napari_dip.Options)
    assert (options.axes, options.seed, options.max_iter) == ("YX", 2, 8)
    assert options.preset == run.recipe and options.memory_budget == run.plan.budget_bytes
    assert options.factor is None and options.kernel == napari_dip.Options.kernel  # unused
    again = napari_dip.Restoration.from_options("inpaint", image, options=options, mask=image > 60)
    assert np.array_equal(again.run(), result)
    # the options as the record has them, under their names (a task's own: None in others')
    assert run.info.memory_budget_bytes == options.memory_budget
    assert run.info.kernel is None and run.info.factor is None and run.info.keep_known is True
    with pytest.raises(AttributeError, match="no attribute 'nosie'"):
        _ = run.info.nosie


@pytest.mark.parametrize(
    "task, data, options",
    [
        ("denoise", {}, {"preset": CUSTOM}),
        ("denoise", {}, {"noise": "poisson", "max_iter": 12}),
        ("denoise", {}, {"noise": "poisson", "offset": 10.0, "max_iter": 12}),
        ("inpaint", {"mask": np.eye(24, dtype=bool)}, {"keep_known": False, "max_iter": 12}),
        ("super_resolve", {"factor": 2}, {"kernel": "box", "max_iter": 12}),
        ("deconvolve", {"psf": napari_dip.gaussian_psf(1.0)}, {"max_iter": 12}),
    ],
)
def test_rerun_reproduces_a_result_from_its_json_record(task, data, options):
    image = noisy()
    data = dict(data)
    factor = data.pop("factor", None)
    run = napari_dip.Restoration(
        task, image, **data, **options, factor=factor, seed=9, threads=1, device="cpu"
    )
    result = run.run()
    record = json.loads(json.dumps(run.info.to_dict()))
    again = napari_dip.rerun(record, image, **data)
    assert again.dtype == result.dtype and np.array_equal(again, result)


def test_rerun_rebuilds_a_gaussian_psf_from_its_sigma_and_refuses_other_things():
    image = noisy()
    run = napari_dip.Restoration(
        "deconvolve", image, psf=napari_dip.gaussian_psf(1.5), max_iter=8, seed=2, threads=1
    )
    result = run.run()
    record = {**run.info.to_dict(), "psf_sigma": 1.5}
    assert np.array_equal(napari_dip.rerun(record, image), result)
    with pytest.raises(TypeError, match="info must be a RunInfo"):
        napari_dip.rerun("denoise", image)


#: Records napari-dip 0.1.0 made (``Restoration.info``, a dict then, with a layer's settings):
#: max_iter=6, seed=3, threads=1 on the CPU, of the 24x24 image ``noisy()`` (mask, PSF below).
RECORDS_0_1 = json.loads((Path(__file__).parent / "data" / "records_0.1.json").read_text())
DATA_0_1 = {
    "denoise": {},
    "inpaint": {"mask": np.eye(24, dtype=bool)},
    "super_resolve": {},
    "deconvolve": {},  # its PSF is recorded as a Gaussian's sigma
}


def test_every_option_is_recorded_under_its_name():
    """A new option needs a field of RunInfo (RunInfo.of fails without one); the memory
    budget is recorded in bytes (``preset`` holds the recipe's name, ``guide`` describes
    the image)."""
    fields = {f.name for f in dataclasses.fields(RunInfo)}
    assert set(napari_dip.Options.names()) - fields == {"memory_budget"}


def test_info_reads_by_key_as_in_0_1_with_a_deprecation_warning():
    run = napari_dip.Restoration("denoise", noisy(), preset=CUSTOM, seed=4, threads=1)
    run.run()
    info = run.info
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert info and info.iterations == 25  # attributes and truth: no warning
    with pytest.deprecated_call(match=r"info\['iterations'\].*use info.iterations"):
        assert info["iterations"] == info.iterations == 25
    with pytest.deprecated_call():
        assert info["stop_reason"] == "max_iter" and info["fit_iterations"] == [25]
        assert info.get("seed") == 4 and info.get("nope") is None and "threads_used" in info
        assert dict(info) == info.to_dict() and list(info) == list(info.to_dict())
        assert len(info) == len(info.to_dict()) and info.as_dict() == info.to_dict()
        with pytest.raises(KeyError, match="no such field .did you mean 'iterations'"):
            info["iteration"]


@pytest.mark.parametrize("task", list(RECORDS_0_1))
def test_records_of_0_1_load_and_rerun_with_their_settings(task):
    record = RECORDS_0_1[task]
    info = RunInfo.from_dict(record)
    assert info.task == task and info.seed == 3 and info.version == ""
    assert info.recipe["name"] == record["preset"]
    assert info.stop_reason.value == record["stop_reason"]
    with pytest.deprecated_call():  # read by key, as 0.1's dict was
        assert [info[key] for key in ("seed", "iterations", "stop_reason", "threads")] == [
            record[key] for key in ("seed", "iterations", "stop_reason", "threads")
        ]
    image = noisy()
    again = napari_dip.rerun(record, image, **DATA_0_1[task])
    factor = 2 if task == "super_resolve" else 1
    assert again.shape == (24 * factor, 24 * factor) and np.isfinite(again).all()
    # The method changed since 0.1, so its numbers are not reproduced; the run is, per seed:
    assert np.array_equal(napari_dip.rerun(record, image, **DATA_0_1[task]), again)


def test_a_0_1_result_layer_reruns():
    napari = pytest.importorskip("napari")
    layer = napari.layers.Image(np.zeros((24, 24)), metadata={"napari_dip": RECORDS_0_1["denoise"]})
    assert napari_dip.rerun(layer, noisy()).shape == (24, 24)


@pytest.mark.parametrize("native", [False, True])
def test_the_record_says_whether_the_networks_ran_in_bfloat16(monkeypatch, native):
    monkeypatch.setattr("napari_dip.core.fit.native_bfloat16", lambda device: native)
    halved = dataclasses.replace(CUSTOM, bfloat16=True, max_iter=3)
    run = napari_dip.Restoration("denoise", noisy(), preset=halved, seed=0, threads=1)
    run.run()
    assert run.info.precision == ("bfloat16" if native else "float32")
    assert run.info.recipe["bfloat16"] is True  # asked for, whatever the device had
    assert RunInfo.from_dict(json.loads(json.dumps(run.info.to_dict()))) == run.info
