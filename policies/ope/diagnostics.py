"""Checks that logged data can support an off-policy estimate, with typed warnings.

:func:`diagnose_logs` computes the figures below and, for each one past its limit,
issues a warning of a subclass of :class:`OPEWarning`, so callers can filter or raise
them by type:

* missing propensities (NaN, 0 or above 1): :class:`MissingPropensityWarning`; such
  events cannot enter IPS, SNIPS or DR and must be dropped;
* tiny propensities (below ``min_pscore``): :class:`SmallPropensityWarning`; their
  weights dominate IPS and DR;
* low overlap: :class:`LowOverlapWarning` when the evaluated policy puts more than
  ``max_unsupported_mass`` of its probability on actions the logging policy could not
  take, which needs the logging distribution. It is also issued when the mean
  importance weight is far from 1, as happens when propensities are wrong or the
  policies barely overlap;
* small effective sample size ``ESS = (sum w)^2 / sum w^2``, the usual importance
  sampling rule of thumb (discussed by V. Elvira, L. Martino and C. P. Robert,
  "Rethinking the Effective Sample Size", arXiv:1809.04129): :class:`SmallSampleWarning`
  below ``min_ess`` events.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from engine.errors import InvalidInputError

__all__ = [
    "OPEWarning",
    "MissingPropensityWarning",
    "SmallPropensityWarning",
    "LowOverlapWarning",
    "SmallSampleWarning",
    "LogDiagnostics",
    "diagnose_logs",
]


class OPEWarning(UserWarning):
    """Base class of warnings about logs that may not support an off-policy estimate."""


class MissingPropensityWarning(OPEWarning):
    """Issued when some events have no usable logged propensity (NaN, 0 or above 1)."""


class SmallPropensityWarning(OPEWarning):
    """Issued when some logged propensities are below the configured minimum."""


class LowOverlapWarning(OPEWarning):
    """Issued when the evaluated policy acts where the logging policy did not, or weights average far from 1."""


class SmallSampleWarning(OPEWarning):
    """Issued when the effective sample size of the importance weights is below the minimum."""


@dataclass(frozen=True)
class LogDiagnostics:
    """Figures about logged events relative to an evaluated policy.

    Attributes:
        n_events: all events.
        n_missing_pscore: events without a usable propensity.
        min_pscore: smallest usable propensity (NaN when none is usable).
        n_small_pscore: usable propensities below the minimum.
        mean_weight: mean importance weight over usable events (1 in expectation).
        max_weight: largest importance weight.
        effective_sample_size: ``(sum w)^2 / sum w^2`` over usable events.
        unsupported_mass: mean probability the evaluated policy puts on actions with
            logging probability 0, or None without a logging distribution.
        warnings: the messages issued, in order.
    """

    n_events: int
    n_missing_pscore: int
    min_pscore: float
    n_small_pscore: int
    mean_weight: float
    max_weight: float
    effective_sample_size: float
    unsupported_mass: float | None
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """Return the fields as a JSON-ready dict."""
        data = dict(self.__dict__)
        data["warnings"] = list(self.warnings)
        return data


def diagnose_logs(
    pscore: np.ndarray,
    action: np.ndarray,
    action_dist: np.ndarray,
    *,
    logging_dist: np.ndarray | None = None,
    min_pscore: float = 1e-3,
    min_ess: float = 100.0,
    max_unsupported_mass: float = 0.01,
    weight_tolerance: float = 0.5,
    warn: bool = True,
) -> LogDiagnostics:
    """Compute overlap diagnostics and warn about each one past its limit.

    Args:
        pscore: shape (n_events,); logged propensity of the logged action (NaN when missing).
        action: shape (n_events,), int; logged action index.
        action_dist: shape (n_events, n_actions); evaluated policy's probabilities.
        logging_dist: shape (n_events, n_actions) or None; logging policy's probabilities,
            when the logs contain them (offerloop decision records do).
        min_pscore: propensities below this count as tiny.
        min_ess: effective sample sizes below this warn.
        max_unsupported_mass: unsupported probability mass above this warns.
        weight_tolerance: a mean weight further than this from 1 warns.
        warn: issue the warnings (they are listed in the result either way).

    Raises:
        InvalidInputError: inconsistent shapes.
    """
    scores = np.asarray(pscore, dtype=np.float64)
    dist = np.asarray(action_dist, dtype=np.float64)
    actions = np.asarray(action)
    n = len(scores)
    if scores.shape != (n,) or actions.shape != (n,) or dist.ndim != 2 or dist.shape[0] != n:
        raise InvalidInputError(
            f"pscore and action must have shape (n_events,) and action_dist (n_events, n_actions); "
            f"got {scores.shape}, {actions.shape} and {dist.shape}"
        )
    messages: list[tuple[type[OPEWarning], str]] = []
    usable = np.isfinite(scores) & (scores > 0.0) & (scores <= 1.0)
    n_missing = int(n - usable.sum())
    if n_missing:
        messages.append((
            MissingPropensityWarning,
            f"{n_missing} of {n} events have no usable propensity (NaN, 0 or above 1); they are left out of IPS, SNIPS and DR",
        ))
    used = scores[usable]
    min_used = float(used.min()) if used.size else float("nan")
    n_small = int((used < min_pscore).sum())
    if n_small:
        messages.append((
            SmallPropensityWarning,
            f"{n_small} events have a propensity below {min_pscore:g} (smallest {min_used:.3g}); "
            "their importance weights dominate IPS and DR. Log with a propensity floor (min_propensity_share)",
        ))
    rows = np.flatnonzero(usable)
    weights = dist[rows, actions[rows]] / used if used.size else np.zeros(0)
    total = float(weights.sum())
    ess = total**2 / float((weights**2).sum()) if total > 0 else 0.0
    mean_weight = float(weights.mean()) if weights.size else float("nan")
    if weights.size and abs(mean_weight - 1.0) > weight_tolerance:
        messages.append((
            LowOverlapWarning,
            f"the mean importance weight is {mean_weight:.3g}, expected about 1; the propensities are wrong "
            "or the evaluated policy rarely takes the logged actions",
        ))
    if ess < min_ess:
        messages.append((
            SmallSampleWarning,
            f"the effective sample size is {ess:.1f} events (of {n}), below {min_ess:g}; "
            "estimates rest on a few events. Collect more logs or evaluate a policy closer to the logging one",
        ))
    unsupported: float | None = None
    if logging_dist is not None:
        logging = np.asarray(logging_dist, dtype=np.float64)
        if logging.shape != dist.shape:
            raise InvalidInputError(f"logging_dist must have the shape of action_dist {dist.shape}; got {logging.shape}")
        unsupported = float((dist * (logging <= 0.0)).sum(axis=1).mean())
        if unsupported > max_unsupported_mass:
            messages.append((
                LowOverlapWarning,
                f"the evaluated policy puts {unsupported:.1%} of its probability on actions the logging policy "
                f"never takes (limit {max_unsupported_mass:.1%}); no estimator can see their rewards without a model",
            ))
    if warn:
        for category, message in messages:
            warnings.warn(message, category, stacklevel=2)
    return LogDiagnostics(
        n_events=n,
        n_missing_pscore=n_missing,
        min_pscore=min_used,
        n_small_pscore=n_small,
        mean_weight=mean_weight,
        max_weight=float(weights.max()) if weights.size else float("nan"),
        effective_sample_size=ess,
        unsupported_mass=unsupported,
        warnings=tuple(message for _, message in messages),
    )
