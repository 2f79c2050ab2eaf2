"""Values several test files share: tiny networks and recipes, and test images.

Plain values, imported as ``from helpers import TINY`` (pytest puts ``tests/`` on the path);
the shared fixtures are in ``conftest.py``.  Importing this module does not import torch:
``gui_pauses.py`` measures the first run's imports too.
"""

from dataclasses import replace

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
