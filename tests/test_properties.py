"""Property-based tests: generated calls of the public API, each with a clear outcome.

Every generated call either returns a result (finite, of the expected shape and
dtype) or raises ValueError, TypeError or MemoryError whose message names the
argument at fault; the caller's arrays are never modified.  Calls are tiny
(images of at most 24x24 pixels, a few planes, 1 to 3 iterations) and the
examples are derandomized, so the module runs the same way everywhere in well
under a minute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import napari_dip  # noqa: E402
from napari_dip import NetSpec, Recipe, Restoration  # noqa: E402
from napari_dip.core.units import MAX_MEMORY, parse_memory  # noqa: E402
from napari_dip.imaging.axes import canonical_mask, from_canonical, to_canonical  # noqa: E402
from napari_dip.imaging.checks import check_psf  # noqa: E402
from napari_dip.imaging.intensity import cast_result  # noqa: E402

SMALL = Recipe(
    name="test-small",
    description="tiny, for property tests",
    net=NetSpec(down=(4, 4), up=(4, 4), skip=(2, 2)),
    input_depth=2,
    max_iter=3,
)


def fast(examples: int) -> settings:
    """``examples`` examples, reproducible everywhere (derandomized, no example database)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )


ERRORS = (ValueError, TypeError, MemoryError)
VALID_DTYPES = ["uint8", "uint16", "int16", "float16", "float32", "float64"]
AXES = ["YX", "ZYX", "YXC", "CYX", "TYX", "CZYX", "ZCYX", "TZYX", "TCYX", "TZCYX"]
SIZES = {"T": (1, 2), "Z": (1, 3), "C": (1, 3), "Y": (8, 24), "X": (8, 24)}


@dataclass
class Call:
    """A generated call: its arguments, the faults planted in it, and the expected output."""

    kwargs: dict
    every: int | str = 1
    faults: list[str] = field(default_factory=list)  # names an error message may cite
    shape: tuple[int, ...] = ()
    dtype: np.dtype | None = None

    def fault(self, *names: str) -> None:
        self.faults.extend(names)


def _values(rng: np.random.Generator, shape, dtype: str, non_negative: bool) -> np.ndarray:
    """Random intensities spread over a good part of the dtype's range."""
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        high = min(np.iinfo(dtype).max, 4000)
        return rng.integers(0, high, shape, endpoint=True).astype(dtype)
    if dtype.kind == "i":
        low = 0 if non_negative else -1000
        return rng.integers(low, 1000, shape, endpoint=True).astype(dtype)
    scale = float(rng.choice([1.0, 100.0, 1e4]))
    values = rng.random(shape) * scale
    if not non_negative:
        values -= scale / 2
    return values.astype(dtype)


#: Faults planted one per call, and the task they need (None: any).
FAULTS = {
    "dtype": None,
    "nan": None,
    "small": None,
    "axes": None,
    "mask": "inpaint",
    "factor": "super_resolve",
    "kernel": "super_resolve",
    "psf": "deconvolve",
    "preset": None,
    "noise": None,
    "choice": None,
    "output_dtype": None,
    "memory_budget": None,
    "every": None,
    "max_iter": None,
    "seed": None,
    "flag": None,
    "device": None,
}


@st.composite
def calls(draw, task: str | None = None, fault: str | None = None) -> Call:
    """A call of ``task`` (drawn when None) with the planted ``fault`` (None: a valid call)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    task = task or FAULTS.get(fault) or draw(st.sampled_from(napari_dip.TASKS))
    axes = draw(st.sampled_from(AXES))
    sizes = {letter: draw(st.integers(*SIZES[letter])) for letter in axes}
    # The named presets' networks are big (up to 2.2M weights): one fit per call for them.
    preset = draw(st.sampled_from([SMALL] * 12 + napari_dip.preset_names()))
    one_fit = preset is not SMALL
    if one_fit and "T" in sizes:
        sizes["T"] = 1
    call = Call(kwargs={"max_iter": draw(st.integers(1, 3)), "auto_stop": False})
    kw = call.kwargs

    if fault == "small":
        letter = draw(st.sampled_from("YX"))
        sizes[letter] = draw(st.integers(1, 7))
        call.fault("axes")
    shape = tuple(sizes[letter] for letter in axes)

    noise = draw(st.sampled_from(["gaussian", "poisson"]))
    if fault == "noise":
        noise = draw(st.sampled_from(["Gaussian", "laplace", None]))
        call.fault("noise")
    kw["noise"] = noise
    negative = noise == "poisson" and draw(st.booleans()) and draw(st.booleans())
    dtype = draw(st.sampled_from(VALID_DTYPES))
    if negative:  # all below zero: not photon counts
        dtype = draw(st.sampled_from(["int16", "float32", "float64"]))
        call.fault("noise")
    if fault == "dtype":
        dtype = draw(st.sampled_from(["bool", "complex64"]))
        call.fault("image")
    if dtype == "bool":
        image = rng.random(shape) > 0.5
    elif dtype == "complex64":
        image = (rng.random(shape) + 1j).astype(dtype)
    else:
        image = _values(rng, shape, dtype, non_negative=noise == "poisson")
        if negative:
            image = (-np.abs(image.astype(np.float64)) - 1).astype(dtype)
    if fault == "nan":
        image = image.astype(draw(st.sampled_from(["float16", "float32", "float64"])))
        image.flat[draw(st.integers(0, image.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
        call.fault("image", "NaN")

    # Axes: named, or scikit-image style for YX, ZYX and YXC.
    if fault == "axes":
        kw["axes"] = draw(st.sampled_from([axes + "Z" if "Z" not in axes else axes[1:], "YXS", 5]))
        call.fault("axes")
    elif axes in ("YX", "ZYX") and draw(st.booleans()):
        pass
    elif axes == "YXC" and draw(st.booleans()):
        kw["channel_axis"] = -1
    else:
        kw["axes"] = draw(st.sampled_from([axes, axes.lower()]))

    plain = "".join(letter for letter in axes if letter != "C")
    if task == "inpaint":
        kind = draw(st.sampled_from(["yx", "plain", "full"] if "C" in axes else ["yx", "plain"]))
        mask_axes = {"yx": "YX", "plain": plain, "full": axes}[kind]
        mask_shape = tuple(sizes[letter] for letter in mask_axes)
        mask = rng.random(mask_shape) < draw(st.floats(0.1, 0.5))
        mask[..., 0, 0], mask[..., -1, -1] = False, True  # something known, something missing
        if fault == "nan" and kind == "yx" and draw(st.booleans()):
            # NaN under the mask is allowed: mark every non-finite pixel as missing.
            where = ~np.isfinite(image)
            if "C" in axes:
                where = where.any(axis=axes.index("C"))
            mask |= where.reshape((-1, *where.shape[-2:])).any(axis=0)
            call.faults = []
        if fault == "mask":
            mask = draw(
                st.sampled_from(
                    [np.zeros(mask_shape), np.ones(mask_shape), np.ones((5, 5)), mask[..., :-1]]
                )
            )
            call.fault("mask")
        kw["mask"] = mask.astype(draw(st.sampled_from(["bool", "uint8", "float32"])))
        if fault == "nan" and call.faults:  # the drawn mask may hide the NaN by chance
            missing = canonical_mask(mask, axes, image.shape)
            if not (~np.isfinite(to_canonical(image, axes)) & ~missing).any():
                call.faults = []
    factor = 1
    if task == "super_resolve":
        factor = draw(st.sampled_from([2, 3, np.int64(2)]))
        kw["factor"] = factor
        kw["kernel"] = draw(st.sampled_from(["lanczos2", "box"]))
        if fault == "factor":
            kw["factor"] = draw(st.sampled_from([1, 0, 2.5, "2", None, True]))
            call.fault("factor")
        if fault == "kernel":
            kw["kernel"] = draw(st.sampled_from(["bicubic", None, "Box"]))
            call.fault("kernel")
    if task == "deconvolve":
        volume_psf = "Z" in axes and sizes["Z"] > 1 and draw(st.booleans())
        sigma = draw(st.floats(0.5, 1.5))
        size = draw(st.sampled_from([3, 5]))
        psf = napari_dip.gaussian_psf(sigma, size=size, ndim=3 if volume_psf else 2)
        if volume_psf:
            psf = psf[: min(3, sizes["Z"])]
            kw["stack"] = "volume"
        if draw(st.booleans()):
            psf = (psf * 1000).astype(draw(st.sampled_from(["uint16", "float64"])))
        if fault == "psf":
            psf = draw(
                st.sampled_from(
                    [np.zeros((3, 3)), np.ones((40, 3)), np.ones(3), psf > 0, [[1, 2], [3]]]
                )
            )
            call.fault("psf")
        kw["psf"] = psf

    if "stack" not in kw:
        kw["stack"] = "volume" if one_fit else draw(st.sampled_from(["volume", "planes"]))
    kw["channels"] = "joint" if one_fit else draw(st.sampled_from(["joint", "independent"]))
    if fault == "choice":
        name = draw(st.sampled_from(["channels", "stack"]))
        kw[name] = draw(st.sampled_from(["both", None, "Joint"]))
        call.fault(name)
    if fault == "preset":
        preset = draw(st.sampled_from(["best", None, 3]))
        call.fault("preset")
    kw["preset"] = preset
    output_dtype = draw(st.sampled_from([None, None, "input", "uint8", "int32", "float16", "f8"]))
    if fault == "output_dtype":
        output_dtype = draw(st.sampled_from(["complex64", bool, "nonsense", 3]))
        call.fault("output_dtype")
    kw["output_dtype"] = output_dtype
    budget = draw(st.sampled_from([None, "4GB", 2**40, 10**400]))
    if fault == "memory_budget":
        budget = draw(st.sampled_from(["lots", 0, -1.5, True, 1000]))
        call.fault("memory_budget", "memory budget")
    kw["memory_budget"] = budget
    kw["seed"] = draw(st.sampled_from([0, 7, 2**63, 2**64 - 1]))
    if fault == "seed":
        kw["seed"] = draw(st.sampled_from([-1, 2**64, 1.5, "0"]))
        call.fault("seed")
    if fault == "max_iter":
        kw["max_iter"] = draw(st.sampled_from([0, -1, 1.5, True]))
        call.fault("max_iter")
    if fault == "flag":
        name = draw(st.sampled_from(["auto_stop", "warm_start"]))
        kw[name] = draw(st.sampled_from(["no", 1]))
        call.fault(name)
    call.every = draw(st.integers(1, 3))
    if fault == "every":
        call.every = draw(st.sampled_from([0, "1", 1.5, True]))
        call.fault("every")
    kw["device"] = "cpu"
    if draw(st.booleans()):
        import torch

        kw["device"] = torch.device("cpu")  # taken by its name
    if fault == "device":
        import torch

        kw["device"] = draw(st.sampled_from(["gpu", "cuda:99", 3, torch.device("meta")]))
        call.fault("device")

    as_tensor = dtype in ("uint8", "int16", "float32", "float64") and draw(st.booleans())
    kw["image"] = image
    if as_tensor:
        import torch

        kw["image"] = torch.from_numpy(image.copy())
    call.kwargs = {"task": task, **kw}
    call.shape = tuple(n * factor if letter in "YX" else n for letter, n in zip(axes, shape))
    if output_dtype is None:
        call.dtype = np.result_type(image.dtype, np.float32)
    elif output_dtype == "input":
        call.dtype = image.dtype
    elif not call.faults or "output_dtype" not in call.faults:
        call.dtype = np.dtype(output_dtype)
    return call


def _snapshot_of(value):
    if hasattr(value, "detach"):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _same(a, b) -> bool:
    if hasattr(a, "detach"):
        return bool(((a == b) | (a.isnan() & b.isnan())).all())
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    return True


def _names_a_fault(message: str, faults: list[str]) -> bool:
    return any(re.search(re.escape(name), message, re.IGNORECASE) for name in faults)


def _check(call: Call) -> None:
    kwargs = dict(call.kwargs)
    arrays = {k: _snapshot_of(v) for k, v in kwargs.items() if k in ("image", "mask", "psf")}
    seen = []
    try:
        run = Restoration(kwargs.pop("task"), kwargs.pop("image"), **kwargs)
        result = run.run(seen.append, every=call.every)
    except ERRORS as error:
        event(f"{type(error).__name__} for {call.faults}")
        assert call.faults, f"unexpected {type(error).__name__}: {error}"
        assert _names_a_fault(str(error), call.faults), (
            f"{type(error).__name__} does not name any of {call.faults}: {error}"
        )
    else:
        event(f"result of {call.kwargs['task']}")
        assert not call.faults, f"no error for faults {call.faults}"
        assert result.shape == call.shape and result.dtype == call.dtype
        assert np.isfinite(result).all()
        assert seen and seen[-1].done and run.info.iterations >= 1
    for name, before in arrays.items():
        assert _same(call.kwargs[name], before), f"{name} was modified"


@pytest.mark.slow
@pytest.mark.parametrize("task", napari_dip.TASKS)
@fast(10)
@given(data=st.data())
def test_valid_call_returns_a_finite_result_of_the_expected_shape_and_dtype(task, data):
    _check(data.draw(calls(task)))


@pytest.mark.parametrize("fault", sorted(FAULTS))
@fast(4)
@given(data=st.data())
def test_bad_argument_raises_an_error_that_names_it(fault, data):
    _check(data.draw(calls(fault=fault)))


# --- the building blocks ---------------------------------------------------------------


@fast(60)
@given(
    axes=st.permutations("TCZYX").map("".join),
    drop=st.sets(st.sampled_from("TCZ")),
    seed=st.integers(0, 2**16),
)
def test_axes_round_trip(axes, drop, seed):
    axes = "".join(letter for letter in axes if letter not in drop)
    shape = tuple(np.random.default_rng(seed).integers(1, 4, len(axes)))
    image = np.arange(np.prod(shape)).reshape(shape)
    canonical = to_canonical(image, axes)
    assert canonical.ndim == 5
    assert np.array_equal(from_canonical(canonical, axes), image)


@fast(60)
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=20
    ),
    dtype=st.sampled_from(["uint8", "uint16", "int16", "int32", "uint64", "float16", "float32"]),
)
def test_cast_result_stays_in_range_and_finite(values, dtype):
    result = cast_result(np.array(values), dtype)
    assert result.dtype == np.dtype(dtype) and np.isfinite(result.astype(np.float64)).all()


@fast(80)
@given(
    value=st.one_of(
        st.integers(-(2**70), 2**500),
        st.floats(),
        st.text(max_size=12),
        st.builds(
            "{}{}{}".format,
            st.decimals(0, 10**6, places=2, allow_nan=False).map(str),
            st.sampled_from(["", " "]),
            st.sampled_from(["", "B", "KB", "MiB", "G", "gb", "T", "PB"]),
        ),
    )
)
def test_parse_memory_returns_bytes_or_a_clear_error(value):
    try:
        parsed = parse_memory(value, "memory_budget")
    except ValueError as error:
        assert "memory_budget" in str(error)
    else:
        assert isinstance(parsed, int) and 1 <= parsed <= MAX_MEMORY


@fast(60)
@given(
    sigma=st.one_of(
        st.floats(-1, 5),
        st.lists(st.floats(0.1, 3), min_size=0, max_size=4),
        st.just(float("nan")),
    ),
    size=st.one_of(st.none(), st.integers(-1, 9), st.lists(st.integers(1, 7), max_size=4)),
    ndim=st.one_of(st.none(), st.integers(0, 3)),
)
def test_gaussian_psf_sums_to_one_or_raises_clearly(sigma, size, ndim):
    try:
        psf = napari_dip.gaussian_psf(sigma, size=size, ndim=ndim)
    except ValueError as error:
        assert re.search("sigma|size|ndim", str(error))
    else:
        assert psf.dtype == np.float32 and abs(float(psf.sum()) - 1) < 1e-4
        assert psf.min() >= 0


@fast(60)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple),
    scale=st.sampled_from([1e-300, 1.0, 1e300]),
    negative=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_check_psf_normalises_without_touching_the_input(shape, scale, negative, seed):
    psf = np.random.default_rng(seed).random(shape) * scale
    if negative:
        psf = -psf
    before = psf.copy()
    try:
        normalised = check_psf(psf, (8, 8, 8))
    except ValueError as error:
        assert "psf" in str(error)
    else:
        assert abs(float(normalised.sum(dtype=np.float64)) - 1) < 1e-4
    assert np.array_equal(psf, before)


@fast(40)
@given(
    levels=st.integers(1, 6),
    kernels=st.tuples(*[st.sampled_from([1, 3, 5, 7])] * 3),
    pad=st.sampled_from(["reflection", "zero"]),
    skip=st.integers(0, 2),
    shape=st.one_of(
        st.tuples(st.integers(1, 24), st.integers(1, 24)),
        st.tuples(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12)),
    ),
)
def test_any_valid_network_runs_on_any_small_shape(levels, kernels, pad, skip, shape):
    """The coarsest level keeps enough pixels for the filters' reflection padding."""
    import torch

    from napari_dip.core.nets import SkipNet, level_strides, padded_shape

    spec = NetSpec(
        down=(2,) * levels,
        up=(2,) * levels,
        skip=(skip,) * levels,
        kernel_down=kernels[0],
        kernel_up=kernels[1],
        kernel_skip=kernels[2],
        pad=pad,
    )
    padded = padded_shape(shape, levels, spec.coarsest)
    net = SkipNet(1, 1, spec, len(shape), level_strides(shape, levels, spec.coarsest))
    with torch.no_grad():
        out = net(torch.rand(1, 1, *padded))
    assert out.shape[2:] == padded and all(p >= n for p, n in zip(padded, shape))


RECIPE_FIELDS = {
    "lr": st.one_of(st.floats(), st.integers(-1, 1), st.just("0.01")),
    "ema": st.one_of(st.none(), st.floats()),
    "max_iter": st.one_of(st.integers(-2, 5), st.floats(0, 5)),
    "reg_noise_std": st.floats(),
    "stop_holdout": st.floats(),
    "stop_patience": st.integers(-2, 3),
    "stop_min_iter": st.integers(-2, 3),
    "input_depth": st.one_of(st.integers(-1, 3), st.booleans()),
    "fuse": st.one_of(st.booleans(), st.integers(0, 1), st.just("yes"), st.none()),
}


@fast(80)
@given(field_name=st.sampled_from(sorted(RECIPE_FIELDS)), data=st.data())
def test_recipe_fields_are_valid_or_named_in_the_error(field_name, data):
    value = data.draw(RECIPE_FIELDS[field_name])
    try:
        recipe = replace(SMALL, **{field_name: value})
    except (ValueError, TypeError) as error:
        assert field_name in str(error)
    else:  # a recipe it accepts runs and gives a finite result
        image = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
        out = napari_dip.denoise(image, preset=recipe, max_iter=2, seed=0, device="cpu")
        assert np.isfinite(out).all()


@fast(30)
@given(
    task=st.sampled_from(napari_dip.TASKS),
    value=st.sampled_from([0.0, 1e-30, 7.0, 4.0, 65535.0, -3.5, 1e30]),
    dtype=st.sampled_from(["uint16", "float32", "float64"]),
    noise=st.sampled_from(["gaussian", "poisson"]),
    others=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_a_constant_channel_comes_back_constant(task, value, dtype, noise, others, seed):
    """Blank and saturated channels are common in real stacks: no structure may appear there."""
    if dtype == "uint16" and not (0 <= value <= 65535 and value == int(value)):
        value = 7.0
    if noise == "poisson" and value < 0:
        noise = "gaussian"
    rng = np.random.default_rng(seed)
    image = np.full((3 if others else 1, 12, 12), value, dtype=dtype)
    if others:  # the constant channel sits among two that are not
        image[0] = _values(rng, (12, 12), dtype, non_negative=True)
        image[2] = _values(rng, (12, 12), dtype, non_negative=True)
    data = {
        "inpaint": {"mask": rng.random((12, 12)) < 0.3},
        "super_resolve": {"factor": 2},
        "deconvolve": {"psf": napari_dip.gaussian_psf(1.0, size=3)},
    }.get(task, {})
    if task == "inpaint":
        data["mask"][0, 0] = False
    before = image.copy()
    options = {"preset": SMALL, "max_iter": 3, "seed": 0, "device": "cpu", "noise": noise}
    result = napari_dip.Restoration(task, image, axes="CYX", **data, **options).run()
    channel = 1 if others else 0
    expected = cast_result(np.asarray([value]), result.dtype)[0]
    assert (result[channel] == expected).all(), (result[channel].min(), result[channel].max())
    assert np.array_equal(image, before)


@fast(20)
@given(
    level=st.sampled_from([1e-30, 1.0, 7.0, 1e6]),
    relative_spread=st.sampled_from([1e-9, 1e-6, 1e-3]),
    seed=st.integers(0, 2**16),
)
def test_near_constant_data_gains_no_noise_beyond_its_own_spread(level, relative_spread, seed):
    image = level * (1 + relative_spread * np.random.default_rng(seed).standard_normal((16, 16)))
    low, high = image.min(), image.max()
    result = napari_dip.denoise(image, preset=SMALL, max_iter=3, seed=0, device="cpu")
    spread = high - low
    assert low - spread <= result.min() and result.max() <= high + spread


@fast(20)
@given(
    outlier=st.floats(1e3, 1e300),
    sign=st.sampled_from([1, -1]),
    noise=st.sampled_from(["gaussian", "poisson"]),
    where=st.integers(0, 255),
)
def test_a_far_outlier_does_not_break_the_fit(outlier, sign, noise, where):
    """One value beyond float32 (1e39 among a few hundred) used to overflow the loss."""
    image = np.random.default_rng(0).normal(300, 20, (16, 16))
    if noise == "poisson":
        sign = 1
    image.flat[where] = sign * outlier
    result = napari_dip.denoise(
        image, preset=SMALL, max_iter=3, seed=0, device="cpu", noise=noise, auto_stop=False
    )
    assert result.dtype == np.float64 and np.isfinite(result).all()
