"""Restoration, a plan run on the pixels: axes, stacks, time-lapses, channels, tiles, dtypes."""

import numpy as np
import pytest
from helpers import IMAGE, SMALL, TINY, waves

import napari_dip
from napari_dip import Restoration


def smooth(shape=(24, 24), phase=0.0):
    y, x = np.mgrid[: shape[0], : shape[1]] / max(shape)
    return (0.5 + 0.3 * np.sin(5 * x + phase) * np.cos(3 * y)).astype(np.float32)


def uint16_stack(axes_sizes, rng):
    """A smooth uint16 image shaped by ``axes_sizes`` (a dict from axis letter to size)."""
    shape = tuple(axes_sizes.values())
    yx = shape[-2:]
    base = smooth(yx)
    image = np.empty(shape, np.float32)
    for index in np.ndindex(shape[:-2]):
        image[index] = 1000 + 2000 * base * (1 + 0.1 * sum(index))
    return (image + rng.normal(0, 50, shape)).astype(np.uint16)


def test_uint16_three_channel_z_stack_with_axes():
    image = uint16_stack({"Z": 3, "C": 3, "Y": 24, "X": 24}, np.random.default_rng(0))
    before = image.copy()
    run = Restoration("denoise", image, axes="ZCYX", preset=TINY, max_iter=5, seed=0)
    out = run.run()
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.array_equal(image, before)
    info = run.info
    assert info.axes == "ZCYX" and info.shape == "Z=3 C=3 Y=24 X=24"
    assert info.fits == 1 and info.stack == "volume" and info.channels == "joint"
    for c in range(3):  # each channel stays in its own range
        channel = image[:, c]
        assert channel.min() - 1 <= out[:, c].min() and out[:, c].max() <= channel.max() + 1


@pytest.mark.parametrize(
    ("axes", "sizes", "fits"),
    [
        ("CYX", {"C": 3, "Y": 24, "X": 24}, 1),
        ("ZYX", {"Z": 4, "Y": 24, "X": 24}, 1),
        ("TZYX", {"T": 2, "Z": 3, "Y": 24, "X": 24}, 2),
    ],
)
def test_uint16_layouts_keep_shape_and_units(axes, sizes, fits):
    image = uint16_stack(sizes, np.random.default_rng(1))
    run = Restoration("denoise", image, axes=axes, preset=TINY, max_iter=3, seed=0)
    out = run.run()
    assert out.shape == image.shape and run.info.fits == fits
    assert image.min() - 1 <= out.min() and out.max() <= image.max() + 1


def test_rgb_axes_string_matches_channel_axis():
    rgb = np.stack([smooth(), smooth(phase=1), smooth(phase=2)], axis=-1)
    a = napari_dip.denoise(rgb, axes="YXC", preset=TINY, max_iter=5, seed=1)
    b = napari_dip.denoise(rgb, channel_axis=-1, preset=TINY, max_iter=5, seed=1)
    assert a.shape == rgb.shape and np.array_equal(a, b)


def test_time_lapse_is_fitted_frame_by_frame_with_warm_start():
    frames = np.stack([smooth(phase=0.1 * t) for t in range(3)])
    run = Restoration("denoise", frames, axes="TYX", preset=TINY, max_iter=10, seed=0)
    seen = []
    out = run.run(callback=lambda s: seen.append((s.iteration, s.max_iter)), every=5)
    assert out.shape == frames.shape
    info = run.info
    assert info.fits == 3 and info.fit_iterations == (10, 10, 10)
    assert info.iterations == 30 and info.warm_start
    assert seen[0] == (5, 30) and seen[-1] == (30, 30)


@pytest.mark.slow
def test_warm_start_starts_from_previous_frame():
    frame = smooth()
    frames = np.stack([frame, frame])
    warm = Restoration("denoise", frames, axes="TYX", preset=TINY, max_iter=60, seed=0)
    cold = Restoration(
        "denoise", frames, axes="TYX", preset=TINY, max_iter=60, seed=0, warm_start=False
    )
    losses = {}
    for name, run in (("warm", warm), ("cold", cold)):
        first_of_second_frame = [
            s.loss for s in run.snapshots(every=1) if s.iteration == 61 and not s.done
        ]
        losses[name] = first_of_second_frame[0]
    # The second frame starts where the first ended: far lower loss than a fresh network.
    assert losses["warm"] < 0.2 * losses["cold"]


def test_planes_and_independent_channels_make_one_fit_each():
    image = np.stack([np.stack([smooth(phase=z), 1 - smooth(phase=z)]) for z in range(2)])
    run = Restoration(
        "denoise",
        image,
        axes="ZCYX",
        stack="planes",
        channels="independent",
        preset=TINY,
        max_iter=3,
        seed=0,
    )
    assert run.run().shape == image.shape
    assert run.info.fits == 4 and run.info.stack == "planes"


def test_single_plane_stack_is_a_2d_image():
    image = smooth()[None]
    run = Restoration("denoise", image, axes="ZYX", preset=TINY, max_iter=3, seed=0)
    assert run.run().shape == (1, 24, 24) and run.info.stack == "planes"


@pytest.mark.slow
def test_yx_mask_applies_to_every_plane():
    clean = np.stack([smooth(phase=z) for z in range(2)])
    mask = np.zeros((24, 24), bool)
    mask[8:12, 8:12] = True
    damaged = clean.copy()
    damaged[:, mask] = 5.0
    out = napari_dip.inpaint(damaged, mask, axes="ZYX", stack="planes", preset=TINY, seed=0)
    assert out.shape == clean.shape
    assert np.abs(out[:, mask] - clean[:, mask]).max() < 0.2


def test_mask_leaving_a_frame_empty_is_refused():
    frames = np.stack([smooth(), smooth()])
    mask = np.zeros(frames.shape, bool)
    mask[1] = True
    with pytest.raises(ValueError, match="frame 1"):
        Restoration("inpaint", frames, mask=mask, axes="TYX", preset=TINY)


def test_output_dtype_input_rounds_and_clips():
    image = (smooth() * 255).astype(np.uint8)
    out = napari_dip.denoise(image, preset=TINY, max_iter=5, seed=0, output_dtype="input")
    assert out.dtype == np.uint8 and out.shape == image.shape
    wide = napari_dip.denoise(image, preset=TINY, max_iter=5, seed=0, output_dtype=np.float64)
    assert wide.dtype == np.float64


def test_stop_in_a_multi_fit_run_keeps_input_where_no_fit_ran():
    frames = np.stack([smooth(), smooth() * 2, smooth() * 3])
    run = Restoration("denoise", frames, axes="TYX", preset=TINY, max_iter=50, seed=0)
    for snapshot in run.snapshots(every=10):
        if snapshot.iteration == 60:  # 10 iterations into the second frame
            run.stop()
    assert run.info.stop_reason == "stopped" and run.info.fit_iterations == (50, 10)
    np.testing.assert_allclose(run.result[2], frames[2], atol=1e-4)


def test_estimate_before_running():
    image = np.zeros((3, 64, 64), np.float32)
    estimate = Restoration("denoise", image, axes="TYX", preset=TINY).estimate()
    assert estimate.fits == 3 and estimate.tile is None
    assert estimate.peak_bytes > 0 and estimate.seconds_per_iteration > 0
    assert estimate.max_seconds == pytest.approx(3 * 200 * estimate.seconds_per_iteration)
    assert "3 fits" in estimate.describe()
    assert estimate.expected_iterations == 3 * 200  # no automatic stop: every fit to the cap
    assert "usually" not in estimate.describe() and "at most" not in estimate.describe()
    stopping = Restoration("denoise", image, axes="TYX", preset=TINY, auto_stop=True).estimate()
    assert stopping.expected_iterations is None  # a recipe no benchmark measured
    assert "usually" not in stopping.describe() and ", at most ~" in stopping.describe()


def test_estimate_says_where_the_default_usually_stops(monkeypatch):
    from napari_dip.core import estimate as model

    monkeypatch.setattr(model, "_effective_rate", lambda device: 1e10)
    cold, warm = model.TYPICAL_STOP["fast-denoising"]
    frames = np.zeros((3, 64, 64), np.float32)
    estimate = Restoration("denoise", frames, axes="TYX").estimate()
    assert estimate.expected_iterations == cold + 2 * warm  # frames after the first start warm
    assert estimate.expected_seconds == pytest.approx(
        estimate.expected_iterations * estimate.seconds_per_iteration
    )
    assert ", usually ~" in estimate.describe() and ", at most ~" in estimate.describe()
    alone = Restoration("denoise", frames, axes="TYX", warm_start=False).estimate()
    assert alone.expected_iterations == 3 * cold
    capped = Restoration("denoise", frames, axes="TYX", auto_stop=False, max_iter=50).estimate()
    assert capped.expected_iterations == 150
    assert "usually" not in capped.describe() and "at most" not in capped.describe()


@pytest.mark.slow
def test_tiles_when_over_the_memory_budget_blend_without_seams():
    from napari_dip.core.estimate import estimate_fit

    clean = smooth((144, 144))
    noisy = clean + np.random.default_rng(0).normal(0, 0.05, clean.shape).astype(np.float32)
    budget = estimate_fit(TINY, (128, 128), 1).peak_bytes
    kwargs = {"preset": TINY, "max_iter": 300, "seed": 0, "threads": 1}  # margins: 0.53, 0.78, 1.23
    tiled_run = Restoration("denoise", noisy, memory_budget=budget, **kwargs)
    assert tiled_run.tile == (128, 128) and tiled_run.info.fits == 4
    tiled = tiled_run.run()
    whole = napari_dip.denoise(noisy, **kwargs)

    def error(image):
        return np.abs(image - clean)[8:-8, 8:-8].mean()

    assert error(tiled) < 0.75 * error(noisy)  # it denoises,
    assert error(tiled) < 1.25 * error(whole)  # about as well as one fit of the whole.
    # No seam where a tile ends (X = 16 and 128): the error's steps from column to column
    # there are like its steps elsewhere (the image's own steps vary across it).
    steps = np.abs(np.diff(tiled - clean, axis=1))[8:-8].max(axis=0)
    near = np.zeros(steps.shape, bool)
    for edge in (16, 128):
        near[edge - 3 : edge + 3] = True
    assert steps[near].max() < 1.5 * np.percentile(steps[~near], 95)


def test_impossible_budget_says_what_to_do():
    with pytest.raises(MemoryError, match="budget"):
        Restoration("denoise", np.zeros((512, 512), np.float32), preset=TINY, memory_budget=1000)


def test_a_3d_psf_needs_a_volume_fit():
    with pytest.raises(ValueError, match="3D psf"):
        Restoration("deconvolve", np.zeros((4, 16, 16)), psf=np.ones((3, 3, 3)), stack="planes")


def test_restoration_snapshots_stop_and_info():
    run = Restoration("denoise", waves() * 255, preset=SMALL, seed=5, max_iter=100)
    snapshots = []
    for snapshot in run.snapshots(every=5):
        snapshots.append(snapshot)
        if snapshot.iteration == 10:
            run.stop()
    assert snapshots[-1].done and snapshots[-1].iteration == 10
    assert snapshots[0].image.max() > 2  # in the input's units, not [0, 1]
    info = run.info
    assert info.iterations == 10 and info.stop_reason == "stopped"
    assert info.seed == 5 and info.device == "cpu" and info.task == "denoise"
    assert run.result.shape == (32, 32)


def test_seed_is_drawn_and_reported_when_none():
    run = Restoration("denoise", waves(), preset=SMALL, max_iter=2)
    run.run()
    assert isinstance(run.info.seed, int)


@pytest.mark.parametrize("seed", [0, 2**63 - 1, 2**64 - 1, np.uint64(2**64 - 1)])
def test_any_64_bit_seed_runs(seed):
    run = Restoration("denoise", IMAGE, preset=SMALL, max_iter=1, seed=seed)
    run.run()
    assert run.info.seed == int(seed)


@pytest.mark.parametrize("answer", [True, np.True_, np.bool_(1)])
def test_callback_stops_on_python_or_numpy_true(answer):
    run = Restoration("denoise", waves(), preset=SMALL, max_iter=200, seed=0)
    run.run(lambda snapshot: answer, every=5)
    assert run.info.iterations == 5 and run.info.stop_reason == "stopped"


@pytest.mark.parametrize("answer", [None, False, np.False_, 0])
def test_callback_returning_anything_else_goes_on(answer):
    run = Restoration("denoise", waves(), preset=SMALL, max_iter=10, seed=0)
    run.run(lambda snapshot: answer, every=5)
    assert run.info.iterations == 10 and run.info.stop_reason == "max_iter"


def test_running_again_starts_afresh_and_a_stop_ends_only_one_run():
    run = Restoration("denoise", waves((16, 16)), preset=SMALL, max_iter=3, seed=0, auto_stop=False)
    first = run.run()
    again = run.run()
    assert run.info.iterations == 3 and run.info.stop_reason == "max_iter"  # not doubled
    assert np.allclose(first, again, atol=1e-3)  # same seed, same fit
    run.stop()  # no run in progress: stops the next one before its first fit
    stopped = run.run()
    assert run.info.stop_reason == "stopped" and run.info.iterations == 0
    assert np.allclose(stopped, waves((16, 16)), atol=1e-6)  # the input, untouched
    after = run.run()  # the stop is spent
    assert run.info.iterations == 3 and run.info.stop_reason == "max_iter"
    assert np.allclose(first, after, atol=1e-3)


def test_a_second_run_while_one_is_in_progress_is_refused():
    run = Restoration("denoise", waves((16, 16)), preset=SMALL, max_iter=4, seed=0)
    snapshots = run.snapshots(every=1)
    next(snapshots)
    with pytest.raises(RuntimeError, match="already running"):
        run.run()
    snapshots.close()  # abandoning the loop ends that run
    assert run.run().shape == (16, 16)


@pytest.mark.parametrize(
    ("every", "error"), [("5", TypeError), (2.5, TypeError), (True, TypeError), (0, ValueError)]
)
def test_every_is_checked_with_its_name(every, error):
    run = Restoration("denoise", IMAGE, preset=SMALL, max_iter=1, seed=0)
    with pytest.raises(error, match="every"):
        run.run(every=every)
    with pytest.raises(error, match="every"):
        next(run.snapshots(every))


def test_huge_memory_budget_means_no_limit():
    run = Restoration("denoise", IMAGE, memory_budget=10**400)
    assert run.tile is None
    with pytest.raises(ValueError, match="memory_budget"):
        Restoration("denoise", IMAGE, memory_budget="plenty")


def test_psf_of_huge_values_is_normalised_not_zeroed():
    run = Restoration("deconvolve", IMAGE, psf=np.full((3, 3), 1e308))
    assert np.allclose(run.plan.psf, 1 / 9)
    with pytest.raises(TypeError, match="psf"):
        Restoration("deconvolve", IMAGE, psf=[[1, 2], [3]])  # ragged: numpy's own error before


def test_poisson_noise_refuses_an_image_without_positive_values():
    with pytest.raises(ValueError, match="noise='poisson'"):
        Restoration("denoise", -1 - waves((16, 16)), noise="poisson")
    # Read noise below zero is fine as long as there are photons.
    Restoration("denoise", waves((16, 16)) - 0.3, noise="poisson")


@pytest.mark.parametrize("scale", [1e300, 1e-50])
def test_float64_beyond_float32_range_is_normalised_first(scale):
    image = waves((24, 24)).astype(np.float64) * scale
    restored = napari_dip.denoise(image, preset=SMALL, max_iter=5, seed=0)
    assert restored.dtype == np.float64 and np.isfinite(restored).all()
    unit = restored / scale  # back in [0, 1]: the same fit as on the unscaled image
    reference = napari_dip.denoise(image / scale, preset=SMALL, max_iter=5, seed=0)
    assert np.allclose(unit, reference, atol=1e-5)


def test_inpaint_intensity_range_from_known_pixels():
    image = waves() * 100
    mask = np.zeros(image.shape, bool)
    mask[5:10, 5:10] = True
    image[mask] = 1e6  # garbage where pixels are missing must not set the scale
    out = napari_dip.inpaint(image, mask, preset=SMALL, max_iter=5, seed=0)
    assert out.max() <= 100
