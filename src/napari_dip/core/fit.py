"""The Deep Image Prior fit loop, written as a generator of snapshots.

``Fit`` minimises ``loss(A f(z + noise), y)`` over the weights of ``f`` with
Adam.  It smooths the trajectory of outputs with an exponential moving average
(bias-corrected, so the untrained first output fades at once), backs off when the loss jumps (restoring the last good weights and halving the
learning rate), can stop by itself when the outputs stop settling (a running
variance detector, Wang et al. 2021), and honours a stop request within one
iteration, keeping the best result so far.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .nets import SkipNet, level_strides, padded_shape
from .operators import Operator
from .presets import Recipe

__all__ = ["Fit", "Snapshot", "available_devices", "resolve_device"]


@dataclass(frozen=True)
class Snapshot:
    """The state of a fit after ``iteration`` iterations.

    ``image`` is the network's current output and ``smoothed`` the running
    average of outputs (equal to ``image`` when the recipe has no averaging).
    ``done`` is True on the last snapshot, whose ``smoothed`` is the result.
    """

    iteration: int
    max_iter: int
    loss: float
    image: np.ndarray
    smoothed: np.ndarray
    elapsed: float
    done: bool = False


def available_devices() -> list[str]:
    """Device names usable on this machine: "auto", then every CUDA GPU, MPS, the CPU."""
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


def new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


def _input_code(recipe: Recipe, shape: tuple[int, ...]) -> torch.Tensor:
    """The fixed network input ``z``: uniform noise in [0, 0.1) or a meshgrid."""
    if recipe.input == "meshgrid":
        axes = [torch.linspace(0, 1, n) for n in shape]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))
        return grid.unsqueeze(0)
    return torch.rand(1, recipe.input_depth, *shape) * 0.1


class _Checkpoint:
    """On-device copy of the weights and optimiser state, reused in place."""

    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer):
        self.net, self.optimizer = net, optimizer
        self.params = [p.detach().clone() for p in net.parameters()]
        self.state: list[dict[str, torch.Tensor]] = []
        self.loss = math.inf

    def save(self, loss: float) -> None:
        with torch.no_grad():
            for kept, p in zip(self.params, self.net.parameters()):
                kept.copy_(p)
            self.state = [
                {k: v.clone() for k, v in self.optimizer.state[p].items()}
                for p in self.net.parameters()
                if p in self.optimizer.state
            ]
        self.loss = loss

    def restore(self) -> None:
        with torch.no_grad():
            for kept, p in zip(self.params, self.net.parameters()):
                p.copy_(kept)
            params = [p for p in self.net.parameters() if p in self.optimizer.state]
            for p, saved in zip(params, self.state):
                for k, v in saved.items():
                    self.optimizer.state[p][k].copy_(v)


class _VarianceStop:
    """Stop when the exponential moving variance of outputs stops decreasing.

    A ground-truth-free rule (ES-EMV, Wang et al. 2021): early iterations fit
    the image and outputs settle (variance falls); later ones fit the noise and
    outputs wander again.  The result is the estimate at the variance minimum.
    """

    def __init__(self, decay: float, patience: int, min_iter: int):
        self.decay, self.patience, self.min_iter = decay, patience, min_iter
        self.mean: torch.Tensor | None = None
        self.variance = 0.0
        self.best_variance = math.inf
        self.best_iteration = 0

    def update(self, output: torch.Tensor, iteration: int) -> bool:
        """Feed one output; True when the output is a new variance minimum."""
        if self.mean is None:
            self.mean = output.clone()
            return False
        delta = output - self.mean
        self.mean.add_(delta, alpha=1 - self.decay)
        step = float((delta * (output - self.mean)).mean())
        self.variance = self.decay * self.variance + (1 - self.decay) * step
        if iteration >= self.min_iter and self.variance < self.best_variance:
            self.best_variance, self.best_iteration = self.variance, iteration
            return True
        return False

    def should_stop(self, iteration: int) -> bool:
        return self.best_iteration > 0 and iteration - self.best_iteration >= self.patience


class Fit:
    """One Deep Image Prior optimisation.

    Parameters
    ----------
    target : Tensor, shape (1, C, *spatial)
        The observation ``y``, normalised.
    operator : Operator
        The forward model ``A``.
    recipe : Recipe
        Network, input code and optimisation settings.
    out_shape : tuple of int
        Spatial shape of the estimate (differs from ``target``'s for
        super-resolution).
    max_iter : int
        Iteration cap (the automatic stop, when on, may end earlier).
    seed : int, optional
        Seeds the network's weights, the input code and the jitter; a fixed seed
        gives the same result on the CPU.  Drawn at random when None.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    initial_weights : dict, optional
        A ``state_dict`` of a network of the same shape (``weights()`` of an
        earlier fit) to start from instead of the seeded initialisation: a warm
        start for the next plane, frame or tile of the same data.
    """

    #: A loss this many times the last checkpoint's counts as divergence.
    JUMP = 3.0
    #: Iterations between checkpoints of the weights (kept on the device).
    CHECKPOINT_EVERY = 25
    #: Backtracks in a row after which the fit is declared hopeless.
    MAX_BACKTRACKS = 20

    def __init__(
        self,
        target: torch.Tensor,
        operator: Operator,
        recipe: Recipe,
        out_shape: tuple[int, ...],
        *,
        max_iter: int,
        auto_stop: bool,
        seed: int | None = None,
        device: str | torch.device = "auto",
        initial_weights: dict[str, torch.Tensor] | None = None,
    ):
        self.recipe = recipe
        self.max_iter = max_iter
        self.auto_stop = auto_stop
        self.seed = new_seed() if seed is None else seed
        self.device = resolve_device(device)
        self.out_shape = tuple(out_shape)
        dims = len(out_shape)
        levels = recipe.net.levels
        shape = padded_shape(self.out_shape, levels)
        self._crop = (slice(None), slice(None)) + tuple(slice(0, n) for n in out_shape)
        channels = target.shape[1]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = SkipNet(
                _input_depth(recipe, dims),
                channels,
                recipe.net,
                dims,
                level_strides(self.out_shape, levels),
            )
            self.z = _input_code(recipe, shape)
        if initial_weights is not None:
            self.net.load_state_dict(initial_weights)
        self.net.to(self.device).train()
        self.z = self.z.to(self.device)
        self.target = target.to(self.device, torch.float32)
        self.operator = operator.to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=recipe.lr)
        self._jitter = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        self._stop = threading.Event()
        self.iteration = 0
        self.backtracks = 0
        self.stop_reason: str | None = None
        self.elapsed = 0.0
        self.result: np.ndarray | None = None
        self.finished_at: str | None = None

    def stop(self) -> None:
        """Ask the loop to stop after the current iteration (thread-safe)."""
        self._stop.set()

    def weights(self) -> dict[str, torch.Tensor]:
        """A copy of the network's current weights, for ``initial_weights`` of another fit."""
        return {name: value.detach().clone() for name, value in self.net.state_dict().items()}

    @property
    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _forward(self) -> torch.Tensor:
        z = self.z
        if self.recipe.reg_noise_std > 0:
            noise = torch.randn(z.shape, generator=self._jitter, device=self.device)
            z = z + self.recipe.reg_noise_std * noise
        return self.net(z)[self._crop]

    def snapshots(self, every: int = 50) -> Iterator[Snapshot]:
        """Run the fit, yielding a ``Snapshot`` every ``every`` iterations.

        The last snapshot has ``done=True``; afterwards ``result`` holds the
        estimate (as a ``(C, *spatial)`` array) and ``stop_reason`` says why it
        ended: ``"max_iter"``, ``"auto"`` (the variance rule) or ``"stopped"``.
        """
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        recipe = self.recipe
        checkpoint = _Checkpoint(self.net, self.optimizer)
        detector = _VarianceStop(recipe.stop_decay, recipe.stop_patience, recipe.stop_min_iter)
        average = smoothed = best = None
        loss_value = math.nan
        start = time.perf_counter()

        def snapshot(current: torch.Tensor, done: bool = False) -> Snapshot:
            self.elapsed = time.perf_counter() - start
            image = _to_numpy(current)
            return Snapshot(
                iteration=self.iteration,
                max_iter=self.max_iter,
                loss=loss_value,
                image=image,
                smoothed=image if smoothed is None or smoothed is current else _to_numpy(smoothed),
                elapsed=self.elapsed,
                done=done,
            )

        output = None
        failures = 0
        while self.iteration < self.max_iter and not self._stop.is_set():
            self.optimizer.zero_grad(set_to_none=True)
            candidate = self._forward()
            loss = self.operator.loss(candidate, self.target)
            loss.backward()
            value = loss.item()
            if not math.isfinite(value) or value > self.JUMP * checkpoint.loss:
                checkpoint.restore()
                for group in self.optimizer.param_groups:
                    group["lr"] *= 0.5
                self.backtracks += 1
                failures += 1
                if failures > self.MAX_BACKTRACKS:
                    raise RuntimeError(
                        f"the fit diverged {failures} times in a row at iteration {self.iteration}; "
                        "try a lower learning rate or another preset"
                    )
                continue
            failures = 0
            if self.iteration % self.CHECKPOINT_EVERY == 0:
                checkpoint.save(value)  # the weights that gave this (acceptable) loss
            self.optimizer.step()
            self.iteration += 1
            loss_value = value
            output = candidate.detach()
            if recipe.ema:
                if average is None:
                    average = torch.zeros_like(output)
                average.lerp_(output, 1 - recipe.ema)
                smoothed = average / (1 - recipe.ema**self.iteration)
            estimate = smoothed if recipe.ema else output
            if self.auto_stop:
                if detector.update(output, self.iteration):
                    best = estimate.clone() if best is None else best.copy_(estimate)
                if detector.should_stop(self.iteration):
                    self.stop_reason = "auto"
                    break
            if self.iteration % every == 0 and self.iteration < self.max_iter:
                yield snapshot(output)
        if self.stop_reason is None:
            self.stop_reason = "stopped" if self._stop.is_set() else "max_iter"
        if output is None:  # stopped before the first iteration: the untrained output
            with torch.no_grad():
                output = self._forward()
        if self.stop_reason == "auto" and best is not None:
            smoothed = best
        elif smoothed is None:
            smoothed = output
        self.result = _to_numpy(smoothed)
        self.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S")
        yield snapshot(output, done=True)


def _input_depth(recipe: Recipe, dims: int) -> int:
    return dims if recipe.input == "meshgrid" else recipe.input_depth


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].detach().to("cpu", torch.float32).numpy().copy()
