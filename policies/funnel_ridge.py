"""Per-offer reward models that borrow their direction from engagement with the offer.

Accepts are rare: at a few per hundred impressions, a per-offer reward model needs
thousands of impressions before its coefficients settle. Clicks and rejects are many
times more frequent and move with the same hidden appeal of the offer to the customer.
The funnel model learns that appeal from them and lets the reward model lean on it.

Per offer ``o``, two regressions over the context ``x`` (dimension ``d``):

* engagement: ridge regression of the engagement signal ``e`` (the sum of the configured
  weights of the feedback types a shown offer received, by default click +1 and reject
  -1) on ``x``, with prior precision ``ridge``::

      phi_o = (ridge * I + sum x x^T)^-1 sum e x          (rewards that carried feedback)

* reward: ridge regression of the reward on ``z = [x, g]`` with ``g = x . phi_o``, the
  engagement prediction, where the coefficients on ``x`` have prior precision
  ``prior_strength`` and the one on ``g`` has ``ridge``::

      Z_o = [[G_o + prior_strength * I, G_o phi_o], [phi_o^T G_o, phi_o^T G_o phi_o + ridge]]
      w_o = Z_o^-1 [b_o, phi_o . b_o]                       (G_o = sum x x^T, b_o = sum reward x)

A large ``prior_strength`` makes the reward model a scaled and shifted copy of the
engagement model while an offer has few rewards. As rewards accumulate, ``G_o`` outweighs
it and the reward's own direction takes over. The score is linear in ``x`` with
coefficients ``theta_o = w_o[:d] + w_o[d] phi_o`` and covariance ``M^T Z_o^-1 M`` with
``M = [I; phi_o^T]``, so a snapshot contains the same ``theta`` and ``a_inv`` as the plain
per-offer model and decides at the same cost. The uncertainty of ``phi_o`` is not part of
that covariance.

Both regressions keep Gram matrices rather than inverses: an update is two rank-one
additions, and :meth:`FunnelRidge.freeze` solves the small systems for all offers at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import InvalidInputError
from policies.ridge import PRIOR_ROW, OfferRows, PerOfferRidgeParams, _ContextMean, _frozen_copy

__all__ = ["FunnelRidge", "FunnelRidgeParams", "funnel_posterior"]

_INITIAL_CAPACITY = 16


def funnel_posterior(
    gram: np.ndarray,
    b: np.ndarray,
    signal_gram: np.ndarray,
    b_signal: np.ndarray,
    *,
    ridge: float,
    prior_strength: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(theta, a_inv)`` of shapes ``(m, d)`` and ``(m, d, d)`` for ``m`` stacked offers.

    Args:
        gram: shape ``(m, d, d)``; ``sum x x^T`` over each offer's rewards.
        b: shape ``(m, d)``; ``sum reward x``.
        signal_gram: shape ``(m, d, d)``; ``sum x x^T`` over the rewards that carried feedback.
        b_signal: shape ``(m, d)``; ``sum e x`` over the same rewards.
        ridge: prior precision of the engagement model and of the engagement coefficient.
        prior_strength: prior precision of the reward model's own coefficients.
    """
    m, d = b.shape
    eye = np.eye(d)
    phi = np.linalg.solve(signal_gram + ridge * eye, b_signal[..., None])[..., 0]
    g_phi = np.einsum("mij,mj->mi", gram, phi)
    z = np.empty((m, d + 1, d + 1))
    z[:, :d, :d] = gram + prior_strength * eye
    z[:, :d, d] = g_phi
    z[:, d, :d] = g_phi
    z[:, d, d] = np.einsum("mi,mi->m", phi, g_phi) + ridge
    z_inv = np.linalg.inv(z)
    b_z = np.concatenate([b, np.einsum("mi,mi->m", phi, b)[:, None]], axis=1)
    w = np.einsum("mij,mj->mi", z_inv, b_z)
    theta = w[:, :d] + w[:, d:] * phi
    cross = z_inv[:, :d, d][:, :, None] * phi[:, None, :]
    a_inv = z_inv[:, :d, :d] + cross + cross.transpose(0, 2, 1) + z_inv[:, d, d][:, None, None] * (
        phi[:, :, None] * phi[:, None, :]
    )
    # Symmetric by construction; averaging with the transpose removes rounding asymmetry.
    a_inv = 0.5 * (a_inv + a_inv.transpose(0, 2, 1))
    return theta, a_inv


class FunnelRidge(OfferRows):
    """Per-offer funnel models of dimension ``dim`` (see the module docstring)."""

    STACKS = ("_gram", "_b", "_signal_gram", "_b_signal")

    def __init__(self, dim: int, ridge: float, prior_strength: float) -> None:
        super().__init__()
        self.dim = dim
        self.ridge = ridge
        self.prior_strength = prior_strength
        self._gram = np.zeros((_INITIAL_CAPACITY, dim, dim))
        self._b = np.zeros((_INITIAL_CAPACITY, dim))
        self._signal_gram = np.zeros((_INITIAL_CAPACITY, dim, dim))
        self._b_signal = np.zeros((_INITIAL_CAPACITY, dim))
        self._context_mean = _ContextMean(dim)

    def update_one(self, offer_id: str, x: np.ndarray, reward: float, signal: float | None = None) -> None:
        """Absorb one reward, and its engagement signal when the feedback types are known.

        ``signal=None`` (a reward without its feedback, as from an old log) updates the
        reward regression only. ``x`` must already be validated and is not modified.
        """
        row = self._row_of(offer_id)
        outer = np.multiply.outer(x, x)
        self._gram[row] += outer
        self._b[row] += reward * x
        if signal is not None:
            self._signal_gram[row] += outer
            self._b_signal[row] += signal * x
        self._context_mean.add(x)

    def freeze(self) -> FunnelRidgeParams:
        """Solve every offer's model and return a read-only copy; O(m d^3), once per snapshot."""
        used = len(self._offer_ids) + 1
        theta, a_inv = funnel_posterior(
            self._gram[:used],
            self._b[:used],
            self._signal_gram[:used],
            self._b_signal[:used],
            ridge=self.ridge,
            prior_strength=self.prior_strength,
        )
        return FunnelRidgeParams(
            ridge=self.ridge,
            offer_ids=tuple(self._offer_ids),
            a_inv=a_inv,
            b=self._b[:used],
            theta=theta,
            context_mean=self._context_mean.mean,
            n_contexts=self._context_mean.count,
            gram=self._gram[:used],
            signal_gram=self._signal_gram[:used],
            b_signal=self._b_signal[:used],
        )

    @classmethod
    def from_params(cls, params: FunnelRidgeParams, *, prior_strength: float) -> FunnelRidge:
        """Return a mutable model that continues from ``params``, with ``prior_strength`` from the policy config."""
        model = cls(params.dim, params.ridge, prior_strength)
        used = model._restore_rows(params.offer_ids)
        model._gram[:used] = params.gram
        model._b[:used] = params.b
        model._signal_gram[:used] = params.signal_gram
        model._b_signal[:used] = params.b_signal
        model._context_mean.mean[:] = params.context_mean
        model._context_mean.count = params.n_contexts
        return model


@dataclass(frozen=True, eq=False, repr=False)
class FunnelRidgeParams(PerOfferRidgeParams):
    """Read-only funnel parameters: the per-offer fields that decisions read, plus the sums to continue learning.

    Attributes:
        theta: shape ``(m + 1, d)``; score coefficients ``w[:d] + w[d] phi`` of each row.
        a_inv: shape ``(m + 1, d, d)``; score covariance ``M^T Z^-1 M`` of each row.
        b: shape ``(m + 1, d)``; reward-weighted context sums.
        gram: shape ``(m + 1, d, d)``; context Gram matrices of the rewards.
        signal_gram: shape ``(m + 1, d, d)``; context Gram matrices of the rewards with feedback.
        b_signal: shape ``(m + 1, d)``; engagement-weighted context sums.

    Row 0 is the prior: an unseen offer scores 0 with covariance ``I / prior_strength``.
    The other attributes are those of :class:`PerOfferRidgeParams`.
    """

    gram: np.ndarray
    signal_gram: np.ndarray
    b_signal: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        m, d = len(self.offer_ids), self.dim
        expected = {"gram": (m + 1, d, d), "signal_gram": (m + 1, d, d), "b_signal": (m + 1, d)}
        for name, shape in expected.items():
            array = _frozen_copy(getattr(self, name))
            if array.shape != shape:
                raise InvalidInputError(
                    f"funnel ridge parameter {name} must have shape {shape} for {m} offers of dimension {d}; "
                    f"got {array.shape}. The snapshot is corrupt or from another format."
                )
            object.__setattr__(self, name, array)
        if self.gram[PRIOR_ROW].any() or self.signal_gram[PRIOR_ROW].any():
            raise InvalidInputError("funnel ridge row 0 is the prior and must contain no rewards; the snapshot is corrupt")

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (
            self.ridge,
            self.offer_ids,
            self.a_inv,
            self.b,
            self.theta,
            self.context_mean,
            self.n_contexts,
            self.gram,
            self.signal_gram,
            self.b_signal,
        )
        return (type(self), fields)

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the arrays to serialise, by field name."""
        return {**super().arrays(), "gram": self.gram, "signal_gram": self.signal_gram, "b_signal": self.b_signal}
