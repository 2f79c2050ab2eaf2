"""Guided restoration: a guide image or channel as the networks' input, kept only where it helps."""

import json

import numpy as np
import pytest
import torch
from helpers import THREE_LEVEL_NET, shrunk

import napari_dip
from napari_dip.core.fit import _flip
from napari_dip.core.guided import GUIDE_WEIGHTS, blend_guided, guide_code
from napari_dip.imaging.guide_image import normalised_guide

TINY = shrunk(
    "fast-denoising",
    "tiny-guided",
    net=THREE_LEVEL_NET,
    max_iter=120,
    stop_patience=15,
    stop_min_iter=10,
)
RUN = {"preset": TINY, "seed": 0, "threads": 1}


def scene(shape=(32, 32)):
    """A clean pattern, a noisy copy and a less noisy copy (independent noise)."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    clean = 0.5 + 0.35 * np.sin(y / 3.0) * np.cos(x / 4.0)
    rng = np.random.default_rng(0)
    return (
        clean,
        (clean + rng.normal(0, 0.2, shape)).astype(np.float32),
        (clean + rng.normal(0, 0.03, shape)).astype(np.float32),
    )


def error(a, b):
    return float(((np.asarray(a, np.float64) - b) ** 2).mean())


# --- checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("guide", "message"),
    [
        (np.zeros((32, 30)), "Y and X must be the image's, 32 x 32"),
        (np.zeros((2, 3, 32, 32)), "guide must be 2D"),
        (np.full((32, 32), np.nan), "NaN or infinite"),
        (np.full((32, 32), 3.0), "constant"),
        (np.stack([np.random.default_rng(0).random((32, 32)), np.ones((32, 32))]), "channel 1"),
    ],
)
def test_a_bad_guide_is_refused_with_a_clear_message(guide, message):
    _, noisy, _ = scene()
    with pytest.raises(ValueError, match=message):
        napari_dip.Restoration("denoise", noisy, guide=guide, **RUN)


def test_a_stack_of_guide_planes_is_refused_rather_than_taken_as_channels():
    _, noisy, good = scene()
    stack = np.stack([noisy, noisy])
    with pytest.raises(ValueError, match="match the image's frames or planes"):
        napari_dip.Restoration("denoise", stack, axes="ZYX", guide=np.stack([good, good]), **RUN)
    rgb_guide = np.stack([good] * 3, axis=-1)  # three channels: not the two planes
    assert napari_dip.Restoration("denoise", stack, axes="ZYX", guide=rgb_guide, **RUN).plan


def test_the_image_itself_is_refused_as_its_own_guide():
    _, noisy, _ = scene()
    for copy in (noisy, 3 * noisy + 1, noisy.astype(np.float64)[..., None]):
        with pytest.raises(ValueError, match="the image's channel 0 itself"):
            napari_dip.Restoration("denoise", noisy, guide=copy, **RUN)
    cells = np.stack([noisy, noisy[::-1]], axis=-1)
    with pytest.raises(ValueError, match="guide channel 0 is the image's channel 1"):
        napari_dip.Restoration("denoise", cells, channel_axis=-1, guide=noisy[::-1], **RUN)


def test_super_resolution_takes_a_guide_on_the_results_grid():
    _, noisy, good = scene((16, 16))
    with pytest.raises(ValueError, match="the result's, 32 x 32"):
        napari_dip.Restoration("super_resolve", noisy, factor=2, guide=good, **RUN)
    guide = np.kron(good, np.ones((2, 2)))
    out = napari_dip.super_resolve(noisy, 2, guide=guide, max_iter=20, **RUN)
    assert out.shape == (32, 32)


@pytest.mark.parametrize(
    ("image", "options", "message"),
    [
        (np.zeros((32, 32)), {"guide_channel": 0}, "several channels"),
        (np.zeros((2, 32, 32)), {"guide_channel": 2, "axes": "CYX"}, "out of range"),
        (np.zeros((2, 32, 32)), {"guide_channel": 0, "guide": np.ones((32, 32))}, "not both"),
    ],
)
def test_guide_channel_is_checked(image, options, message):
    with pytest.raises(ValueError, match=message):
        napari_dip.Restoration("denoise", image, **options, **RUN)


def test_guide_channel_cannot_guide_inpainting():
    image = np.random.default_rng(0).random((2, 32, 32))
    mask = np.zeros((32, 32), bool)
    mask[10:14, 10:14] = True
    with pytest.raises(ValueError, match="give guide= a complete image"):
        napari_dip.inpaint(image, mask, axes="CYX", guide_channel=0, **RUN)


def test_the_guide_is_normalised_channels_first_or_last_and_never_modified():
    rng = np.random.default_rng(0)
    guide = (rng.random((32, 32, 2)) * 1000).astype(np.uint16)
    before = guide.copy()
    normalised = normalised_guide(guide, (32, 32), "the image")
    assert normalised.shape == (2, 32, 32) and normalised.dtype == np.float32
    assert normalised.min() == 0 and normalised.max() == 1
    assert np.array_equal(normalised, normalised_guide(np.moveaxis(guide, -1, 0), (32, 32), ""))
    _, noisy, _ = scene()
    napari_dip.denoise(noisy, guide=guide, max_iter=5, **RUN)
    assert np.array_equal(guide, before)


# --- the fit ---------------------------------------------------------------------------


def test_each_member_sees_the_guide_mirrored_as_it_sees_the_image():
    guide = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 2, 3, 5)
    code = guide_code(guide, (4, 8), 4, _flip)
    assert code.shape == (4, 2, 4, 8)
    for k in range(4):  # member k's output is flipped back by _flip(., k): so is its code
        assert torch.equal(_flip(code[k : k + 1, :, :3, :5], k), guide)
    assert torch.equal(code[0, :, 3], code[0, :, 2])  # padded by repeating the edge


@pytest.mark.slow
def test_a_good_guide_weighs_in_and_beats_the_unguided_fit():
    clean, noisy, good = scene((48, 48))
    guided = napari_dip.Restoration("denoise", noisy, guide=good, **RUN)
    result = guided.run()
    (choice,) = guided.info.guide_choices
    assert choice["guide_weight"] > 0
    assert max(choice["held_out_blend"], choice["held_out_guided"]) < choice["held_out_unguided"]
    unguided = napari_dip.denoise(noisy, **RUN)
    assert error(result, clean) < 0.9 * error(unguided, clean)


@pytest.mark.slow
def test_a_misleading_guide_barely_weighs_in_and_costs_no_quality():
    clean, noisy, _ = scene()
    y, x = np.mgrid[:32, :32]
    checkerboard = ((y + x) % 2).astype(float)  # structure the image does not have
    run = napari_dip.Restoration("denoise", noisy, guide=checkerboard, **RUN)
    result = run.run()
    (choice,) = run.info.guide_choices
    assert choice["guide_weight"] <= 0.1, choice
    assert choice["held_out_blend"] <= choice["held_out_unguided"] < choice["held_out_guided"]
    assert error(result, clean) <= 1.01 * error(napari_dip.denoise(noisy, **RUN), clean)


@pytest.mark.slow
def test_at_weight_zero_the_result_is_the_unguided_runs_bit_for_bit(monkeypatch):
    monkeypatch.setattr("napari_dip.core.guided.GUIDE_WEIGHTS", (0.0,))
    _, noisy, good = scene()
    run = napari_dip.Restoration("denoise", noisy, guide=good, **RUN)
    result = run.run()
    assert run.info.guide_choices[0]["guide_weight"] == 0
    assert np.array_equal(result, napari_dip.denoise(noisy, **RUN))


def test_the_blend_takes_the_weight_held_out_pixels_show_to_be_better():
    guided, unguided = torch.ones((2, 1, 8, 8)), torch.zeros((2, 1, 8, 8))
    noise = torch.from_numpy(np.random.default_rng(0).normal(0, 0.05, 128)).float()

    def squared_errors(best, spread=1.0):  # held-out pixels of value ``best``, and noise
        return lambda estimates: (estimates.flatten() - best - spread * noise) ** 2

    shown = 2 * guided, 2 * unguided  # the result is blended, the scored version chooses
    for best in (0.0, 0.3, 1.0):
        blended, blend = blend_guided(
            (guided, shown[0]), (unguided, shown[1]), squared_errors(2 * best)
        )
        assert blend.guide_weight == pytest.approx(best)
        assert torch.allclose(blended, torch.full_like(guided, best))
    assert blend.held_out_guided < blend.held_out_unguided
    blended, blend = blend_guided((guided, guided), (unguided, unguided), squared_errors(0.0))
    assert blended is unguided and blend.held_out_blend == blend.held_out_unguided
    # Better on average, but by less than the held-out pixels' noise can tell: not taken.
    noisy_pixels = squared_errors(0.1, spread=40.0)
    blended, blend = blend_guided((guided, guided), (unguided, unguided), noisy_pixels)
    assert blend.held_out_blend == blend.held_out_unguided and blend.guide_weight == 0
    assert GUIDE_WEIGHTS[0] == 0 and GUIDE_WEIGHTS[-1] == 1


@pytest.mark.slow
def test_a_stop_during_the_unguided_fit_keeps_the_guided_result():
    _, noisy, good = scene()
    run = napari_dip.Restoration("denoise", noisy, guide=good, **RUN)
    for snapshot in run.snapshots(every=5):
        if snapshot.fit == 2:
            run.stop()
    assert run.info.fits == 2 and run.info.guide_choices == ({"guide_weight": 1.0},)
    guided_alone = napari_dip.Restoration("denoise", noisy, guide=good, auto_stop=False, **RUN)
    assert run.result.shape == noisy.shape and np.isfinite(run.result).all()
    assert run.info.stop_reason.value == "stopped" and guided_alone.plan.fits == 1


def test_without_the_automatic_stop_the_guided_fit_alone_runs():
    _, noisy, good = scene()
    run = napari_dip.Restoration("denoise", noisy, guide=good, auto_stop=False, max_iter=10, **RUN)
    run.run()
    assert run.info.fits == 1 and run.info.fit_iterations == (10,)
    assert run.info.guide_choices == ({"guide_weight": 1.0},)


@pytest.mark.slow
def test_a_guided_run_is_deterministic_per_seed():
    _, noisy, good = scene()
    first = napari_dip.denoise(noisy, guide=good, max_iter=40, **RUN)
    again = napari_dip.denoise(noisy, guide=good, max_iter=40, **RUN)
    other = napari_dip.denoise(noisy, guide=good, max_iter=40, **{**RUN, "seed": 1})
    assert np.array_equal(first, again) and not np.array_equal(first, other)


@pytest.mark.slow
def test_guide_channel_guides_the_other_channels_and_restores_itself_unguided():
    clean, noisy, good = scene()
    image = np.stack([good, noisy, noisy[::-1]])  # channel 0: the bright one
    run = napari_dip.Restoration(
        "denoise", image, axes="CYX", channels="independent", guide_channel=0, **RUN
    )
    result = run.run()
    info = run.info
    assert info.fits == 5  # channel 0 once, channels 1 and 2 guided and unguided each
    assert len(info.guide_choices) == 2 and info.guide == "channel 0"
    assert result.shape == image.shape
    assert error(result[1], clean) < error(noisy, clean)


def test_joint_channels_either_side_of_the_guide_channel_form_two_groups():
    _, noisy, good = scene((24, 24))
    image = np.stack([noisy, good, noisy, noisy], axis=-1)
    plan = napari_dip.Restoration("denoise", image, axes="YXC", guide_channel=1, **RUN).plan
    groups = [(b.channels.start, b.channels.stop) for b in plan.blocks]
    assert groups == [(1, 2), (0, 1), (2, 4)]
    assert [plan.variants(b) for b in plan.blocks] == [(False,), (True, False), (True, False)]
    assert plan.fits == 5


def test_a_guided_stack_restores_as_a_volume_and_plane_by_plane():
    _, noisy, good = scene((16, 16))
    stack = np.stack([noisy, noisy[::-1]])
    for mode in ("volume", "planes"):
        run = napari_dip.Restoration(
            "denoise", stack, stack=mode, guide=good, max_iter=10, auto_stop=False, **RUN
        )
        assert run.run().shape == stack.shape
        assert run.info.fits == (1 if mode == "volume" else 2)


# --- records --------------------------------------------------------------------------


@pytest.mark.slow
def test_the_record_names_the_guide_and_reruns_bit_for_bit():
    _, noisy, good = scene()
    run = napari_dip.Restoration("denoise", noisy, guide=good, max_iter=40, **RUN)
    result = run.run()
    record = json.loads(json.dumps(run.info.to_dict()))
    assert record["guide"] == "image 32 x 32" and record["guide_channel"] is None
    assert 0 <= record["guide_choices"][0]["guide_weight"] <= 1
    assert napari_dip.RunInfo.from_dict(record) == run.info
    assert np.array_equal(napari_dip.rerun(record, noisy, guide=good), result)
    with pytest.raises(ValueError, match="pass it as guide="):
        napari_dip.rerun(record, noisy)
    assert "guide=guide" in run.info.python()


@pytest.mark.slow
def test_a_guide_channel_run_reruns_from_its_record_alone():
    _, noisy, good = scene()
    image = np.stack([good, noisy], axis=-1)
    run = napari_dip.Restoration("denoise", image, axes="YXC", guide_channel=0, max_iter=30, **RUN)
    result = run.run()
    assert run.info.options.guide_channel == 0
    assert np.array_equal(napari_dip.rerun(run.info.to_dict(), image), result)
    with pytest.raises(ValueError, match="no guide image"):
        napari_dip.rerun(run.info, image, guide=good)
