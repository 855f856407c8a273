"""Bayesian ridge regressions updated online, in a mutable and a frozen form.

Each model keeps the inverse ``A_inv`` of the precision matrix ``A = ridge * I + sum x x^T``
and the vector ``b = sum reward * x``. The posterior mean is ``theta = A_inv b``. One
reward changes ``A`` by a rank-one term, so ``A_inv`` is updated with the Sherman-Morrison
formula::

    u = A_inv x
    A_inv <- A_inv - u u^T / (1 + x^T u)

which costs O(D^2) instead of the O(D^3) of a fresh inverse.

Two layouts:

* per offer: one ``(A_inv, b)`` of dimension ``d`` for every offer id, the disjoint
  model of L. Li, W. Chu, J. Langford and R. E. Schapire, "A Contextual-Bandit Approach
  to Personalized News Article Recommendation", WWW 2010 (arXiv:1003.0146);
* shared: one model over ``phi(x, a) = kron(x, f_a)`` of dimension ``d * q``, where ``f_a``
  is the offer's feature vector, so that offers with similar features share evidence.

The mutable classes belong to one learner. :meth:`freeze` copies their arrays into the
read-only ``*Params`` classes that snapshots hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import InvalidInputError
from policies.offer_features import OFFER_FEATURE_DIM, default_offer_feature_vector

__all__ = [
    "PerOfferRidge",
    "PerOfferRidgeParams",
    "SharedRidge",
    "SharedRidgeParams",
    "RidgeParams",
    "score_contributions",
]

# Row 0 of every stacked array is the prior, so an unseen offer id maps to row 0.
PRIOR_ROW = 0
_INITIAL_CAPACITY = 16


def _frozen_copy(array: np.ndarray) -> np.ndarray:
    copy = np.array(array, dtype=np.float64, copy=True, order="C")
    copy.flags.writeable = False
    return copy


class _ContextMean:
    """Running mean of the contexts seen, the reference customer of explanations."""

    def __init__(self, dim: int) -> None:
        self.mean = np.zeros(dim)
        self.count = 0

    def add(self, x: np.ndarray) -> None:
        self.count += 1
        self.mean += (x - self.mean) / self.count


def score_contributions(coefficients: np.ndarray, x: np.ndarray, context_mean: np.ndarray) -> np.ndarray:
    """Return how much each context entry moves each score away from the mean customer's.

    For scores ``C[i] . x`` the contribution of entry ``k`` is ``C[i, k] * (x_k - mean_k)``,
    shape ``(n, d)``. The bias column (the last) is set to 0 because it is 1 for every customer.
    Before any reward the mean is zeros, so contributions are ``C[i, k] * x_k``.
    """
    contributions = coefficients * (x - context_mean)
    contributions[:, -1] = 0.0
    return contributions


# --------------------------------------------------------------------------- per offer


class PerOfferRidge:
    """One ridge regression per offer id, of dimension ``dim``, updated one reward at a time."""

    def __init__(self, dim: int, ridge: float) -> None:
        self.dim = dim
        self.ridge = ridge
        self._offer_ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._a_inv = np.empty((_INITIAL_CAPACITY, dim, dim))
        self._a_inv[PRIOR_ROW] = np.eye(dim) / ridge
        self._b = np.zeros((_INITIAL_CAPACITY, dim))
        self._theta = np.zeros((_INITIAL_CAPACITY, dim))
        self._context_mean = _ContextMean(dim)

    @property
    def offer_ids(self) -> tuple[str, ...]:
        """Offer ids with at least one reward, in order of first reward."""
        return tuple(self._offer_ids)

    def update_one(self, offer_id: str, x: np.ndarray, reward: float) -> None:
        """Absorb one reward; ``x`` must already be validated and is not modified."""
        row = self._rows.get(offer_id)
        if row is None:
            row = self._add_offer(offer_id)
        a_inv = self._a_inv[row]
        u = a_inv @ x
        a_inv -= np.outer(u, u / (1.0 + x @ u))
        b = self._b[row]
        b += reward * x
        self._theta[row] = a_inv @ b
        self._context_mean.add(x)

    def freeze(self) -> PerOfferRidgeParams:
        """Return a read-only copy of the current parameters."""
        used = len(self._offer_ids) + 1
        return PerOfferRidgeParams(
            ridge=self.ridge,
            offer_ids=tuple(self._offer_ids),
            a_inv=self._a_inv[:used],
            b=self._b[:used],
            theta=self._theta[:used],
            context_mean=self._context_mean.mean,
            n_contexts=self._context_mean.count,
        )

    @classmethod
    def from_params(cls, params: PerOfferRidgeParams) -> PerOfferRidge:
        """Return a mutable model that continues from ``params``."""
        model = cls(params.dim, params.ridge)
        used = len(params.offer_ids) + 1
        model._grow(max(used, _INITIAL_CAPACITY))
        model._a_inv[:used] = params.a_inv
        model._b[:used] = params.b
        model._theta[:used] = params.theta
        model._offer_ids = list(params.offer_ids)
        model._rows = {offer_id: row for row, offer_id in enumerate(params.offer_ids, start=1)}
        model._context_mean.mean[:] = params.context_mean
        model._context_mean.count = params.n_contexts
        return model

    def _add_offer(self, offer_id: str) -> int:
        row = len(self._offer_ids) + 1
        if row == len(self._a_inv):
            self._grow(2 * row)
        self._a_inv[row] = self._a_inv[PRIOR_ROW]
        self._b[row] = 0.0
        self._theta[row] = 0.0
        self._offer_ids.append(offer_id)
        self._rows[offer_id] = row
        return row

    def _grow(self, capacity: int) -> None:
        if capacity <= len(self._a_inv):
            return
        used = len(self._offer_ids) + 1
        for name in ("_a_inv", "_b", "_theta"):
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]))
            new[:used] = old[:used]
            setattr(self, name, new)


@dataclass(frozen=True, eq=False, repr=False)
class PerOfferRidgeParams:
    """Read-only per-offer ridge parameters; row ``i + 1`` of each stack belongs to ``offer_ids[i]``.

    Attributes:
        ridge: prior precision.
        offer_ids: offers with their own row; any other id reads the prior in row 0.
        a_inv: shape ``(m + 1, d, d)``; inverse precision matrices.
        b: shape ``(m + 1, d)``; reward-weighted context sums.
        theta: shape ``(m + 1, d)``; posterior means ``A_inv b``.
        context_mean: shape ``(d,)``; mean of every context absorbed (zeros before the first).
        n_contexts: number of contexts absorbed.
    """

    ridge: float
    offer_ids: tuple[str, ...]
    a_inv: np.ndarray
    b: np.ndarray
    theta: np.ndarray
    context_mean: np.ndarray
    n_contexts: int
    _rows: dict[str, int] = field(init=False, repr=False)
    _a_inv_flat: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        m, d = len(self.offer_ids), self.theta.shape[-1]
        expected = {"a_inv": (m + 1, d, d), "b": (m + 1, d), "theta": (m + 1, d), "context_mean": (d,)}
        for name, shape in expected.items():
            array = _frozen_copy(getattr(self, name))
            if array.shape != shape:
                raise InvalidInputError(
                    f"per-offer ridge parameter {name} must have shape {shape} for {m} offers "
                    f"of dimension {d}; got {array.shape}. The snapshot is corrupt or from another format."
                )
            object.__setattr__(self, name, array)
        object.__setattr__(self, "_rows", {offer_id: row for row, offer_id in enumerate(self.offer_ids, start=1)})
        object.__setattr__(self, "_a_inv_flat", self.a_inv.reshape(m + 1, d * d))

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (self.ridge, self.offer_ids, self.a_inv, self.b, self.theta, self.context_mean, self.n_contexts)
        return (type(self), fields)

    @property
    def dim(self) -> int:
        """Context dimension ``d``."""
        return int(self.theta.shape[1])

    def rows_of(self, offer_ids: Sequence[str]) -> np.ndarray:
        """Return the stack row of each offer id (row 0, the prior, for unseen ids)."""
        rows = self._rows
        return np.array([rows.get(offer_id, PRIOR_ROW) for offer_id in offer_ids], dtype=np.intp)

    def coefficients(self, rows: np.ndarray) -> np.ndarray:
        """Return ``C`` of shape ``(n, d)`` with posterior mean score ``C[i] . x``: here ``theta_i``."""
        return self.theta[rows]

    def means(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Return the posterior mean score ``x . theta_i`` of each row."""
        return self.theta[rows] @ x

    def score_variances(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Return ``x^T A_inv_i x`` for each row, clipped at 0 against rounding."""
        # One matrix-vector product over the flattened stack: x^T A x = vec(A) . vec(x x^T).
        outer = np.multiply.outer(x, x).ravel()
        if len(self._a_inv_flat) <= 2 * len(rows):
            # Few offers beyond the candidates: a product with the whole stack beats gathering rows.
            quadratic = (self._a_inv_flat @ outer)[rows]
        else:
            quadratic = self._a_inv_flat[rows] @ outer
        return np.maximum(quadratic, 0.0, out=quadratic)

    def sample_values(
        self,
        x: np.ndarray,
        rows: np.ndarray,
        means: np.ndarray,
        multipliers: np.ndarray,
        posterior_scale: float,
        n_samples: int,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, bool]:
        """Draw ``multiplier_i * score_i`` from the posterior, shape ``(n_samples, n)``.

        Scores are independent across offers, each ``N(x . theta_i, s^2 x^T A_inv_i x)``.
        Also returns whether two columns can tie exactly. That needs at least two constant
        columns (multiplier or variance 0), because continuous draws tie with probability 0.
        """
        scale = np.sqrt(self.score_variances(x, rows))
        scale *= posterior_scale * multipliers
        values = rng.standard_normal((n_samples, len(rows)))
        values *= scale
        values += means * multipliers
        may_tie = not scale.all() and int(np.count_nonzero(scale == 0.0)) > 1
        return values, may_tie

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the arrays to serialise, by field name."""
        return {"a_inv": self.a_inv, "b": self.b, "theta": self.theta, "context_mean": self.context_mean}


# --------------------------------------------------------------------------- shared


def _feature_matrix(offer_features: Mapping[str, np.ndarray]) -> tuple[tuple[str, ...], np.ndarray]:
    """Stack the default vector (row 0) and each offer's vector, checking their length."""
    offer_ids = tuple(offer_features)
    matrix = np.empty((len(offer_ids) + 1, OFFER_FEATURE_DIM))
    matrix[PRIOR_ROW] = default_offer_feature_vector()
    for row, offer_id in enumerate(offer_ids, start=1):
        vector = np.asarray(offer_features[offer_id], dtype=np.float64)
        if vector.shape != (OFFER_FEATURE_DIM,) or not np.isfinite(vector).all():
            raise InvalidInputError(
                f"offer_features[{offer_id!r}] must be a finite vector of shape ({OFFER_FEATURE_DIM},); "
                f"got shape {vector.shape}. Build it with policies.offer_features.offer_feature_vector."
            )
        matrix[row] = vector
    return offer_ids, matrix


class SharedRidge:
    """One ridge regression over ``kron(x, f_a)``, dimension ``dim * q``, shared by all offers.

    An offer id missing from ``offer_features`` is encoded with the default vector (no
    category, business value 0).
    """

    def __init__(self, dim: int, ridge: float, offer_features: Mapping[str, np.ndarray]) -> None:
        self.dim = dim
        self.ridge = ridge
        self._offer_ids, self._features = _feature_matrix(offer_features)
        self._rows = {offer_id: row for row, offer_id in enumerate(self._offer_ids, start=1)}
        joint_dim = dim * OFFER_FEATURE_DIM
        self._a_inv = np.eye(joint_dim) / ridge
        self._b = np.zeros(joint_dim)
        self._theta = np.zeros(joint_dim)
        self._context_mean = _ContextMean(dim)

    def update_one(self, offer_id: str, x: np.ndarray, reward: float) -> None:
        """Absorb one reward; ``x`` must already be validated and is not modified."""
        features = self._features[self._rows.get(offer_id, PRIOR_ROW)]
        phi = np.multiply.outer(x, features).ravel()
        u = self._a_inv @ phi
        self._a_inv -= np.outer(u, u / (1.0 + phi @ u))
        self._b += reward * phi
        self._theta = self._a_inv @ self._b
        self._context_mean.add(x)

    def freeze(self) -> SharedRidgeParams:
        """Return a read-only copy of the current parameters."""
        return SharedRidgeParams(
            ridge=self.ridge,
            offer_ids=self._offer_ids,
            features=self._features,
            a_inv=self._a_inv,
            b=self._b,
            theta=self._theta,
            context_mean=self._context_mean.mean,
            n_contexts=self._context_mean.count,
        )

    @classmethod
    def from_params(cls, params: SharedRidgeParams) -> SharedRidge:
        """Return a mutable model that continues from ``params``."""
        model = cls(params.dim, params.ridge, params.offer_feature_map())
        model._a_inv[:] = params.a_inv
        model._b[:] = params.b
        model._theta[:] = params.theta
        model._context_mean.mean[:] = params.context_mean
        model._context_mean.count = params.n_contexts
        return model


@dataclass(frozen=True, eq=False, repr=False)
class SharedRidgeParams:
    """Read-only shared ridge parameters over ``kron(x, f_a)``.

    Attributes:
        ridge: prior precision.
        offer_ids: offers with known feature vectors; ``features[i + 1]`` belongs to ``offer_ids[i]``.
        features: shape ``(m + 1, q)``; row 0 is the default vector for unknown offers.
        a_inv: shape ``(d * q, d * q)``; inverse precision matrix.
        b: shape ``(d * q,)``; reward-weighted feature sums.
        theta: shape ``(d * q,)``; posterior mean ``A_inv b``.
        context_mean: shape ``(d,)``; mean of every context absorbed (zeros before the first).
        n_contexts: number of contexts absorbed.
    """

    ridge: float
    offer_ids: tuple[str, ...]
    features: np.ndarray
    a_inv: np.ndarray
    b: np.ndarray
    theta: np.ndarray
    context_mean: np.ndarray
    n_contexts: int
    _rows: dict[str, int] = field(init=False, repr=False)
    _a_inv_blocks: np.ndarray = field(init=False, repr=False)
    _theta_matrix: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        m, q = len(self.offer_ids), OFFER_FEATURE_DIM
        d = np.shape(self.context_mean)[0]
        joint = d * q
        expected = {
            "features": (m + 1, q),
            "a_inv": (joint, joint),
            "b": (joint,),
            "theta": (joint,),
            "context_mean": (d,),
        }
        for name, shape in expected.items():
            array = _frozen_copy(getattr(self, name))
            if array.shape != shape:
                raise InvalidInputError(
                    f"shared ridge parameter {name} must have shape {shape} for {m} offers, context "
                    f"dimension {d} and {q} offer features; got {array.shape}. "
                    "The snapshot is corrupt or from another format."
                )
            object.__setattr__(self, name, array)
        object.__setattr__(self, "_rows", {offer_id: row for row, offer_id in enumerate(self.offer_ids, start=1)})
        # a_inv[(k, a), (l, c)] is the covariance of theta entries (context k, feature a) and (l, c).
        object.__setattr__(self, "_a_inv_blocks", self.a_inv.reshape(d, q, d, q))
        object.__setattr__(self, "_theta_matrix", self.theta.reshape(d, q))

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (
            self.ridge,
            self.offer_ids,
            self.features,
            self.a_inv,
            self.b,
            self.theta,
            self.context_mean,
            self.n_contexts,
        )
        return (type(self), fields)

    @property
    def dim(self) -> int:
        """Context dimension ``d``."""
        return int(self.context_mean.shape[0])

    def offer_feature_map(self) -> dict[str, np.ndarray]:
        """Return offer id to feature vector, the ``offer_features`` the model was built with."""
        return {offer_id: self.features[row] for row, offer_id in enumerate(self.offer_ids, start=1)}

    def rows_of(self, offer_ids: Sequence[str]) -> np.ndarray:
        """Return the feature row of each offer id (row 0, the default vector, for unknown ids)."""
        rows = self._rows
        return np.array([rows.get(offer_id, PRIOR_ROW) for offer_id in offer_ids], dtype=np.intp)

    def coefficients(self, rows: np.ndarray) -> np.ndarray:
        """Return ``C`` of shape ``(n, d)`` with posterior mean score ``C[i] . x``: here ``Theta f_i``.

        ``kron(x, f_i) . theta = x^T Theta f_i`` with ``Theta = theta.reshape(d, q)``.
        """
        return self.features[rows] @ self._theta_matrix.T

    def means(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Return the posterior mean score ``kron(x, f_i) . theta = x^T Theta f_i`` of each row."""
        return self.features[rows] @ (x @ self._theta_matrix)

    def context_covariance(self, x: np.ndarray) -> np.ndarray:
        """Return the ``(q, q)`` matrix ``M`` with ``Cov(score_i, score_j) = f_i^T M f_j`` (unscaled).

        ``kron(x, f)^T A_inv kron(x, g) = f^T M g`` with ``M[a, c] = sum_kl x_k x_l A_inv[(k, a), (l, c)]``,
        which costs O((d q)^2) once per context instead of O(n (d q)^2) for the n candidates.
        """
        half = np.tensordot(x, self._a_inv_blocks, axes=(0, 0))
        return np.tensordot(half, x, axes=(1, 0))

    def score_variances(self, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Return ``phi_i^T A_inv phi_i`` for each row, clipped at 0 against rounding."""
        features = self.features[rows]
        variances = np.einsum("ia,ab,ib->i", features, self.context_covariance(x), features)
        return np.maximum(variances, 0.0, out=variances)

    def sample_values(
        self,
        x: np.ndarray,
        rows: np.ndarray,
        means: np.ndarray,
        multipliers: np.ndarray,
        posterior_scale: float,
        n_samples: int,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, bool]:
        """Draw ``multiplier_i * score_i`` from the joint posterior, shape ``(n_samples, n)``.

        The scores are jointly Gaussian with mean ``Phi theta`` and covariance
        ``s^2 Phi A_inv Phi^T = s^2 F M F^T``. That ``n x n`` matrix has rank at most ``q``,
        so instead of factoring it the method factors ``M = L L^T`` (``q x q``, one Cholesky
        per call) and draws ``Phi theta + s F L z`` with ``z ~ N(0, I_q)``, which has exactly
        that distribution. Candidates with equal features and multipliers always draw
        equal values, so this reports that ties are possible.
        """
        loadings = self.features[rows] @ _psd_factor(self.context_covariance(x))
        loadings *= (posterior_scale * multipliers)[:, None]
        values = rng.standard_normal((n_samples, loadings.shape[1])) @ loadings.T
        values += means * multipliers
        return values, True

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the arrays to serialise, by field name."""
        return {
            "features": self.features,
            "a_inv": self.a_inv,
            "b": self.b,
            "theta": self.theta,
            "context_mean": self.context_mean,
        }


def _psd_factor(matrix: np.ndarray) -> np.ndarray:
    """Return ``L`` with ``L L^T = matrix`` for a symmetric positive semi-definite matrix."""
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        # Singular, e.g. M = 0 for an all-zero context: fall back to the eigendecomposition.
        eigenvalues, eigenvectors = np.linalg.eigh(matrix)
        return eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))


RidgeParams = PerOfferRidgeParams | SharedRidgeParams
