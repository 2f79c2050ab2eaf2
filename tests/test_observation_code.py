"""The observation as the networks' input code, and the stop that ends noiseless fits."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import TINY

import napari_dip
from napari_dip import PRESETS, Recipe
from napari_dip.core.fit import Fit
from napari_dip.core.holdout import HoldoutStop
from napari_dip.core.observation_code import filled, observation_code
from napari_dip.core.operators import Downsample
from napari_dip.core.stop_reason import StopReason


def ramp(shape=(1, 1, 32, 32)) -> torch.Tensor:
    y, x = torch.meshgrid(*(torch.linspace(0, 1, n) for n in shape[-2:]), indexing="ij")
    return (0.2 + 0.3 * y + 0.4 * x).expand(shape).contiguous()


def test_filled_keeps_known_pixels_and_fills_holes_from_their_surroundings():
    image = ramp()
    known = torch.ones(1, 1, 32, 32)
    known[..., 10:16, 12:20] = 0
    values = image.where(known > 0, torch.full_like(image, 9.0))  # rubbish in the hole
    result = filled(values, known)
    assert torch.equal(result[known.expand_as(result) > 0], image[known.expand_as(image) > 0])
    hole = result[..., 10:16, 12:20]
    assert float((hole - image[..., 10:16, 12:20]).abs().max()) < 0.1  # near the ramp
    assert torch.equal(filled(image, torch.ones(1, 1, 32, 32)), image)


def test_filled_fills_each_channel_and_plane_on_its_own():
    values = torch.stack([torch.full((4, 16, 16), 0.25), torch.full((4, 16, 16), 0.75)])[None]
    known = torch.ones(1, 2, 4, 16, 16)
    known[:, 0, 1, :8] = 0  # channel 0, plane 1: its top half unknown
    known[:, 1, :, 5, 5] = 0
    result = filled(values.where(known > 0, torch.zeros(())), known)
    assert torch.allclose(result, values)


def test_the_code_of_an_inpainting_is_the_image_with_its_holes_filled():
    target = ramp((1, 2, 16, 16))
    observed = torch.ones(1, 2, 16, 16)
    observed[0, 1, 4:8, 4:8] = 0
    damaged = target.where(observed > 0, torch.zeros(()))
    code = observation_code(damaged, observed, (16, 16))
    assert torch.equal(code[observed > 0], target[observed > 0])
    assert float((code - target).abs().max()) < 0.05


def test_the_code_of_a_super_resolution_is_the_bicubic_upsampling():
    target = ramp((1, 1, 16, 16))
    code = observation_code(target, None, (64, 64))
    assert float((Downsample(4)(code) - target).abs().max()) < 0.02


def test_the_code_of_a_volume_upsamples_each_channel_and_plane_on_its_own():
    planes = torch.stack([ramp((16, 16)) * k for k in (1.0, 2.0, 3.0)])  # (Z, y, x)
    target = torch.stack([planes, 1 - planes])[None]  # (1, C=2, Z=3, 16, 16)
    code = observation_code(target, None, (3, 32, 32))
    assert code.shape == (1, 2, 3, 32, 32)
    one = observation_code(target[:, 1:, 2], None, (32, 32))
    assert torch.allclose(code[:, 1:, 2], one)


def test_the_tolerance_ends_a_score_that_falls_ever_more_slowly():
    scores = [1.0 / i for i in range(1, 3001)]  # no noise to fit: it never rises again

    def stop_at(tolerance):
        rule = HoldoutStop(torch.zeros(1, 1, 8, 8), 0.1, 100, 1, 0, tolerance=tolerance)
        for i, score in enumerate(scores, 1):
            rule.update(score, i)
            if rule.should_stop(i):
                return i, rule.best_iteration
        return None, rule.best_iteration

    assert stop_at(0.0) == (None, 3000)  # the old rule: to the cap
    # 1/i halves at i = 3, 7, 15, ..., 127, then not for 128 iterations: stopped 100 later.
    assert stop_at(0.5) == (227, 227)


def test_the_tolerance_keeps_the_minimum_of_a_score_that_rises_again():
    scores = [abs(i - 300) + 10.0 for i in range(1, 1001)]
    for tolerance in (0.0, 0.01):
        rule = HoldoutStop(torch.zeros(1, 1, 8, 8), 0.1, 100, 1, 0, tolerance=tolerance)
        for i, score in enumerate(scores, 1):
            rule.update(score, i)
            if rule.should_stop(i):
                break
        assert (i, rule.best_iteration) == (400, 300)


def test_recipes_check_the_tolerance_and_the_input():
    with pytest.raises(ValueError, match="stop_tolerance must be a fraction"):
        replace(TINY, stop_tolerance=1.0)
    with pytest.raises(ValueError, match="input must be one of"):
        replace(TINY, input="bicubic")
    assert Recipe.from_dict({**TINY.__dict__, "net": TINY.net.__dict__}) == TINY


def smooth_scene(shape=(48, 48)) -> np.ndarray:
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (0.5 + 0.3 * np.sin(y / 5.0) * np.cos(x / 4.0)).astype(np.float32)


@pytest.mark.slow
def test_a_noiseless_super_resolution_stops_where_the_old_rule_ran_to_the_cap():
    low = Downsample(2)(torch.from_numpy(smooth_scene())[None, None]).numpy()[0, 0]
    recipe = replace(
        napari_dip.resolve_preset("default", "super_resolve"),
        net=TINY.net,
        stop_patience=50,
        max_iter=1000,
    )
    runs = {}
    for tolerance in (0.0, recipe.stop_tolerance):
        run = napari_dip.Restoration(
            "super_resolve",
            low,
            factor=2,
            preset=replace(recipe, stop_tolerance=tolerance),
            seed=0,
            threads=1,
        )
        run.run()
        runs[tolerance] = run.info
    assert runs[0.0].stop_reason == StopReason.MAX_ITER
    assert runs[recipe.stop_tolerance].stop_reason == StopReason.AUTO
    assert runs[recipe.stop_tolerance].iterations < 900


def test_the_defaults_of_the_noiseless_tasks_stop_on_a_slowing_score():
    recipe = napari_dip.resolve_preset("default", "super_resolve")
    assert recipe.input == "observation" and recipe.stop_tolerance > 0
    assert napari_dip.resolve_preset("default", "inpaint").stop_tolerance > 0
    assert napari_dip.resolve_preset("default", "denoise") == PRESETS["fast-denoising"]


def test_a_fit_with_the_observation_code_feeds_it_to_every_member():
    target = torch.from_numpy(smooth_scene((16, 16)))[None, None]
    recipe = replace(TINY, input="observation", members=2, flips=True)
    fit = Fit(
        target, Downsample(2), recipe, (32, 32), max_iter=1, auto_stop=True, seed=0, threads=1
    )
    assert fit.z.shape[:2] == (2, 1)
    member_1 = fit.z[1:2, :, :32, :32].flip(-1)  # member 1 sees the image mirrored in X
    assert torch.equal(member_1, observation_code(target, None, (32, 32)))
