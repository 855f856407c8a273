"""Offline learning from logs and the promotion gate, both ways."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InvalidInputError
from engine.features import FeatureEncoder
from engine.ope_logs import LoggedBanditFeedback, to_bandit_feedback
from policies.linear import LinUCBSnapshot
from policies.offline import fit_offline_policy
from policies.ope import PolicyValueEstimate, diagnose_logs
from policies.promotion import decide_promotion, evaluate_for_promotion


@pytest.fixture(scope="module")
def feedback(random_logs, shipped_catalog) -> LoggedBanditFeedback:
    return to_bandit_feedback(random_logs, shipped_catalog, FeatureEncoder.from_names("default"))


def _policy_dist(snapshot, data: LoggedBanditFeedback) -> np.ndarray:
    dist = np.zeros(data.candidate_mask.shape)
    rng = np.random.default_rng(0)
    for row in range(data.n_events):
        columns = np.flatnonzero(data.candidate_mask[row])
        offer_ids = [data.offer_ids[column] for column in columns]
        dist[row, columns] = snapshot.choose_slate(data.context[row], offer_ids, np.ones(len(columns)), 1, rng).first_position_dist
    return dist


def _estimate(low: float, value: float) -> PolicyValueEstimate:
    return PolicyValueEstimate("dr", value, low, 2 * value - low, 0.01, 500, "normal", 0.05)


def _uniform_logs(simulator_states, n: int, seed: int) -> tuple[LoggedBanditFeedback, np.ndarray]:
    """``n`` first-position events logged uniformly over all offers on simulator states, and their true rewards."""
    x, outcome_probabilities, outcome_rewards, q = simulator_states
    n_offers = q.shape[1]
    rng = np.random.default_rng(seed)
    rows = rng.integers(len(x), size=n)
    action = rng.integers(n_offers, size=n)
    cdf = np.cumsum(outcome_probabilities[rows, action], axis=1)
    outcome = np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), cdf.shape[1] - 1)
    feedback = LoggedBanditFeedback(
        offer_ids=tuple(f"offer-{index:02d}" for index in range(n_offers)),
        context=x[rows],
        action=action,
        pscore=np.full(n, 1.0 / n_offers),
        reward=outcome_rewards[action, outcome],
        candidate_mask=np.ones((n, n_offers), dtype=bool),
        logging_dist=np.full((n, n_offers), 1.0 / n_offers),
        segments=("all",) * n,
        timestamps=np.arange(n, dtype=float),
        shown_rewards=tuple(((int(a), float(r), ()),) for a, r in zip(action, outcome_rewards[action, outcome])),
        history=None,
        oracle=q[rows],
        skipped=0,
    )
    return feedback, q[rows]


def test_offline_policy_is_promoted(simulator_states) -> None:
    train, _ = _uniform_logs(simulator_states, 3000, seed=1)
    holdout, q = _uniform_logs(simulator_states, 3000, seed=2)
    snapshot = fit_offline_policy(train.context, train.action, train.reward, train.pscore, train.offer_ids)
    assert isinstance(snapshot, LinUCBSnapshot)
    dist = _policy_dist(snapshot, holdout)
    true_value = float((dist * q).sum(axis=1).mean())
    assert true_value > 1.3 * float(q.mean())
    decision = evaluate_for_promotion(holdout, dist)
    assert decision.promote, decision.reason
    assert decision.candidate.ci_low > decision.serving_value


def test_offline_policy_beats_logging_on_decision_logs(feedback: LoggedBanditFeedback) -> None:
    train_rows = np.arange(feedback.n_events) < feedback.n_events // 2
    train, holdout = feedback.subset(train_rows), feedback.subset(~train_rows)
    snapshot = fit_offline_policy(train.context, train.action, train.reward, train.pscore, feedback.offer_ids)
    dist = _policy_dist(snapshot, holdout)
    oracle = np.nan_to_num(holdout.oracle)
    assert (dist * oracle).sum(axis=1).mean() > (holdout.logging_dist * oracle).sum(axis=1).mean()


def test_worse_policy_is_not_promoted(feedback: LoggedBanditFeedback) -> None:
    oracle = np.where(feedback.candidate_mask, np.nan_to_num(feedback.oracle, nan=0.0), np.inf)
    worst = np.argmin(oracle, axis=1)
    dist = 0.2 * feedback.candidate_mask / feedback.candidate_mask.sum(axis=1, keepdims=True)
    dist[np.arange(feedback.n_events), worst] += 0.8
    decision = evaluate_for_promotion(feedback, dist, min_ess=30)
    assert not decision.promote
    assert "does not beat the serving value" in decision.reason


def test_gate_uses_lower_bound() -> None:
    assert decide_promotion(_estimate(low=0.21, value=0.3), 0.2).promote
    assert not decide_promotion(_estimate(low=0.19, value=0.3), 0.2).promote
    assert not decide_promotion(_estimate(low=0.21, value=0.3), 0.2, margin=0.05).promote


def test_gate_blocks_on_diagnostic_warnings() -> None:
    pscore = np.full(10, 0.5)
    action = np.zeros(10, dtype=int)
    dist = np.tile([1.0, 0.0], (10, 1))
    diagnostics = diagnose_logs(pscore, action, dist, min_ess=100, warn=False)
    decision = decide_promotion(_estimate(low=0.9, value=1.0), 0.2, diagnostics=diagnostics)
    assert not decision.promote
    assert "cannot support" in decision.reason
    assert decide_promotion(_estimate(low=0.9, value=1.0), 0.2, diagnostics=diagnostics, block_on_warnings=False).promote


def test_gate_rejects_invalid_settings() -> None:
    with pytest.raises(InvalidInputError, match="margin must be finite and >= 0; got -0.1"):
        decide_promotion(_estimate(0.2, 0.3), 0.1, margin=-0.1)
    with pytest.raises(InvalidInputError, match="serving_value must be finite"):
        decide_promotion(_estimate(0.2, 0.3), float("nan"))


def test_offline_fit_rejects_missing_propensities(feedback: LoggedBanditFeedback) -> None:
    pscore = feedback.pscore.copy()
    pscore[0] = np.nan
    with pytest.raises(InvalidInputError, match=r"pscore must be in \(0, 1\]"):
        fit_offline_policy(feedback.context, feedback.action, feedback.reward, pscore, feedback.offer_ids)
