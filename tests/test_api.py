"""The public numpy API: shapes, intensities, tasks end to end, and bad input."""

from dataclasses import replace

import numpy as np
import pytest

import napari_dip
from napari_dip import NetSpec, Recipe, Restoration

SMALL = Recipe(
    name="test-small",
    description="small and quick, for tests",
    net=NetSpec(down=(16, 16, 16), up=(16, 16, 16), skip=(4, 4, 4)),
    input_depth=8,
    max_iter=300,
)


def smooth(shape=(32, 32)):
    y, x = np.mgrid[: shape[0], : shape[1]] / max(shape)
    return (0.5 + 0.3 * np.sin(5 * x) * np.cos(3 * y)).astype(np.float32)


def psnr(estimate, clean, data_range=1.0):
    return 10 * np.log10(data_range**2 / np.mean((estimate - clean) ** 2))


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, napari_dip; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_denoise_raises_psnr_and_keeps_input():
    clean = smooth((48, 48))
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 0.1, clean.shape), 0, 1)
    before = noisy.copy()
    restored = napari_dip.denoise(noisy, preset=SMALL, seed=0)
    assert restored.dtype == np.float64 and restored.shape == clean.shape  # as wide as the input
    assert psnr(restored, clean) > psnr(noisy, clean) + 5
    assert np.array_equal(noisy, before)


def test_inpaint_fills_half_missing_pixels_of_smooth_image():
    clean = smooth((48, 48))
    mask = np.random.default_rng(2).random(clean.shape) < 0.5
    damaged = clean.copy()
    damaged[mask] = 0
    mask_before = mask.copy()
    filled = napari_dip.inpaint(damaged, mask, preset=SMALL, max_iter=400, seed=0)
    assert psnr(filled[mask], clean[mask]) > 30
    assert np.array_equal(mask, mask_before)


@pytest.mark.parametrize("factor", [2, 3])
def test_super_resolve_shape(factor):
    low = smooth((10, 12))
    high = napari_dip.super_resolve(low, factor, preset=SMALL, max_iter=5, seed=0)
    assert high.shape == (10 * factor, 12 * factor)


def test_super_resolve_recovers_smooth_image():
    high_res = smooth((64, 64))
    import torch

    from napari_dip.core.operators import Downsample

    low = Downsample(4)(torch.from_numpy(high_res)[None, None])[0, 0].numpy()
    estimate = napari_dip.super_resolve(low, 4, preset=SMALL, max_iter=300, seed=0)
    bicubic_like = np.kron(low, np.ones((4, 4)))  # nearest upsampling as a floor
    assert (
        psnr(estimate[4:-4, 4:-4], high_res[4:-4, 4:-4])
        > psnr(bicubic_like[4:-4, 4:-4], high_res[4:-4, 4:-4]) + 3
    )


def test_deconvolve_sharpens_blurred_image():
    clean = np.zeros((40, 40), np.float32)
    clean[10:30, 18:22] = 1.0
    psf = napari_dip.gaussian_psf(1.5)
    import torch

    from napari_dip.core.operators import Blur

    blurred = Blur(torch.from_numpy(psf))(torch.from_numpy(clean)[None, None])[0, 0].numpy()
    linear = replace(SMALL, net=replace(SMALL.net, output="linear"))
    sharp = napari_dip.deconvolve(blurred, psf, preset=linear, max_iter=300, seed=0)
    assert sharp.shape == clean.shape
    assert psnr(sharp, clean) > psnr(blurred, clean) + 2


def test_uint16_result_in_input_units_and_channels_last():
    rng = np.random.default_rng(0)
    image = (1000 + 300 * rng.random((24, 24, 3))).astype(np.uint16)
    image[..., 2] += 2000
    out = napari_dip.denoise(image, channel_axis=-1, preset=SMALL, max_iter=20, seed=0)
    assert out.dtype == np.float32 and out.shape == image.shape
    for c in range(3):
        assert image[..., c].min() <= out[..., c].min() and out[..., c].max() <= image[..., c].max()
    assert out[..., 2].mean() > out[..., 0].mean() + 1500


def test_channel_axis_first_and_3d_stack():
    stack = smooth((32, 32))[None].repeat(5, axis=0)
    out = napari_dip.denoise(stack, preset=SMALL, max_iter=3, seed=0)
    assert out.shape == (5, 32, 32)
    cyx = np.stack([smooth(), 1 - smooth()])
    assert napari_dip.denoise(cyx, channel_axis=0, preset=SMALL, max_iter=3).shape == (2, 32, 32)


def test_constant_image_comes_back_constant():
    image = np.full((20, 20), 7, np.uint8)
    out = napari_dip.denoise(image, preset=SMALL, max_iter=10, seed=0)
    assert np.allclose(out, 7, atol=0.5)


def test_same_seed_same_result():
    noisy = smooth() + np.random.default_rng(0).normal(0, 0.1, (32, 32)).astype(np.float32)
    a = napari_dip.denoise(noisy, preset=SMALL, max_iter=15, seed=11)
    b = napari_dip.denoise(noisy, preset=SMALL, max_iter=15, seed=11)
    assert np.array_equal(a, b)


def test_callback_sees_progress_and_can_stop():
    seen = []

    def callback(snapshot):
        seen.append(snapshot.iteration)
        return snapshot.iteration >= 20

    out = napari_dip.denoise(smooth(), preset=SMALL, max_iter=500, callback=callback, every=10)
    assert seen == [10, 20, 20]  # the last call is the final snapshot
    assert out.shape == (32, 32)


def test_restoration_snapshots_stop_and_info():
    run = Restoration("denoise", smooth() * 255, preset=SMALL, seed=5, max_iter=100)
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
    run = Restoration("denoise", smooth(), preset=SMALL, max_iter=2)
    run.run()
    assert isinstance(run.info.seed, int)


def test_inpaint_intensity_range_from_known_pixels():
    image = smooth() * 100
    mask = np.zeros(image.shape, bool)
    mask[5:10, 5:10] = True
    image[mask] = 1e6  # garbage where pixels are missing must not set the scale
    out = napari_dip.inpaint(image, mask, preset=SMALL, max_iter=5, seed=0)
    assert out.max() <= 100


# --- bad input ---------------------------------------------------------------

IMAGE = np.zeros((16, 16), np.float32)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: napari_dip.denoise(np.zeros(16)), ValueError, "spatial axes"),
        (lambda: napari_dip.denoise(np.zeros((2, 2, 8, 8, 8))), ValueError, "needs axes="),
        (lambda: napari_dip.denoise(np.zeros((0, 8))), ValueError, "empty"),
        (lambda: napari_dip.denoise(np.zeros((8, 8), bool)), TypeError, "boolean"),
        (lambda: napari_dip.denoise(np.zeros((8, 8), complex)), TypeError, "complex"),
        (lambda: napari_dip.denoise(np.zeros((8, 8), object)), TypeError, "dtype"),
        (lambda: napari_dip.denoise(np.full((8, 8), np.nan)), ValueError, "NaN"),
        (lambda: napari_dip.denoise(np.array([[1.0, np.inf], [0, 0]])), ValueError, "infinite"),
        (lambda: napari_dip.denoise(IMAGE, channel_axis=3), ValueError, "channel_axis"),
        (lambda: napari_dip.inpaint(IMAGE, np.ones((8, 8))), ValueError, "does not match"),
        (lambda: Restoration("inpaint", IMAGE), ValueError, "needs a mask"),
        (lambda: napari_dip.inpaint(IMAGE, np.zeros((16, 16))), ValueError, "no pixel"),
        (lambda: napari_dip.inpaint(IMAGE, np.ones((16, 16))), ValueError, "every pixel"),
        (lambda: napari_dip.super_resolve(IMAGE, 1), ValueError, "factor"),
        (lambda: napari_dip.super_resolve(IMAGE, 2.5), TypeError, "factor"),
        (lambda: napari_dip.super_resolve(IMAGE, 2, kernel="cubic"), ValueError, "kernel"),
        (lambda: napari_dip.deconvolve(IMAGE, np.ones((32, 3))), ValueError, "larger"),
        (lambda: napari_dip.deconvolve(IMAGE, np.zeros((3, 3))), ValueError, "sum"),
        (lambda: napari_dip.deconvolve(IMAGE, np.ones(3)), ValueError, "axes"),
        (lambda: napari_dip.denoise(IMAGE, preset="nope"), ValueError, "unknown preset"),
        (lambda: napari_dip.denoise(IMAGE, device="gpu0"), ValueError, "unknown device"),
        (lambda: napari_dip.denoise(IMAGE, max_iter=0), ValueError, "max_iter"),
        (lambda: napari_dip.denoise(IMAGE, seed="x"), TypeError, "seed"),
        (lambda: Restoration("sharpen", IMAGE), ValueError, "unknown task"),
    ],
)
def test_bad_input_raises_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bad_input_leaves_arrays_untouched():
    image = np.arange(256, dtype=np.float32).reshape(16, 16)
    mask = np.zeros((16, 16), np.uint8)
    before = image.copy()
    with pytest.raises(ValueError):
        napari_dip.inpaint(image, mask)
    assert np.array_equal(image, before)


@pytest.mark.parametrize("scale", [1e300, 1e-50])
def test_float64_beyond_float32_range_is_normalised_first(scale):
    image = smooth((24, 24)).astype(np.float64) * scale
    restored = napari_dip.denoise(image, preset=SMALL, max_iter=5, seed=0)
    assert restored.dtype == np.float64 and np.isfinite(restored).all()
    unit = restored / scale  # back in [0, 1]: the same fit as on the unscaled image
    reference = napari_dip.denoise(image / scale, preset=SMALL, max_iter=5, seed=0)
    assert np.allclose(unit, reference, atol=1e-5)


# --- defects found by fuzzing --------------------------------------------------


@pytest.mark.parametrize("name", sorted(napari_dip.PRESETS))
def test_every_preset_runs_at_the_smallest_accepted_size_and_others(name):
    """No preset fails inside torch on a small image (5x5 filters used to, at 32x32)."""
    from napari_dip.imaging.axes import MIN_YX

    task = "deconvolve" if "deconvolution" in name else "denoise"
    extra = {"psf": napari_dip.gaussian_psf(1.0, size=3)} if task == "deconvolve" else {}
    for shape in [(MIN_YX, MIN_YX), (MIN_YX, 13), (32, 32)]:
        out = Restoration(task, smooth(shape), preset=name, max_iter=1, seed=0, **extra).run()
        assert out.shape == shape and np.isfinite(out).all()
    stack = np.stack([smooth((MIN_YX, MIN_YX))] * 2)
    out = Restoration("denoise", stack, preset=name, max_iter=1, seed=0).run()
    assert out.shape == stack.shape


def test_poisson_noise_refuses_an_image_without_positive_values():
    with pytest.raises(ValueError, match="noise='poisson'"):
        Restoration("denoise", -1 - smooth((16, 16)), noise="poisson")
    # Read noise below zero is fine as long as there are photons.
    Restoration("denoise", smooth((16, 16)) - 0.3, noise="poisson")


def test_unknown_kernel_is_refused_by_the_constructor():
    with pytest.raises(ValueError, match="kernel.*'lanczos2', 'box'"):
        Restoration("super_resolve", IMAGE, factor=2, kernel="bicubic")


@pytest.mark.parametrize("seed", [0, 2**63 - 1, 2**64 - 1, np.uint64(2**64 - 1)])
def test_any_64_bit_seed_runs(seed):
    run = Restoration("denoise", IMAGE, preset=SMALL, max_iter=1, seed=seed)
    run.run()
    assert run.info.seed == int(seed)


@pytest.mark.parametrize("seed", [-1, 2**64, -(2**70)])
def test_seed_out_of_range_is_refused(seed):
    with pytest.raises(ValueError, match="seed"):
        Restoration("denoise", IMAGE, seed=seed)


@pytest.mark.parametrize("answer", [True, np.True_, np.bool_(1)])
def test_callback_stops_on_python_or_numpy_true(answer):
    run = Restoration("denoise", smooth(), preset=SMALL, max_iter=200, seed=0)
    run.run(lambda snapshot: answer, every=5)
    assert run.info.iterations == 5 and run.info.stop_reason == "stopped"


@pytest.mark.parametrize("answer", [None, False, np.False_, 0])
def test_callback_returning_anything_else_goes_on(answer):
    run = Restoration("denoise", smooth(), preset=SMALL, max_iter=10, seed=0)
    run.run(lambda snapshot: answer, every=5)
    assert run.info.iterations == 10 and run.info.stop_reason == "max_iter"


def test_running_again_starts_afresh_and_a_stop_ends_only_one_run():
    run = Restoration(
        "denoise", smooth((16, 16)), preset=SMALL, max_iter=3, seed=0, auto_stop=False
    )
    first = run.run()
    again = run.run()
    assert run.info.iterations == 3 and run.info.stop_reason == "max_iter"  # not doubled
    assert np.allclose(first, again, atol=1e-3)  # same seed, same fit
    run.stop()  # no run in progress: stops the next one before its first fit
    stopped = run.run()
    assert run.info.stop_reason == "stopped" and run.info.iterations == 0
    assert np.allclose(stopped, smooth((16, 16)), atol=1e-6)  # the input, untouched
    after = run.run()  # the stop is spent
    assert run.info.iterations == 3 and run.info.stop_reason == "max_iter"
    assert np.allclose(first, after, atol=1e-3)


def test_a_second_run_while_one_is_in_progress_is_refused():
    run = Restoration("denoise", smooth((16, 16)), preset=SMALL, max_iter=4, seed=0)
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


def test_torch_tensors_are_accepted_even_with_gradients():
    torch = pytest.importorskip("torch")
    image = smooth((16, 16))
    tensor = torch.from_numpy(image.copy()).requires_grad_()
    out = napari_dip.denoise(tensor, preset=SMALL, max_iter=2, seed=0)
    assert np.allclose(out, napari_dip.denoise(image, preset=SMALL, max_iter=2, seed=0), atol=1e-4)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[4:6, 4:6] = True
    psf = torch.from_numpy(napari_dip.gaussian_psf(1.0)).requires_grad_()
    assert napari_dip.inpaint(tensor, mask, preset=SMALL, max_iter=1).shape == (16, 16)
    assert napari_dip.deconvolve(tensor, psf, preset=SMALL, max_iter=1).shape == (16, 16)


def test_huge_memory_budget_means_no_limit():
    run = Restoration("denoise", IMAGE, memory_budget=10**400)
    assert run.tile is None
    with pytest.raises(ValueError, match="memory_budget"):
        Restoration("denoise", IMAGE, memory_budget="plenty")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"output_dtype": "nonsense"}, TypeError, "output_dtype"),
        ({"output_dtype": 0}, TypeError, "output_dtype"),
        ({"auto_stop": "no"}, TypeError, "auto_stop"),  # used to read as True
        ({"warm_start": "no"}, TypeError, "warm_start"),
        ({"memory_budget": 0.5}, ValueError, "memory_budget"),  # used to be 0 bytes
    ],
)
def test_more_bad_options_raise_errors_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        Restoration("denoise", IMAGE, **kwargs)


def test_psf_of_huge_values_is_normalised_not_zeroed():
    run = Restoration("deconvolve", IMAGE, psf=np.full((3, 3), 1e308))
    assert np.allclose(run.plan.psf, 1 / 9)
    with pytest.raises(TypeError, match="psf"):
        Restoration("deconvolve", IMAGE, psf=[[1, 2], [3]])  # ragged: numpy's own error before
