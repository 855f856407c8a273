"""Estimate from decision logs how a candidate policy, or a candidate reward config, would have done.

:func:`evaluate_logs` reads first-position bandit feedback from the logs
(:mod:`engine.ope_logs`) and computes the candidate policy's action distribution for
every logged decision. It fits a cross-fitted ridge reward model and reports IPS, SNIPS,
DM and DR estimates with 95% normal-approximation intervals, overall and per segment,
next to the logged policy's own mean reward. Warnings from :func:`policies.ope.diagnose_logs`
flag logs that cannot support the estimate.

A candidate policy may be:

* a :class:`~policies.base.PolicySnapshot` (used as is, it does not learn);
* a policy config (name under ``configs/policies/`` or YAML path) of a learning bandit:
  it is replayed over the logs in time order, deciding before it learns each logged
  reward, as if it had been deployed instead (its action distribution at event ``i``
  depends only on earlier events, so the estimators stay valid);
* ``random`` or ``static``, or a config with ``algorithm: rllib``;
* an RLlib checkpoint folder written by ``offerloop train``, or a file of snapshot bytes.

With a candidate reward config (``what_if``), rewards are settled again from the logged
feedback under that config: the logged traffic's value under the new rewards is then
exact, and candidate policies are estimated (and replayed) under the new rewards.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.config.loader import load_policy_config, policy_config_path
from engine.config.offers import OfferCatalog
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from engine.features import FeatureEncoder
from engine.ope_logs import LoggedBanditFeedback, LoggedDecision, to_bandit_feedback
from envs.journey import OBSERVATION_BOUND
from policies.base import PolicySnapshot
from policies.offer_features import offer_feature_vector
from policies.ope import (
    LogDiagnostics,
    PolicyValueEstimate,
    cross_fit_rewards,
    diagnose_logs,
    estimate_all,
)
from policies.registry import load_snapshot, make_learner, make_snapshot
from policies.rllib_policy import RLlibSnapshot

__all__ = [
    "LOGGED",
    "SegmentEvaluation",
    "EvaluationReport",
    "CandidatePolicy",
    "resolve_candidate",
    "candidate_action_dist",
    "evaluate_logs",
    "plot_evaluation",
]

logger = logging.getLogger(__name__)

LOGGED = "logged"
ALL_SEGMENTS = "all"


@dataclass(frozen=True)
class SegmentEvaluation:
    """Estimates for one segment of the logs.

    Attributes:
        segment: the label (``"all"`` for every event).
        n_events: events in the segment.
        logged: the logged policy's mean reward (under the evaluated reward config).
        logged_original: the logged mean reward under the rewards as logged, when a
            what-if reward config was applied; else None.
        estimates: the candidate policy's estimates by estimator id; empty without a candidate.
        true_value: simulator only: mean over events of ``sum_a pi(a|x) q(x, a)`` with the
            true expected rewards ``q``; None otherwise or under a what-if reward config.
    """

    segment: str
    n_events: int
    logged: PolicyValueEstimate
    logged_original: PolicyValueEstimate | None
    estimates: dict[str, PolicyValueEstimate]
    true_value: float | None

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "segment": self.segment,
            "n_events": self.n_events,
            "logged": self.logged.as_dict(),
            "logged_original": self.logged_original.as_dict() if self.logged_original else None,
            "estimates": {name: estimate.as_dict() for name, estimate in self.estimates.items()},
            "true_value": self.true_value,
        }


@dataclass
class EvaluationReport:
    """Result of :func:`evaluate_logs`."""

    policy: str | None
    reward_config: str
    n_events: int
    skipped: int
    diagnostics: LogDiagnostics | None
    segments: dict[str, SegmentEvaluation]
    plot: str | None = None
    logging_policies: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "policy": self.policy,
            "reward_config": self.reward_config,
            "logging_policies": self.logging_policies,
            "n_events": self.n_events,
            "skipped": self.skipped,
            "diagnostics": self.diagnostics.as_dict() if self.diagnostics else None,
            "segments": {name: segment.to_dict() for name, segment in self.segments.items()},
            "plot": self.plot,
        }


@dataclass(frozen=True)
class CandidatePolicy:
    """A candidate policy resolved from a name, a path or a snapshot.

    Attributes:
        label: how reports name it.
        snapshot: a fixed snapshot, or None when ``config`` is replayed.
        config: the policy config to replay (learning bandits), or None.
    """

    label: str
    snapshot: PolicySnapshot | None
    config: PolicyConfig | None


def resolve_candidate(policy: str | Path | PolicySnapshot | PolicyConfig) -> CandidatePolicy:
    """Turn a ``--policy`` value into a :class:`CandidatePolicy` (see the module docstring).

    Raises:
        ConfigError: an unknown policy name or an invalid config.
        InvalidInputError: a checkpoint or snapshot file that cannot be read.
    """
    if isinstance(policy, PolicySnapshot):
        return CandidatePolicy(label=policy.policy_id, snapshot=policy, config=None)
    if isinstance(policy, PolicyConfig):
        config = policy
    else:
        path = Path(policy)
        if path.is_dir():
            if not (path / "rllib_checkpoint.json").is_file():
                raise InvalidInputError(
                    f"--policy {str(policy)!r} is a folder but not an RLlib checkpoint (no rllib_checkpoint.json); "
                    "pass a checkpoint folder written by `offerloop train`, a policy name or a YAML file"
                )
            config = PolicyConfig(id="rllib-candidate", algorithm="rllib", checkpoint=str(path))
        elif path.is_file() and path.suffix not in (".yaml", ".yml"):
            snapshot = load_snapshot(path.read_bytes())
            return CandidatePolicy(label=snapshot.policy_id, snapshot=snapshot, config=None)
        else:
            config = load_policy_config(policy_config_path(policy))
    if config.algorithm == "rllib":
        return CandidatePolicy(label=config.id, snapshot=make_snapshot(config), config=None)
    if config.algorithm in ("random", "static"):
        encoder = FeatureEncoder.from_names(config.features)
        return CandidatePolicy(label=config.id, snapshot=make_snapshot(config, dim=encoder.dim), config=None)
    return CandidatePolicy(label=config.id, snapshot=None, config=config)


def _multipliers(catalog: OfferCatalog, config: PolicyConfig | None, reward_config: RewardConfig) -> np.ndarray:
    # Same rule as the decision engine: levers, times business value when it is not in the reward.
    values = []
    for offer in catalog.offers:
        factor = 1.0
        if config is not None:
            factor = config.levers.category.get(offer.category, 1.0) * config.levers.offer.get(offer.id, 1.0)
        if not reward_config.business_value_weighting:
            factor *= offer.business_value
        values.append(factor)
    return np.asarray(values)


def candidate_action_dist(
    candidate: CandidatePolicy,
    logs: Sequence[LoggedDecision],
    catalog: OfferCatalog,
    reward_config: RewardConfig,
    *,
    what_if: bool,
    seed: int = 0,
) -> tuple[np.ndarray, LoggedBanditFeedback]:
    """Return the candidate's first-position distribution over catalog offers for every event, and the feedback.

    The feedback is encoded with the candidate's features, so its context rows are
    what the candidate decides on.

    Returns:
        ``(action_dist, feedback)``; ``action_dist`` has shape (n_events, n_offers) and
        is 0 outside each event's candidates.
    """
    snapshot = candidate.snapshot
    config = candidate.config if candidate.config is not None else getattr(snapshot, "config", None)
    rewards = reward_config if what_if else None
    if isinstance(snapshot, RLlibSnapshot):
        encoder = FeatureEncoder.from_names(snapshot.feature_names)
        feedback = to_bandit_feedback(logs, catalog, encoder, reward_config=rewards, history_names=snapshot.history_feature_names)
        if feedback.history is None:
            raise InvalidInputError(
                "an RLlib journey policy needs offer_history in every log line; these logs have none. "
                "Write logs with engine.log_simulation.simulate_decision_logs or add the field"
            )
        # Clipped like the env's observations, which the module was trained on.
        contexts = np.clip(np.hstack([feedback.history, feedback.context]), -OBSERVATION_BOUND, OBSERVATION_BOUND)
        offers = {offer_id: index for index, offer_id in enumerate(snapshot.offer_ids)}
        columns = [offers.get(offer_id) for offer_id in catalog.ids]
        if None in columns:
            raise InvalidInputError(
                f"the RLlib policy was trained on offers {list(snapshot.offer_ids)}; the catalog also has "
                f"{[offer_id for offer_id, column in zip(catalog.ids, columns) if column is None]}"
            )
        mask = feedback.candidate_mask[:, np.argsort(columns)]
        dist = snapshot.batch_action_dist(contexts, mask)[:, columns]
        return dist, feedback

    features = config.features if config is not None else "default"
    encoder = FeatureEncoder.from_names(features)
    feedback = to_bandit_feedback(logs, catalog, encoder, reward_config=rewards)
    multipliers = _multipliers(catalog, config, reward_config)
    rng = np.random.default_rng(seed)
    dist = np.zeros((feedback.n_events, len(catalog.ids)))
    learner = None
    if snapshot is None:
        assert config is not None
        offer_features = {offer.id: offer_feature_vector(offer) for offer in catalog.offers}
        learner = make_learner(config, dim=encoder.dim, offer_features=offer_features, seed=seed)
        snapshot = learner.snapshot()
    published_at = 0
    for i in range(feedback.n_events):
        columns = np.flatnonzero(feedback.candidate_mask[i])
        offer_ids = [catalog.ids[column] for column in columns]
        choice = snapshot.choose_slate(feedback.context[i], offer_ids, multipliers[columns], 1, rng)
        dist[i, columns] = choice.first_position_dist
        if learner is not None:
            for column, reward, kinds in feedback.shown_rewards[i]:
                learner.update_with_feedback(catalog.ids[column], feedback.context[i], reward, kinds)
            # Publish as the production learner does: every snapshot.every_updates rewards.
            if config is not None and learner.n_updates - published_at >= config.snapshot.every_updates:
                snapshot = learner.snapshot()
                published_at = learner.n_updates
    return dist, feedback


def _mean_estimate(values: np.ndarray, label: str, alpha: float) -> PolicyValueEstimate:
    n = len(values)
    mean = float(values.mean())
    error = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return PolicyValueEstimate(
        estimator=label, value=mean, ci_low=mean - z * error, ci_high=mean + z * error, std_error=error,
        n_events=n, ci_method="normal", alpha=alpha,
    )


def evaluate_logs(
    logs: Sequence[LoggedDecision],
    *,
    catalog: OfferCatalog,
    reward_config: RewardConfig,
    policy: str | Path | PolicySnapshot | PolicyConfig | None = None,
    what_if: bool = False,
    reward_label: str = "logged",
    alpha: float = 0.05,
    seed: int = 0,
    min_segment_events: int = 30,
    plot_path: str | Path | None = None,
) -> EvaluationReport:
    """Evaluate a candidate policy, a candidate reward config, or both, on decision logs.

    Args:
        logs: logged decisions (:func:`engine.ope_logs.read_decision_logs`).
        catalog: the offers of the logs.
        reward_config: the reward config of the evaluation: the logging one, or the
            candidate one when ``what_if`` is True.
        policy: the candidate policy (see :func:`resolve_candidate`); None reports only
            the logged traffic's value.
        what_if: settle rewards again from the feedback under ``reward_config``.
        reward_label: how the report names the reward config (a file path).
        alpha: one minus the coverage of the intervals.
        seed: seed of the candidate's random draws and of the cross-fitting folds.
        min_segment_events: segments with fewer events are folded into the overall figure only.
        plot_path: where to save a PNG of the estimates by segment; None for no plot.

    Raises:
        InvalidInputError: logs without usable decisions, or a candidate that does not
            fit the logs (missing features or offers).
        ConfigError: an unknown policy.
    """
    if not logs:
        raise InvalidInputError("logs must contain at least one logged decision; got none")
    candidate = resolve_candidate(policy) if policy is not None else None
    if candidate is not None:
        dist, feedback = candidate_action_dist(candidate, logs, catalog, reward_config, what_if=what_if, seed=seed)
    else:
        # Without a candidate no model reads the context, so encode none of it.
        feedback = to_bandit_feedback(logs, catalog, FeatureEncoder.from_names([]), reward_config=reward_config if what_if else None)
        dist = None
    original = None
    if what_if:
        original = to_bandit_feedback(logs, catalog, FeatureEncoder.from_names([]), reward_config=None).reward

    diagnostics = None
    estimated = None
    if dist is not None:
        diagnostics = diagnose_logs(feedback.pscore, feedback.action, dist, logging_dist=feedback.logging_dist)
        usable = np.isfinite(feedback.pscore) & (feedback.pscore > 0.0)
        estimated = np.zeros_like(dist)
        if usable.sum() >= 2:
            estimated[usable] = cross_fit_rewards(
                feedback.context[usable], feedback.action[usable], feedback.reward[usable], len(catalog.ids), seed=seed
            )
    labels = np.asarray(feedback.segments)
    groups = [ALL_SEGMENTS] + sorted(
        name for name in set(feedback.segments) if name != ALL_SEGMENTS and (labels == name).sum() >= min_segment_events
    )
    segments = {}
    for name in groups:
        rows = np.ones(feedback.n_events, dtype=bool) if name == ALL_SEGMENTS else labels == name
        segments[name] = _evaluate_segment(name, rows, feedback, dist, estimated, original, alpha, seed, what_if)
    report = EvaluationReport(
        policy=candidate.label if candidate is not None else None,
        reward_config=reward_label,
        n_events=feedback.n_events,
        skipped=feedback.skipped,
        diagnostics=diagnostics,
        segments=segments,
        logging_policies=sorted({entry.decision.policy_id for entry in logs}),
    )
    if plot_path is not None:
        report.plot = str(plot_evaluation(report, Path(plot_path)))
    logger.info("logs_evaluated", extra={"policy": report.policy, "events": report.n_events, "segments": len(segments)})
    return report


def _evaluate_segment(
    name: str,
    rows: np.ndarray,
    feedback: LoggedBanditFeedback,
    dist: np.ndarray | None,
    estimated: np.ndarray | None,
    original: np.ndarray | None,
    alpha: float,
    seed: int,
    what_if: bool,
) -> SegmentEvaluation:
    logged = _mean_estimate(feedback.reward[rows], LOGGED, alpha)
    logged_original = _mean_estimate(original[rows], LOGGED, alpha) if original is not None else None
    estimates: dict[str, PolicyValueEstimate] = {}
    true_value = None
    if dist is not None and estimated is not None:
        usable = rows & np.isfinite(feedback.pscore) & (feedback.pscore > 0.0)
        if usable.sum() >= 2:
            estimates = estimate_all(
                feedback.reward[usable], feedback.action[usable], feedback.pscore[usable], dist[usable],
                estimated[usable], alpha=alpha, seed=seed,
            )
        if feedback.oracle is not None and not what_if:
            oracle = np.nan_to_num(feedback.oracle[rows])
            true_value = float((dist[rows] * oracle).sum(axis=1).mean())
    return SegmentEvaluation(
        segment=name, n_events=int(rows.sum()), logged=logged, logged_original=logged_original,
        estimates=estimates, true_value=true_value,
    )


def plot_evaluation(report: EvaluationReport, path: Path) -> Path:
    """Draw the logged value and each estimate, with intervals, per segment; save as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(report.segments)
    series: list[str] = [LOGGED]
    for segment in report.segments.values():
        series.extend(name for name in segment.estimates if name not in series)
    width = 0.8 / len(series)
    figure, axis = plt.subplots(figsize=(max(6.0, 1.6 * len(names) + 2.0), 4.5))
    for offset, label in enumerate(series):
        values, lows, highs = [], [], []
        for name in names:
            segment = report.segments[name]
            estimate = segment.logged if label == LOGGED else segment.estimates.get(label)
            values.append(estimate.value if estimate else np.nan)
            lows.append(estimate.value - estimate.ci_low if estimate else 0.0)
            highs.append(estimate.ci_high - estimate.value if estimate else 0.0)
        positions = np.arange(len(names)) + (offset - (len(series) - 1) / 2) * width
        axis.bar(positions, values, width, yerr=[lows, highs], capsize=2, label=label)
    axis.set_xticks(np.arange(len(names)), names, rotation=20)
    axis.set_ylabel("mean reward per decision")
    title = f"policy {report.policy}" if report.policy else "logged traffic"
    axis.set_title(f"offerloop evaluate: {title}, rewards {report.reward_config}")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

