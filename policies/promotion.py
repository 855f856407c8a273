"""Gate a candidate policy before it serves: promote only when off-policy evidence shows it is better.

The rule: promote when the lower bound of the candidate's confidence interval (DR by
default) is above the serving policy's value plus ``margin``, and the logs raised no
diagnostic warning (overlap, effective sample size, propensities). When the logs come
from the serving policy, its value is the mean logged reward.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from engine.errors import InvalidInputError
from engine.ope_logs import LoggedBanditFeedback
from policies.ope import (
    DR,
    ESTIMATORS,
    LogDiagnostics,
    PolicyValueEstimate,
    cross_fit_rewards,
    diagnose_logs,
    estimate_all,
)

__all__ = ["PromotionDecision", "decide_promotion", "evaluate_for_promotion"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a candidate may replace the serving policy, and why.

    Attributes:
        promote: True when the candidate may serve.
        reason: one sentence with the figures behind the decision.
        candidate: the estimate the rule used.
        serving_value: the serving policy's value it was compared with.
        margin: the required improvement.
        diagnostics: the log diagnostics, when computed.
    """

    promote: bool
    reason: str
    candidate: PolicyValueEstimate
    serving_value: float
    margin: float
    diagnostics: LogDiagnostics | None = None


def decide_promotion(
    candidate: PolicyValueEstimate,
    serving_value: float,
    *,
    margin: float = 0.0,
    diagnostics: LogDiagnostics | None = None,
    block_on_warnings: bool = True,
) -> PromotionDecision:
    """Promote iff ``candidate.ci_low > serving_value + margin`` (and, by default, the logs raised no warning).

    Raises:
        InvalidInputError: ``serving_value`` or ``margin`` is not finite, or ``margin`` is negative.
    """
    if not np.isfinite(serving_value):
        raise InvalidInputError(f"serving_value must be finite; got {serving_value!r}")
    if not (np.isfinite(margin) and margin >= 0.0):
        raise InvalidInputError(f"margin must be finite and >= 0; got {margin!r}")
    level = f"{1.0 - candidate.alpha:.0%}"
    if block_on_warnings and diagnostics is not None and diagnostics.warnings:
        promote = False
        reason = f"not promoted: the logs cannot support the estimate ({diagnostics.warnings[0]})"
    elif candidate.ci_low > serving_value + margin:
        promote = True
        reason = (
            f"promoted: {candidate.estimator} {level} lower bound {candidate.ci_low:.4g} is above the serving "
            f"value {serving_value:.4g} plus margin {margin:.4g}"
        )
    else:
        promote = False
        reason = (
            f"not promoted: {candidate.estimator} {level} lower bound {candidate.ci_low:.4g} (estimate "
            f"{candidate.value:.4g}) does not beat the serving value {serving_value:.4g} plus margin {margin:.4g}"
        )
    logger.info("promotion_decided", extra={"promote": promote, "estimator": candidate.estimator})
    return PromotionDecision(
        promote=promote, reason=reason, candidate=candidate, serving_value=float(serving_value), margin=margin,
        diagnostics=diagnostics,
    )


def evaluate_for_promotion(
    feedback: LoggedBanditFeedback,
    action_dist: np.ndarray,
    *,
    serving_value: float | None = None,
    estimator: str = DR,
    margin: float = 0.0,
    alpha: float = 0.05,
    seed: int = 0,
    min_ess: float = 100.0,
    block_on_warnings: bool = True,
) -> PromotionDecision:
    """Estimate a candidate's value on logged feedback and apply :func:`decide_promotion`.

    Args:
        feedback: first-position feedback of the serving policy's logs.
        action_dist: shape (n_events, n_offers); the candidate's probabilities.
        serving_value: the serving policy's value; default the mean logged reward, which
            is its on-policy value when it wrote the logs.
        estimator: ``"ips"``, ``"snips"``, ``"dm"`` or ``"dr"``.
        min_ess: effective sample size below which the logs count as too thin
            (see :func:`policies.ope.diagnose_logs`).
        margin, alpha, seed, block_on_warnings: see :func:`decide_promotion` and
            :func:`policies.ope.estimate_all`.

    Raises:
        InvalidInputError: an unknown estimator or inconsistent shapes.
    """
    if estimator not in ESTIMATORS:
        raise InvalidInputError(f"estimator must be one of {', '.join(ESTIMATORS)}; got {estimator!r}")
    diagnostics = diagnose_logs(
        feedback.pscore, feedback.action, action_dist, logging_dist=feedback.logging_dist, min_ess=min_ess
    )
    estimated = cross_fit_rewards(feedback.context, feedback.action, feedback.reward, len(feedback.offer_ids), seed=seed)
    estimates = estimate_all(
        feedback.reward, feedback.action, feedback.pscore, action_dist, estimated, alpha=alpha, seed=seed
    )
    value = float(feedback.reward.mean()) if serving_value is None else serving_value
    return decide_promotion(
        estimates[estimator], value, margin=margin, diagnostics=diagnostics, block_on_warnings=block_on_warnings
    )
