"""Networks and the fit loop (torch level)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import THREE_LEVEL_NET

from napari_dip.core.data_terms import Gaussian
from napari_dip.core.fit import Fit
from napari_dip.core.nets import NetSpec, halvings, padded_shape
from napari_dip.core.operators import Identity
from napari_dip.core.presets import PRESETS, Recipe
from napari_dip.imaging.psf import gaussian_psf


def smooth_image(shape=(32, 32)):
    y, x = np.mgrid[: shape[0], : shape[1]] / max(shape)
    return (0.5 + 0.25 * np.sin(6 * x) * np.cos(4 * y)).astype(np.float32)


# --- fit loop ----------------------------------------------------------------

FAST_TEST = Recipe(
    name="test", description="tiny", net=THREE_LEVEL_NET, input_depth=8, max_iter=200
)


def make_fit(
    target, recipe=FAST_TEST, term=None, max_iter=60, seed=0, auto_stop=False, weights=None
):
    y = torch.from_numpy(target)[None, None]
    return Fit(
        y,
        Identity(),
        recipe,
        target.shape,
        data_term=term,
        max_iter=max_iter,
        auto_stop=auto_stop,
        seed=seed,
        initial_weights=weights,
    )


@pytest.mark.slow
def test_fit_yields_snapshots_at_interval_and_final():
    fit = make_fit(smooth_image(), max_iter=45)
    snaps = list(fit.snapshots(every=10))
    assert [s.iteration for s in snaps] == [10, 20, 30, 40, 45]
    assert [s.done for s in snaps] == [False] * 4 + [True]
    assert snaps[0].image.shape == (1, 32, 32)
    assert fit.result.shape == (1, 32, 32)
    assert fit.stop_reason == "max_iter"
    assert np.array_equal(fit.result, snaps[-1].smoothed)
    assert snaps[-1].loss < snaps[0].loss


def test_fit_is_deterministic_with_seed():
    a = make_fit(smooth_image(), seed=3, max_iter=20)
    b = make_fit(smooth_image(), seed=3, max_iter=20)
    c = make_fit(smooth_image(), seed=4, max_iter=20)
    for fit in (a, b, c):
        list(fit.snapshots())
    assert np.array_equal(a.result, b.result)
    assert not np.array_equal(a.result, c.result)


def test_stop_is_honoured_within_one_iteration():
    fit = make_fit(smooth_image(), max_iter=1000)
    for snap in fit.snapshots(every=1):
        if snap.iteration == 7:
            fit.stop()
    assert fit.iteration == 7
    assert fit.stop_reason == "stopped"
    assert snap.done and fit.result is not None


def test_stop_before_start_returns_an_image():
    fit = make_fit(smooth_image())
    fit.stop()
    snaps = list(fit.snapshots())
    assert len(snaps) == 1 and snaps[0].done and fit.iteration == 0
    assert fit.result.shape == (1, 32, 32)


def test_divergence_backtracks_and_lowers_learning_rate():
    class Spiky(Gaussian):
        """A data term that explodes once, at its fifth evaluation."""

        calls = 0

        def __call__(self, x, y, weights=None):
            Spiky.calls += 1
            loss = super().__call__(x, y, weights)
            return loss * 1000 if Spiky.calls == 5 else loss

    fit = make_fit(smooth_image(), term=Spiky(), max_iter=10)
    list(fit.snapshots())
    assert fit.backtracks == 1
    assert fit.learning_rate == pytest.approx(FAST_TEST.lr / 2)
    assert fit.iteration == 10


def test_backtracking_recovers_from_a_step_that_breaks_the_weights():
    fit = make_fit(smooth_image(), max_iter=40)
    step = fit.optimizer.step
    steps = []

    def harmful_step():
        step()
        steps.append(1)
        if (
            len(steps) == fit.CHECKPOINT_EVERY
        ):  # a step that ruins every weight, just before a checkpoint
            with torch.no_grad():
                for p in fit.net.parameters():
                    p.add_(torch.randn_like(p) * 50)

    fit.optimizer.step = harmful_step
    list(fit.snapshots())
    assert fit.backtracks >= 1
    assert fit.iteration == 40
    clean = smooth_image()
    assert np.abs(fit.result[0] - clean).mean() < np.abs(clean - clean.mean()).mean()


def test_nan_loss_backtracks_then_gives_up_with_clear_error():
    class Broken(Gaussian):
        def __call__(self, x, y, weights=None):
            return super().__call__(x, y, weights) * float("nan")

    fit = make_fit(smooth_image(), term=Broken(), max_iter=10)
    with pytest.raises(RuntimeError, match="diverged"):
        list(fit.snapshots())


@pytest.mark.slow
def test_auto_stop_ends_near_the_best_estimate():
    recipe = replace(FAST_TEST, lr=0.05, stop_patience=30, stop_min_iter=10)
    clean = smooth_image((64, 64))
    noisy = clean + np.random.default_rng(0).normal(0, 0.1, (64, 64)).astype(np.float32)

    def psnr(x):
        return 10 * np.log10(1 / np.mean((x - clean) ** 2))

    fit = make_fit(noisy, recipe=recipe, max_iter=3000, auto_stop=True)
    best = max(psnr(s.smoothed[0]) for s in fit.snapshots(every=1))
    assert fit.stop_reason == "auto" and fit.iteration < 3000
    assert fit.result.shape == (1, 64, 64)
    assert psnr(fit.result[0]) > best - 1  # judged on only ~400 held-out pixels here
    assert psnr(fit.result[0]) > psnr(noisy) + 3


@pytest.mark.slow
def test_warm_start_from_a_fitted_network_stops_sooner_as_well():
    recipe = Recipe(
        name="t",
        description="",
        net=THREE_LEVEL_NET,
        input_depth=8,
        stop_patience=40,
        stop_min_iter=20,
    )
    rng = np.random.default_rng(0)
    clean = smooth_image()
    first = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)
    second = clean + rng.normal(0, 0.1, clean.shape).astype(np.float32)  # a new frame
    cold = make_fit(second, recipe=recipe, max_iter=3000, auto_stop=True)
    list(cold.snapshots(every=1000))
    fitted = make_fit(first, recipe=recipe, max_iter=3000, auto_stop=True)
    list(fitted.snapshots(every=1000))
    warm = make_fit(second, recipe=recipe, max_iter=3000, auto_stop=True, weights=fitted.weights())
    list(warm.snapshots(every=1000))
    assert warm.warm_started and not cold.warm_started
    assert warm.stop_reason == cold.stop_reason == "auto"
    assert warm.iteration < cold.iteration / 2

    def error(fit):
        return np.abs(fit.result[0] - clean).mean()

    assert error(warm) < 1.2 * error(cold)


@pytest.mark.slow
def test_fit_raises_psnr_of_noisy_image():
    clean = smooth_image((48, 48))
    rng = np.random.default_rng(1)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    recipe = Recipe(name="t", description="", net=THREE_LEVEL_NET, input_depth=8, lr=0.01)
    fit = make_fit(noisy, recipe=recipe, max_iter=300)
    list(fit.snapshots(every=100))

    def psnr(x):
        return 10 * np.log10(1 / np.mean((x - clean) ** 2))

    assert psnr(fit.result[0]) > psnr(noisy) + 5


# --- bad settings and sizes found by fuzzing ------------------------------------------------


@pytest.mark.slow
def test_5x5_filters_keep_three_pixels_at_the_coarsest_level():
    """Reflection padding of a 5x5 filter needs 3 pixels: 'paper-inpainting-library' at 32x32."""
    spec = PRESETS["paper-inpainting-library"].net
    assert spec.coarsest == 3 and PRESETS["fast"].net.coarsest == 2
    assert halvings((32, 32), 6, 3) == (3, 3) and padded_shape((32, 32), 6, 3) == (32, 32)
    assert padded_shape((8, 8), 6, 3) == (8, 8) and padded_shape((1, 16), 6, 3) == (3, 16)
    for shape in [(8, 8), (32, 32), (64, 64), (1, 16, 16)]:
        target = torch.rand(1, 1, *shape)
        fit = Fit(
            target,
            Identity(),
            PRESETS["paper-inpainting-library"],
            shape,
            max_iter=1,
            auto_stop=False,
            seed=0,
        )
        list(fit.snapshots())
        assert fit.result.shape == (1, *shape)


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"kernel_down": 4}, ValueError, "kernel_down"),
        ({"kernel_up": 0}, ValueError, "kernel_up"),
        ({"kernel_skip": -1}, ValueError, "kernel_skip"),
        ({"down": (0, 8, 8)}, ValueError, "down"),
        ({"up": (8, -1, 8)}, ValueError, "up"),
        ({"skip": (-2, 0, 0)}, ValueError, "skip"),
        ({"down": (8.5, 8, 8)}, TypeError, "down"),
        ({"need1x1_up": "no"}, TypeError, "need1x1_up"),
    ],
)
def test_netspec_refuses_bad_settings_naming_the_field(kwargs, error, field):
    settings = {"down": (8, 8, 8), "up": (8, 8, 8), "skip": (2, 2, 2), **kwargs}
    with pytest.raises(error, match=field):
        NetSpec(**settings)


def test_netspec_accepts_lists_as_tuples():
    spec = NetSpec(down=[4, 4], up=[4, 4], skip=[0, 2])
    assert spec.down == (4, 4) and hash(spec) == hash(NetSpec(down=(4, 4), up=(4, 4), skip=(0, 2)))


@pytest.mark.parametrize("seed", [0, 2**63, 2**64 - 1])
def test_fit_takes_any_64_bit_seed(seed):
    fit = make_fit(smooth_image((16, 16)), max_iter=1, seed=seed)
    list(fit.snapshots())
    assert fit.seed == seed


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([],), {}, "sigma"),
        ((1.0,), {"ndim": 0}, "ndim"),
        ((1.0,), {"size": 2.5}, "size"),
        ((1.0,), {"size": (3, 3, 3)}, "size"),
    ],
)
def test_gaussian_psf_refuses_bad_arguments_clearly(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gaussian_psf(*args, **kwargs)


def test_gaussian_psf_of_a_tiny_sigma_is_a_delta_not_nan():
    assert np.array_equal(gaussian_psf(1e-300, size=3), np.pad([[1.0]], 1).astype(np.float32))
    even = gaussian_psf(0.015625, size=2)  # both taps underflowed: 0 / 0 before
    assert np.allclose(even, 0.25)
    assert np.allclose(gaussian_psf(1e-300, size=4)[1:3, 1:3], 0.25)


def test_gaussian_psf_refuses_a_psf_too_large_to_build():
    with pytest.raises(ValueError, match="sigma"):
        gaussian_psf(1e9)  # ~6e9 x 6e9 pixels: a MemoryError deep in numpy before


def test_fits_built_at_once_in_threads_get_their_own_seeded_weights():
    """Construction seeds torch's global generator: threads must not draw from each other's."""
    from concurrent.futures import ThreadPoolExecutor

    target = torch.rand(1, 1, 32, 32)

    def built(seed):
        fit = Fit(target, Identity(), FAST_TEST, (32, 32), max_iter=1, auto_stop=False, seed=seed)
        return seed, fit.weights(), fit.z

    alone = {seed: built(seed) for seed in range(4)}
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(built, list(range(4)) * 5))
    for seed, weights, z in together:
        assert torch.equal(z, alone[seed][2])
        assert all(torch.equal(weights[name], alone[seed][1][name]) for name in weights)


@pytest.mark.parametrize("native", [False, True])
def test_a_bfloat16_recipe_runs_in_bfloat16_only_where_the_device_has_it(monkeypatch, native):
    monkeypatch.setattr("napari_dip.core.fit.native_bfloat16", lambda device: native)
    target = smooth_image((32, 32))
    plain = make_fit(target, max_iter=20)
    halved = make_fit(target, replace(FAST_TEST, bfloat16=True), max_iter=20)
    for fit in (plain, halved):
        list(fit.snapshots(every=20))
    assert halved.members.bfloat16 is native and halved.result.dtype == np.float32
    if native:  # close to float32's fit, not equal
        assert 0 < np.abs(halved.result - plain.result).max() < 0.1
    else:  # emulated bfloat16 would be slower: float32, bit for bit
        assert np.array_equal(halved.result, plain.result)


def test_super_resolution_ends_with_back_projection_and_other_tasks_ignore_it():
    """The default super-resolution's result (x2: one step) is the fit without it, then
    ``Downsample.back_project`` in the image's units (what benchmarks/super_resolution.py
    relies on); a denoising recipe that asks for it comes out unchanged."""
    import napari_dip
    from napari_dip.core.operators import Downsample

    low = smooth_image((16, 16))
    default = replace(PRESETS["fast-super-resolution"], net=THREE_LEVEL_NET, max_iter=30)
    assert PRESETS["fast-super-resolution"].back_project

    def run(task, image, recipe, **options):
        return napari_dip.Restoration(task, image, preset=recipe, seed=0, **options).run()

    stepped = run("super_resolve", low, default, factor=2)
    without = run("super_resolve", low, replace(default, back_project=False), factor=2)
    expected = Downsample(2).back_project(
        torch.from_numpy(without)[None, None], torch.from_numpy(low)[None, None]
    )
    assert np.abs(without - stepped).max() > 1e-3
    np.testing.assert_allclose(stepped, expected[0, 0].numpy(), atol=1e-5)

    noisy = low + np.random.default_rng(0).normal(0, 0.05, low.shape).astype(np.float32)
    denoising = replace(FAST_TEST, max_iter=20)
    asked = run("denoise", noisy, replace(denoising, back_project=True))
    np.testing.assert_array_equal(asked, run("denoise", noisy, denoising))
