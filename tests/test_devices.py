"""The devices a fit can run on (core/devices.py)."""

import pytest
import torch

from napari_dip.core.devices import available_devices, native_bfloat16, resolve_device


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert available_devices()[0] == "auto" and available_devices()[-1] == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_native_bfloat16_is_a_yes_or_no_per_device():
    assert isinstance(native_bfloat16(torch.device("cpu")), bool)
    assert native_bfloat16(torch.device("meta")) is False  # nothing else claims it
