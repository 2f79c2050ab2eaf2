"""Values several test files share: tiny networks and recipes, and test images.

Plain values, imported as ``from helpers import TINY`` (pytest puts ``tests/`` on the path);
the shared fixtures are in ``conftest.py``.  Importing this module does not import torch:
``gui_pauses.py`` measures the first run's imports too.
"""

import importlib
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from napari_dip import NetSpec, Recipe
from napari_dip.core.presets import PRESETS

#: Networks of 8 channels: two levels (8x8 pixels at least) or three.
TWO_LEVEL_NET = NetSpec(down=(8, 8), up=(8, 8), skip=(2, 2))
THREE_LEVEL_NET = NetSpec(down=(8, 8, 8), up=(8, 8, 8), skip=(2, 2, 2))

#: A recipe tiny and quick enough for tests: 200 iterations at most.
TINY = Recipe(
    name="test-tiny",
    description="tiny and quick, for tests",
    net=TWO_LEVEL_NET,
    input_depth=4,
    max_iter=200,
)


def shrunk(preset: str, name: str, net: NetSpec = TWO_LEVEL_NET, **changes) -> Recipe:
    """A named preset with a tiny network: quick, and otherwise the preset's settings."""
    return replace(PRESETS[preset], name=name, net=net, **changes)


#: The fast preset, made tiny for batch runs: a few quick iterations, no automatic stop.
TINY_FAST = shrunk("fast", "test-batch", input_depth=4, max_iter=6, auto_stop=False)
#: Command-line settings of a quick, reproducible run.
QUICK = ["--preset", "fast", "--max-iter", "4", "--seed", "0", "--quiet"]


def counts(shape, seed=0) -> np.ndarray:
    """A uint16 image of photon counts around 200, as a camera writes to a TIFF."""
    return np.random.default_rng(seed).poisson(200, shape).astype(np.uint16)


def photon_counts(shape=(1, 1, 16, 16), mean=3.0, seed=0):
    """Photon counts (many zeros at this mean) as a float tensor."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full(shape, mean), generator=generator)


TINY_ENSEMBLE = replace(
    TINY, name="test-tiny-ensemble", max_iter=6, members=3, flips=True
)  # three members, each mirrored its own way

#: The widget tests' image: its shape and a placement to check results keep.
SHAPE = (32, 32)
LAYOUT = {
    "scale": (0.5, 2.0),
    "translate": (10.0, -3.0),
    "units": ("um", "nm"),
    "axis_labels": ("row", "col"),
}


def blobs(shape=SHAPE, seed=0):
    """A smooth pattern plus noise, as uint16 counts."""
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    clean = 200 + 100 * np.sin(y / 4.0) * np.cos(x / 5.0)
    noise = np.random.default_rng(seed).normal(0, 20, shape[:-2] + clean.shape)
    return np.clip(clean + noise, 0, None).astype(np.uint16)


def configure(widget, **values):
    """Set the widget's controls by name."""
    for name, value in values.items():
        getattr(widget, name).value = value


def wait_for(run, qtbot, timeout=60_000):
    """Let Qt run until the layer's restoration ends, and check its worker has ended."""
    qtbot.waitUntil(lambda: run.done, timeout=timeout)
    assert not run.worker.is_running


def new_messages(since):
    """The notifications napari has shown since record number ``since``."""
    from napari.utils.notifications import notification_manager

    return [str(record.message) for record in notification_manager.records[since:]]


#: A small recipe for the API tests: three levels of 16 channels.
SMALL = Recipe(
    name="test-small",
    description="small and quick, for tests",
    net=NetSpec(down=(16, 16, 16), up=(16, 16, 16), skip=(4, 4, 4)),
    input_depth=8,
    max_iter=300,
)


def waves(shape=(32, 32)):
    """A smooth float32 pattern between 0.2 and 0.8."""
    y, x = np.mgrid[: shape[0], : shape[1]] / max(shape)
    return (0.5 + 0.3 * np.sin(5 * x) * np.cos(3 * y)).astype(np.float32)


#: A blank 16x16 image: for checks that refuse a run before any fit.
IMAGE = np.zeros((16, 16), np.float32)


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def benchmark(name: str):
    """The module of ``benchmarks/<name>.py``, imported as its scripts import each other."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))
