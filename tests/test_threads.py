"""The thread policy: a cap from the CPUs and the image, the fastest count while fitting, restored after."""

import threading

import numpy as np
import pytest
import torch

import napari_dip
from napari_dip.core import threads as policy_module
from napari_dip.core.threads import PROBE_ITERATIONS, WARMUP_ITERATIONS, ThreadPolicy


@pytest.fixture
def four_cpus(monkeypatch):
    monkeypatch.setattr(policy_module, "available_cpus", lambda: 4)
    saved = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(saved)


def _probe(policy, seconds_per_count):
    """Feed the iterations of one round of timing, each count taking its time."""
    for _ in range(WARMUP_ITERATIONS):
        policy.step(seconds_per_count[policy.current])
    while policy._plan:
        policy.step(seconds_per_count[policy.current])


def test_available_cpus_within_the_affinity_mask():
    import os

    cpus = policy_module.available_cpus()
    assert 1 <= cpus <= (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus)


@pytest.mark.parametrize("bad", [0, -2])
def test_threads_must_be_positive(bad):
    with pytest.raises(ValueError, match="threads"):
        napari_dip.Restoration("denoise", np.zeros((16, 16)), threads=bad)


@pytest.mark.parametrize("bad", ["2", 1.5, True])
def test_threads_must_be_an_integer(bad):
    with pytest.raises(TypeError, match="threads"):
        napari_dip.Restoration("denoise", np.zeros((16, 16)), threads=bad)


def test_cap_from_cpus_image_size_and_caller(four_cpus):
    big = ThreadPolicy(512 * 512)
    big.enter()
    assert big.candidates == [4, 2, 1] and torch.get_num_threads() == 4
    big.close()
    small = ThreadPolicy(64 * 64)  # too small for a second thread
    small.enter()
    assert small.candidates == [1] and torch.get_num_threads() == 1
    small.close()
    torch.set_num_threads(2)  # the caller's own limit is a cap too
    capped = ThreadPolicy(512 * 512)
    capped.enter()
    assert capped.candidates == [2, 1]
    capped.close()
    assert torch.get_num_threads() == 2


def test_fits_running_at_once_share_the_cpus(four_cpus):
    first, second = ThreadPolicy(512 * 512), ThreadPolicy(512 * 512)
    first.enter()
    second.enter()
    assert first.candidates == [4, 2, 1] and second.candidates == [2, 1]
    second.close()
    first.close()
    assert policy_module._running == 0


def test_keeps_the_fastest_count_and_follows_a_slowdown(four_cpus):
    policy = ThreadPolicy(512 * 512)
    policy.enter()
    _probe(policy, {4: 0.30, 2: 0.20, 1: 0.25})
    assert policy.current == 2 and torch.get_num_threads() == 2
    for _ in range(8):  # another process takes a core: two threads now crawl
        policy.step(0.6)
    assert policy._plan == [4, 2, 1]  # timing again, from the cap
    _probe(policy, {4: 0.9, 2: 0.6, 1: 0.26})
    assert policy.current == 1
    policy.close()
    assert torch.get_num_threads() == 4


def test_prefers_fewer_threads_when_more_barely_help(four_cpus):
    policy = ThreadPolicy(512 * 512)
    policy.enter()
    _probe(policy, {4: 0.100, 2: 0.102, 1: 0.2})
    assert policy.current == 2
    policy.close()


def test_times_again_after_the_recheck_interval(four_cpus):
    policy = ThreadPolicy(512 * 512)
    policy.enter()
    _probe(policy, {4: 0.1, 2: 0.2, 1: 0.3})
    assert policy.current == 4
    for _ in range(policy_module.RECHECK_ITERATIONS):
        policy.step(0.1)
    assert policy._plan == [4, 2, 1]
    policy.close()


def test_a_fixed_count_is_used_and_never_changed(four_cpus):
    policy = ThreadPolicy(512 * 512, threads=3)
    policy.enter()
    assert torch.get_num_threads() == 3
    for _ in range(50):
        policy.step(1.0)
    assert policy.current == 3 and policy.used == {3}
    policy.close()
    assert torch.get_num_threads() == 4


@pytest.mark.slow
def test_a_fit_leaves_the_callers_thread_count_alone(monkeypatch):
    monkeypatch.setattr(policy_module, "available_cpus", lambda: 2)
    saved = torch.get_num_threads()
    torch.set_num_threads(3)
    seen = []
    try:
        image = np.random.default_rng(0).random((128, 128)).astype(np.float32)
        run = napari_dip.Restoration("denoise", image, max_iter=2 * PROBE_ITERATIONS + 4, seed=0)
        run.run(callback=lambda s: seen.append(torch.get_num_threads()), every=2)
        assert seen and set(seen) == {3}  # the caller's count at every snapshot
        assert torch.get_num_threads() == 3
        assert run.info.threads is None and run.info.threads_used == (1, 2)
    finally:
        torch.set_num_threads(saved)


def test_the_count_is_set_in_the_fitting_thread_only():
    main_before = torch.get_num_threads()
    inside = []

    def fit():
        image = np.random.default_rng(0).random((16, 16)).astype(np.float32)
        napari_dip.denoise(
            image, max_iter=2, seed=0, threads=1, callback=lambda s: inside.append(1), every=1
        )

    worker = threading.Thread(target=fit)
    worker.start()
    worker.join()
    assert inside and torch.get_num_threads() == main_before


@pytest.mark.slow
def test_a_fixed_count_is_reproducible():
    image = np.random.default_rng(0).random((128, 128)).astype(np.float32)
    first = napari_dip.denoise(image, max_iter=12, auto_stop=False, seed=3, threads=1)
    second = napari_dip.denoise(image, max_iter=12, auto_stop=False, seed=3, threads=1)
    assert np.array_equal(first, second)
