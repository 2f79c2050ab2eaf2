"""Named axes of microscopy arrays: which axis is time, depth, channel, Y or X.

Axes are written as strings such as ``"ZYX"``, ``"YXC"`` (RGB) or ``"TZCYX"``:
any order of a subset of the letters T, Z, C, Y and X, with Y and X required,
case-insensitive.  Y and X are fitted; Z is fitted as a volume or plane by
plane; C channels are fitted jointly or one by one; T is always looped over.

Internally every array is brought to the canonical order ``AXES`` (T, C, Z,
Y, X), with size-1 axes for the letters it lacks.
"""

from __future__ import annotations

import numbers
import re

import numpy as np

from .checks import as_array

__all__ = [
    "AXES",
    "axes_from_channel_axis",
    "axes_of_mask",
    "canonical_mask",
    "check_axes",
    "check_axis_sizes",
    "describe",
    "from_canonical",
    "guess_axes",
    "to_canonical",
    "to_canonical_shape",
]

AXES = "TCZYX"

MIN_YX = 8
MAX_CHANNELS = 32

# The guess for an image without axis labels, by its number of axes.
_DEFAULT = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TZCYX"}

_LABELS = {
    "t": "T",
    "time": "T",
    "frame": "T",
    "frames": "T",
    "z": "Z",
    "depth": "Z",
    "plane": "Z",
    "planes": "Z",
    "slice": "Z",
    "slices": "Z",
    "c": "C",
    "ch": "C",
    "channel": "C",
    "channels": "C",
    "y": "Y",
    "x": "X",
}

# napari's default labels: "-2", "-1" for layers (0.9), "0", "1" in older dims,
# and "axis -1" inside a transform before its labels are set.
_DEFAULT_LABEL = re.compile(r"(axis\s*)?-?\d+")


def _parse(axes) -> str:
    """``axes`` upper-cased, checked on its own (letters, repeats, Y and X)."""
    if not isinstance(axes, str):
        raise TypeError(f"axes must be a string such as 'ZYX' or 'TZCYX', got {axes!r}")
    upper = axes.upper()
    unknown = sorted(set(upper) - set(AXES))
    if unknown:
        hint = "; for S (samples, e.g. RGB colour) use C" if "S" in unknown else ""
        raise ValueError(
            f"axes {axes!r} has unknown letter(s) {', '.join(map(repr, unknown))}; use T (time), "
            f"Z (depth), C (channel), Y and X{hint}. Other letters are not supported: "
            "name another stacking axis T to restore its entries one by one"
        )
    repeated = sorted({letter for letter in upper if upper.count(letter) > 1})
    if repeated:
        raise ValueError(f"axes {axes!r} repeats {', '.join(repeated)}; name each axis once")
    missing = [letter for letter in "YX" if letter not in upper]
    if missing:
        raise ValueError(f"axes {axes!r} has no {' or '.join(missing)}; Y and X are required")
    return upper


def _looks_rgb(shape: tuple[int, ...]) -> bool:
    """napari's own guess: the last axis has 3 or 4 entries, the two before it more than 30."""
    return len(shape) > 2 and shape[-1] in (3, 4) and min(shape[-3:-1]) > 30


def check_axes(axes, ndim: int, *, shape: tuple[int, ...] | None = None) -> str:
    """``axes`` normalised to upper case, checked against an image with ``ndim`` axes.

    ``shape``, the image's shape, only makes the error messages more helpful.
    """
    upper = _parse(axes)
    if len(upper) != ndim:
        image = f" (shape {tuple(shape)})" if shape is not None else ""
        if shape is not None and ndim in _DEFAULT:
            hint = f"; it may be axes={guess_axes(shape, rgb=_looks_rgb(shape))[0]!r}"
        elif ndim in _DEFAULT:
            hint = f"; it may be axes={_DEFAULT[ndim]!r}"
        else:
            hint = f"; at most {len(AXES)} axes (T, Z, C, Y, X) are supported"
        raise ValueError(
            f"axes {axes!r} names {len(upper)} axes but the image has {ndim}{image}{hint}"
        )
    return upper


def axes_from_channel_axis(ndim: int, channel_axis: int | None) -> str:
    """The axes of an image given only ``channel_axis``: YX or ZYX, plus C there.

    4D and 5D images need an explicit ``axes`` string (T or C and Z cannot be
    told apart), unless ``channel_axis`` leaves three spatial axes.
    """
    if channel_axis is not None:
        if isinstance(channel_axis, bool) or not isinstance(channel_axis, numbers.Integral):
            raise TypeError(f"channel_axis must be an integer or None, got {channel_axis!r}")
        if not -ndim <= channel_axis < ndim:
            raise ValueError(
                f"channel_axis={channel_axis} is out of range for an image with {ndim} axes"
            )
    spatial = ndim - (channel_axis is not None)
    if spatial == 2:
        axes = "YX"
    elif spatial == 3:
        axes = "ZYX"
    elif spatial > 3:
        raise ValueError(
            f"an image with {ndim} axes needs axes=, e.g. axes='TZYX', 'CZYX' or 'TZCYX' "
            "(T: frames restored one by one, Z: depth, C: channels)"
        )
    else:
        raise ValueError(
            f"an image with {ndim} axes and channel_axis={channel_axis} has {spatial} spatial "
            "axes; expected 2 (YX) or 3 (ZYX)"
        )
    if channel_axis is None:
        return axes
    position = channel_axis % ndim
    return axes[:position] + "C" + axes[position:]


def _pick_channel(sizes: tuple[int, ...], default: int | None) -> int | None:
    """The leading axis most likely to hold channels: a short one (<= 4 entries), or None.

    Among several, one longer than 1 wins, then ``default``, then the last
    (closest to Y and X, where both ImageJ and OME put C).
    """
    short = [i for i, n in enumerate(sizes) if n <= 4]
    pool = [i for i in short if sizes[i] > 1] or short
    if not pool:
        return None
    return default if default in pool else pool[-1]


def _guess_from_shape(shape: tuple[int, ...], rgb: bool) -> tuple[str, str]:
    ndim = len(shape)
    if rgb:
        if ndim - 1 not in (2, 3, 4):
            raise ValueError(f"cannot name the axes of an RGB image of shape {shape}")
        axes = _DEFAULT[ndim - 1] + "C"
        return axes, f"guess for an RGB image with {ndim} axes: {axes}; check it"
    if ndim not in _DEFAULT:
        raise ValueError(
            f"cannot name the axes of an image of shape {shape}: "
            f"expected 2 to {len(AXES)} axes (T, Z, C, Y, X)"
        )
    channel = _pick_channel(shape[:-2], default=2 if ndim == 5 else None) if ndim > 3 else None
    if channel is None:
        return _DEFAULT[ndim], f"guess for an image with {ndim} axes: {_DEFAULT[ndim]}; check it"
    names = list(_DEFAULT[ndim - 1][:-2])
    names.insert(channel, "C")
    axes = "".join(names) + "YX"
    return axes, (
        f"guess: {axes}, axis {channel} (size {shape[channel]}) taken as channels, "
        "since a short axis is more often channels than planes; check it"
    )


def _axes_from_labels(labels, ndim: int, rgb: bool) -> str:
    """The axes named by napari axis labels (without the RGB axis), or ValueError."""
    labels = [str(label).strip().lower() for label in labels]
    if len(labels) != ndim - rgb:
        raise ValueError(f"{len(labels)} labels for {ndim - rgb} axes")
    unknown = [label for label in labels if label not in _LABELS]
    if unknown:
        raise ValueError(f"not understood: {', '.join(map(repr, unknown))}")
    axes = "".join(_LABELS[label] for label in labels) + ("C" if rgb else "")
    return check_axes(axes, ndim)


def guess_axes(shape, rgb: bool = False, axis_labels=None) -> tuple[str, str]:
    """A guess of an image's axes, and the reason for it in a few words.

    Meaningful napari ``axis_labels`` (e.g. ``("t", "z", "y", "x")`` or
    ``("time", "z", "channel", "y", "x")``, one per layer axis, so without the
    colour axis of an RGB layer) decide.  napari's default labels (``"-2"``,
    ``"-1"``) carry no meaning; the shape decides then: ``rgb`` puts C last,
    and without it 2 axes are YX, 3 ZYX, 4 TZYX, 5 TZCYX.  In 4 and 5 axes a
    leading axis with at most 4 entries is taken as C (more often channels
    than planes or frames); the other leading axes are then named like an
    image without that axis: Z, or T and Z.  ``(50, 3, Y, X)`` is ZCYX,
    ``(1, 2, 30, Y, X)`` TCZYX.

    Raises ValueError for fewer than 2 or more than 5 axes.

    Examples
    --------
    >>> from napari_dip import guess_axes
    >>> guess_axes((50, 3, 256, 256))[0]
    'ZCYX'
    >>> guess_axes((512, 512, 3), rgb=True)[0]
    'YXC'
    >>> guess_axes((10, 64, 64), axis_labels=("t", "y", "x"))[0]
    'TYX'
    """
    if isinstance(shape, (str, bytes)) or not all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0
        for n in (shape if np.ndim(shape) == 1 else [None])
    ):
        raise ValueError(f"shape must be a sequence of sizes (integers >= 0), got {shape!r}")
    shape = tuple(int(n) for n in shape)
    rgb = bool(rgb)
    labels = () if axis_labels is None else tuple(axis_labels)
    if labels and not all(_DEFAULT_LABEL.fullmatch(str(label).strip()) for label in labels):
        try:
            return _axes_from_labels(labels, len(shape), rgb), f"from the axis labels {labels}"
        except ValueError as error:
            axes, reason = _guess_from_shape(shape, rgb)
            return axes, f"axis labels {labels} not usable ({error}); {reason}"
    return _guess_from_shape(shape, rgb)


def to_canonical(array, axes: str) -> np.ndarray:
    """``array`` as (T, C, Z, Y, X), with size-1 axes for the letters ``axes`` lacks.

    A view of ``array`` when it is an ndarray: read it, do not write into it.
    """
    array = np.asarray(array)
    axes = check_axes(axes, array.ndim, shape=array.shape)
    order = [axes.index(letter) for letter in AXES if letter in axes]
    inserted = tuple(i for i, letter in enumerate(AXES) if letter not in axes)
    return np.expand_dims(array.transpose(order), inserted)


def to_canonical_shape(shape, axes: str) -> tuple[int, int, int, int, int]:
    """The (T, C, Z, Y, X) shape ``to_canonical`` gives an array of ``shape``."""
    sizes = dict(zip(axes, (int(n) for n in shape)))
    return tuple(sizes.get(letter, 1) for letter in AXES)


def from_canonical(array5d, axes: str, yx_factor: int = 1, *, image_shape=None) -> np.ndarray:
    """A (T, C, Z, Y, X) result back in the order of ``axes``, without the inserted axes.

    The result's Y and X may be ``yx_factor`` times those of the image
    (super-resolution).  With ``image_shape``, the input image's shape, the
    result must have exactly that shape with Y and X scaled; without it, Y and
    X must be multiples of ``yx_factor``.
    """
    array = np.asarray(array5d)
    axes = _parse(axes)
    if isinstance(yx_factor, bool) or not isinstance(yx_factor, numbers.Integral) or yx_factor < 1:
        raise ValueError(f"yx_factor must be a positive integer, got {yx_factor!r}")
    if array.ndim != len(AXES):
        raise ValueError(f"expected a 5D (T, C, Z, Y, X) array, got shape {array.shape}")
    sizes = dict(zip(AXES, array.shape))
    extra = [
        f"{letter}={sizes[letter]}" for letter in AXES if letter not in axes and sizes[letter] != 1
    ]
    if extra:
        raise ValueError(
            f"result of shape {array.shape} (T, C, Z, Y, X) has {', '.join(extra)}, "
            f"which axes {axes!r} lacks"
        )
    kept = [letter for letter in AXES if letter in axes]
    inserted = tuple(i for i, letter in enumerate(AXES) if letter not in axes)
    result = np.squeeze(array, axis=inserted).transpose([kept.index(letter) for letter in axes])
    if image_shape is not None:
        image_shape = tuple(int(n) for n in image_shape)
        check_axes(axes, len(image_shape), shape=image_shape)
        expected = tuple(
            n * yx_factor if letter in "YX" else n for letter, n in zip(axes, image_shape)
        )
        if result.shape != expected:
            raise ValueError(
                f"result of shape {result.shape} ({axes}) does not match the image of shape "
                f"{image_shape} ({axes}) with Y and X times {yx_factor}: expected {expected}"
            )
    else:
        for letter in "YX":
            if sizes[letter] % yx_factor:
                raise ValueError(
                    f"result has {letter}={sizes[letter]}, not a multiple of yx_factor={yx_factor}"
                )
    return result


def canonical_mask(mask, axes: str, image_shape) -> np.ndarray:
    """Boolean mask (True = missing) shaped to broadcast against the (T, C, Z, Y, X) image.

    The mask's axes are the image's axes without C, in the image's order,
    possibly without leading ones, matched from the right: for a "TZCYX"
    image a TZYX mask is one mask per plane and frame, a ZYX mask applies to
    every frame, a YX mask to every plane and frame.  The result is (T, 1, Z,
    Y, X), with size 1 for the axes the mask lacks.  A mask of the image's full
    shape, C included, is one mask per channel and gives (T, C, Z, Y, X).
    Whether anything (or everything) is missing is checked elsewhere, per
    fitted block.
    """
    array = as_array(mask, "mask")
    if array.dtype.kind not in "buif":
        raise TypeError(
            f"mask has unsupported dtype {array.dtype}; pass a boolean or integer array"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError("mask has NaN or infinite values; pass nonzero for missing pixels")
    mask_axes = axes_of_mask(array.shape, axes, image_shape)
    return to_canonical(array != 0, mask_axes)


def axes_of_mask(mask_shape, axes: str, image_shape) -> str:
    """The axes of an inpainting mask of ``mask_shape`` (see ``canonical_mask``).

    Raises ValueError, naming the shapes it accepts, when it fits none of them.
    """
    image_shape = tuple(int(n) for n in image_shape)
    mask_shape = tuple(int(n) for n in mask_shape)
    axes = check_axes(axes, len(image_shape), shape=image_shape)
    plain = axes.replace("C", "")
    plain_shape = tuple(n for letter, n in zip(axes, image_shape) if letter != "C")
    ndim = len(mask_shape)
    if "C" in axes and mask_shape == image_shape:
        return axes
    if 2 <= ndim <= len(plain) and mask_shape == plain_shape[-ndim:]:
        return plain[-ndim:]
    read_as = f" (read as {plain[-ndim:]})" if 2 <= ndim <= len(plain) else ""
    options = [f"{plain[-k:]} {plain_shape[-k:]}" for k in range(len(plain), 1, -1)]
    if "C" in axes:
        options.append(f"{axes} {image_shape} (one mask per channel)")
    raise ValueError(
        f"mask of shape {mask_shape}{read_as} does not match the image of shape "
        f"{image_shape} ({axes}); expected one of: {'; '.join(options)}"
    )


def check_axis_sizes(shape, axes: str) -> None:
    """Raise ValueError for axis sizes that cannot be what the user means.

    Y and X need at least ``MIN_YX`` pixels; more than ``MAX_CHANNELS``
    channels are most likely planes or frames, which should not be fitted
    jointly as channels.  A single plane or frame is fine.
    """
    shape = tuple(int(n) for n in shape)
    axes = check_axes(axes, len(shape), shape=shape)
    sizes = dict(zip(axes, shape))
    if 0 in shape:
        raise ValueError(f"image is empty ({describe(shape, axes)})")
    for letter in "YX":
        if sizes[letter] < MIN_YX:
            raise ValueError(
                f"{letter} has {sizes[letter]} pixel(s) ({describe(shape, axes)}); Y and X need "
                f"at least {MIN_YX} each (a 1-pixel Y or X is a line, not an image): "
                "check the axes string"
            )
    channels = sizes.get("C", 1)
    if channels > MAX_CHANNELS:
        free = [letter for letter in "ZT" if letter not in axes]
        if free:
            suggestion = axes.replace("C", free[0])
        else:  # swap C with the shorter of Z and T
            other = min("ZT", key=sizes.get)
            suggestion = axes.translate(str.maketrans({"C": other, other: "C"}))
        raise ValueError(
            f"C has {channels} entries ({describe(shape, axes)}), more than {MAX_CHANNELS}: "
            f"that looks like Z or T rather than channels fitted jointly; "
            f"if so, pass axes={suggestion!r}"
        )


def describe(shape, axes: str) -> str:
    """Sizes by axis in the order of ``axes``, e.g. ``"T=5 Z=12 C=3 Y=256 X=256"``."""
    shape = tuple(int(n) for n in shape)
    axes = check_axes(axes, len(shape), shape=shape)
    return " ".join(f"{letter}={n}" for letter, n in zip(axes, shape))
