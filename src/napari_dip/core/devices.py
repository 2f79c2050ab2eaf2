"""The devices a fit can run on: which exist here, which one a name means, their memory layout."""

from __future__ import annotations

import functools

import torch

__all__ = ["available_devices", "native_bfloat16", "preferred_memory_format", "resolve_device"]


def available_devices() -> list[str]:
    """Device names usable on this machine: "auto", then every CUDA GPU, MPS, the CPU.

    Examples
    --------
    >>> from napari_dip import available_devices
    >>> devices = available_devices()
    >>> devices[0], devices[-1]
    ('auto', 'cpu')
    """
    names = ["auto"]
    names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names + ["cpu"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; a name is checked."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(
            f"device must be a string such as 'auto', 'cpu', 'cuda', 'mps'; got {device!r}"
        )
    name = device.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise ValueError(
            f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available here")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    elif resolved.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {device!r} requested but Apple MPS is not available here")
    elif resolved.type != "cpu":
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return resolved


def preferred_memory_format(device: torch.device, dims: int) -> torch.memory_format:
    """Channels-last on the CPU in 2D, where its convolutions are faster (benchmarks/run.py).

    In 3D it measured no faster, and GPUs are left to their defaults.
    """
    if device.type == "cpu" and dims == 2:
        return torch.channels_last
    return torch.contiguous_format


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 convolutions natively: a CUDA GPU that supports
    it, or a CPU with AVX-512 BF16 or AMX (Linux, where its flags can be read).  Elsewhere
    bfloat16 is emulated, slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})
    return False


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()
