"""Seeds drawn and checked (core/seeding.py); the plan does both, once, for every fit."""

import pytest

from napari_dip.core.seeding import check_seed, new_seed


@pytest.mark.parametrize("seed", [0, 2**63, 2**64 - 1])
def test_any_64_bit_seed_is_taken(seed):
    assert check_seed(seed) == seed


@pytest.mark.parametrize(
    ("seed", "error"), [(-1, ValueError), (2**64, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_seeds_torch_cannot_take_are_refused(seed, error):
    with pytest.raises(error, match="seed"):
        check_seed(seed)


def test_drawn_seeds_are_valid_and_differ():
    seeds = {new_seed() for _ in range(20)}
    assert len(seeds) > 1 and all(check_seed(seed) == seed for seed in seeds)
