"""Learn a bandit policy from logged decisions alone, without serving it first.

:func:`fit_offline_policy` fits one ridge regression per offer on the logged first-position
events, each weighted by its inverse propensity, and returns a greedy policy on the
fitted rewards with a propensity floor. Weighting by ``1 / pscore`` undoes the logging
policy's preference for some offers in some contexts, so the fitted model targets the
reward under uniform action choice rather than under the logging policy. Weights are
capped at ``max_weight`` and scaled to mean 1, which trades a little bias for variance.

The result is an ordinary :class:`policies.linear.LinUCBSnapshot` (with ``ucb_alpha = 0``):
it serialises, serves and can be evaluated like any other policy. Evaluate it with
off-policy estimators before it serves (:mod:`policies.promotion`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np

from engine.config.policy import ExplorationConfig, PolicyConfig
from engine.errors import InvalidInputError
from policies.linear import LinearLearner, LinearSnapshot

__all__ = ["fit_offline_policy"]

logger = logging.getLogger(__name__)


def fit_offline_policy(
    context: np.ndarray,
    action: np.ndarray,
    reward: np.ndarray,
    pscore: np.ndarray,
    offer_ids: Sequence[str],
    *,
    policy_id: str = "offline-ips-ridge",
    features: tuple[str, ...] | Literal["default"] = "default",
    ridge: float = 1.0,
    max_weight: float = 20.0,
    min_propensity_share: float = 0.05,
) -> LinearSnapshot:
    """Fit an inverse-propensity-weighted ridge model per offer and return it as a greedy policy.

    For offer ``a``: ``theta_a = (sum_i w_i x_i x_i^T + ridge I)^-1 sum_i w_i r_i x_i`` over
    the events that showed ``a`` first, with ``w_i = min(1 / p_i, max_weight)`` scaled to
    mean 1. The policy places the offer with the highest ``x . theta_a`` times multiplier
    first, except for a uniform pick with probability ``min_propensity_share``.

    Args:
        context: shape (n, d); encoded contexts, bias last.
        action: shape (n,), int; index into ``offer_ids`` of the offer shown first.
        reward: shape (n,); its reward.
        pscore: shape (n,); its logged propensity, in (0, 1].
        offer_ids: the action space.
        policy_id: id of the returned policy.
        features: feature set the contexts were encoded with (stored in the config).
        ridge: L2 penalty, > 0.
        max_weight: cap of the inverse propensities, >= 1.
        min_propensity_share: exploration floor of the returned policy.

    Raises:
        InvalidInputError: inconsistent shapes, invalid propensities or settings.
    """
    x = np.asarray(context, dtype=np.float64)
    actions = np.asarray(action)
    rewards = np.asarray(reward, dtype=np.float64)
    scores = np.asarray(pscore, dtype=np.float64)
    n = len(actions)
    if x.ndim != 2 or x.shape[0] != n or rewards.shape != (n,) or scores.shape != (n,) or n == 0:
        raise InvalidInputError(
            f"context must have shape (n, d) and action, reward, pscore shape (n,) with n >= 1; "
            f"got {x.shape}, {actions.shape}, {rewards.shape}, {scores.shape}"
        )
    if not (np.isfinite(scores).all() and scores.min() > 0.0 and scores.max() <= 1.0):
        raise InvalidInputError("pscore must be in (0, 1] for every event; drop events without a logged propensity first")
    if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0 or actions.max() >= len(offer_ids):
        raise InvalidInputError(f"action must hold indices into offer_ids, in [0, {len(offer_ids) - 1}]; got {actions.min()}..{actions.max()}")
    if not max_weight >= 1.0:
        raise InvalidInputError(f"max_weight must be >= 1; got {max_weight!r}")
    weights = np.minimum(1.0 / scores, max_weight)
    weights /= weights.mean()
    config = PolicyConfig(
        id=policy_id,
        algorithm="linucb",
        ridge=ridge,
        features=features,
        exploration=ExplorationConfig(ucb_alpha=0.0, min_propensity_share=min_propensity_share),
    )
    learner = LinearLearner(config, dim=x.shape[1])
    # Scaling x and r by sqrt(w) turns the learner's unweighted update into a weighted one:
    # A += w x x^T and b += w r x. It also skews the learner's context mean, which only
    # explanations read.
    roots = np.sqrt(weights)
    for index in range(n):
        learner.update_one(offer_ids[int(actions[index])], roots[index] * x[index], roots[index] * rewards[index])
    logger.info("offline_policy_fitted", extra={"policy": policy_id, "events": n, "offers": len(set(actions.tolist()))})
    return learner.snapshot()
