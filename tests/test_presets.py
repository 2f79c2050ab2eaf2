"""The named recipes: how a preset resolves by task and factor, the paper's settings, checks."""

import numpy as np
import pytest
from helpers import TINY, waves

import napari_dip
from napari_dip import Restoration
from napari_dip.core.presets import PRESETS, resolve_preset


def test_presets_resolve_by_task_and_factor():
    assert resolve_preset("default", "denoise").name == "fast-denoising"
    assert resolve_preset("default", "inpaint").name == "fast-inpainting"
    assert resolve_preset("default", "super_resolve", 4).name == "fast-super-resolution"
    assert resolve_preset("quality", "denoise").name == "quality"
    assert resolve_preset("quality", "deconvolve").name == "quality-deconvolution"
    assert resolve_preset("paper", "denoise").name == "paper-denoising"
    assert resolve_preset("paper", "inpaint").name == "paper-inpainting"
    assert resolve_preset("paper", "super_resolve", 4).name == "paper-sr4"
    assert resolve_preset("paper", "super_resolve", 8).name == "paper-sr8"
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_preset("best", "denoise")


def test_paper_recipes_match_the_published_notebooks():
    den = PRESETS["paper-denoising"]
    assert (den.lr, den.max_iter, den.ema, den.input_depth) == (0.01, 3000, 0.99, 32)
    assert den.reg_noise_std == pytest.approx(1 / 30)
    assert den.net.down == (128,) * 5 and den.net.skip == (4,) * 5
    sr8 = PRESETS["paper-sr8"]
    assert (sr8.max_iter, sr8.reg_noise_std, sr8.ema) == (4000, 0.05, None)
    assert PRESETS["paper-restoration"].lr == 0.001
    assert PRESETS["paper-inpainting"].net.upsample == "nearest"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("ema", 1.0, ValueError),
        ("ema", -1, ValueError),
        ("ema", float("nan"), ValueError),
        ("lr", 0, ValueError),
        ("lr", -0.01, ValueError),
        ("lr", float("inf"), ValueError),
        ("lr", 2.0, ValueError),
        ("reg_noise_std", 3e37, ValueError),
        ("lr", "0.01", ValueError),
        ("max_iter", 0, ValueError),
        ("max_iter", 2.5, TypeError),
        ("reg_noise_std", -0.1, ValueError),
        ("stop_holdout", 0, ValueError),
        ("stop_holdout", 1.0, ValueError),
        ("stop_patience", 0, ValueError),
        ("stop_min_iter", -1, ValueError),
        ("input_depth", 0, ValueError),
        ("input_depth", True, TypeError),
        ("auto_stop", "yes", TypeError),
        ("flips", 1, TypeError),
        ("back_project", 1, TypeError),
        ("members", 0, ValueError),
        ("members", 2.0, TypeError),
        ("stop_block", 0, ValueError),
        ("stop_block", 4, ValueError),
        ("net", "fast", TypeError),
    ],
)
def test_recipe_refuses_bad_settings_naming_the_field(field, value, error):
    from dataclasses import replace

    with pytest.raises(error, match=field):
        replace(TINY, **{field: value})


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(napari_dip.PRESETS))
def test_every_preset_runs_at_the_smallest_accepted_size_and_others(name):
    """No preset fails inside torch on a small image (5x5 filters used to, at 32x32)."""
    from napari_dip.imaging.axes import MIN_YX

    task = "deconvolve" if "deconvolution" in name else "denoise"
    extra = {"psf": napari_dip.gaussian_psf(1.0, size=3)} if task == "deconvolve" else {}
    for shape in [(MIN_YX, MIN_YX), (MIN_YX, 13), (32, 32)]:
        out = Restoration(task, waves(shape), preset=name, max_iter=1, seed=0, **extra).run()
        assert out.shape == shape and np.isfinite(out).all()
    stack = np.stack([waves((MIN_YX, MIN_YX))] * 2)
    out = Restoration("denoise", stack, preset=name, max_iter=1, seed=0).run()
    assert out.shape == stack.shape
