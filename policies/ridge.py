"""Bayesian ridge regressions updated online, in a mutable and a frozen form.

Each model keeps the inverse ``A_inv`` of the precision matrix ``A = ridge * I + sum x x^T``
and the vector ``b = sum reward * x``. The posterior mean is ``theta = A_inv b``. One
reward changes ``A`` by a rank-one term, so ``A_inv`` is updated with the Sherman-Morrison
formula::

    u = A_inv x
    A_inv <- A_inv - u u^T / (1 + x^T u)

which costs O(D^2) instead of the O(D^3) of a fresh inverse.

Three layouts:

* per offer: one ``(A_inv, b)`` of dimension ``d`` for every offer id, the disjoint
  model of L. Li, W. Chu, J. Langford and R. E. Schapire, "A Contextual-Bandit Approach
  to Personalized News Article Recommendation", WWW 2010 (arXiv:1003.0146);
* shared: one model over ``phi(x, a) = kron(x, f_a)`` of dimension ``d * q``, where ``f_a``
  is the offer's feature vector, so that offers with similar features share evidence;
* hierarchical: the per-offer models with the shared model's prediction for each offer as
  their prior mean instead of 0.

The mutable classes belong to one learner. :meth:`freeze` copies their arrays into the
read-only ``*Params`` classes that snapshots hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import InvalidInputError
from policies.offer_features import OFFER_FEATURE_DIM, default_offer_feature_vector

__all__ = [
    "OfferRows",
    "HierarchicalRidge",
    "HierarchicalRidgeParams",
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


class OfferRows:
    """Offer ids with their own row in stacked per-offer arrays; row 0 is the prior.

    Subclasses name their stacked arrays in ``STACKS`` (leading axis = row) and set
    :meth:`_init_row` for what a new offer's row starts from (zeros by default).
    """

    STACKS: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._offer_ids: list[str] = []
        self._rows: dict[str, int] = {}

    @property
    def offer_ids(self) -> tuple[str, ...]:
        """Offer ids with their own row, in the order they got it (first reward or :meth:`add_offers`)."""
        return tuple(self._offer_ids)

    def add_offers(self, offer_ids: Iterable[str]) -> None:
        """Give each id without a row its own row at the prior, before any reward for it."""
        for offer_id in offer_ids:
            if offer_id not in self._rows:
                self._add_offer(offer_id)

    def _row_of(self, offer_id: str) -> int:
        row = self._rows.get(offer_id)
        return row if row is not None else self._add_offer(offer_id)

    def _restore_rows(self, offer_ids: Sequence[str]) -> int:
        """Take over the rows of ``offer_ids`` (row ``i + 1`` for ``offer_ids[i]``); return the rows used."""
        used = len(offer_ids) + 1
        self._grow(max(used, _INITIAL_CAPACITY))
        self._offer_ids = list(offer_ids)
        self._rows = {offer_id: row for row, offer_id in enumerate(offer_ids, start=1)}
        return used

    def _init_row(self, row: int) -> None:
        for name in self.STACKS:
            getattr(self, name)[row] = 0.0

    def _add_offer(self, offer_id: str) -> int:
        row = len(self._offer_ids) + 1
        if row == len(getattr(self, self.STACKS[0])):
            self._grow(2 * row)
        self._init_row(row)
        self._offer_ids.append(offer_id)
        self._rows[offer_id] = row
        return row

    def _grow(self, capacity: int) -> None:
        if capacity <= len(getattr(self, self.STACKS[0])):
            return
        used = len(self._offer_ids) + 1
        for name in self.STACKS:
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]))
            new[:used] = old[:used]
            setattr(self, name, new)


class PerOfferRidge(OfferRows):
    """One ridge regression per offer id, of dimension ``dim``, updated one reward at a time."""

    STACKS = ("_a_inv", "_b", "_theta")

    def __init__(self, dim: int, ridge: float) -> None:
        super().__init__()
        self.dim = dim
        self.ridge = ridge
        self._a_inv = np.empty((_INITIAL_CAPACITY, dim, dim))
        self._a_inv[PRIOR_ROW] = np.eye(dim) / ridge
        self._b = np.zeros((_INITIAL_CAPACITY, dim))
        self._theta = np.zeros((_INITIAL_CAPACITY, dim))
        self._context_mean = _ContextMean(dim)

    def update_one(self, offer_id: str, x: np.ndarray, reward: float) -> None:
        """Absorb one reward; ``x`` must already be validated and is not modified."""
        row = self._row_of(offer_id)
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
        used = model._restore_rows(params.offer_ids)
        model._a_inv[:used] = params.a_inv
        model._b[:used] = params.b
        model._theta[:used] = params.theta
        model._context_mean.mean[:] = params.context_mean
        model._context_mean.count = params.n_contexts
        return model

    def _init_row(self, row: int) -> None:
        self._a_inv[row] = self._a_inv[PRIOR_ROW]
        self._b[row] = 0.0
        self._theta[row] = 0.0


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
        The draws come in antithetic pairs (``z`` and ``-z``). Each draw keeps that
        distribution, a pair's win counts vary less than those of two independent draws,
        and the generator makes half as many normals, which were most of this method's cost.
        Also returns whether two columns can tie exactly. That needs at least two constant
        columns (multiplier or variance 0), because continuous draws tie with probability 0.
        """
        scale = np.sqrt(self.score_variances(x, rows))
        scale *= posterior_scale * multipliers
        values = _antithetic_normals(n_samples, len(rows), rng)
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


def _antithetic_normals(n_samples: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Return standard normal draws of shape ``(n_samples, n)`` whose rows come in pairs ``z``, ``-z``."""
    half = (n_samples + 1) // 2
    values = np.empty((2 * half, n))
    rng.standard_normal(out=values[:half])
    np.negative(values[:half], out=values[half:])
    return values[:n_samples]


def _psd_factor(matrix: np.ndarray) -> np.ndarray:
    """Return ``L`` with ``L L^T = matrix`` for a symmetric positive semi-definite matrix."""
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        # Singular, e.g. M = 0 for an all-zero context: fall back to the eigendecomposition.
        eigenvalues, eigenvectors = np.linalg.eigh(matrix)
        return eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))


# --------------------------------------------------------------------------- hierarchical


class HierarchicalRidge:
    """Per-offer ridge models whose prior mean is the shared model's prediction for the offer.

    Both models absorb every reward. The posterior mean of offer ``o`` is::

        theta_o = A_inv_o (b_o + ridge * Theta f_o)

    with ``A_o = ridge * I + sum x x^T`` and ``b_o`` over the offer's own rewards, and
    ``Theta`` the shared posterior mean reshaped to ``(d, q)``. It is ridge regression
    shrunk toward ``Theta f_o`` instead of toward 0, so an offer with few rewards scores
    close to offers with similar features. The covariance stays ``A_inv_o``: Thompson
    sampling and LinUCB explore as with the per-offer model and ignore the uncertainty of
    ``Theta``.

    Until offer ``o`` has absorbed ``shared_until`` rewards, its mean is ``Theta f_o`` alone,
    because the shared model has learned from every offer's rewards while the offer's own
    fit rests on a few.

    Every id in ``offer_features`` gets a row before its first reward, so it scores with
    its shared prediction. Any other id gets a row at its first reward and the default
    offer feature vector, like an unknown id of the shared model.
    """

    def __init__(
        self, dim: int, ridge: float, offer_features: Mapping[str, np.ndarray], *, shared_until: int = 0
    ) -> None:
        self.dim = dim
        self.ridge = ridge
        self.shared_until = shared_until
        self._shared = SharedRidge(dim, ridge, offer_features)
        self._per_offer = PerOfferRidge(dim, ridge)
        self._per_offer.add_offers(offer_features)
        self._n_rewards: dict[str, int] = {}

    def update_one(self, offer_id: str, x: np.ndarray, reward: float) -> None:
        """Absorb one reward in both models; ``x`` must already be validated and is not modified."""
        self._per_offer.update_one(offer_id, x, reward)
        self._shared.update_one(offer_id, x, reward)
        self._n_rewards[offer_id] = self._n_rewards.get(offer_id, 0) + 1

    def freeze(self) -> HierarchicalRidgeParams:
        """Return a read-only copy with the shared prior folded into each offer's ``theta``.

        Costs O(m d^2) for the ``m`` offers plus the copies, once per snapshot, so that a
        decision costs the same as with the per-offer model.
        """
        per_offer = self._per_offer.freeze()
        shared = self._shared.freeze()
        shared_rows = np.concatenate(([PRIOR_ROW], shared.rows_of(per_offer.offer_ids)))
        prior_means = shared.coefficients(shared_rows)
        theta = np.einsum("mij,mj->mi", per_offer.a_inv, per_offer.b + self.ridge * prior_means)
        counts = [self._n_rewards.get(offer_id, 0) for offer_id in per_offer.offer_ids]
        n_rewards = np.array([0, *counts], dtype=np.float64)
        warming_up = n_rewards < self.shared_until
        theta[warming_up] = prior_means[warming_up]
        return HierarchicalRidgeParams(
            ridge=self.ridge,
            offer_ids=per_offer.offer_ids,
            a_inv=per_offer.a_inv,
            b=per_offer.b,
            theta=theta,
            context_mean=per_offer.context_mean,
            n_contexts=per_offer.n_contexts,
            features=shared.features[shared_rows],
            shared_a_inv=shared.a_inv,
            shared_b=shared.b,
            shared_theta=shared.theta,
            n_rewards=n_rewards,
        )

    @classmethod
    def from_params(cls, params: HierarchicalRidgeParams, *, shared_until: int = 0) -> HierarchicalRidge:
        """Return a mutable model that continues from ``params``, with ``shared_until`` from the policy config."""
        model = cls(params.dim, params.ridge, params.offer_feature_map(), shared_until=shared_until)
        model._per_offer = PerOfferRidge.from_params(params.per_offer_part())
        model._shared = SharedRidge.from_params(params.shared_part())
        counts = params.n_rewards[1:].astype(int).tolist()
        model._n_rewards = {offer_id: count for offer_id, count in zip(params.offer_ids, counts) if count > 0}
        return model


@dataclass(frozen=True, eq=False, repr=False)
class HierarchicalRidgeParams(PerOfferRidgeParams):
    """Read-only hierarchical ridge parameters: per-offer stacks plus the shared model.

    Decisions read only the inherited per-offer fields, so they cost what the per-offer
    model costs. The shared fields are kept so that a learner can continue from a snapshot.

    Attributes:
        theta: shape ``(m + 1, d)``; posterior means ``A_inv_o (b_o + ridge * Theta f_o)``,
            or ``Theta f_o`` for an offer still below ``shared_until`` rewards. Row 0 is
            ``Theta f_0`` for the default offer feature vector.
        b: shape ``(m + 1, d)``; reward-weighted context sums of each offer's own rewards.
        features: shape ``(m + 1, q)``; each row's offer feature vector, the default in row 0
            and for ids that had none.
        shared_a_inv: shape ``(d * q, d * q)``; inverse precision of the shared model.
        shared_b: shape ``(d * q,)``; reward-weighted feature sums of the shared model.
        shared_theta: shape ``(d * q,)``; shared posterior mean ``shared_a_inv shared_b``.
        n_rewards: shape ``(m + 1,)``; rewards each row has absorbed, as floats because
            snapshots serialise float64 arrays only (row 0 stays 0).

    The other attributes are those of :class:`PerOfferRidgeParams`.
    """

    features: np.ndarray
    shared_a_inv: np.ndarray
    shared_b: np.ndarray
    shared_theta: np.ndarray
    n_rewards: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        m, d, q = len(self.offer_ids), self.dim, OFFER_FEATURE_DIM
        expected = {
            "features": (m + 1, q),
            "shared_a_inv": (d * q, d * q),
            "shared_b": (d * q,),
            "shared_theta": (d * q,),
            "n_rewards": (m + 1,),
        }
        for name, shape in expected.items():
            array = _frozen_copy(getattr(self, name))
            if array.shape != shape:
                raise InvalidInputError(
                    f"hierarchical ridge parameter {name} must have shape {shape} for {m} offers, context "
                    f"dimension {d} and {q} offer features; got {array.shape}. "
                    "The snapshot is corrupt or from another format."
                )
            object.__setattr__(self, name, array)

    def __reduce__(self) -> tuple[Any, ...]:
        fields = (
            self.ridge,
            self.offer_ids,
            self.a_inv,
            self.b,
            self.theta,
            self.context_mean,
            self.n_contexts,
            self.features,
            self.shared_a_inv,
            self.shared_b,
            self.shared_theta,
            self.n_rewards,
        )
        return (type(self), fields)

    def offer_feature_map(self) -> dict[str, np.ndarray]:
        """Return offer id to feature vector for every offer with a row."""
        return {offer_id: self.features[row] for row, offer_id in enumerate(self.offer_ids, start=1)}

    def per_offer_part(self) -> PerOfferRidgeParams:
        """Return the per-offer model without the shared prior: ``theta = A_inv b``."""
        return PerOfferRidgeParams(
            ridge=self.ridge,
            offer_ids=self.offer_ids,
            a_inv=self.a_inv,
            b=self.b,
            theta=np.einsum("mij,mj->mi", self.a_inv, self.b),
            context_mean=self.context_mean,
            n_contexts=self.n_contexts,
        )

    def shared_part(self) -> SharedRidgeParams:
        """Return the shared model, with every offer that has a row as a known offer."""
        return SharedRidgeParams(
            ridge=self.ridge,
            offer_ids=self.offer_ids,
            features=self.features,
            a_inv=self.shared_a_inv,
            b=self.shared_b,
            theta=self.shared_theta,
            context_mean=self.context_mean,
            n_contexts=self.n_contexts,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the arrays to serialise, by field name."""
        return {
            **super().arrays(),
            "features": self.features,
            "shared_a_inv": self.shared_a_inv,
            "shared_b": self.shared_b,
            "shared_theta": self.shared_theta,
            "n_rewards": self.n_rewards,
        }


RidgeParams = PerOfferRidgeParams | SharedRidgeParams | HierarchicalRidgeParams
