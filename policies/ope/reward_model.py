"""Reward model for the direct method and doubly robust estimates: one ridge regression per action.

For action ``a`` with logged contexts ``X_a`` (rows) and rewards ``r_a``, the model is::

    q(x, a) = rbar + x . theta_a,    theta_a = (X_a^T X_a + ridge * I)^-1 X_a^T (r_a - rbar)

where ``rbar`` is the mean logged reward, so an action without data predicts ``rbar``.
Contexts should contain a bias entry (the engine's encoder ends with 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import InvalidInputError

__all__ = ["RidgeRewardModel", "fit_reward_model", "cross_fit_rewards"]


@dataclass(frozen=True, eq=False)
class RidgeRewardModel:
    """Fitted per-action ridge regressions.

    Attributes:
        coef_: shape (n_actions, d); ``theta_a`` of each action.
        intercept_: the mean logged reward ``rbar``.
        counts_: shape (n_actions,); logged events of each action.
    """

    coef_: np.ndarray
    intercept_: float
    counts_: np.ndarray

    def predict(self, context: np.ndarray) -> np.ndarray:
        """Return ``q(x, a)`` for every context row and action, shape (n_events, n_actions)."""
        x = np.asarray(context, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.coef_.shape[1]:
            raise InvalidInputError(f"context must have shape (n_events, {self.coef_.shape[1]}); got {x.shape}")
        return self.intercept_ + x @ self.coef_.T


def _check_inputs(context: np.ndarray, action: np.ndarray, reward: np.ndarray, n_actions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(context, dtype=np.float64)
    actions = np.asarray(action)
    rewards = np.asarray(reward, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InvalidInputError(f"context must have shape (n_events, d) with n_events >= 1; got {x.shape}")
    n = x.shape[0]
    if actions.shape != (n,) or rewards.shape != (n,):
        raise InvalidInputError(
            f"action and reward must have shape ({n},) like the context rows; got {actions.shape} and {rewards.shape}"
        )
    if not isinstance(n_actions, (int, np.integer)) or n_actions < 1:
        raise InvalidInputError(f"n_actions must be a positive int; got {n_actions!r}")
    if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0 or actions.max() >= n_actions:
        raise InvalidInputError(f"action must hold ints in [0, {n_actions - 1}]; got values {actions.min()}..{actions.max()}")
    if not (np.isfinite(x).all() and np.isfinite(rewards).all()):
        raise InvalidInputError("context and reward must be finite; got NaN or infinity")
    return x, actions, rewards


def fit_reward_model(
    context: np.ndarray, action: np.ndarray, reward: np.ndarray, n_actions: int, *, ridge: float = 1.0
) -> RidgeRewardModel:
    """Fit one ridge regression per action on the logged events.

    Args:
        context: shape (n_events, d).
        action: shape (n_events,), int in [0, n_actions).
        reward: shape (n_events,).
        n_actions: number of actions (columns of the predictions).
        ridge: L2 penalty, > 0.

    Raises:
        InvalidInputError: inconsistent shapes, out-of-range actions, non-finite values
            or a non-positive ridge.
    """
    if not ridge > 0.0:
        raise InvalidInputError(f"ridge must be > 0; got {ridge!r}")
    x, actions, rewards = _check_inputs(context, action, reward, n_actions)
    d = x.shape[1]
    intercept = float(rewards.mean())
    centred = rewards - intercept
    coef = np.zeros((n_actions, d))
    counts = np.bincount(actions, minlength=n_actions)
    penalty = ridge * np.eye(d)
    for a in np.flatnonzero(counts):
        rows = actions == a
        xa = x[rows]
        coef[a] = np.linalg.solve(xa.T @ xa + penalty, xa.T @ centred[rows])
    return RidgeRewardModel(coef_=coef, intercept_=intercept, counts_=counts)


def cross_fit_rewards(
    context: np.ndarray,
    action: np.ndarray,
    reward: np.ndarray,
    n_actions: int,
    *,
    ridge: float = 1.0,
    n_folds: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """Return out-of-fold predictions ``q(x_i, a)``, shape (n_events, n_actions).

    Each event's predictions come from a model fitted on the other folds, so a doubly
    robust correction does not reuse the reward it corrects.

    Raises:
        InvalidInputError: as :func:`fit_reward_model`, or ``n_folds`` not in [2, n_events].
    """
    x, actions, rewards = _check_inputs(context, action, reward, n_actions)
    n = len(x)
    if not isinstance(n_folds, int) or not 2 <= n_folds <= n:
        raise InvalidInputError(f"n_folds must be an int in [2, {n}] (the number of events); got {n_folds!r}")
    folds = np.random.default_rng(seed).permutation(n) % n_folds
    predictions = np.empty((n, n_actions))
    for fold in range(n_folds):
        held_out = folds == fold
        model = fit_reward_model(x[~held_out], actions[~held_out], rewards[~held_out], n_actions, ridge=ridge)
        predictions[held_out] = model.predict(x[held_out])
    return predictions
