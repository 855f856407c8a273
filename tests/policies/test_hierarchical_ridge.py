"""Hierarchical ridge: per-offer models shrunk toward the shared model's prediction."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pydantic import ValidationError

from engine.config.loader import load_policy_config
from engine.config.policy import PolicyConfig
from engine.errors import ConfigError, InvalidInputError
from policies import LinearLearner, LinTSSnapshot, learner_from_snapshot, load_snapshot, make_learner
from policies.offer_features import OFFER_FEATURE_DIM, default_offer_feature_vector
from policies.ridge import HierarchicalRidge, HierarchicalRidgeParams, PerOfferRidge, SharedRidge

DIM = 4
RIDGE = 2.0
OFFER_IDS: tuple[str, ...] = ("card", "savings", "insurance", "coach")


CATEGORY_INDEX = {"card": 0, "savings": 0, "insurance": 1, "coach": 2}


def offer_features() -> dict[str, np.ndarray]:
    """Give each offer a category (card and savings share one) and a business value of 5 * index."""
    features = {}
    for index, offer_id in enumerate(OFFER_IDS):
        vector = np.zeros(OFFER_FEATURE_DIM)
        vector[CATEGORY_INDEX[offer_id]] = 1.0
        vector[-2] = np.log1p(5.0 * index)
        vector[-1] = 1.0
        features[offer_id] = vector
    return features


def random_context(rng: np.random.Generator) -> np.ndarray:
    return np.append(rng.normal(0.0, 0.5, DIM - 1), 1.0)


def true_means(context: np.ndarray) -> np.ndarray:
    """Offer 2 is best for every context in the test range."""
    return np.array([0.3, 0.35, 0.8, 0.2]) + 0.05 * context[0]


def config(algorithm: str = "lints", shared_until: int = 0, **exploration: float) -> PolicyConfig:
    return PolicyConfig.model_validate(
        {
            "id": "hier",
            "algorithm": algorithm,
            "model": "hierarchical",
            "ridge": RIDGE,
            "shared_until_rewards": shared_until,
            "exploration": exploration,
        }
    )


def trained(
    algorithm: str = "lints", rounds: int = 300, seed: int = 1, shared_until: int = 0, **exploration: float
) -> LinearLearner:
    learner = make_learner(config(algorithm, shared_until, **exploration), dim=DIM, offer_features=offer_features())
    assert isinstance(learner, LinearLearner)
    rng = np.random.default_rng(seed)
    for step in range(rounds):
        context = random_context(rng)
        index = step % len(OFFER_IDS)
        learner.update_one(OFFER_IDS[index], context, float(true_means(context)[index] + rng.normal(0.0, 0.1)))
    return learner


# --------------------------------------------------------------------------- config


def test_config_accepts_hierarchical_model() -> None:
    assert config().model == "hierarchical"


def test_config_rejects_unknown_model() -> None:
    with pytest.raises(ValidationError, match=r"per_offer', 'shared', 'hierarchical' or 'funnel'"):
        PolicyConfig.model_validate({"id": "p1", "algorithm": "lints", "model": "pooled"})


def test_shipped_hierarchical_yaml_loads() -> None:
    loaded = load_policy_config("lints-hierarchical")
    assert (loaded.algorithm, loaded.model) == ("lints", "hierarchical")
    assert loaded.shared_until_rewards == 100


def test_config_rejects_negative_shared_until() -> None:
    with pytest.raises(ValidationError, match=r"shared_until_rewards\n  Input should be greater than or equal to 0"):
        config(shared_until=-1)


def test_learner_needs_offer_features() -> None:
    message = r"policy 'hier' uses model 'hierarchical', which needs offer_features; got None"
    with pytest.raises(ConfigError, match=message):
        LinearLearner(config(), dim=DIM)


def test_params_reject_bad_shared_shape() -> None:
    params = trained(rounds=8).snapshot().params
    assert isinstance(params, HierarchicalRidgeParams)
    arrays = {**params.arrays(), "shared_b": np.zeros(3)}
    joint = DIM * OFFER_FEATURE_DIM
    message = rf"hierarchical ridge parameter shared_b must have shape \({joint},\) for 4 offers, context dimension 4"
    with pytest.raises(InvalidInputError, match=message):
        HierarchicalRidgeParams(ridge=RIDGE, offer_ids=params.offer_ids, n_contexts=params.n_contexts, **arrays)


def test_snapshot_rejects_per_offer_params() -> None:
    per_offer = PerOfferRidge(DIM, RIDGE).freeze()
    with pytest.raises(InvalidInputError, match=r"needs HierarchicalRidgeParams; got PerOfferRidgeParams"):
        LinTSSnapshot(config=config(), version=1, n_updates=0, params=per_offer)


# --------------------------------------------------------------------------- model


def test_posterior_mean_matches_direct_solve() -> None:
    """theta_o minimises sum (y - x theta)^2 + ridge |theta - Theta f_o|^2 over offer o's rewards."""
    rng = np.random.default_rng(2)
    features = offer_features()
    model = HierarchicalRidge(DIM, RIDGE, features)
    shared = SharedRidge(DIM, RIDGE, features)
    history: dict[str, list[tuple[np.ndarray, float]]] = {offer_id: [] for offer_id in OFFER_IDS}
    for step in range(120):
        offer_id = OFFER_IDS[step % 3]
        context, reward = random_context(rng), float(rng.normal())
        model.update_one(offer_id, context, reward)
        shared.update_one(offer_id, context, reward)
        history[offer_id].append((context, reward))
    params = model.freeze()
    prior_matrix = shared.freeze().theta.reshape(DIM, OFFER_FEATURE_DIM)
    assert params.offer_ids == OFFER_IDS
    for row, offer_id in enumerate(params.offer_ids, start=1):
        prior_mean = prior_matrix @ features[offer_id]
        contexts = np.array([context for context, _ in history[offer_id]]).reshape(-1, DIM)
        rewards = np.array([reward for _, reward in history[offer_id]])
        precision = RIDGE * np.eye(DIM) + contexts.T @ contexts
        expected = np.linalg.solve(precision, contexts.T @ rewards + RIDGE * prior_mean)
        np.testing.assert_allclose(params.theta[row], expected, atol=1e-10)
        np.testing.assert_allclose(params.a_inv[row], np.linalg.inv(precision), atol=1e-12)
    np.testing.assert_allclose(params.theta[0], prior_matrix @ default_offer_feature_vector(), atol=1e-12)


def test_equals_per_offer_without_shared_signal() -> None:
    """Offers 0 and 1 share features, so opposite rewards in equal contexts leave the shared model at 0."""
    features = offer_features()
    features["savings"] = features["card"].copy()  # the same business value too
    model = HierarchicalRidge(DIM, RIDGE, features)
    per_offer = PerOfferRidge(DIM, RIDGE)
    per_offer.add_offers(features)
    rng = np.random.default_rng(3)
    for _ in range(50):
        context, reward = random_context(rng), float(rng.normal())
        for offer_id, signed in (("card", reward), ("savings", -reward)):
            model.update_one(offer_id, context, signed)
            per_offer.update_one(offer_id, context, signed)
    params, expected = model.freeze(), per_offer.freeze()
    np.testing.assert_allclose(params.shared_theta, 0.0, atol=1e-12)
    assert np.abs(expected.theta[1]).max() > 0.1, "the per-offer fit must be far from 0 for the test to mean anything"
    np.testing.assert_allclose(params.theta, expected.theta, atol=1e-12)
    np.testing.assert_array_equal(params.a_inv, expected.a_inv)


def test_offer_without_rewards_scores_with_shared_prediction() -> None:
    snapshot = trained(rounds=200).snapshot()
    params = snapshot.params
    assert isinstance(params, HierarchicalRidgeParams)
    context = random_context(np.random.default_rng(4))
    shared = params.shared_part()
    unknown = "brand-new-offer"
    scores = snapshot.expected_rewards(context, (unknown,))
    np.testing.assert_allclose(scores, shared.means(context, shared.rows_of((unknown,))), atol=1e-12)
    assert abs(float(scores[0])) > 0.0


def test_catalog_offer_has_row_before_first_reward() -> None:
    learner = make_learner(config(), dim=DIM, offer_features=offer_features())
    rng = np.random.default_rng(5)
    for _ in range(100):
        context = random_context(rng)
        learner.update_one("card", context, float(true_means(context)[0]))
    params = learner.snapshot().params
    assert isinstance(params, HierarchicalRidgeParams)
    assert params.offer_ids == OFFER_IDS
    coach = params.rows_of(("coach",))
    np.testing.assert_allclose(params.coefficients(coach), params.shared_part().coefficients(coach), atol=1e-12)


def test_unknown_offer_gets_row_with_default_features() -> None:
    learner = trained(rounds=20)
    learner.update_one("partner-offer", random_context(np.random.default_rng(6)), 1.0)
    params = learner.snapshot().params
    assert isinstance(params, HierarchicalRidgeParams)
    assert params.offer_ids[-1] == "partner-offer"
    np.testing.assert_array_equal(params.features[-1], default_offer_feature_vector())


def test_shared_until_decides_with_shared_prediction() -> None:
    """Below the threshold an offer's mean is Theta f_o. From the threshold on, the shrunk per-offer fit decides."""
    learner = trained(rounds=39, shared_until=10)  # card, savings and insurance have 10 rewards, coach 9
    params = learner.snapshot().params
    assert isinstance(params, HierarchicalRidgeParams)
    np.testing.assert_array_equal(params.n_rewards, [0.0, 10.0, 10.0, 10.0, 9.0])
    rows = params.rows_of(OFFER_IDS)
    shared_coefficients = params.shared_part().coefficients(rows)
    without_threshold = trained(rounds=39).snapshot().params
    np.testing.assert_array_equal(params.theta[rows[:3]], without_threshold.theta[rows[:3]])
    np.testing.assert_allclose(params.theta[rows[3]], shared_coefficients[3], atol=1e-12)
    assert np.abs(without_threshold.theta[rows[3]] - shared_coefficients[3]).max() > 1e-3


# --------------------------------------------------------------------------- snapshots


def test_snapshot_bytes_round_trip() -> None:
    snapshot = trained(rounds=150).snapshot()
    restored = load_snapshot(snapshot.to_bytes())
    assert isinstance(restored.params, HierarchicalRidgeParams)
    for name, array in snapshot.params.arrays().items():
        np.testing.assert_array_equal(restored.params.arrays()[name], array, err_msg=name)
    assert restored.params.offer_ids == snapshot.params.offer_ids
    context = random_context(np.random.default_rng(7))
    first = snapshot.choose_slate(context, OFFER_IDS, np.ones(4), 2, np.random.default_rng(0))
    second = restored.choose_slate(context, OFFER_IDS, np.ones(4), 2, np.random.default_rng(0))
    assert first.order == second.order
    np.testing.assert_array_equal(first.first_position_dist, second.first_position_dist)


def test_snapshot_pickle_round_trip() -> None:
    snapshot = trained(rounds=50).snapshot()
    restored = pickle.loads(pickle.dumps(snapshot))
    assert type(restored.params) is HierarchicalRidgeParams
    np.testing.assert_array_equal(restored.params.theta, snapshot.params.theta)
    np.testing.assert_array_equal(restored.params.shared_a_inv, snapshot.params.shared_a_inv)
    assert not restored.params.theta.flags.writeable


@pytest.mark.parametrize("shared_until", [0, 30])
def test_restored_learner_continues_identically(shared_until: int) -> None:
    original = trained(rounds=100, shared_until=shared_until)
    restored = learner_from_snapshot(load_snapshot(original.snapshot().to_bytes()))
    rng = np.random.default_rng(8)
    for step in range(60):
        context, reward = random_context(rng), float(rng.normal())
        offer_id = (*OFFER_IDS, "partner-offer")[step % 5]
        original.update_one(offer_id, context, reward)
        restored.update_one(offer_id, context, reward)
    expected, actual = original.snapshot(), restored.snapshot()
    assert actual.version == expected.version
    assert actual.params.offer_ids == expected.params.offer_ids
    for name, array in expected.params.arrays().items():
        np.testing.assert_allclose(actual.params.arrays()[name], array, atol=1e-12, err_msg=name)


# --------------------------------------------------------------------------- decisions


@pytest.mark.parametrize("algorithm", ["lints", "linucb", "epsilon_greedy"])
def test_converges_to_best_offer(algorithm: str) -> None:
    learner = make_learner(config(algorithm), dim=DIM, offer_features=offer_features())
    rng = np.random.default_rng(17)
    best_in_first = []
    for _ in range(1500):
        context = random_context(rng)
        choice = learner.snapshot().choose_slate(context, OFFER_IDS, np.ones(4), 1, rng)
        first_offer = choice.order[0]
        best_in_first.append(first_offer == 2)
        learner.update_one(OFFER_IDS[first_offer], context, float(true_means(context)[first_offer] + rng.normal(0.0, 0.1)))
    assert np.mean(best_in_first[-200:]) >= 0.9


@pytest.mark.parametrize("seed", range(5))
def test_lints_probabilities_are_valid(seed: int) -> None:
    snapshot = trained(rounds=40, seed=seed, min_propensity_share=0.05).snapshot()
    rng = np.random.default_rng(seed)
    candidates = (*OFFER_IDS, "brand-new-offer")
    choice = snapshot.choose_slate(random_context(rng), candidates, np.array([1.0, 0.5, 2.0, 1.0, 1.0]), 3, rng)
    assert choice.first_position_dist.sum() == pytest.approx(1.0)
    assert choice.first_position_dist.min() >= 0.05 / 5 - 1e-15
    assert len(set(choice.order)) == 3
    assert all(0.0 < p <= 1.0 for p in choice.propensities)


def test_variances_equal_per_offer() -> None:
    """The shared prior moves the mean only: x^T A_inv_o x is the per-offer model's."""
    params = trained(rounds=80).snapshot().params
    assert isinstance(params, HierarchicalRidgeParams)
    per_offer = params.per_offer_part()
    context = random_context(np.random.default_rng(9))
    rows = params.rows_of(OFFER_IDS)
    np.testing.assert_array_equal(params.score_variances(context, rows), per_offer.score_variances(context, rows))
