"""Every option of a restoration, defined once: type, default, documentation and checks.

``Options`` is the one definition.  ``Restoration``, the shortcut functions
(``denoise``, ...) and ``restore_layer`` write their signatures out (so that
editors and type checkers read them; tests/test_options.py holds them to this
definition), the parameter sections of their docstrings are built from it
(``parameters_doc``), and their keywords become an ``Options``, checked before
anything runs.  The widget and the command line build an ``Options`` and pass
it whole; a run's ``RunInfo`` holds the options as resolved.
"""

import numbers
import textwrap
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Literal, get_args, get_origin

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .core.presets import Recipe

__all__ = [
    "CHANNEL_MODES",
    "KERNELS",
    "NOISE_MODELS",
    "STACK_MODES",
    "ChannelMode",
    "Kernel",
    "Noise",
    "Options",
    "StackMode",
]

ChannelMode = Literal["joint", "independent"]
StackMode = Literal["volume", "planes"]
Noise = Literal["gaussian", "poisson"]
Kernel = Literal["lanczos2", "box"]

CHANNEL_MODES: tuple[str, ...] = get_args(ChannelMode)
STACK_MODES: tuple[str, ...] = get_args(StackMode)
NOISE_MODELS: tuple[str, ...] = get_args(Noise)
KERNELS: tuple[str, ...] = get_args(Kernel)


def _option(default, doc: str, kind: str = "", compare: bool = True):
    """A field of ``Options``: its default, description and numpydoc type (choices
    have theirs from their ``Literal`` annotation); an array is not compared."""
    return field(
        default=default,
        compare=compare,
        repr=compare,
        metadata={"doc": " ".join(doc.split()), "kind": kind},
    )


@dataclass(frozen=True)
class Options:
    """The settings of a restoration besides its data (image, mask, PSF).

    Built from keywords (``Options(noise="poisson", seed=0)``); invalid values
    raise ``ValueError`` or ``TypeError`` here, before any fit.  The parameter
    sections of ``Restoration`` and ``denoise`` document each field.

    Examples
    --------
    >>> from napari_dip import Options
    >>> options = Options(noise="poisson", seed=0)
    >>> options.noise, options.channels  # the others keep their defaults
    ('poisson', 'joint')
    >>> Options(kernel="bicubic")
    Traceback (most recent call last):
    ValueError: unknown kernel 'bicubic'; choose one of 'lanczos2', 'box'
    """

    axes: str | None = _option(
        None,
        """The image's axes, any order of T (time), Z, C (channels), Y and X,
        e.g. "YX", "YXC" (RGB), "ZYX", "CZYX", "TZCYX".  Frames (T) are
        restored one after the other.  Default: "YX" or "ZYX" by the number of
        axes, with "C" at ``channel_axis``; 4D and 5D images need ``axes``.""",
        kind="str, optional",
    )
    channel_axis: int | None = _option(
        None,
        "Axis holding channels (e.g. -1 for RGB), scikit-image style, when ``axes`` is not given.",
        kind="int, optional",
    )
    channels: ChannelMode = _option(
        "joint",
        """Fit all channels with one network of C outputs (they share
        structure), or each channel with its own.""",
    )
    stack: StackMode = _option(
        "volume", "Fit a Z-stack as a volume with a 3D network, or plane by plane with a 2D one."
    )
    noise: Noise = _option(
        "gaussian",
        """Noise model of the data term: Gaussian (squared error) or Poisson
        (photon counts; values must be proportional to counts above the zero
        level ``offset``).  See docs/noise.md.""",
    )
    offset: float = _option(
        0.0,
        """With ``noise="poisson"``: the value that zero photons read as (the
        camera's offset or dark level, in the image's units).  The counts are
        the image minus it; the result keeps the image's units.""",
        kind="float",
    )
    factor: int | None = _option(
        None,
        """Super-resolution's upscaling factor (2 to 16) of the Y and X axes: the
        result has ``factor`` times their size.""",
        kind="int, optional",
    )
    kernel: Kernel = _option(
        "lanczos2",
        """Low-pass filter of super-resolution's forward model: the paper's
        Lanczos-2, or block averaging (a camera's binning).""",
    )
    keep_known: bool = _option(
        True,
        """Inpainting: True, the result is the input itself, bit for bit,
        outside the mask, and the fit only fills the missing pixels.  False,
        the network's output everywhere (a joint denoise-and-fill).""",
        kind="bool",
    )
    guide: "ArrayLike | None" = _option(
        None,
        """An image of the same field that is cleaner or brighter than this one
        (another channel, a longer exposure, a time-lapse's mean): the
        networks' input instead of random noise, so the fit starts from its
        structure.  Its Y and X are the image's (the result's for
        super-resolution), with or without a channel axis first or last; it
        guides every frame, plane and channel.  A fit without the guide runs
        beside each guided one, and the two are blended only as far as held-out
        pixels show it helps, so an unrelated guide costs time, not quality
        (without the automatic stop the guided result is kept).  Not the image
        itself.  See docs/guided.md.""",
        kind="array_like, optional",
        compare=False,
    )
    guide_channel: int | None = _option(
        None,
        """Guide the other channels with this channel of the image (same frame,
        plane and tile), as ``guide`` does; it is itself restored unguided.
        The channels on either side of it are fitted as separate groups.""",
        kind="int, optional",
    )
    preset: "str | Recipe" = _option(
        "default",
        """``"default"`` (fast, stops by itself), ``"quality"`` (an ensemble of
        four networks: about twice the time, for a GPU or an overnight run),
        ``"paper"`` (the paper's recipe for the task), a name from
        ``napari_dip.PRESETS``, or a ``Recipe``.""",
        kind="str or Recipe",
    )
    max_iter: int | None = _option(
        None, "Iteration cap of each fit; the preset's when None.", kind="int, optional"
    )
    auto_stop: bool | None = _option(
        None,
        """Stop when the result stops improving (no ground truth needed); the
        preset's choice when None.""",
        kind="bool, optional",
    )
    warm_start: bool = _option(
        True,
        """Start each frame or plane from the weights fitted to the previous
        one (same channels, same tile): much faster on similar frames.""",
        kind="bool",
    )
    memory_budget: int | str | None = _option(
        None,
        """Peak memory one fit may use, in bytes or as "4GB", "512MB" (kept
        in bytes).  Images whose fit would need more are cut into overlapping
        tiles.  Default: half the available RAM on the CPU, 80% of the free
        GPU memory.""",
        kind="int or str, optional",
    )
    output_dtype: np.dtype | type | str | None = _option(
        None,
        """When None, float32, or float64 for inputs that float32 cannot hold
        exactly (float64, 32- and 64-bit integers); ``"input"`` for the
        input's dtype; any integer or float dtype.  Integers are rounded and
        clipped to their range.""",
        kind='dtype or "input", optional',
    )
    seed: int | None = _option(
        None,
        """Fixes the networks' initialisation and noise; the same seed gives the
        same result on the CPU with fixed ``threads``.  Drawn at random (and
        recorded in ``info``) when None.""",
        kind="int, optional",
    )
    device: str = _option(
        "auto",
        """``"auto"`` (CUDA, then Apple MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``; a ``torch.device`` is taken by its name.""",
        kind="str or torch.device",
    )
    threads: int | None = _option(
        None,
        """CPU threads of each fit.  None chooses them from the CPUs this
        process may use and the image size, and adapts them to the machine's
        load while fitting.  A fixed count makes results bitwise reproducible
        for a seed whatever the load (see docs/threads.md).""",
        kind="int, optional",
    )

    def __post_init__(self):
        for name, choices in (
            ("channels", CHANNEL_MODES),
            ("stack", STACK_MODES),
            ("noise", NOISE_MODELS),
            ("kernel", KERNELS),
        ):
            check_choice(name, getattr(self, name), choices)
        for name in ("warm_start", "keep_known"):
            check_flag(name, getattr(self, name))
        if self.auto_stop is not None:
            check_flag("auto_stop", self.auto_stop)
        self._check_offset()
        self._check_guide()
        if self.axes is not None and not isinstance(self.axes, str):
            raise TypeError(f"axes must be a string such as 'ZYX', got {self.axes!r}")
        if self.channel_axis is not None and not _is_integer(self.channel_axis):
            raise TypeError(f"channel_axis must be an integer or None, got {self.channel_axis!r}")
        if self.max_iter is not None and not (_is_integer(self.max_iter) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if type(self.device).__module__ == "torch" and type(self.device).__name__ == "device":
            object.__setattr__(self, "device", str(self.device))  # recorded and re-run by name
        if not isinstance(self.device, str):
            raise TypeError(
                f"device must be a string such as 'auto', 'cpu', 'cuda', 'mps'; got {self.device!r}"
            )
        self._check_with_core()

    def _check_offset(self) -> None:
        if not isinstance(self.offset, numbers.Real) or isinstance(self.offset, bool):
            raise TypeError(f"offset must be a number, got {self.offset!r}")
        if not np.isfinite(self.offset):
            raise ValueError(f"offset must be finite, got {self.offset!r}")
        if self.offset != 0 and self.noise != "poisson":
            raise ValueError(
                f"offset={self.offset!r} is the zero level of photon counts: it applies to "
                "noise='poisson' only"
            )

    def _check_guide(self) -> None:
        """The guide's own checks; its shape is checked against the image's by the plan."""
        if self.guide_channel is not None:
            if not _is_integer(self.guide_channel) or self.guide_channel < 0:
                raise TypeError(
                    f"guide_channel must be a channel index >= 0 or None, got {self.guide_channel!r}"
                )
            if self.guide is not None:
                raise ValueError("give a guide image or a guide_channel, not both")
        if self.guide is None:
            return
        from .imaging.checks import as_array

        guide = as_array(self.guide, "guide")
        if guide.ndim not in (2, 3):
            raise ValueError(
                f"guide must be 2D (Y, X), or 3D with a channel axis first or last; "
                f"got shape {guide.shape}"
            )
        if guide.dtype.kind not in "biuf":
            raise TypeError(f"guide must hold numbers, got dtype {guide.dtype}")

    def _check_with_core(self) -> None:
        """The checks that live beside what they check (imported here: they load torch)."""
        from .core.presets import Recipe
        from .core.seeding import check_seed
        from .core.threads import check_threads
        from .core.units import parse_memory
        from .imaging.checks import check_factor

        if not isinstance(self.preset, (str, Recipe)):
            raise TypeError(f"preset must be a name or a Recipe, got {type(self.preset).__name__}")
        if self.factor is not None:
            check_factor(self.factor)
        if self.seed is not None:
            check_seed(self.seed)
        check_threads(self.threads)
        if self.memory_budget is not None:  # in bytes from here on, as records keep it
            object.__setattr__(
                self, "memory_budget", parse_memory(self.memory_budget, "memory_budget")
            )
        output_dtype(self.output_dtype, np.dtype(np.float32))

    @classmethod
    def from_arguments(cls, arguments: dict, exclude: tuple[str, ...] = ()) -> "Options":
        """The options among a function's ``arguments`` (its ``locals()``), but ``exclude``."""
        return cls(**{n: arguments[n] for n in cls.names() if n in arguments and n not in exclude})

    def changed(self) -> dict:
        """The options that differ from their defaults, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if _differs(self, f)}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The options' names, in the order they are defined."""
        return tuple(f.name for f in fields(cls))

    def keywords(self) -> dict:
        """The options as keywords of ``Restoration`` (values as they are, not copied)."""
        return {name: getattr(self, name) for name in self.names()}


def _differs(options: Options, option) -> bool:
    value = getattr(options, option.name)
    return value is not option.default and (option.default is None or value != option.default)


def output_dtype(value, input_dtype: np.dtype) -> np.dtype:
    """The result's dtype for ``Options.output_dtype`` and an input of ``input_dtype``."""
    if value is None:  # float32, or float64 where float32 cannot hold the input
        return np.result_type(input_dtype, np.float32)
    if isinstance(value, str) and value == "input":
        return np.dtype(input_dtype)
    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"output_dtype must be None, 'input' or a numpy dtype, got {value!r} ({error})"
        ) from None
    if dtype.kind not in "uif":
        raise TypeError(f"output_dtype must be an integer or float type, got {dtype}")
    return dtype


def check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_every(every) -> int:
    """Iterations between snapshots: an integer >= 1."""
    if not _is_integer(every):
        raise TypeError(
            f"every must be an integer >= 1 (iterations between snapshots), got {every!r}"
        )
    if every < 1:
        raise ValueError(
            f"every must be an integer >= 1 (iterations between snapshots), got {every}"
        )
    return int(every)


# --- docstrings built from the definition ---------------------------------------------

#: Documentation of the data parameters (numpydoc entries).
DATA_DOCS = {
    "image": """    image : array_like
        Integer or float intensities; never modified.  Its axes are named by
        ``axes`` (or, scikit-image style, ``channel_axis``).""",
    "mask": """    mask : array_like
        Nonzero marks a missing pixel to fill.  Its axes are the image's
        without C, possibly without leading ones: a YX mask applies to every
        plane and frame, a ZYX mask to every frame.  A mask of the image's full
        shape (C included) is one mask per channel.  Values under the mask are
        ignored and may be NaN.""",
    "factor": """    factor : int
        Upscaling factor, 2 to 16: the result has ``factor`` times the Y and X size.""",
    "psf": """    psf : array_like
        Point spread function, 2D (blurs each plane), or 3D for a stack fitted
        as a volume; see ``gaussian_psf``.  Normalised to sum to one.""",
}
REFERENCES = """    References
    ----------
    .. [1] D. Ulyanov, A. Vedaldi, V. Lempitsky, "Deep Image Prior", CVPR 2018,
       https://doi.org/10.1109/CVPR.2018.00984"""

_FIELDS = {f.name: f for f in fields(Options)}


def option_type(name: str):
    """The type of option ``name``, as ``Options`` annotates it."""
    return _FIELDS[name].type


def describe_type(name: str) -> str:
    """The numpydoc type of option ``name``, e.g. ``{"joint", "independent"}``."""
    option = _FIELDS[name]
    if get_origin(option.type) is Literal:
        return "{" + ", ".join(f'"{c}"' for c in get_args(option.type)) + "}"
    return option.metadata["kind"]


def describe(name: str) -> str:
    """The documentation of option ``name``, one paragraph."""
    return _FIELDS[name].metadata["doc"]


def parameters_doc(names, indent: str = "    ") -> str:
    """Numpydoc entries of the options ``names``, in that order."""
    return "\n".join(
        f"{indent}{name} : {describe_type(name)}\n"
        + textwrap.fill(describe(name), 76, initial_indent=indent * 2, subsequent_indent=indent * 2)
        for name in names
    )
