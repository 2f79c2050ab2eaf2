"""Generator networks: the paper's encoder-decoder with skip connections.

``SkipNet`` follows the paper's "skip" architecture (Ulyanov et al. 2018,
supplementary material): at each level a stride-2 convolution goes down, an
upsampling comes back up, and an optional skip branch of 1x1 convolutions joins
them.  With no skip channels it is the "hourglass" network.  ``dims=3`` builds
the same network from 3D convolutions for Z-stacks.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NetSpec", "SkipNet", "halvings", "level_strides", "padded_shape"]


@dataclass(frozen=True)
class NetSpec:
    """Architecture of a ``SkipNet``; one entry per level, finest first.

    Examples
    --------
    >>> from napari_dip import NetSpec
    >>> spec = NetSpec(down=(16, 32), up=(16, 32), skip=(4, 4))
    >>> spec.levels, spec.upsample
    (2, 'bilinear')
    """

    down: tuple[int, ...] = (128, 128, 128, 128, 128)
    up: tuple[int, ...] = (128, 128, 128, 128, 128)
    skip: tuple[int, ...] = (4, 4, 4, 4, 4)
    kernel_down: int = 3
    kernel_up: int = 3
    kernel_skip: int = 1
    upsample: str = "bilinear"
    need1x1_up: bool = True
    pad: str = "reflection"
    output: str = "sigmoid"

    def __post_init__(self):
        for name in ("down", "up", "skip"):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or not all(_is_int(n) for n in value):
                raise TypeError(
                    f"{name} must be a tuple of integers (channels per level), got {value!r}"
                )
            smallest = 0 if name == "skip" else 1
            if any(n < smallest for n in value):
                raise ValueError(
                    f"{name} channels must be >= {smallest} at every level, got {value!r}"
                )
            object.__setattr__(self, name, tuple(int(n) for n in value))
        if not (len(self.down) == len(self.up) == len(self.skip) >= 1):
            raise ValueError("down, up and skip need the same number (>= 1) of levels")
        for name in ("kernel_down", "kernel_up", "kernel_skip"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1 or value % 2 == 0:
                raise ValueError(
                    f"{name} must be an odd positive integer (1, 3, 5, ...), got {value!r}"
                )
        if not isinstance(self.need1x1_up, bool):
            raise TypeError(f"need1x1_up must be True or False, got {self.need1x1_up!r}")
        if self.upsample not in ("nearest", "bilinear"):
            raise ValueError(f"upsample must be 'nearest' or 'bilinear', got {self.upsample!r}")
        if self.pad not in ("reflection", "zero"):
            raise ValueError(f"pad must be 'reflection' or 'zero', got {self.pad!r}")
        if self.output not in ("sigmoid", "linear"):
            raise ValueError(f"output must be 'sigmoid' or 'linear', got {self.output!r}")

    @property
    def levels(self) -> int:
        return len(self.down)

    @property
    def coarsest(self) -> int:
        """Pixels per axis the coarsest level keeps, at least: reflection padding
        of a ``k``-wide filter needs more than ``k // 2``."""
        if self.pad == "zero":
            return 2
        return max(2, max(self.kernel_down, self.kernel_up, self.kernel_skip) // 2 + 1)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def halvings(shape: tuple[int, ...], levels: int, coarsest: int = 2) -> tuple[int, ...]:
    """How many of the ``levels`` halve each axis.

    An axis is halved at the finest levels only while its coarsest size keeps
    at least ``coarsest`` pixels (``NetSpec.coarsest``: two for 3x3 filters,
    as reflection padding needs them, three for 5x5); a thin Z-stack or a
    small image is therefore not blown up to ``2 ** levels`` pixels.
    """
    return tuple(min(levels, max(0, (n // coarsest).bit_length() - 1)) for n in shape)


def padded_shape(shape: tuple[int, ...], levels: int, coarsest: int = 2) -> tuple[int, ...]:
    """The shape the network runs on: ``shape`` padded up so every halving is exact.

    Each axis is at least ``coarsest`` pixels long at the coarsest level.  The
    output is cropped back to ``shape``.
    """
    return tuple(
        max(-(-n // 2**h) * 2**h, coarsest * 2**h)
        for n, h in zip(shape, halvings(shape, levels, coarsest))
    )


def level_strides(shape: tuple[int, ...], levels: int, coarsest: int = 2) -> list[tuple[int, ...]]:
    """Per level, finest first, the stride (1 or 2) of each axis."""
    counts = halvings(shape, levels, coarsest)
    return [tuple(2 if level < h else 1 for h in counts) for level in range(levels)]


class _ReflectPaddedConvolution(torch.autograd.Function):
    """Reflection padding and a convolution that keep only the unpadded input for backward.

    ``padding_mode="reflect"`` keeps the padded copy of every input alive until
    backward, beside the input itself (which the LeakyReLU before it keeps):
    a third of the activations saved for backward (474 to 313 MiB for the
    default network at 512x512).  Padding again in backward costs a copy.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return _CONVOLUTIONS[x.dim()](F.pad(x, padding, mode="reflect"), weight, bias, stride)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        dims = x.dim() - 2
        # In the forward's precision (bfloat16 under autocast; no copy in float32).
        padded = F.pad(x, ctx.padding, mode="reflect").to(grad.dtype)
        grad_padded, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
            grad,
            padded,
            weight.to(grad.dtype),
            [weight.shape[0]] if ctx.has_bias else None,
            list(ctx.stride),
            [0] * dims,
            [1] * dims,
            False,
            [0] * dims,
            1,
            [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias],
        )
        grad_x = None
        if ctx.needs_input_grad[0]:
            pad_backward = (
                torch.ops.aten.reflection_pad2d_backward
                if dims == 2
                else torch.ops.aten.reflection_pad3d_backward
            )
            grad_x = pad_backward(grad_padded, x.to(grad.dtype), list(ctx.padding)).to(x.dtype)
        if grad_weight is not None:
            grad_weight = grad_weight.to(weight.dtype)
        if grad_bias is not None:
            grad_bias = grad_bias.to(weight.dtype)
        return grad_x, grad_weight, grad_bias, None, None


_CONVOLUTIONS = {4: F.conv2d, 5: F.conv3d}


class _ReflectConv:
    """Convolution with reflection padding that stores no padded copy (same weights and keys)."""

    def __init__(self, c_in, c_out, kernel, stride=1):
        super().__init__(c_in, c_out, kernel, stride=stride, padding=0)
        self.reflect = (kernel // 2,) * 2 * (self.weight.dim() - 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReflectPaddedConvolution.apply(x, self.weight, self.bias, self.stride, self.reflect)


class _ReflectConv2d(_ReflectConv, nn.Conv2d):
    pass


class _ReflectConv3d(_ReflectConv, nn.Conv3d):
    pass


def _conv(dims, c_in, c_out, kernel, spec: NetSpec, stride=1) -> nn.Module:
    if spec.pad == "reflection" and kernel > 1:
        return (_ReflectConv2d, _ReflectConv3d)[dims - 2](c_in, c_out, kernel, stride)
    conv = (nn.Conv2d, nn.Conv3d)[dims - 2]
    return conv(c_in, c_out, kernel, stride=stride, padding=kernel // 2)


def _norm(dims, channels) -> nn.Module:
    # The network always runs in training mode on one image: batch statistics only.
    norm = (nn.BatchNorm2d, nn.BatchNorm3d)[dims - 2]
    return norm(channels, track_running_stats=False)


def _unit(dims, c_in, c_out, kernel, spec, stride=1) -> list[nn.Module]:
    """Convolution, BatchNorm, LeakyReLU."""
    return [
        _conv(dims, c_in, c_out, kernel, spec, stride),
        _norm(dims, c_out),
        nn.LeakyReLU(0.2, inplace=True),
    ]


class _Level(nn.Module):
    """One scale: down (stride 2), the coarser levels, up, joined with the skip."""

    def __init__(
        self, dims: int, c_in: int, index: int, spec: NetSpec, deeper: nn.Module | None, stride
    ):
        super().__init__()
        down, skip = spec.down[index], spec.skip[index]
        from_below = spec.up[index + 1] if deeper is not None else down
        self.skip = (
            nn.Sequential(*_unit(dims, c_in, skip, spec.kernel_skip, spec)) if skip else None
        )
        self.down = nn.Sequential(
            *_unit(dims, c_in, down, spec.kernel_down, spec, stride=stride),
            *_unit(dims, down, down, spec.kernel_down, spec),
        )
        self.deeper = deeper if deeper is not None else nn.Identity()
        mode = spec.upsample if spec.upsample == "nearest" else ("bilinear", "trilinear")[dims - 2]
        self.upsample = nn.Upsample(scale_factor=tuple(float(f) for f in stride), mode=mode)
        joined = skip + from_below
        up_layers = [
            _norm(dims, joined),
            *_unit(dims, joined, spec.up[index], spec.kernel_up, spec),
        ]
        if spec.need1x1_up:
            up_layers += _unit(dims, spec.up[index], spec.up[index], 1, spec)
        self.up = nn.Sequential(*up_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.upsample(self.deeper(self.down(x)))
        if self.skip is not None:
            y = torch.cat([self.skip(x), y], dim=1)
        return self.up(y)


class SkipNet(nn.Module):
    """The paper's skip / hourglass generator, 2D (``dims=2``) or 3D (``dims=3``).

    ``strides`` gives, per level, the downsampling factor (1 or 2) of each
    axis; every axis is halved at every level by default.  Build it with
    ``level_strides(shape, spec.levels)`` and feed inputs of
    ``padded_shape(shape, spec.levels)``.  The output has the input's spatial
    shape and ``out_channels`` channels, in ``(0, 1)`` when
    ``spec.output == "sigmoid"``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        spec: NetSpec = NetSpec(),
        dims: int = 2,
        strides: list[tuple[int, ...]] | None = None,
    ):
        super().__init__()
        if dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {dims}")
        if strides is None:
            strides = [(2,) * dims] * spec.levels
        if len(strides) != spec.levels or any(len(s) != dims for s in strides):
            raise ValueError(f"strides needs {spec.levels} levels of {dims} factors each")
        self.spec = spec
        self.dims = dims
        body = None
        for index in reversed(range(spec.levels)):
            c_in = in_channels if index == 0 else spec.down[index - 1]
            body = _Level(dims, c_in, index, spec, body, strides[index])
        self.body = body
        self.head = _conv(dims, spec.up[0], out_channels, 1, spec)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.head(self.body(z))
        return torch.sigmoid(y) if self.spec.output == "sigmoid" else y
