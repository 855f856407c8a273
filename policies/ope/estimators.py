"""Off-policy estimators of a policy's value from logged bandit feedback.

Every estimator is a pure function over arrays and returns a :class:`PolicyValueEstimate`
with a confidence interval. Notation, for logged events ``i = 1..n``:

* ``x_i`` the context, ``a_i`` the logged action, ``r_i`` its reward;
* ``p_i`` (``pscore``) the logging policy's probability of ``a_i`` given ``x_i``;
* ``pi(a | x_i)`` (``action_dist[i, a]``) the evaluated policy's probability of ``a``;
* ``w_i = pi(a_i | x_i) / p_i`` the importance weight;
* ``q(x_i, a)`` (``estimated_rewards[i, a]``) a reward model's prediction.

Confidence intervals (``ci="normal"``, the default) use the normal approximation on
per-event terms ``psi_i`` whose mean is the estimate: ``value +- z * sd(psi) / sqrt(n)``
with ``z`` the ``1 - alpha / 2`` standard normal quantile. SNIPS uses the delta method.
``ci="bootstrap"`` recomputes the estimator on ``n_bootstrap`` resamples of the events
and takes the percentile interval.

The estimand is the value of ``pi`` on the logged contexts,
``V(pi) = mean_i sum_a pi(a | x_i) E[r | x_i, a]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from engine.errors import InvalidInputError

__all__ = [
    "IPS",
    "SNIPS",
    "DM",
    "DR",
    "ESTIMATORS",
    "CIMethod",
    "PolicyValueEstimate",
    "estimate_ips",
    "estimate_snips",
    "estimate_dm",
    "estimate_dr",
    "estimate_all",
    "importance_weights",
]

IPS, SNIPS, DM, DR = "ips", "snips", "dm", "dr"
ESTIMATORS: tuple[str, ...] = (IPS, SNIPS, DM, DR)
CIMethod = Literal["normal", "bootstrap"]
# Rows of action_dist may differ from 1 by rounding; larger gaps mean a wrong input.
_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class PolicyValueEstimate:
    """An estimate of a policy's mean reward per decision, with a ``1 - alpha`` confidence interval.

    Attributes:
        estimator: short id: ``"ips"``, ``"snips"``, ``"dm"`` or ``"dr"``.
        value: the point estimate.
        ci_low, ci_high: interval bounds.
        std_error: standard error (normal CI) or bootstrap standard deviation.
        n_events: events used.
        ci_method: ``"normal"`` or ``"bootstrap"``.
        alpha: one minus the interval's coverage.
    """

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float
    n_events: int
    ci_method: str
    alpha: float

    def as_dict(self) -> dict[str, float | int | str]:
        """Return the fields as a JSON-ready dict."""
        return dict(self.__dict__)


def _check_actions(action: np.ndarray, n: int, n_actions: int) -> np.ndarray:
    actions = np.asarray(action)
    if actions.shape != (n,):
        raise InvalidInputError(f"action must have shape ({n},), one per event; got {actions.shape}")
    if not np.issubdtype(actions.dtype, np.integer):
        raise InvalidInputError(f"action must contain integer action indices; got dtype {actions.dtype}")
    if n and (actions.min() < 0 or actions.max() >= n_actions):
        raise InvalidInputError(
            f"action indices must be in [0, {n_actions - 1}] (action_dist has {n_actions} columns); "
            f"got min {actions.min()}, max {actions.max()}"
        )
    return actions


def _check_dist(action_dist: np.ndarray) -> np.ndarray:
    dist = np.asarray(action_dist, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[0] == 0:
        raise InvalidInputError(f"action_dist must have shape (n_events, n_actions) with n_events >= 1; got {dist.shape}")
    if not np.isfinite(dist).all() or dist.min() < 0.0:
        raise InvalidInputError("action_dist must contain finite, non-negative probabilities; got a negative, NaN or infinite entry")
    sums = dist.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > _SUM_TOLERANCE:
        raise InvalidInputError(f"every row of action_dist must sum to 1; row {worst} sums to {sums[worst]:.6g}")
    return dist


def _check_vector(name: str, values: np.ndarray, n: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise InvalidInputError(f"{name} must have shape ({n},), one per event; got {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidInputError(f"{name} must be finite; got NaN or infinity at index {int(np.argmin(np.isfinite(array)))}")
    return array


def _check_pscore(pscore: np.ndarray, n: int) -> np.ndarray:
    values = np.asarray(pscore, dtype=np.float64)
    if values.shape != (n,):
        raise InvalidInputError(f"pscore must have shape ({n},), one per event; got {values.shape}")
    bad = ~(np.isfinite(values) & (values > 0.0) & (values <= 1.0))
    if bad.any():
        index = int(np.argmax(bad))
        raise InvalidInputError(
            f"pscore must be in (0, 1]; got {float(values[index])!r} at index {index} ({int(bad.sum())} such events). "
            "Drop events without a logged propensity first (policies.ope.diagnose_logs counts them)"
        )
    return values


def _check_estimated(estimated_rewards: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    values = np.asarray(estimated_rewards, dtype=np.float64)
    if values.shape != shape:
        raise InvalidInputError(f"estimated_rewards must have the shape of action_dist {shape}; got {values.shape}")
    if not np.isfinite(values).all():
        raise InvalidInputError("estimated_rewards must be finite; got NaN or infinity")
    return values


def importance_weights(action: np.ndarray, pscore: np.ndarray, action_dist: np.ndarray) -> np.ndarray:
    """Return ``w_i = pi(a_i | x_i) / p_i``, shape ``(n_events,)``.

    Raises:
        InvalidInputError: inconsistent shapes, an action index out of range, or a
            pscore outside (0, 1].
    """
    dist = _check_dist(action_dist)
    n = dist.shape[0]
    actions = _check_actions(action, n, dist.shape[1])
    return dist[np.arange(n), actions] / _check_pscore(pscore, n)


def _interval(
    terms: np.ndarray,
    value: float,
    statistic: Callable[[np.ndarray], float],
    *,
    estimator: str,
    alpha: float,
    ci: str,
    n_bootstrap: int,
    seed: int | np.random.Generator,
    std_error: float | None = None,
) -> PolicyValueEstimate:
    if not 0.0 < alpha < 1.0:
        raise InvalidInputError(f"alpha must be in (0, 1), e.g. 0.05 for a 95% interval; got {alpha!r}")
    n = len(terms)
    if ci == "normal":
        if std_error is None:
            std_error = float(np.std(terms, ddof=1) / math.sqrt(n)) if n > 1 else math.inf
        z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
        low, high = value - z * std_error, value + z * std_error
    elif ci == "bootstrap":
        if not isinstance(n_bootstrap, int) or n_bootstrap < 10:
            raise InvalidInputError(f"n_bootstrap must be an int >= 10; got {n_bootstrap!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        draws = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(n_bootstrap)])
        std_error = float(np.std(draws, ddof=1))
        low, high = (float(q) for q in np.quantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0]))
    else:
        raise InvalidInputError(f"ci must be 'normal' or 'bootstrap'; got {ci!r}")
    return PolicyValueEstimate(
        estimator=estimator,
        value=float(value),
        ci_low=float(low),
        ci_high=float(high),
        std_error=float(std_error),
        n_events=n,
        ci_method=ci,
        alpha=alpha,
    )


def estimate_ips(
    reward: np.ndarray,
    action: np.ndarray,
    pscore: np.ndarray,
    action_dist: np.ndarray,
    *,
    alpha: float = 0.05,
    ci: CIMethod = "normal",
    n_bootstrap: int = 1000,
    seed: int | np.random.Generator = 0,
) -> PolicyValueEstimate:
    """Estimate ``V(pi)`` by inverse propensity scoring.

    ``V_IPS = (1/n) sum_i w_i r_i``, with ``w_i = pi(a_i | x_i) / p_i``. Unbiased when the
    logged propensities are exact and ``p_i > 0`` wherever ``pi`` acts; its variance grows
    with the weights. As defined in M. Dudik, J. Langford and L. Li, "Doubly Robust
    Policy Evaluation and Learning", ICML 2011 (arXiv:1103.4601), section 2.

    Args:
        reward: shape (n_events,); logged reward of each event.
        action: shape (n_events,), int; index of the logged action.
        pscore: shape (n_events,); logging policy's probability of the logged action, in (0, 1].
        action_dist: shape (n_events, n_actions); probability the evaluated policy picks
            each action in each event's context.
        alpha: one minus the coverage of the interval.
        ci: ``"normal"`` (per-event terms ``w_i r_i``) or ``"bootstrap"``.
        n_bootstrap: resamples for the bootstrap.
        seed: seed or generator of the bootstrap resampling.
    """
    weights = importance_weights(action, pscore, action_dist)
    rewards = _check_vector("reward", reward, len(weights))
    terms = weights * rewards
    return _interval(
        terms, float(terms.mean()), lambda idx: float(terms[idx].mean()),
        estimator=IPS, alpha=alpha, ci=ci, n_bootstrap=n_bootstrap, seed=seed,
    )


def estimate_snips(
    reward: np.ndarray,
    action: np.ndarray,
    pscore: np.ndarray,
    action_dist: np.ndarray,
    *,
    alpha: float = 0.05,
    ci: CIMethod = "normal",
    n_bootstrap: int = 1000,
    seed: int | np.random.Generator = 0,
) -> PolicyValueEstimate:
    """Estimate ``V(pi)`` by self-normalised inverse propensity scoring.

    ``V_SNIPS = sum_i w_i r_i / sum_i w_i``. Biased for finite ``n`` but consistent, bounded
    by the range of the rewards, and usually of much lower variance than IPS. The normal
    interval uses the delta method: ``psi_i = w_i (r_i - V_SNIPS) / mean(w)``.
    A. Swaminathan and T. Joachims, "The Self-Normalized Estimator for Counterfactual
    Learning", NeurIPS 2015.

    Args: as in :func:`estimate_ips`.
    """
    weights = importance_weights(action, pscore, action_dist)
    rewards = _check_vector("reward", reward, len(weights))
    total = weights.sum()
    if total <= 0.0:
        raise InvalidInputError(
            "the evaluated policy gives probability 0 to every logged action, so SNIPS is undefined; "
            "the logs do not cover this policy"
        )
    value = float((weights * rewards).sum() / total)
    terms = weights * (rewards - value) / weights.mean()
    n = len(terms)
    std_error = float(np.std(terms, ddof=1) / math.sqrt(n)) if n > 1 else math.inf

    def statistic(idx: np.ndarray) -> float:
        sample = weights[idx].sum()
        return float((weights[idx] * rewards[idx]).sum() / sample) if sample > 0 else value

    return _interval(
        terms, value, statistic, estimator=SNIPS, alpha=alpha, ci=ci, n_bootstrap=n_bootstrap, seed=seed,
        std_error=std_error,
    )


def estimate_dm(
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray,
    *,
    alpha: float = 0.05,
    ci: CIMethod = "normal",
    n_bootstrap: int = 1000,
    seed: int | np.random.Generator = 0,
) -> PolicyValueEstimate:
    """Estimate ``V(pi)`` by the direct method: the reward model's prediction under ``pi``.

    ``V_DM = (1/n) sum_i sum_a pi(a | x_i) q(x_i, a)``. Low variance, but biased by any
    error of the reward model. M. Dudik, J. Langford and L. Li, "Doubly Robust Policy
    Evaluation and Learning", ICML 2011 (arXiv:1103.4601), section 2.

    NOTE: the interval reflects only the sampling of contexts, not the reward model's
    error, so it is too narrow whenever the model is biased.

    Args:
        action_dist: shape (n_events, n_actions); see :func:`estimate_ips`.
        estimated_rewards: shape (n_events, n_actions); predicted reward of each action.
        alpha, ci, n_bootstrap, seed: see :func:`estimate_ips`.
    """
    dist = _check_dist(action_dist)
    predictions = _check_estimated(estimated_rewards, dist.shape)
    terms = (dist * predictions).sum(axis=1)
    return _interval(
        terms, float(terms.mean()), lambda idx: float(terms[idx].mean()),
        estimator=DM, alpha=alpha, ci=ci, n_bootstrap=n_bootstrap, seed=seed,
    )


def estimate_dr(
    reward: np.ndarray,
    action: np.ndarray,
    pscore: np.ndarray,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray,
    *,
    alpha: float = 0.05,
    ci: CIMethod = "normal",
    n_bootstrap: int = 1000,
    seed: int | np.random.Generator = 0,
) -> PolicyValueEstimate:
    """Estimate ``V(pi)`` by the doubly robust estimator.

    ``V_DR = (1/n) sum_i [ sum_a pi(a | x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)) ]``: the
    direct method corrected by importance-weighted residuals. Unbiased when either the
    propensities or the reward model are correct, with lower variance than IPS when the
    model is good. Fit the model on other events than those it corrects (cross-fitting,
    :func:`policies.ope.cross_fit_rewards`) so that the interval stays valid.
    M. Dudik, J. Langford and L. Li, "Doubly Robust Policy Evaluation and Learning",
    ICML 2011 (arXiv:1103.4601).

    Args:
        reward, action, pscore, action_dist: see :func:`estimate_ips`.
        estimated_rewards: shape (n_events, n_actions); predicted reward of each action.
        alpha, ci, n_bootstrap, seed: see :func:`estimate_ips`.
    """
    weights = importance_weights(action, pscore, action_dist)
    dist = np.asarray(action_dist, dtype=np.float64)
    predictions = _check_estimated(estimated_rewards, dist.shape)
    rewards = _check_vector("reward", reward, len(weights))
    n = len(weights)
    logged = predictions[np.arange(n), np.asarray(action)]
    terms = (dist * predictions).sum(axis=1) + weights * (rewards - logged)
    return _interval(
        terms, float(terms.mean()), lambda idx: float(terms[idx].mean()),
        estimator=DR, alpha=alpha, ci=ci, n_bootstrap=n_bootstrap, seed=seed,
    )


def estimate_all(
    reward: np.ndarray,
    action: np.ndarray,
    pscore: np.ndarray,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray,
    *,
    alpha: float = 0.05,
    ci: CIMethod = "normal",
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, PolicyValueEstimate]:
    """Return the IPS, SNIPS, DM and DR estimates, keyed by estimator id."""
    options = {"alpha": alpha, "ci": ci, "n_bootstrap": n_bootstrap, "seed": seed}
    return {
        IPS: estimate_ips(reward, action, pscore, action_dist, **options),
        SNIPS: estimate_snips(reward, action, pscore, action_dist, **options),
        DM: estimate_dm(action_dist, estimated_rewards, **options),
        DR: estimate_dr(reward, action, pscore, action_dist, estimated_rewards, **options),
    }
