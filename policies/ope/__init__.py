"""Off-policy evaluation: estimate a policy's value from logs of another policy.

Estimators (:mod:`policies.ope.estimators`) are pure functions over arrays, in the
vocabulary used across offerloop: ``reward``, ``action``, ``pscore`` (the logging
policy's propensity of the logged action), ``action_dist`` (shape ``(n_events,
n_actions)``, the evaluated policy's probabilities) and ``estimated_rewards`` (a reward
model's predictions, same shape). Each returns a :class:`PolicyValueEstimate` with a
confidence interval. :func:`diagnose_logs` warns when logs cannot support an estimate.
"""

from __future__ import annotations

from policies.ope.diagnostics import (
    LogDiagnostics,
    LowOverlapWarning,
    MissingPropensityWarning,
    OPEWarning,
    SmallPropensityWarning,
    SmallSampleWarning,
    diagnose_logs,
)
from policies.ope.estimators import (
    DM,
    DR,
    ESTIMATORS,
    IPS,
    SNIPS,
    PolicyValueEstimate,
    estimate_all,
    estimate_dm,
    estimate_dr,
    estimate_ips,
    estimate_snips,
    importance_weights,
)
from policies.ope.reward_model import RidgeRewardModel, cross_fit_rewards, fit_reward_model

__all__ = [
    "IPS",
    "SNIPS",
    "DM",
    "DR",
    "ESTIMATORS",
    "PolicyValueEstimate",
    "estimate_ips",
    "estimate_snips",
    "estimate_dm",
    "estimate_dr",
    "estimate_all",
    "importance_weights",
    "RidgeRewardModel",
    "fit_reward_model",
    "cross_fit_rewards",
    "OPEWarning",
    "MissingPropensityWarning",
    "SmallPropensityWarning",
    "LowOverlapWarning",
    "SmallSampleWarning",
    "LogDiagnostics",
    "diagnose_logs",
]
