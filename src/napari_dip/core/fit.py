"""The Deep Image Prior fit loop, written as a generator of snapshots.

``Fit`` minimises ``loss(A f(z + noise), y)`` over the weights of ``f`` with
Adam.  It smooths the trajectory of outputs with an exponential moving average
(bias-corrected, so the untrained first output fades at once), backs off when
the loss jumps (restoring the last good weights and halving the learning rate),
can stop by itself when the estimate stops predicting pixels held out of the
fit (``core.holdout``), and honours a stop request within one iteration,
keeping the best result so far.  A recipe with several ``members`` fits that
many networks side by side (an ensemble): the estimate is their mean and their
spread is its uncertainty.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .allocator import release_freed_memory, reuse_freed_memory
from .calibration import FillFeatures, calibrated_uncertainty
from .classical import ClassicalBlend, choose_weight
from .data_terms import DataTerm, Gaussian
from .devices import native_bfloat16, preferred_memory_format
from .fusion import Fusion, fuse_members, predicted_error
from .guided import GuideBlend, blend_guided, guide_code
from .holdout import HoldoutStop
from .nets import SkipNet, level_strides, padded_shape
from .observation_code import observation_code
from .operators import Downsample, Identity, Operator
from .presets import Recipe
from .seeding import seeded
from .stop_reason import StopReason
from .threads import ThreadPolicy

__all__ = ["Fit", "Snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """The state of a fit after ``iteration`` iterations.

    ``image`` is the network's current output and ``smoothed`` the running
    average of outputs (equal to ``image`` when the recipe has no averaging);
    for an ensemble, the members' mean of each.
    ``done`` is True on the last snapshot, whose ``smoothed`` is the result.
    A run of several fits numbers them: the snapshot comes from ``fit`` (from
    1) of ``fits``.  With the automatic stop, ``held_out`` is its score and
    ``best_iteration`` the iteration it scores best so far.

    Examples
    --------
    >>> from numpy.random import default_rng
    >>> from napari_dip import Restoration
    >>> run = Restoration("denoise", default_rng(1).random((32, 32)), max_iter=60, seed=0)
    >>> *_, last = run.snapshots(every=20)
    >>> last.done, last.iteration, last.image.shape, last.held_out is not None
    (True, 60, (32, 32), True)
    """

    iteration: int
    max_iter: int
    loss: float
    image: np.ndarray
    smoothed: np.ndarray
    elapsed: float
    done: bool = False
    fit: int = 1
    fits: int = 1
    #: The data term on the pixels held out to decide when to stop, and the iteration the
    #: rule scores best so far (its pick, on the last snapshot); None without the rule.
    held_out: float | None = None
    best_iteration: int | None = None


def _input_code(recipe: Recipe, shape: tuple[int, ...]) -> torch.Tensor:
    """The fixed network inputs ``z``, one per member: uniform noise in [0, 0.1)
    (each member its own) or a meshgrid (the same for all)."""
    if recipe.input == "meshgrid":
        axes = [torch.linspace(0, 1, n) for n in shape]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))
        return grid.expand(recipe.members, *grid.shape).clone()
    return torch.rand(recipe.members, recipe.input_depth, *shape) * 0.1


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

    def back_off(self) -> None:
        """After a diverging step: back to this checkpoint, at half the learning rate."""
        self.restore()
        for group in self.optimizer.param_groups:
            group["lr"] *= 0.5

    def restore(self) -> None:
        with torch.no_grad():
            for kept, p in zip(self.params, self.net.parameters()):
                p.copy_(kept)
            params = [p for p in self.net.parameters() if p in self.optimizer.state]
            for p, saved in zip(params, self.state):
                for k, v in saved.items():
                    self.optimizer.state[p][k].copy_(v)


class Fit:
    """One Deep Image Prior optimisation.

    Parameters
    ----------
    target : Tensor, shape (1, C, *spatial)
        The observation ``y``, normalised.
    operator : Operator
        The forward model ``A``.
    data_term : DataTerm, optional
        Compares ``A(x)`` with ``y``: ``Gaussian()`` (default) or ``Poisson()``.
    recipe : Recipe
        Network, input code and optimisation settings.
    out_shape : tuple of int
        Spatial shape of the estimate (differs from ``target``'s for
        super-resolution).
    max_iter : int
        Iteration cap (the automatic stop, when on, may end earlier).
    seed : int
        Seeds the network's weights, the input code and the jitter; a fixed seed
        gives the same result on the CPU.  Taken as given: the plan draws and
        checks it (``core.seeding``).
    device : torch.device or str
        A device that exists here (``core.devices.resolve_device`` picks it), taken
        as given.
    initial_weights : dict, optional
        A ``state_dict`` of a network of the same shape (``weights()`` of an
        earlier fit) to start from instead of the seeded initialisation: a warm
        start for the next plane, frame or tile of the same data.  The automatic
        stop then may pick from the first iteration and waits half as long.
    threads : int, optional
        CPU threads of a CPU fit; None chooses them and adapts them to the
        machine's load while fitting (``core.threads``).  A fixed count makes
        results bitwise reproducible for a seed.
    guide : Tensor, shape (1, G, *spatial), optional
        An image of the same scene on the estimate's grid, normalised to [0, 1]:
        the networks' input code instead of random noise (``core.guided``).
    blend_with : Fit, optional
        The guided fit of the same target and seed, finished: this (unguided) fit
        ends by blending its result in with the weight the held-out pixels choose
        (``guide_blend``).
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
        data_term: DataTerm | None = None,
        max_iter: int,
        auto_stop: bool,
        seed: int,
        device: torch.device | str = "cpu",
        initial_weights: dict[str, torch.Tensor] | None = None,
        threads: int | None = None,
        guide: torch.Tensor | None = None,
        blend_with: Fit | None = None,
    ):
        self.recipe = recipe
        self.max_iter = max_iter
        self.auto_stop = auto_stop
        self.seed = seed
        self.device = torch.device(device)
        self.out_shape = tuple(out_shape)
        self.warm_started = initial_weights is not None
        self.guided, self.blend_with = guide is not None, blend_with
        if recipe.input == "observation":
            code = observation_code(target, operator.observed, self.out_shape)
            guide = code if guide is None else torch.cat([guide.to(code), code], dim=1)
        ensemble = (recipe, target.shape[1], self.out_shape, self.seed, self.device)
        self.members = _Members(*ensemble, initial_weights, guide)
        self.net, self.z = self.members.nets, self.members.z
        self.target = target.to(self.device, torch.float32)
        self.operator = operator.to(self.device)
        self.data_term = Gaussian() if data_term is None else data_term
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=recipe.lr)
        self.threads = (
            ThreadPolicy(math.prod(self.out_shape), threads) if self.device.type == "cpu" else None
        )
        self._stop = threading.Event()
        self.iteration = 0
        self.backtracks = 0
        self.stop_reason: StopReason | None = None
        self.elapsed = 0.0
        self.result: np.ndarray | None = None
        self.uncertainty: np.ndarray | None = None
        self.finished_at: str | None = None
        self._member_weights: torch.Tensor | None = None
        #: Side of the holes the automatic stop held out (None without it).
        self.stop_hole: int | None = None
        #: What the fusion with the Wiener filter chose (None where it did not run).
        self.fusion: Fusion | None = None
        #: The guided estimate's weight and the scores that chose it (None: no blend ran).
        self.guide_blend: GuideBlend | None = None
        #: The network's weight against the classical estimate, and the scores that chose
        #: it (None: no blend ran; see ``Recipe.classical``).
        self.classical_blend: ClassicalBlend | None = None
        #: The result's expected error ``(1, C, *spatial)``, a standard deviation: from
        #: an inpainting's held-out holes (``core.calibration``) or a denoising's fusion
        #: (``core.fusion.predicted_error``); None where neither ran.
        self.calibrated: torch.Tensor | None = None
        #: The automatic stop's rule, with the pixels it held out (None without it).
        self.holdout: HoldoutStop | None = None
        #: The members' estimates ``(members, C, *spatial)`` after the fit (fused, with
        #: ``Recipe.fuse``): ``result`` is their mean and ``uncertainty`` their spread;
        #: ``scored_estimates``, the same as held-out pixels may score them (the fusion
        #: run on images that hold nothing of them).
        self.estimates: torch.Tensor | None = None
        self.scored_estimates: torch.Tensor | None = None
        self._held_out = math.nan

    def stop(self) -> None:
        """Ask the loop to stop after the current iteration (thread-safe)."""
        self._stop.set()

    def weights(self) -> dict[str, torch.Tensor]:
        """A copy of the network's current weights, for ``initial_weights`` of another fit."""
        return {name: value.detach().clone() for name, value in self.net.state_dict().items()}

    @property
    def learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _step(self, weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward of each member in turn: the mean data term, and the
        members' outputs ``(members, C, *spatial)``.

        One member's activations at a time: memory does not grow with members,
        and on the CPU it is faster than one pass of grouped convolutions.
        """
        members = self.recipe.members
        outputs, total = [], 0.0
        for k in range(members):
            output = self.members.output(k)
            own = None if weights is None else weights[k : k + 1]
            loss = self._loss(output, own) / members
            loss.backward()
            total = total + loss.detach()
            outputs.append(output.detach())
        return total, torch.cat(outputs)

    def _loss(self, estimate: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """The data term between ``A(estimate)`` and the target, over the observed
        pixels that ``weights`` (0 or 1; None: all) pick."""
        observed = self.operator.observed
        if observed is not None:
            weights = observed if weights is None else observed * weights
        return self.data_term(self.operator(estimate), self.target, weights)

    def snapshots(self, every: int = 50) -> Iterator[Snapshot]:
        """Run the fit, yielding a ``Snapshot`` every ``every`` iterations.

        The last snapshot has ``done=True``; afterwards ``result`` holds the
        estimate (as a ``(C, *spatial)`` array) and ``stop_reason`` says why it
        ended (a ``StopReason``: the cap, the hold-out rule, or a stop request).
        With several members, snapshots show the members' mean, ``result`` is
        their mean and ``uncertainty`` their standard deviation (None with one).
        """
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        with reuse_freed_memory(enabled=self.device.type == "cpu"):
            try:
                yield from self._iterate(every)
            finally:
                if self.threads is not None:
                    self.threads.close()

    def _handing_out(self, snapshot: Snapshot) -> Iterator[Snapshot]:
        """Yield ``snapshot`` with the caller's own thread count in place meanwhile."""
        if self.threads is None:
            yield snapshot
            return
        self.threads.leave()
        yield snapshot
        self.threads.enter()

    def _iterate(self, every: int) -> Iterator[Snapshot]:
        checkpoint = _Checkpoint(self.net, self.optimizer)
        self.holdout = detector = self._stopping_rule() if self.auto_stop else None
        weights = None if detector is None else detector.fitted
        smoothing = _Smoothing(self.recipe.ema)
        loss, output, failures = math.nan, None, 0
        self._start = time.perf_counter()
        if self.threads is not None:
            self.threads.enter()
        while self.iteration < self.max_iter and not self._stop.is_set():
            began = time.perf_counter()
            self.optimizer.zero_grad(set_to_none=True)
            total, candidate = self._step(weights)
            value = total.item()
            if not math.isfinite(value) or value > self.JUMP * checkpoint.loss:
                failures += 1
                self.backtracks += 1
                if failures > self.MAX_BACKTRACKS:
                    raise RuntimeError(
                        f"the fit diverged {failures} times in a row at iteration "
                        f"{self.iteration}; try a lower learning rate or another preset"
                    )
                checkpoint.back_off()
                continue
            failures = 0
            if self.iteration % self.CHECKPOINT_EVERY == 0:
                checkpoint.save(value)  # the weights that gave this (acceptable) loss
            self.optimizer.step()
            self.iteration += 1
            loss, output = value, candidate
            estimate = smoothing.update(output, self.iteration)
            if detector is not None:
                with torch.no_grad():
                    self._held_out = float(self._loss(estimate, detector.held))
                if detector.update(self._held_out, self.iteration):
                    smoothing.keep_best(estimate)
                if detector.should_stop(self.iteration):
                    self.stop_reason = StopReason.AUTO
                    break
            if self.threads is not None:
                self.threads.step(time.perf_counter() - began)
            if self.iteration % every == 0 and self.iteration < self.max_iter:
                yield from self._handing_out(self._snapshot(output, smoothing.smoothed, loss))
        if self.stop_reason is None:
            self.stop_reason = StopReason.STOPPED if self._stop.is_set() else StopReason.MAX_ITER
        if output is None:  # stopped before the first iteration: the untrained output
            with torch.no_grad():
                output = torch.cat([self.members.output(k) for k in range(self.recipe.members)])
        if self.device.type == "cpu":
            release_freed_memory()  # the iterations' blocks do not fit the fusion's buffers
        final = _fused_and_blended(self, smoothing.final(output), detector)
        self.estimates = final
        self.result = _to_numpy(_member_mean(final, self._member_weights))
        if self.calibrated is not None:
            self.uncertainty = _to_numpy(self.calibrated)
        elif len(final) > 1:
            self.uncertainty = _to_numpy(final.std(0, keepdim=True))
        self.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S")
        yield from self._handing_out(self._snapshot(output, final, loss, done=True))

    def _fuses(self, detector: HoldoutStop | None) -> bool:
        """Whether this fit ends with the fusion: a recipe asking for it, denoising,
        held-out pixels that scored an estimate, and no stop request (a stop is honoured
        at once, with the best estimate as it is).  Photon counts are fused as they are:
        a filter in a variance-stabilised domain, or with the noise's power following the
        signal, measured lower (docs/noise.md)."""
        return self.recipe.fuse and self._scored(detector) and isinstance(self.operator, Identity)

    def _scored(self, detector: HoldoutStop | None) -> bool:
        """Whether held-out pixels scored an estimate and no stop was asked for."""
        return not self._stop.is_set() and detector is not None and detector.best_iteration > 0

    def _stopping_rule(self) -> HoldoutStop:
        """The hold-out rule, and the members' weights in the mean (see ``_member_mean``)."""
        detector = HoldoutStop.for_fit(
            self.target, self.recipe, self.seed, self.warm_started, self.operator.observed
        )
        self.stop_hole = detector.block
        fitted = detector.fitted
        if self.operator.pixelwise and self.recipe.members > 1:
            # Where every member held a pixel out, all of them count.
            seen = fitted.sum(0, keepdim=True) > 0
            self._member_weights = torch.where(seen, fitted, torch.ones_like(fitted))
        return detector

    def _snapshot(
        self, current: torch.Tensor, smoothed: torch.Tensor | None, loss: float, done=False
    ) -> Snapshot:
        self.elapsed = time.perf_counter() - self._start
        image = _to_numpy(_member_mean(current, self._member_weights))
        if smoothed is not None and smoothed is not current:
            smoothed_image = _to_numpy(_member_mean(smoothed, self._member_weights))
        else:
            smoothed_image = image
        detector = self.holdout
        return Snapshot(
            self.iteration,
            self.max_iter,
            loss,
            image,
            smoothed_image,
            self.elapsed,
            done,
            held_out=None if detector is None else self._held_out,
            best_iteration=None if detector is None else detector.best_iteration,
        )


class _Members(torch.nn.Module):
    """The ensemble's networks, one per member, each with its own input code.

    Member ``k`` sees ``z[k]`` jittered at every iteration (``reg_noise_std``)
    and, with ``flips``, the image mirrored its own way.  Built from ``seed``
    (a warm start loads ``initial_weights`` over it), channels-last on the CPU.
    """

    def __init__(
        self,
        recipe: Recipe,
        channels: int,
        out_shape,
        seed: int,
        device,
        initial_weights,
        guide: torch.Tensor | None = None,
    ):
        super().__init__()
        self.recipe = recipe
        dims, levels, coarsest = len(out_shape), recipe.net.levels, recipe.net.coarsest
        self._crop = (slice(None), slice(None)) + tuple(slice(0, n) for n in out_shape)
        padded = padded_shape(out_shape, levels, coarsest)
        depth = _input_depth(recipe, dims) if guide is None else guide.shape[1]
        with seeded(seed):
            strides = level_strides(out_shape, levels, coarsest)
            self.nets = torch.nn.ModuleList(
                SkipNet(depth, channels, recipe.net, dims, strides) for _ in range(recipe.members)
            )
            if guide is None:
                z = _input_code(recipe, padded)
            else:
                z = guide_code(guide, padded, recipe.members, _flip if recipe.flips else None)
        if initial_weights is not None:
            self.nets.load_state_dict(initial_weights)
        memory_format = preferred_memory_format(device, dims)
        self.nets.to(device, memory_format=memory_format).train()
        self.z = z.to(device, memory_format=memory_format)
        self._jitter = torch.Generator(device=device).manual_seed((seed + 1) % 2**64)
        #: Whether the networks run in bfloat16 (``Recipe.bfloat16``, on a device that has it).
        self.bfloat16 = recipe.bfloat16 and native_bfloat16(torch.device(device))

    def output(self, k: int) -> torch.Tensor:
        """Member ``k``'s estimate, ``(1, C, *spatial)``, in the image's orientation."""
        z = self.z[k : k + 1]
        if self.recipe.reg_noise_std > 0:
            # Drawn in the standard layout: normal_ on a channels-last tensor is ten times slower.
            jitter = torch.empty(z.shape, device=z.device).normal_(generator=self._jitter)
            z = torch.add(z, jitter, alpha=self.recipe.reg_noise_std)  # in z's layout
        with torch.autocast(self.z.device.type, torch.bfloat16, enabled=self.bfloat16):
            output = self.nets[k](z)
        output = output.float()[self._crop]  # float32 from here on (no copy when it is)
        return _flip(output, k) if self.recipe.flips else output


class _Smoothing:
    """The running average of the outputs, and the estimate the stopping rule scored best.

    The average (decay ``ema``; None or 0: none) is bias-corrected, so the
    untrained first output fades at once.
    """

    def __init__(self, ema: float | None):
        self.ema = ema
        self._average: torch.Tensor | None = None
        self.smoothed: torch.Tensor | None = None
        self._best: torch.Tensor | None = None

    def update(self, output: torch.Tensor, iteration: int) -> torch.Tensor:
        """Take the ``iteration``-th output; return the estimate (the average, if any)."""
        if not self.ema:
            return output
        if self._average is None:
            self._average = torch.zeros_like(output)
        self._average.lerp_(output, 1 - self.ema)
        self.smoothed = self._average / (1 - self.ema**iteration)
        return self.smoothed

    def keep_best(self, estimate: torch.Tensor) -> None:
        self._best = estimate.clone() if self._best is None else self._best.copy_(estimate)

    def final(self, output: torch.Tensor) -> torch.Tensor:
        """The fit's result: the best estimate, else the average, else the last output."""
        if self._best is not None:
            return self._best
        return output if self.smoothed is None else self.smoothed


def _fused_and_blended(fit: Fit, final: torch.Tensor, detector: HoldoutStop | None):
    """A fit's last steps on its members' estimates: denoising's fusion (``Recipe.fuse``)
    and, for the unguided fit of a guided block, the blend with the guided fit's result;
    then the blend with the task's classical estimate (``Recipe.classical``) and a
    super-resolution's back-projection (``Recipe.back_project``); sets
    ``fusion``, ``guide_blend``, ``classical_blend``, ``scored_estimates`` and
    ``calibrated``."""
    scored = final
    with torch.no_grad():
        if fit._fuses(detector):
            held, fitted, network = detector.held, detector.fitted, final
            final, fit.fusion, scored = fuse_members(
                network, fit.target, held, fitted, fit.data_term, detector.block, scored=True
            )
            fit.calibrated = predicted_error(network, fit.target, fitted, fit.fusion)
        if fit.blend_with is not None and fit._scored(detector):
            partner, terms = fit.blend_with, _held_out_terms(fit, detector)
            final, fit.guide_blend = blend_guided(
                (partner.estimates, partner.scored_estimates), (final, scored), terms
            )
        if fit.recipe.classical and fit.operator.classical_method and fit._scored(detector):
            final, scored = _with_classical(fit, final, scored, detector)
        if fit.recipe.back_project and isinstance(fit.operator, Downsample):
            final = fit.operator.back_project(final, fit.target)
    fit.scored_estimates = scored
    return final


def _with_classical(fit: Fit, final: torch.Tensor, scored: torch.Tensor, detector: HoldoutStop):
    """The members' estimates blended with the task's classical estimate, and the same
    as held-out pixels score them; sets ``classical_blend``.  The classical estimate is
    scored as each member's was: computed without that member's held-out pixels; they
    choose its setting, then the blend's weight (for deconvolution, of the network's
    departure from it where the PSF passes: ``Blur.passband``)."""
    operator, target, held = fit.operator, fit.target, detector.held
    known = torch.ones_like(target) if operator.observed is None else operator.observed
    members = range(len(final))
    settings = operator.classical_settings

    def unseen(k: int, settings) -> Iterator[tuple]:
        """The classical estimate for member ``k``, without its held-out pixels."""
        return operator.classical(target, known * detector.fitted[k : k + 1], settings)

    def term(estimate: torch.Tensor, k: int) -> float:
        """Member ``k``'s held-out score of ``estimate`` ``(1, C, *spatial)``."""
        return float(fit._loss(estimate, held[k : k + 1]))

    def score(estimates: torch.Tensor) -> float:
        terms = [term(estimates[k : k + 1], k) for k in members]
        return sum(terms) / len(terms)

    setting = settings[0]
    if len(settings) > 1:  # scored one estimate at a time, then the best computed again
        terms: dict[object, list[float]] = {s: [] for s in settings}
        for k in members:
            for s, estimate in unseen(k, settings):
                terms[s].append(term(estimate, k))
        setting = min(settings, key=lambda s: (sum(terms[s]) / len(terms[s]), settings.index(s)))
    classical_unseen = torch.cat(
        [estimate for k in members for _, estimate in unseen(k, (setting,))]
    )
    ((_, classical),) = operator.classical(target, known, (setting,))
    classical = classical.expand_as(final)
    if operator.blends_passband:  # the network weighed where the data can see it
        final = classical + operator.passband(final - classical)
        scored = classical_unseen + operator.passband(scored - classical_unseen)
    fit.classical_blend = choice = choose_weight(
        scored, classical_unseen, score, operator.classical_method, setting
    )
    w = choice.network_weight
    blended = classical.clone() if w == 0 else w * final + (1 - w) * classical
    blended_unseen = w * scored + (1 - w) * classical_unseen
    if operator.pixelwise and operator.observed is not None:  # a fill: inpainting
        pixels = (held * known > 0).expand_as(scored)
        if bool(pixels.any()):
            fit.calibrated = calibrated_uncertainty(
                FillFeatures(scored, classical_unseen, blended_unseen),
                blended_unseen - target,
                pixels,
                FillFeatures(
                    final.mean(0, keepdim=True), classical[:1], blended.mean(0, keepdim=True)
                ),
            )
    return blended, blended_unseen


def _held_out_terms(fit: Fit, detector: HoldoutStop):
    """Estimates -> the data term's values at the held-out pixels far from fitted ones."""
    pixels = detector.far_from_fitted()
    if fit.operator.observed is not None:
        pixels = pixels * fit.operator.observed

    def terms(estimates: torch.Tensor) -> torch.Tensor:
        values = fit.data_term.terms(fit.operator(estimates), fit.target)
        return values[(pixels > 0).expand_as(values)]

    return terms


def _input_depth(recipe: Recipe, dims: int) -> int:
    return dims if recipe.input == "meshgrid" else recipe.input_depth


def _flip(member: torch.Tensor, k: int) -> torch.Tensor:
    """Member ``k``'s output ``(1, C, *spatial)`` flipped along the axes set in ``k``'s
    bits (X, Y, then Z), cycling: each member sees the image mirrored its own way."""
    spatial = member.dim() - 2
    k %= 2**spatial
    axes = [-1 - bit for bit in range(spatial) if k >> bit & 1]
    return member.flip(axes) if axes else member


def _member_mean(estimates: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """The ensemble's estimate: the mean over members (the batch axis).

    ``weights`` (one per member and pixel) leave members out where they did
    not see the data: the holes the stopping rule keeps from each member.
    """
    if len(estimates) == 1:
        return estimates
    if weights is None:
        return estimates.mean(0, keepdim=True)
    return (estimates * weights).sum(0, keepdim=True) / weights.sum(0, keepdim=True)


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].detach().to("cpu", torch.float32).numpy().copy()
