"""Plans: checks and the layout of the fits, from shapes and options alone."""

import numpy as np
import pytest
from helpers import shrunk

import napari_dip
from napari_dip import Options
from napari_dip._plan import make_plan

#: The fast preset, made tiny and without the automatic stop.
TINY = shrunk("fast", "test-tiny", input_depth=4, max_iter=20, auto_stop=False)


def plan(task="denoise", shape=(32, 32), dtype=np.float32, **options):
    data = {key: options.pop(key) for key in ("mask_shape", "psf") if key in options}
    options = {"preset": TINY, "device": "cpu", **options}
    return make_plan(task, shape, dtype, Options(**options), **data)


def test_blocks_follow_frames_planes_and_independent_channels():
    p = plan(shape=(2, 3, 4, 32, 32), axes="TZCYX", stack="planes", channels="independent")
    assert p.fits == 4 * 2 * 3 and not p.volume and p.stack == "planes"
    first = p.blocks[0]
    assert (first.frame, first.channels, first.planes) == (0, slice(0, 1), slice(0, 1))
    assert {b.lineage for b in p.blocks} == {(c, 0) for c in range(4)}
    assert p.out_shape(first) == (32, 32)
    volume = plan(shape=(3, 32, 32), axes="ZYX")
    assert volume.fits == 1 and volume.volume and volume.out_shape(volume.blocks[0]) == (3, 32, 32)


def test_a_tight_budget_cuts_planes_into_tiles():
    p = plan(shape=(400, 400), preset="fast", memory_budget="200MB")
    assert p.tile is not None and p.fits > 1 and all(b.lineage[0] == 0 for b in p.blocks)
    assert sum(b.last_tile for b in p.blocks) == 1
    assert "the tile at Y" in p.where(p.blocks[-1])


def test_plan_resolves_the_options_for_the_input():
    p = plan("super_resolve", (16, 20), np.uint16, factor=3, seed=7)
    assert p.factor == 3 and p.out_shape(p.blocks[0]) == (48, 60)
    assert p.seed == 7 and p.max_iter == 20 and p.auto_stop is False
    assert p.output_dtype == np.float32 and str(p.device) == "cpu"
    assert plan(dtype=np.int32).output_dtype == np.float64
    assert plan(output_dtype="input", dtype=np.uint8).output_dtype == np.uint8
    drawn = plan()
    assert isinstance(drawn.seed, int) and drawn.seed != plan().seed  # drawn once, recorded


def test_plan_estimate_matches_the_restoration_s():
    image = np.zeros((40, 48), np.float32)
    run = napari_dip.Restoration("denoise", image, preset=TINY, device="cpu", memory_budget="1GB")
    assert run.estimate() == plan(shape=image.shape, memory_budget="1GB").estimate()


@pytest.mark.parametrize(
    "task, kwargs, error, match",
    [
        ("sharpen", {}, ValueError, "unknown task"),
        ("inpaint", {}, ValueError, "needs a mask"),
        ("inpaint", {"mask_shape": (16, 16)}, ValueError, "does not match the image"),
        ("deconvolve", {}, ValueError, "needs a psf"),
        ("deconvolve", {"psf": np.ones((64, 64))}, ValueError, "larger than the image"),
        ("super_resolve", {}, TypeError, "factor must be an integer"),
        ("denoise", {"axes": "ZYX"}, ValueError, "axes"),
        ("denoise", {"dtype": np.bool_}, TypeError, "boolean"),
        ("denoise", {"shape": (0, 32)}, ValueError, "empty"),
        ("denoise", {"preset": "nope"}, ValueError, "unknown preset 'nope'"),
        ("denoise", {"memory_budget": 1000}, MemoryError, "more than the budget"),
    ],
)
def test_plan_refuses_what_cannot_run(task, kwargs, error, match):
    with pytest.raises(error, match=match):
        plan(task, **kwargs)
