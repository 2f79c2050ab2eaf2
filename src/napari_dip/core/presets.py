"""Named recipes: the paper's exact per-task settings and our fast defaults.

A ``Recipe`` fixes the network, the input code and the optimisation.  The
``paper-*`` recipes reproduce the authors' published notebooks
(DmitryUlyanov/deep-image-prior); ``fast`` is ours, sized for a laptop CPU,
with the automatic stopping rule on; ``fast-denoising`` and ``quality`` fit
ensembles of it.  ``"default"``, ``"quality"`` and ``"paper"`` pick the right
recipe for the task (and, for super-resolution, the factor).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace

from .holdout import HOLE_SHAPES
from .nets import NetSpec

__all__ = ["INPUTS", "PRESETS", "Recipe", "preset_names", "resolve_preset"]

#: The networks' input codes: random noise, a meshgrid, or the observation on the
#: estimate's grid (``core.observation_code``).
INPUTS = ("noise", "meshgrid", "observation")


@dataclass(frozen=True)
class Recipe:
    """Everything a fit needs besides the data.

    ``ema`` is the decay of the moving average of outputs (None: no
    averaging).  ``members`` networks, each from its own seed and input code,
    are fitted side by side (one after the other at each iteration); the
    estimate is their mean and their spread is the result's uncertainty.
    With ``flips`` each member sees the image mirrored its own way (X, Y,
    both, ...), so the members' grid-bound artefacts fall in different places
    and average out.  ``auto_stop`` turns on the hold-out stopping rule
    (``core.holdout``), whose ``stop_*`` settings are the fraction of pixels
    held out of the fit to score the estimate, the side of the holes they are
    the centres of (1: single pixels; None: 1, or 5 when the noise is
    correlated between neighbours), its patience (iterations without a new
    best before stopping; with ``stop_tolerance``, without a best lower by
    more than that fraction), the first iteration it may pick.  ``input``
    is the networks' code: random noise, a meshgrid, or the observation on
    the estimate's grid (``core.observation_code``).  ``stop_shape="mask"``
    shapes the held-out pixels like the mask's holes when inpainting
    (``holdout.mask_shaped``); with ``classical``, a fit whose task has a
    classical estimate (inpainting: biharmonic; deconvolution: Richardson-Lucy,
    its iteration count chosen first, the network weighed where the PSF passes)
    ends by blending it in, with the weight that scores best on the held-out
    pixels (``core.classical``).  With
    ``fuse``, a denoising fit with the automatic stop (either noise model)
    ends by fusing each member's estimate with the Wiener filter it steers
    (``core.fusion``), weighed by the held-out pixels.  With ``bfloat16``, the
    networks run in bfloat16 (autocast) on a device that computes it natively
    (``core.devices.native_bfloat16``; elsewhere in float32), the loss, the
    optimiser and the estimates staying float32.  With ``back_project``, a
    super-resolution ends with back-projection, one step at x2 and three from
    x4 (``Downsample.back_project``; the other tasks ignore it).

    Examples
    --------
    >>> from dataclasses import asdict, replace
    >>> from napari_dip import PRESETS, NetSpec, Recipe
    >>> net = NetSpec(down=(16,) * 3, up=(16,) * 3, skip=(4,) * 3)
    >>> small = replace(PRESETS["fast"], name="small", net=net, max_iter=500)
    >>> small.net.levels, small.auto_stop
    (3, True)
    >>> Recipe.from_dict(asdict(small)) == small  # e.g. read back from a run's record
    True
    """

    name: str
    description: str
    net: NetSpec
    input_depth: int = 32
    input: str = "noise"
    lr: float = 0.01
    max_iter: int = 3000
    reg_noise_std: float = 1.0 / 30.0
    ema: float | None = 0.99
    members: int = 1
    flips: bool = False
    fuse: bool = False
    auto_stop: bool = False
    stop_holdout: float = 0.1
    stop_block: int | None = 1
    stop_patience: int = 100
    stop_min_iter: int = 50
    stop_tolerance: float = 0.0
    stop_shape: str = "pixels"
    classical: bool = False
    bfloat16: bool = False
    back_project: bool = False
    paper: str = field(default="", compare=False)

    def __post_init__(self):
        if self.stop_shape not in HOLE_SHAPES:
            raise ValueError(f"stop_shape must be one of {HOLE_SHAPES}, got {self.stop_shape!r}")
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {self.input!r}")
        if not isinstance(self.net, NetSpec):
            raise TypeError(f"net must be a NetSpec, got {type(self.net).__name__}")
        for name in ("name", "description"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a string, got {getattr(self, name)!r}")
        for name in (
            "auto_stop",
            "flips",
            "fuse",
            "classical",
            "bfloat16",
            "back_project",
        ):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        _integer("input_depth", self.input_depth, 1)
        _integer("members", self.members, 1)
        _integer("max_iter", self.max_iter, 1)
        _integer("stop_patience", self.stop_patience, 1)
        _integer("stop_min_iter", self.stop_min_iter, 0)
        if self.stop_block is not None:
            _integer("stop_block", self.stop_block, 1)
            if self.stop_block % 2 == 0:
                raise ValueError(
                    f"stop_block must be None (automatic) or odd (1, 3, 5, ...), "
                    f"got {self.stop_block}"
                )
        # Bounds far beyond any useful setting, which keep float32 arithmetic finite.
        if not _real(self.lr) or not 0 < self.lr <= 1:
            raise ValueError(f"lr must be a number in (0, 1], e.g. 0.01, got {self.lr!r}")
        if not _real(self.reg_noise_std) or not 0 <= self.reg_noise_std <= 1:
            raise ValueError(
                f"reg_noise_std must be a number in [0, 1], e.g. 0.03, got {self.reg_noise_std!r}"
            )
        if self.ema is not None and (not _real(self.ema) or not 0 <= self.ema < 1):
            raise ValueError(
                f"ema must be None (no averaging) or in [0, 1), e.g. 0.99, got {self.ema!r}"
            )
        if not _real(self.stop_tolerance) or not 0 <= self.stop_tolerance < 1:
            raise ValueError(
                f"stop_tolerance must be a fraction in [0, 1), e.g. 0.01, "
                f"got {self.stop_tolerance!r}"
            )
        if not _real(self.stop_holdout) or not 0 < self.stop_holdout < 1:
            raise ValueError(
                f"stop_holdout must be a fraction in (0, 1), e.g. 0.1, got {self.stop_holdout!r}"
            )

    @classmethod
    def from_dict(cls, fields: dict) -> Recipe:
        """The recipe whose ``dataclasses.asdict`` is ``fields`` (e.g. read back from JSON)."""
        return cls(**{**fields, "net": NetSpec(**fields["net"])})


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _integer(name: str, value, smallest: int) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer >= {smallest}, got {value!r}")
    if value < smallest:
        raise ValueError(f"{name} must be an integer >= {smallest}, got {value!r}")


_PAPER_SKIP = (
    NetSpec(  # get_net(..., 'skip', skip_n33d=128, skip_n33u=128, skip_n11=4, num_scales=5)
        down=(128,) * 5, up=(128,) * 5, skip=(4,) * 5, upsample="bilinear"
    )
)

_FAST_NET = NetSpec(
    down=(16, 32, 64, 64, 128), up=(16, 32, 64, 64, 128), skip=(4,) * 5, upsample="bilinear"
)

_QUALITY = Recipe(
    name="quality",
    description=(
        "For when time is cheap (a GPU, overnight): four fast networks, each "
        "seeing the image mirrored its own way, averaged (denoising: each fused "
        "with the Wiener filter it steers); about twice the default's time, and "
        "a finer uncertainty."
    ),
    net=_FAST_NET,
    max_iter=3000,
    reg_noise_std=0.01,
    members=4,
    flips=True,
    fuse=True,
    auto_stop=True,
    stop_block=None,
)

_FAST = Recipe(
    name="fast",
    description="Our default: a small skip network with automatic stopping; practical on a CPU.",
    net=_FAST_NET,
    max_iter=2000,
    reg_noise_std=0.01,
    auto_stop=True,
)

PRESETS: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in [
        _FAST,
        replace(
            _QUALITY,
            name="fast-denoising",
            description=(
                "Our default for denoising: the fast network fused with the Wiener filter "
                "it steers. Holds out holes instead of pixels when the noise is shared "
                "between neighbours."
            ),
            max_iter=2000,
            members=1,
            flips=False,
            stop_patience=60,
        ),
        _QUALITY,
        replace(
            _QUALITY,
            name="quality-deconvolution",
            description="For when time is cheap: the quality ensemble with linear outputs.",
            net=replace(_FAST_NET, output="linear"),
        ),
        Recipe(
            name="fast-deconvolution",
            description=(
                "Our default for deconvolution: the fast network with a linear output, "
                "since a sharp image's peaks exceed the blurred image's range, blended "
                "with Richardson-Lucy where the PSF passes (its iteration count and weight "
                "chosen on held-out pixels)."
            ),
            net=replace(_FAST_NET, output="linear"),
            max_iter=2000,
            reg_noise_std=0.01,
            auto_stop=True,
            classical=True,
        ),
        # The noiseless tasks' defaults stop once the held-out score falls by less than 5%
        # in 100 iterations: it never rises again without noise to fit.
        replace(
            _FAST,
            name="fast-super-resolution",
            description=(
                "Our default for super-resolution: the fast network fed the bicubic "
                "upsampling of the image, stopped once held-out pixels stop improving, "
                "then back-projection (one step at x2, three from x4)."
            ),
            input="observation",
            max_iter=3000,
            reg_noise_std=0.0,
            stop_tolerance=0.05,
            back_project=True,
        ),
        replace(
            _FAST,
            name="fast-inpainting",
            description=(
                "Our default for inpainting: the fast network, stopped once held-out "
                "holes shaped like the mask's stop improving, blended with biharmonic "
                "inpainting by the weight those holes choose."
            ),
            stop_tolerance=0.05,
            stop_shape="mask",
            classical=True,
        ),
        Recipe(
            name="paper-denoising",
            description="Paper, Gaussian denoising (F16): 2.2M-parameter skip net, 3000 iterations.",
            net=_PAPER_SKIP,
            max_iter=3000,
            paper="sigma=25 colour denoising, 9-image set: 31.29 dB (CBM3D 31.42, NLM 30.23)",
        ),
        Recipe(
            name="paper-jpeg",
            description="Paper, JPEG artifact removal (snail): small skip net, 2400 iterations.",
            net=NetSpec(
                down=(8, 16, 32, 64, 128),
                up=(8, 16, 32, 64, 128),
                skip=(0, 0, 0, 4, 4),
                upsample="bilinear",
            ),
            input_depth=3,
            max_iter=2400,
        ),
        Recipe(
            name="paper-inpainting",
            description="Paper, text inpainting (kate): 128-channel skip net, nearest upsampling.",
            net=NetSpec(down=(128,) * 5, up=(128,) * 5, skip=(128,) * 5, upsample="nearest"),
            max_iter=6001,
            reg_noise_std=0.03,
            ema=None,
        ),
        Recipe(
            name="paper-inpainting-large-hole",
            description="Paper, large-hole inpainting (vase): meshgrid input, hourglass net.",
            net=NetSpec(down=(128,) * 5, up=(128,) * 5, skip=(0,) * 5, upsample="nearest"),
            input="meshgrid",
            max_iter=5001,
            reg_noise_std=0.03,
            ema=None,
        ),
        Recipe(
            name="paper-inpainting-library",
            description="Paper, large-hole inpainting (library): 6-level hourglass, 5x5 down filters.",
            net=NetSpec(
                down=(16, 32, 64, 128, 128, 128),
                up=(16, 32, 64, 128, 128, 128),
                skip=(0,) * 6,
                kernel_down=5,
                upsample="nearest",
                need1x1_up=False,
            ),
            input_depth=1,
            max_iter=3001,
            reg_noise_std=0.0,
            ema=None,
        ),
        Recipe(
            name="paper-restoration",
            description="Paper, restoration of 50% missing pixels (Barbara): lr 0.001, 11000 iterations.",
            net=_PAPER_SKIP,
            lr=0.001,
            max_iter=11000,
            reg_noise_std=0.03,
            ema=None,
            paper="Barbara, 50% of pixels missing: 32.18 dB",
        ),
        Recipe(
            name="paper-sr4",
            description="Paper, 4x super-resolution: 2.2M-parameter skip net, 2000 iterations.",
            net=_PAPER_SKIP,
            max_iter=2000,
            reg_noise_std=0.03,
            ema=None,
            paper="x4: Set5 29.90 dB, Set14 27.01 dB (Y channel, 4-pixel border crop)",
        ),
        Recipe(
            name="paper-sr8",
            description="Paper, 8x super-resolution: 2.2M-parameter skip net, 4000 iterations.",
            net=_PAPER_SKIP,
            max_iter=4000,
            reg_noise_std=0.05,
            ema=None,
        ),
    ]
}

_ALIASES = {
    ("default", "denoise"): "fast-denoising",
    ("default", "inpaint"): "fast-inpainting",
    ("default", "super_resolve"): "fast-super-resolution",
    ("default", "deconvolve"): "fast-deconvolution",
    ("quality", "deconvolve"): "quality-deconvolution",
    ("paper", "denoise"): "paper-denoising",
    ("paper", "inpaint"): "paper-inpainting",
    ("paper", "super_resolve"): "paper-sr4",
    ("paper", "deconvolve"): "paper-denoising",
}


def preset_names() -> list[str]:
    """Every name ``resolve_preset`` accepts.

    Examples
    --------
    >>> from napari_dip import preset_names
    >>> preset_names()[:2], "quality" in preset_names()
    (['default', 'paper'], True)
    """
    return ["default", "paper", *PRESETS]


def resolve_preset(preset: str | Recipe, task: str, factor: int | None = None) -> Recipe:
    """The recipe for ``preset`` on ``task``; aliases depend on the task.

    Examples
    --------
    >>> from napari_dip import resolve_preset
    >>> resolve_preset("default", "denoise").name, resolve_preset("default", "inpaint").name
    ('fast-denoising', 'fast-inpainting')
    >>> resolve_preset("paper", "super_resolve", factor=8).name
    'paper-sr8'
    """
    if isinstance(preset, Recipe):
        return preset
    if not isinstance(preset, str):
        raise TypeError(f"preset must be a name or a Recipe, got {type(preset).__name__}")
    if preset == "paper" and task == "super_resolve" and factor is not None and factor >= 8:
        return PRESETS["paper-sr8"]
    name = _ALIASES.get((preset, task), preset)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(preset_names())}")
    return PRESETS[name]
