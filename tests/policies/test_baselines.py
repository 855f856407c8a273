"""Random, static and epsilon-greedy baselines: their exact propensities."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config.policy import PolicyConfig
from engine.errors import ConfigError
from policies import EpsilonGreedySnapshot, FixedPolicyLearner, RandomSnapshot, StaticSnapshot, make_learner
from policy_cases import DIM, OFFER_IDS, PolicyCase, random_context, trained_learner

CONTEXT = random_context(np.random.default_rng(0))


def test_random_propensity_is_one_over_remaining() -> None:
    snapshot = make_learner(PolicyConfig(id="rand", algorithm="random"), dim=DIM).snapshot()
    assert isinstance(snapshot, RandomSnapshot)
    choice = snapshot.choose_slate(CONTEXT, OFFER_IDS, np.array([9.0, 1, 1, 1, 1]), 3, np.random.default_rng(0))
    assert choice.propensities == pytest.approx((1 / 5, 1 / 4, 1 / 3))
    np.testing.assert_allclose(choice.first_position_dist, np.full(5, 0.2))
    np.testing.assert_array_equal(choice.scores, np.zeros(5))
    assert choice.contributions is None


def test_static_orders_by_multiplier() -> None:
    snapshot = make_learner(PolicyConfig(id="static", algorithm="static"), dim=DIM).snapshot()
    assert isinstance(snapshot, StaticSnapshot)
    choice = snapshot.choose_slate(CONTEXT, OFFER_IDS, np.array([1.0, 3.0, 2.0, 0.5, 2.5]), 3, np.random.default_rng(0))
    assert choice.order == (1, 4, 2)
    assert choice.propensities == (1.0, 1.0, 1.0)
    assert choice.slate_propensity == 1.0


def test_static_breaks_ties_uniformly() -> None:
    snapshot = make_learner(PolicyConfig(id="static", algorithm="static"), dim=DIM).snapshot()
    multipliers = np.array([2.0, 2.0, 1.0, 1.0, 1.0])
    choice = snapshot.choose_slate(CONTEXT, OFFER_IDS, multipliers, 3, np.random.default_rng(0))
    assert set(choice.order[:2]) == {0, 1}
    assert choice.propensities == pytest.approx((0.5, 1.0, 1 / 3))
    np.testing.assert_allclose(choice.first_position_dist, [0.5, 0.5, 0.0, 0.0, 0.0])


def test_epsilon_greedy_propensities() -> None:
    learner = trained_learner(PolicyCase("epsilon_greedy"), rounds=500, epsilon=0.2, min_propensity_share=0.0)
    snapshot = learner.snapshot()
    assert isinstance(snapshot, EpsilonGreedySnapshot)
    means = snapshot.expected_rewards(CONTEXT, OFFER_IDS)
    greedy_order = np.argsort(-means)
    rng = np.random.default_rng(1)
    for _ in range(100):
        choice = snapshot.choose_slate(CONTEXT, OFFER_IDS, np.ones(5), 2, rng)
        remaining = list(range(5))
        for index, propensity in zip(choice.order, choice.propensities):
            greedy = next(int(j) for j in greedy_order if j in remaining)
            expected = 0.2 / len(remaining) + (0.8 if index == greedy else 0.0)
            assert propensity == pytest.approx(expected)
            remaining.remove(index)


def test_epsilon_greedy_applies_floor_above_epsilon() -> None:
    learner = trained_learner(PolicyCase("epsilon_greedy"), rounds=100, epsilon=0.0, min_propensity_share=0.1)
    choice = learner.snapshot().choose_slate(CONTEXT, OFFER_IDS, np.ones(5), 1, np.random.default_rng(0))
    assert choice.first_position_dist.min() == pytest.approx(0.1 / 5)


def test_fixed_learner_counts_and_checks() -> None:
    learner = make_learner(PolicyConfig(id="static", algorithm="static"), dim=DIM)
    assert isinstance(learner, FixedPolicyLearner)
    learner.update_one("any-offer", CONTEXT, 1.0)
    learner.update_many(["a1", "b2"], np.stack([CONTEXT, CONTEXT]), np.array([0.0, 1.0]))
    assert learner.n_updates == 3
    assert repr(learner) == "FixedPolicyLearner(policy_id='static', algorithm='static', dim=5, n_updates=3, version=0)"


def test_fixed_learner_rejects_learning_algorithm() -> None:
    with pytest.raises(ConfigError, match=r"FixedPolicyLearner serves algorithm 'random' or 'static'; policy 'p1' has 'lints'"):
        FixedPolicyLearner(PolicyConfig(id="p1", algorithm="lints"), dim=DIM)
