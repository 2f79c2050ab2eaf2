"""The skip network: shapes, padding, strides and the paper's size."""

import pytest
import torch
from helpers import THREE_LEVEL_NET

from napari_dip.core import nets
from napari_dip.core.fit import Fit
from napari_dip.core.nets import NetSpec, SkipNet, halvings, level_strides, padded_shape
from napari_dip.core.operators import Identity
from napari_dip.core.presets import PRESETS


@pytest.mark.parametrize("shape", [(16, 16), (17, 33), (100, 77)])
def test_skipnet_any_2d_size_by_padding(shape):
    net = SkipNet(4, 3, THREE_LEVEL_NET)
    padded = padded_shape(shape, THREE_LEVEL_NET.levels)
    assert all(p >= n and p % 8 == 0 for p, n in zip(padded, shape))
    out = net(torch.rand(1, 4, *padded))
    assert out.shape == (1, 3, *padded)
    assert 0 < out.min() and out.max() < 1  # sigmoid output


def test_paper_network_size():
    net = SkipNet(32, 3, PRESETS["paper-denoising"].net)
    assert 2.1e6 < sum(p.numel() for p in net.parameters()) < 2.3e6
    assert net(torch.rand(1, 32, 64, 64)).shape == (1, 3, 64, 64)


def test_small_axes_are_halved_less_not_blown_up():
    assert halvings((16, 16), 5) == (3, 3)  # the coarsest level keeps two pixels
    assert padded_shape((16, 16), 5) == (16, 16)
    assert padded_shape((1, 64, 64), 5) == (2, 64, 64)  # a single plane still pads by reflection
    assert padded_shape((32, 256, 256), 5) == (32, 256, 256)
    assert level_strides((8, 64), 3) == [(2, 2), (2, 2), (1, 2)]


@pytest.mark.parametrize("shape", [(16, 16), (3, 40), (1, 16, 20)])
def test_fit_runs_paper_network_on_small_or_thin_inputs(shape):
    target = torch.rand(1, 1, *shape)
    fit = Fit(
        target, Identity(), PRESETS["paper-denoising"], shape, max_iter=2, auto_stop=False, seed=0
    )
    list(fit.snapshots())
    assert fit.result.shape == (1, *shape)


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("stride", [1, 2])
def test_reflection_padded_convolution_matches_torch_exactly(dims, stride):
    """The network's memory-saving padding gives torch's reflect-padded outputs and gradients."""
    torch.manual_seed(0)
    spec = NetSpec(down=(4,), up=(4,), skip=(2,))
    ours = nets._conv(dims, 3, 5, 3, spec, stride)
    conv = (torch.nn.Conv2d, torch.nn.Conv3d)[dims - 2]
    reference = conv(3, 5, 3, stride=stride, padding=1, padding_mode="reflect")
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(1, 3, *(7, 10, 9)[-dims:])
    if dims == 2:
        x = x.contiguous(memory_format=torch.channels_last)
    inputs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outputs = [ours(inputs[0]), reference(inputs[1])]
    grad = torch.randn_like(outputs[0])
    for output in outputs:
        output.backward(grad)
    assert torch.equal(outputs[0], outputs[1])
    assert torch.equal(inputs[0].grad, inputs[1].grad)
    assert torch.equal(ours.weight.grad, reference.weight.grad)
    assert torch.equal(ours.bias.grad, reference.bias.grad)


def test_reflection_padded_convolution_in_bfloat16_keeps_float32_gradients():
    """Under autocast (``Recipe.bfloat16``) the backward runs in the forward's precision and
    hands float32 gradients to the float32 weights and input."""
    torch.manual_seed(0)
    spec = NetSpec(down=(4,), up=(4,), skip=(2,))
    ours = nets._conv(2, 3, 5, 3, spec)
    reference = torch.nn.Conv2d(3, 5, 3, padding=1, padding_mode="reflect")
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(1, 3, 12, 10)
    inputs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    with torch.autocast("cpu", torch.bfloat16):
        outputs = [ours(inputs[0]), reference(inputs[1])]
    for output in outputs:
        output.float().sum().backward()
    assert outputs[0].dtype == torch.bfloat16
    assert inputs[0].grad.dtype == ours.weight.grad.dtype == ours.bias.grad.dtype == torch.float32
    assert torch.allclose(outputs[0].float(), outputs[1].float(), atol=0.05)
    assert torch.allclose(ours.weight.grad, reference.weight.grad, rtol=0.02, atol=0.05)
    assert torch.allclose(inputs[0].grad, inputs[1].grad, rtol=0.02, atol=0.05)


def test_reflection_padding_keeps_no_padded_copy_for_backward():
    saved = []
    net = SkipNet(2, 1, NetSpec(down=(4,), up=(4,), skip=(0,)))
    x = torch.rand(1, 2, 16, 16)
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.shape) or t, lambda t: t
    ):
        net(x)
    assert not [shape for shape in saved if shape[-1] == 18]  # 16 + 2 reflected columns


def test_skipnet_3d_and_options():
    spec = NetSpec(
        down=(4, 8),
        up=(4, 8),
        skip=(0, 2),
        upsample="nearest",
        pad="zero",
        output="linear",
        need1x1_up=False,
        kernel_down=5,
    )
    net = SkipNet(2, 2, spec, dims=3, strides=level_strides((5, 9, 12), 2))
    out = net(torch.rand(1, 2, *padded_shape((5, 9, 12), 2)))
    assert out.shape == (1, 2, 6, 12, 12)
    assert not any(isinstance(m, torch.nn.Conv2d) for m in net.modules())


def test_netspec_validation():
    with pytest.raises(ValueError):
        NetSpec(down=(8, 8), up=(8,), skip=(0, 0))
    with pytest.raises(ValueError):
        NetSpec(upsample="bicubic")
