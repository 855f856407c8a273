"""LinUCB and LinTS: the formulas they rank by, convergence and exploration floors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.config.policy import PolicyConfig
from engine.errors import ConfigError
from policies import LinearLearner, LinTSSnapshot, LinUCBSnapshot, default_offer_feature_vector, make_learner
from policies.ridge import score_contributions
from policy_cases import (
    DIM,
    OFFER_IDS,
    UNSEEN_OFFER_ID,
    PolicyCase,
    offer_features,
    random_context,
    train,
    trained_learner,
    true_reward_means,
)

MODELS = pytest.mark.parametrize("model", ["per_offer", "shared"])


def normal_cdf(value: float) -> float:
    return 0.5 * (1.0 + math.erf(value / math.sqrt(2.0)))


def joint_feature(context: np.ndarray, offer_id: str) -> np.ndarray:
    return np.kron(context, offer_features().get(offer_id, default_offer_feature_vector()))


def posterior_moments(snapshot, context: np.ndarray, offer_id: str) -> tuple[float, float]:
    """Return the posterior mean and x^T A_inv x of one offer (row 0, the prior, when unseen)."""
    params = snapshot.params
    if snapshot.config.model == "shared":
        phi = joint_feature(context, offer_id)
        return float(phi @ params.theta), float(phi @ params.a_inv @ phi)
    row = params.offer_ids.index(offer_id) + 1 if offer_id in params.offer_ids else 0
    return float(context @ params.theta[row]), float(context @ params.a_inv[row] @ context)


@pytest.mark.parametrize("algorithm", ["linucb", "lints"])
@MODELS
def test_converges_to_best_offer(algorithm: str, model: str) -> None:
    learner = make_learner(
        PolicyConfig(id="converge", algorithm=algorithm, model=model), dim=DIM, offer_features=offer_features()
    )
    rng = np.random.default_rng(17)
    best_in_first = []
    for _ in range(2000):
        context = random_context(rng)
        choice = learner.snapshot().choose_slate(context, OFFER_IDS, np.ones(len(OFFER_IDS)), 1, rng)
        shown = choice.order[0]
        best_in_first.append(shown == 1)
        reward = true_reward_means(context)[shown] + rng.normal(0.0, 0.1)
        learner.update_one(OFFER_IDS[shown], context, float(reward))
    assert np.mean(best_in_first[-200:]) >= 0.9


@pytest.mark.parametrize("alpha", [0.0, 3.0])
@MODELS
def test_linucb_ranks_by_upper_bound(model: str, alpha: float) -> None:
    learner = trained_learner(PolicyCase("linucb", model), min_propensity_share=0.0, ucb_alpha=alpha)
    snapshot = learner.snapshot()
    assert isinstance(snapshot, LinUCBSnapshot)
    context = random_context(np.random.default_rng(30))
    candidates = (*OFFER_IDS, UNSEEN_OFFER_ID)
    multipliers = np.array([1.0, 0.4, 2.0, 1.1, 0.7, 1.0])
    bounds = []
    for offer_id in candidates:
        mean, quadratic = posterior_moments(snapshot, context, offer_id)
        bounds.append(mean + alpha * math.sqrt(quadratic))
    expected_order = tuple(int(i) for i in np.argsort(-np.array(bounds) * multipliers)[:3])
    # The unseen offer has the widest bound: first only when the bonus counts.
    assert (expected_order[0] == 5) == (alpha > 0)

    choice = snapshot.choose_slate(context, candidates, multipliers, 3, np.random.default_rng(0))
    assert choice.order == expected_order
    assert choice.propensities == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(choice.first_position_dist, np.eye(len(candidates))[expected_order[0]])


@MODELS
def test_linucb_floor_mixes_uniform_picks(model: str) -> None:
    snapshot = trained_learner(PolicyCase("linucb", model), min_propensity_share=0.25).snapshot()
    context = random_context(np.random.default_rng(30))
    choice = snapshot.choose_slate(context, OFFER_IDS, np.ones(5), 3, np.random.default_rng(0))
    greedy = int(np.argmax(choice.first_position_dist))
    expected = np.full(5, 0.25 / 5)
    expected[greedy] += 0.75
    np.testing.assert_allclose(choice.first_position_dist, expected)


@MODELS
def test_lints_win_share_matches_gaussian(model: str) -> None:
    """With two candidates, P(A beats B) = Phi((m_A - m_B) / (s * sqrt(Var(score_A - score_B))))."""
    learner = trained_learner(PolicyCase("lints", model), rounds=60, samples=4096, min_propensity_share=0.0)
    snapshot = learner.snapshot()
    assert isinstance(snapshot, LinTSSnapshot)
    context = random_context(np.random.default_rng(40))
    pair = (OFFER_IDS[0], OFFER_IDS[2])
    scale = snapshot.config.exploration.posterior_scale
    mean_a, variance_a = posterior_moments(snapshot, context, pair[0])
    mean_b, variance_b = posterior_moments(snapshot, context, pair[1])
    if model == "shared":
        # Shared scores are correlated: Var(A - B) = (phi_A - phi_B)^T A_inv (phi_A - phi_B).
        difference = joint_feature(context, pair[0]) - joint_feature(context, pair[1])
        difference_variance = float(difference @ snapshot.params.a_inv @ difference)
        assert difference_variance < variance_a + variance_b
    else:
        difference_variance = variance_a + variance_b
    expected = normal_cdf((mean_a - mean_b) / (scale * math.sqrt(difference_variance)))
    assert 0.1 < expected < 0.9, "the pair should be uncertain for this test to mean anything"

    rng = np.random.default_rng(5)
    estimates = [snapshot.choose_slate(context, pair, np.ones(2), 1, rng).first_position_dist[0] for _ in range(20)]
    # Standard error of the mean of 20 * 4096 Bernoulli draws is below 0.002.
    assert np.mean(estimates) == pytest.approx(expected, abs=0.01)


@MODELS
def test_lints_floor_keeps_every_candidate(model: str) -> None:
    learner = trained_learner(PolicyCase("lints", model), rounds=2000, min_propensity_share=0.05)
    context = random_context(np.random.default_rng(8))
    snapshot = learner.snapshot()
    for seed in range(10):
        choice = snapshot.choose_slate(context, OFFER_IDS, np.ones(5), 5, np.random.default_rng(seed))
        assert choice.first_position_dist.min() >= 0.05 / 5 - 1e-15
        assert min(choice.propensities) > 0.0


@MODELS
def test_lints_without_floor_can_exclude(model: str) -> None:
    learner = trained_learner(PolicyCase("lints", model), rounds=2000, min_propensity_share=0.0)
    context = random_context(np.random.default_rng(8))
    choice = learner.snapshot().choose_slate(context, OFFER_IDS, np.ones(5), 5, np.random.default_rng(0))
    assert choice.first_position_dist.min() == 0.0
    assert choice.order[0] == 1
    assert all(0.0 < p <= 1.0 for p in choice.propensities)


@pytest.mark.parametrize("algorithm", ["linucb", "lints", "epsilon_greedy"])
@MODELS
def test_multipliers_change_ranking(algorithm: str, model: str) -> None:
    learner = trained_learner(PolicyCase(algorithm, model), rounds=1000, min_propensity_share=0.0, epsilon=0.0)
    snapshot = learner.snapshot()
    context = random_context(np.random.default_rng(9))
    pair = (OFFER_IDS[1], OFFER_IDS[4])  # true means 0.8 and 0.4
    plain = snapshot.choose_slate(context, pair, np.array([1.0, 1.0]), 1, np.random.default_rng(0))
    boosted = snapshot.choose_slate(context, pair, np.array([1.0, 4.0]), 1, np.random.default_rng(0))
    assert plain.first_position_dist[0] > 0.9
    assert boosted.first_position_dist[1] > 0.9
    np.testing.assert_array_equal(plain.scores, boosted.scores)


@MODELS
def test_lints_zero_multipliers_split_ties(model: str) -> None:
    snapshot = trained_learner(PolicyCase("lints", model), min_propensity_share=0.0).snapshot()
    context = random_context(np.random.default_rng(9))
    choice = snapshot.choose_slate(context, OFFER_IDS, np.array([0.0, 0.0, 0.0, 1e-9, 0.0]), 2, np.random.default_rng(0))
    assert choice.first_position_dist.sum() == pytest.approx(1.0)
    assert all(0.0 < p <= 1.0 for p in choice.propensities)
    all_zero = snapshot.choose_slate(context, OFFER_IDS, np.zeros(5), 2, np.random.default_rng(0))
    np.testing.assert_allclose(all_zero.first_position_dist, np.full(5, 0.2))


def test_per_offer_contributions_explain_scores() -> None:
    learner = make_learner(PolicyConfig(id="explain", algorithm="linucb"), dim=DIM)
    rng = np.random.default_rng(4)
    seen = np.stack([random_context(rng) for _ in range(100)])
    for step, context in enumerate(seen):
        learner.update_one(OFFER_IDS[step % 5], context, float(true_reward_means(context)[step % 5]))
    snapshot = learner.snapshot()
    context = random_context(np.random.default_rng(50))
    choice = snapshot.choose_slate(context, OFFER_IDS, np.ones(5), 1, np.random.default_rng(0))
    for index, offer_id in enumerate(OFFER_IDS):
        theta = snapshot.params.theta[snapshot.params.offer_ids.index(offer_id) + 1]
        expected = theta * (context - seen.mean(axis=0))
        expected[-1] = 0.0
        np.testing.assert_allclose(choice.contributions[index], expected, atol=1e-12)


def test_shared_contributions_sum_to_score_change() -> None:
    snapshot = trained_learner(PolicyCase("lints", "shared"), rounds=100).snapshot()
    context = random_context(np.random.default_rng(50))
    mean_context = snapshot.params.context_mean
    choice = snapshot.choose_slate(context, OFFER_IDS, np.ones(5), 1, np.random.default_rng(0))
    at_mean = snapshot.expected_rewards(mean_context, OFFER_IDS)
    np.testing.assert_allclose(choice.contributions.sum(axis=1), choice.scores - at_mean, atol=1e-12)


def test_contributions_before_any_update_are_zero() -> None:
    snapshot = make_learner(PolicyConfig(id="fresh", algorithm="lints"), dim=DIM).snapshot()
    choice = snapshot.choose_slate(random_context(np.random.default_rng(0)), OFFER_IDS, np.ones(5), 2, np.random.default_rng(0))
    np.testing.assert_array_equal(choice.contributions, np.zeros((5, DIM)))
    np.testing.assert_array_equal(choice.scores, np.zeros(5))


def test_shared_model_needs_offer_features() -> None:
    config = PolicyConfig(id="shared-policy", algorithm="lints", model="shared")
    with pytest.raises(ConfigError, match=r"policy 'shared-policy' uses model 'shared', which needs offer_features; got None"):
        LinearLearner(config, dim=DIM)


def test_linear_learner_rejects_baseline_algorithm() -> None:
    with pytest.raises(ConfigError, match=r"LinearLearner serves algorithm 'linucb' or 'lints'; policy 'x1' has 'random'"):
        LinearLearner(PolicyConfig(id="x1", algorithm="random"), dim=DIM)


def test_update_many_matches_update_one() -> None:
    config = PolicyConfig(id="batch", algorithm="lints")
    one, many = make_learner(config, dim=DIM), make_learner(config, dim=DIM)
    rng = np.random.default_rng(2)
    contexts = np.stack([random_context(rng) for _ in range(10)])
    rewards = rng.random(10)
    offer_ids = [OFFER_IDS[i % 3] for i in range(10)]
    for offer_id, context, reward in zip(offer_ids, contexts, rewards):
        one.update_one(offer_id, context, float(reward))
    many.update_many(offer_ids, contexts, rewards)
    assert many.n_updates == 10
    context = random_context(rng)
    np.testing.assert_array_equal(
        one.snapshot().expected_rewards(context, OFFER_IDS), many.snapshot().expected_rewards(context, OFFER_IDS)
    )


def test_learner_repr_names_policy() -> None:
    learner = trained_learner(PolicyCase("lints", "shared"), rounds=3)
    assert repr(learner) == (
        "LinearLearner(policy_id='test-policy', algorithm='lints', model='shared', dim=5, n_updates=3, version=0)"
    )


def test_train_helper_is_deterministic() -> None:
    first = trained_learner(PolicyCase("linucb"), rounds=20, seed=1).snapshot()
    second = make_learner(first.config, dim=DIM)
    train(second, 20, seed=1)
    context = random_context(np.random.default_rng(0))
    np.testing.assert_array_equal(
        first.expected_rewards(context, OFFER_IDS), second.snapshot().expected_rewards(context, OFFER_IDS)
    )


def test_contributions_exclude_bias_column() -> None:
    coefficients = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])
    contributions = score_contributions(coefficients, np.array([1.0, 1.0, 1.0]), np.array([0.5, 2.0, 0.0]))
    np.testing.assert_array_equal(contributions, [[0.5, -2.0, 0.0], [-0.5, -0.5, 0.0]])


def test_context_mean_is_exposed() -> None:
    learner = make_learner(PolicyConfig(id="mean", algorithm="lints"), dim=DIM)
    np.testing.assert_array_equal(learner.snapshot().context_mean, np.zeros(DIM))
    learner.update_one(OFFER_IDS[0], np.array([1.0, 2.0, 3.0, 4.0, 1.0]), 1.0)
    learner.update_one(OFFER_IDS[1], np.array([3.0, 2.0, 1.0, 0.0, 1.0]), 1.0)
    np.testing.assert_array_equal(learner.snapshot().context_mean, [2.0, 2.0, 2.0, 2.0, 1.0])
    assert make_learner(PolicyConfig(id="rand", algorithm="random"), dim=DIM).snapshot().context_mean is None
