"""Data terms: how far a prediction ``A(x)`` is from the observation ``y``.

Each term follows a noise model of the observation (one of ``NOISE_MODELS``):

``"gaussian"`` (``Gaussian``)
    Squared error: additive noise of the same variance everywhere.
``"poisson"`` (``Poisson``)
    Poisson deviance ``lam - y - y log(lam / y)`` with ``lam = A(x)``: the
    negative log-likelihood of photon counts ``y`` minus its value at a
    perfect fit, so it is 0 there and positive elsewhere (see
    ``poisson_deviance``).  ``y`` must be counts times any positive scale:
    the minimiser does not depend on the scale, but zero photons must stay
    zero.  Negative values (read noise once a camera offset is subtracted)
    are kept, not clamped, so dark regions are not biased upwards.

A term is the mean over the pixels its ``weights`` pick (0 or 1): the observed
ones, minus those held out to decide when to stop (``core.holdout``).
"""

from __future__ import annotations

import torch

__all__ = ["NOISE_MODELS", "POISSON_FLOOR", "DataTerm", "Gaussian", "Poisson", "data_term"]

#: Smallest predicted intensity the Poisson data term accepts (normalised units).
POISSON_FLOOR = 1e-6


def poisson_deviance(lam: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel Poisson deviance ``lam - y - y log(lam / y)``: >= 0, 0 where ``lam == y``.

    (Half the statistician's deviance: the log-likelihood ratio to a perfect fit.)
    ``lam`` is clamped to ``POISSON_FLOOR``; where ``y`` is below the floor
    (zero photons, or read noise below zero) the best prediction is the floor,
    so the term is ``lam - floor - y log(lam / floor)``.  The gradient is the
    likelihood's, ``1 - y / lam``, everywhere: a flat region is fitted by the
    mean of ``y``, negative values included, without a bias.  Written with two
    logarithms so that the gradient stays finite where ``y`` is 0.
    """
    lam = lam.clamp_min(POISSON_FLOOR)
    best = y.clamp_min(POISSON_FLOOR)
    return lam - best - y * (torch.log(lam) - torch.log(best))


class DataTerm:
    """The mean of a per-pixel term between a prediction and the observation."""

    noise: str = ""

    def terms(self, prediction: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(
        self, prediction: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean of the terms over the pixels where ``weights`` (broadcastable to ``y``) is 1."""
        terms = self.terms(prediction, y)
        if weights is None:
            return terms.mean()
        weights = weights.expand_as(terms)
        return (terms * weights).sum() / weights.sum().clamp_min(1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Gaussian(DataTerm):
    """Squared error: the negative log-likelihood of Gaussian noise, up to scale."""

    noise = "gaussian"

    def terms(self, prediction: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (prediction - y).square()


class Poisson(DataTerm):
    """Poisson deviance (``poisson_deviance``): photon counts."""

    noise = "poisson"

    def terms(self, prediction: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return poisson_deviance(prediction, y)


_TERMS = {term.noise: term for term in (Gaussian, Poisson)}
NOISE_MODELS = tuple(_TERMS)


def data_term(noise: str) -> DataTerm:
    """The data term of a noise model, one of ``NOISE_MODELS``."""
    if noise not in _TERMS:
        raise ValueError(f"noise must be one of {NOISE_MODELS}, got {noise!r}")
    return _TERMS[noise]()
