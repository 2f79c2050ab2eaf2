"""Axes strings: checks, defaults, guesses, the canonical (T, C, Z, Y, X) layout, masks."""

import numpy as np
import pytest

from napari_dip.imaging.axes import (
    AXES,
    axes_from_channel_axis,
    canonical_mask,
    check_axes,
    check_axis_sizes,
    describe,
    from_canonical,
    guess_axes,
    to_canonical,
)


def numbered(shape):
    return np.arange(np.prod(shape)).reshape(shape)


def test_canonical_order():
    assert AXES == "TCZYX"


@pytest.mark.parametrize(
    ("axes", "ndim", "expected"),
    [("yx", 2, "YX"), ("YXC", 3, "YXC"), ("zCyX", 4, "ZCYX"), ("TZCYX", 5, "TZCYX")],
)
def test_check_axes_normalises(axes, ndim, expected):
    assert check_axes(axes, ndim) == expected


@pytest.mark.parametrize(
    ("axes", "ndim", "error", "match"),
    [
        (None, 2, TypeError, "must be a string"),
        (["Y", "X"], 2, TypeError, "must be a string"),
        ("SYX", 3, ValueError, r"unknown letter\(s\) 'S'.*T \(time\).*for S .* use C"),
        ("QYX", 3, ValueError, "unknown letter.*'Q'.*not supported.*T"),
        ("ZZYX", 4, ValueError, "repeats Z"),
        ("ZY", 2, ValueError, "has no X"),
        ("CZ", 2, ValueError, "has no Y or X"),
        ("ZYX", 6, ValueError, "at most 5 axes"),
    ],
)
def test_check_axes_errors(axes, ndim, error, match):
    with pytest.raises(error, match=match):
        check_axes(axes, ndim)


def test_check_axes_length_names_shape_and_guess():
    with pytest.raises(ValueError, match=r"has 3 \(shape \(64, 64, 3\)\); it may be axes='YXC'"):
        check_axes("YX", 3, shape=(64, 64, 3))
    with pytest.raises(ValueError, match=r"has 4 \(shape \(5, 10, 64, 64\)\).*'TZYX'"):
        check_axes("ZYX", 4, shape=(5, 10, 64, 64))


@pytest.mark.parametrize(
    ("ndim", "channel_axis", "expected"),
    [
        (2, None, "YX"),
        (3, None, "ZYX"),
        (3, -1, "YXC"),
        (3, 0, "CYX"),
        (4, 0, "CZYX"),
        (4, 1, "ZCYX"),
        (4, -1, "ZYXC"),
    ],
)
def test_axes_from_channel_axis(ndim, channel_axis, expected):
    assert axes_from_channel_axis(ndim, channel_axis) == expected


@pytest.mark.parametrize(("ndim", "channel_axis"), [(4, None), (5, None), (5, 1)])
def test_axes_from_channel_axis_never_guesses_4d_or_5d(ndim, channel_axis):
    with pytest.raises(ValueError, match="needs axes="):
        axes_from_channel_axis(ndim, channel_axis)


def test_axes_from_channel_axis_errors():
    with pytest.raises(ValueError, match="1 spatial axes"):
        axes_from_channel_axis(2, -1)
    with pytest.raises(ValueError, match="out of range"):
        axes_from_channel_axis(3, 3)
    with pytest.raises(TypeError, match="integer or None"):
        axes_from_channel_axis(3, True)


@pytest.mark.parametrize(
    ("shape", "rgb", "expected"),
    [
        ((64, 64), False, "YX"),
        ((64, 64, 3), True, "YXC"),
        ((5, 64, 64, 3), True, "ZYXC"),
        ((3, 64, 64), False, "ZYX"),  # the channel heuristic is for 4 and 5 axes only
        ((10, 64, 64), False, "ZYX"),
        ((5, 10, 64, 64), False, "TZYX"),
        ((5, 10, 12, 64, 64), False, "TZCYX"),
        ((50, 3, 64, 64), False, "ZCYX"),
        ((3, 50, 64, 64), False, "CZYX"),
        ((1, 2, 30, 64, 64), False, "TCZYX"),  # OME order, T=1
        ((1, 1, 30, 64, 64), False, "TCZYX"),
        ((5, 20, 3, 64, 64), False, "TZCYX"),  # ImageJ order
    ],
)
def test_guess_axes_from_shape(shape, rgb, expected):
    axes, reason = guess_axes(shape, rgb=rgb)
    assert axes == expected
    assert "guess" in reason
    assert check_axes(axes, len(shape)) == axes


def test_guess_axes_heuristic_says_which_axis():
    axes, reason = guess_axes((50, 3, 64, 64))
    assert "axis 1 (size 3) taken as channels" in reason


@pytest.mark.parametrize(
    ("labels", "shape", "rgb", "expected"),
    [
        (("t", "z", "c", "y", "x"), (2, 5, 12, 64, 64), False, "TZCYX"),
        (("time", "Z", "Channel", "y", "x"), (2, 5, 3, 64, 64), False, "TZCYX"),
        (("T", "Z", "Y", "X"), (2, 3, 64, 64), False, "TZYX"),  # no channel heuristic
        (("frame", "ch", "y", "x"), (20, 2, 64, 64), False, "TCYX"),
        (("depth", "y", "x"), (4, 64, 64), False, "ZYX"),
        (("t", "y", "x"), (4, 64, 64, 3), True, "TYXC"),  # napari omits the RGB axis
    ],
)
def test_guess_axes_from_labels(labels, shape, rgb, expected):
    axes, reason = guess_axes(shape, rgb=rgb, axis_labels=labels)
    assert axes == expected
    assert "axis labels" in reason and "not usable" not in reason


@pytest.mark.parametrize(
    "labels",
    [
        ("-4", "-3", "-2", "-1"),  # napari 0.9's defaults
        ("0", "1", "2", "3"),
        ("axis -4", "axis -3", "axis -2", "axis -1"),
    ],
)
def test_guess_axes_ignores_default_labels(labels):
    assert guess_axes((5, 10, 64, 64), axis_labels=labels) == guess_axes((5, 10, 64, 64))


@pytest.mark.parametrize(
    "labels",
    [
        ("-4", "z", "y", "x"),  # partly default
        ("wavelength", "z", "y", "x"),
        ("z", "z", "y", "x"),
        ("t", "z", "y"),  # one label too few
        ("t", "z", "c", "x"),  # no Y
    ],
)
def test_guess_axes_falls_back_from_unusable_labels(labels):
    axes, reason = guess_axes((5, 10, 64, 64), axis_labels=labels)
    assert axes == "TZYX"
    assert "not usable" in reason and "guess" in reason


def test_guess_axes_rgb_label_clash_falls_back():
    axes, reason = guess_axes((5, 64, 64, 3), rgb=True, axis_labels=("c", "y", "x"))
    assert axes == "ZYXC" and "not usable" in reason


@pytest.mark.parametrize(("shape", "rgb"), [((64,), False), ((2,) * 6, False), ((64, 3), True)])
def test_guess_axes_impossible_ndim(shape, rgb):
    with pytest.raises(ValueError, match="cannot name the axes"):
        guess_axes(shape, rgb=rgb)


@pytest.mark.parametrize(
    ("axes", "shape", "canonical"),
    [
        ("YX", (8, 9), (1, 1, 1, 8, 9)),
        ("YXC", (8, 9, 3), (1, 3, 1, 8, 9)),
        ("CZYX", (2, 5, 8, 9), (1, 2, 5, 8, 9)),
        ("ZTYX", (5, 4, 8, 9), (4, 1, 5, 8, 9)),
        ("TZCYX", (4, 5, 3, 8, 9), (4, 3, 5, 8, 9)),
        ("xyt", (9, 8, 4), (4, 1, 1, 8, 9)),
    ],
)
def test_canonical_round_trip(axes, shape, canonical):
    image = numbered(shape)
    before = image.copy()
    data = to_canonical(image, axes)
    assert data.shape == canonical
    assert np.shares_memory(data, image)  # a view, no copy
    back = from_canonical(data, axes, image_shape=shape)
    assert back.shape == shape and np.array_equal(back, image)
    assert np.array_equal(from_canonical(data, axes), image)
    assert np.array_equal(image, before)


def test_to_canonical_places_values():
    image = numbered((4, 5, 3, 8, 9))  # TZCYX
    data = to_canonical(image, "TZCYX")
    assert data[1, 2, 3, 4, 5] == image[1, 3, 2, 4, 5]


@pytest.mark.parametrize("axes", ["YX", "YXC", "CZYX", "ZTYX", "TZCYX"])
def test_from_canonical_super_resolved(axes):
    sizes = {"T": 2, "C": 3, "Z": 4, "Y": 8, "X": 9}
    shape = tuple(sizes[letter] for letter in axes)
    result = numbered(tuple(sizes[a] * (2 if a in "YX" else 1) if a in axes else 1 for a in AXES))
    back = from_canonical(result, axes, yx_factor=2, image_shape=shape)
    expected = tuple(n * 2 if letter in "YX" else n for letter, n in zip(axes, shape))
    assert back.shape == expected
    assert np.array_equal(to_canonical(back, axes), result)


def test_from_canonical_errors():
    with pytest.raises(ValueError, match="expected a 5D"):
        from_canonical(np.zeros((8, 9)), "YX")
    with pytest.raises(ValueError, match="has T=2, which axes 'YX' lacks"):
        from_canonical(np.zeros((2, 1, 1, 8, 9)), "YX")
    with pytest.raises(
        ValueError, match=r"\(16, 18\).*image of shape \(8, 8\).*expected \(16, 16\)"
    ):
        from_canonical(np.zeros((1, 1, 1, 16, 18)), "YX", yx_factor=2, image_shape=(8, 8))
    with pytest.raises(ValueError, match="X=9, not a multiple of yx_factor=2"):
        from_canonical(np.zeros((1, 1, 1, 8, 9)), "YX", yx_factor=2)
    with pytest.raises(ValueError, match="positive integer"):
        from_canonical(np.zeros((1, 1, 1, 8, 9)), "YX", yx_factor=0)


IMAGE = (2, 3, 4, 8, 9)  # TZCYX: T=2, Z=3, C=4


@pytest.mark.parametrize(
    ("mask_shape", "canonical"),
    [
        ((2, 3, 8, 9), (2, 1, 3, 8, 9)),  # TZYX: per plane and frame
        ((3, 8, 9), (1, 1, 3, 8, 9)),  # ZYX: every frame
        ((8, 9), (1, 1, 1, 8, 9)),  # YX: every plane and frame
        (IMAGE, (2, 4, 3, 8, 9)),  # per channel
    ],
)
def test_canonical_mask_shapes(mask_shape, canonical):
    mask = np.random.default_rng(0).random(mask_shape) < 0.3
    before = mask.copy()
    missing = canonical_mask(mask.astype(np.uint8), "TZCYX", IMAGE)
    assert missing.dtype == bool and missing.shape == canonical
    mask_axes = "TZCYX" if mask_shape == IMAGE else "TZYX"[-len(mask_shape) :]
    assert np.array_equal(missing, to_canonical(mask, mask_axes))
    assert np.broadcast_shapes(missing.shape, (2, 4, 3, 8, 9)) == (2, 4, 3, 8, 9)
    assert np.array_equal(mask, before)


def test_canonical_mask_follows_image_order():
    mask = numbered((4, 5, 8, 9)) % 3 == 0  # ZTYX, like the image without C
    missing = canonical_mask(mask, "ZCTYX", (4, 2, 5, 8, 9))
    assert missing.shape == (5, 1, 4, 8, 9)
    assert np.array_equal(missing[:, 0], mask.transpose(1, 0, 2, 3))


def test_canonical_mask_rgb():
    assert canonical_mask(np.ones((8, 9)), "YXC", (8, 9, 3)).shape == (1, 1, 1, 8, 9)
    assert canonical_mask(np.ones((8, 9, 3)), "YXC", (8, 9, 3)).shape == (1, 3, 1, 8, 9)


def test_canonical_mask_is_a_copy():
    mask = np.zeros((8, 9), dtype=bool)
    missing = canonical_mask(mask, "YX", (8, 9))
    assert not np.shares_memory(missing, mask)


@pytest.mark.parametrize("mask_shape", [(3, 9, 8), (4, 8, 9), (9,), (2, 3, 4, 8, 9, 1)])
def test_canonical_mask_mismatch_names_both(mask_shape):
    with pytest.raises(ValueError, match=r"mask of shape .*image of shape \(2, 3, 4, 8, 9\)") as e:
        canonical_mask(np.zeros(mask_shape), "TZCYX", IMAGE)
    assert "(TZCYX)" in str(e.value) and "ZYX (3, 8, 9)" in str(e.value)


def test_canonical_mask_bad_values():
    with pytest.raises(TypeError, match="dtype"):
        canonical_mask(np.zeros((8, 9), dtype=complex), "YX", (8, 9))
    with pytest.raises(ValueError, match="NaN"):
        canonical_mask(np.full((8, 9), np.nan), "YX", (8, 9))


@pytest.mark.parametrize(
    ("shape", "axes"),
    [((64, 64), "YX"), ((1, 64, 64), "ZYX"), ((1, 1, 8, 8), "TZYX"), ((32, 8, 8), "CYX")],
)
def test_check_axis_sizes_accepts(shape, axes):
    check_axis_sizes(shape, axes)


@pytest.mark.parametrize(
    ("shape", "axes", "match"),
    [
        ((64, 1), "YX", r"X has 1 pixel\(s\).*a line, not an image"),
        ((7, 64, 3), "YXC", "Y has 7 pixel"),
        ((40, 64, 64), "CYX", r"C has 40 entries.*Z or T.*axes='ZYX'"),
        ((5, 40, 64, 64), "ZCYX", "axes='ZTYX'"),
        ((2, 5, 40, 64, 64), "TZCYX", "axes='CZTYX'"),
        ((0, 64, 64), "ZYX", "empty"),
    ],
)
def test_check_axis_sizes_errors(shape, axes, match):
    with pytest.raises(ValueError, match=match):
        check_axis_sizes(shape, axes)


def test_describe():
    assert describe((5, 12, 3, 256, 256), "tzcyx") == "T=5 Z=12 C=3 Y=256 X=256"
    assert describe((64, 64, 3), "YXC") == "Y=64 X=64 C=3"


@pytest.mark.parametrize("shape", ["abc", 5, (-5, 8), (8.5, 8), [[1, 2]], (True, 8)])
def test_guess_axes_refuses_what_is_not_a_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        guess_axes(shape)
