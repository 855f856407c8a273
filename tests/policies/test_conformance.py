"""Checks that every algorithm and model combination must pass."""

from __future__ import annotations

import dataclasses
import math
import pickle
from collections import Counter, defaultdict

import numpy as np
import pytest

from policies import BanditLearner, PolicySnapshot, learner_from_snapshot, load_snapshot
from policy_cases import (
    DIM,
    OFFER_IDS,
    POLICY_CASES,
    UNSEEN_OFFER_ID,
    PolicyCase,
    random_context,
    train,
    trained_learner,
)

CASES = pytest.mark.parametrize("case", POLICY_CASES, ids=lambda case: case.case_id)
MULTIPLIERS = np.array([1.0, 1.5, 0.8, 1.2, 1.0])
# LinTS draws new posterior samples at each call, so its slate distribution varies between calls.
LINTS_CASES = [case for case in POLICY_CASES if case.algorithm == "lints"]
FIXED_DISTRIBUTION_CASES = [case for case in POLICY_CASES if case.algorithm != "lints"]


def choose(snapshot: PolicySnapshot, seed: int, k: int = 3, context_seed: int = 11):
    context = random_context(np.random.default_rng(context_seed))
    return snapshot.choose_slate(context, OFFER_IDS, MULTIPLIERS, k, np.random.default_rng(seed))


def assert_same_choice(first, second) -> None:
    assert first.order == second.order
    assert first.propensities == second.propensities
    assert first.slate_propensity == second.slate_propensity
    np.testing.assert_array_equal(first.first_position_dist, second.first_position_dist)
    np.testing.assert_array_equal(first.scores, second.scores)
    if first.contributions is None:
        assert second.contributions is None
    else:
        np.testing.assert_array_equal(first.contributions, second.contributions)


@CASES
@pytest.mark.parametrize("k", [1, 3, 5])
def test_slate_probabilities_are_consistent(case: PolicyCase, k: int) -> None:
    snapshot = trained_learner(case).snapshot()
    for seed in range(20):
        choice = choose(snapshot, seed, k=k, context_seed=seed)
        assert len(choice.order) == k
        assert len(set(choice.order)) == k
        assert all(0 <= index < len(OFFER_IDS) for index in choice.order)
        assert len(choice.propensities) == k
        assert all(0.0 < p <= 1.0 for p in choice.propensities)
        assert choice.slate_propensity == pytest.approx(math.prod(choice.propensities), rel=1e-12)
        assert choice.first_position_dist.shape == (len(OFFER_IDS),)
        assert choice.first_position_dist.min() >= 0.0
        assert choice.first_position_dist.sum() == pytest.approx(1.0, abs=1e-12)
        assert choice.propensities[0] == pytest.approx(choice.first_position_dist[choice.order[0]], rel=1e-12)
        assert choice.scores.shape == (len(OFFER_IDS),)


@CASES
def test_k_above_candidates_returns_all(case: PolicyCase) -> None:
    snapshot = trained_learner(case).snapshot()
    choice = choose(snapshot, seed=0, k=12)
    assert sorted(choice.order) == list(range(len(OFFER_IDS)))
    assert choice.slate_propensity == pytest.approx(math.prod(choice.propensities))


@CASES
def test_first_position_frequency_matches_dist(case: PolicyCase) -> None:
    snapshot = trained_learner(case, min_propensity_share=0.1).snapshot()
    context = random_context(np.random.default_rng(5))
    rng = np.random.default_rng(2024)
    n_draws = 3000
    counts = np.zeros(len(OFFER_IDS))
    dist_sum = np.zeros(len(OFFER_IDS))
    for _ in range(n_draws):
        choice = snapshot.choose_slate(context, OFFER_IDS, MULTIPLIERS, 2, rng)
        counts[choice.order[0]] += 1
        dist_sum += choice.first_position_dist
    # The first pick has probability first_position_dist given that call's distribution, so
    # its frequency estimates the mean distribution; 4 standard errors of a proportion.
    tolerance = 4 * math.sqrt(0.25 / n_draws)
    np.testing.assert_allclose(counts / n_draws, dist_sum / n_draws, atol=tolerance)


@pytest.mark.parametrize("case", FIXED_DISTRIBUTION_CASES, ids=lambda case: case.case_id)
def test_slate_frequency_matches_slate_propensity(case: PolicyCase) -> None:
    offer_ids = OFFER_IDS[:3]
    snapshot = trained_learner(case, min_propensity_share=0.2, epsilon=0.2).snapshot()
    context = random_context(np.random.default_rng(8))
    rng = np.random.default_rng(99)
    n_draws = 3000
    counts: Counter[tuple[int, ...]] = Counter()
    expected: dict[tuple[int, ...], float] = {}
    logged: defaultdict[tuple[int, ...], set[float]] = defaultdict(set)
    for _ in range(n_draws):
        choice = snapshot.choose_slate(context, offer_ids, np.ones(3), 2, rng)
        counts[choice.order] += 1
        logged[choice.order].add(round(choice.slate_propensity, 12))
    for order, values in logged.items():
        assert len(values) == 1, f"slate {order} was logged with different propensities {values}"
        expected[order] = values.pop()
    assert sum(expected.values()) == pytest.approx(1.0, abs=1e-9)
    tolerance = 4 * math.sqrt(0.25 / n_draws)
    for order, probability in expected.items():
        assert counts[order] / n_draws == pytest.approx(probability, abs=tolerance), f"slate {order}"


@pytest.mark.parametrize("case", LINTS_CASES, ids=lambda case: case.case_id)
def test_lints_slate_propensity_is_exact(case: PolicyCase) -> None:
    """Inverse-propensity counts of every possible slate average 1 when each logged propensity is exact.

    LinTS estimates its distribution from new posterior draws at each call, so no single
    probability per slate exists to compare frequencies with. For any randomisation,
    E[1{slate drawn} / P(slate drawn | call)] = 1 for a slate that has positive
    probability in every call, which the floor guarantees here. The candidates' true
    means (0.2, 0.8 and 0.4) are far apart, so that each position has a clear favourite.
    """
    offer_ids = (OFFER_IDS[0], OFFER_IDS[1], OFFER_IDS[4])
    snapshot = trained_learner(case, rounds=1000, min_propensity_share=0.2).snapshot()
    context = random_context(np.random.default_rng(8))
    rng = np.random.default_rng(99)
    n_draws = 4000
    weights: defaultdict[tuple[int, ...], list[float]] = defaultdict(list)
    for _ in range(n_draws):
        choice = snapshot.choose_slate(context, offer_ids, np.ones(3), 2, rng)
        weights[choice.order].append(1.0 / choice.slate_propensity)
    assert len(weights) == 6, f"every ordered pair of 3 candidates should be drawn; got {sorted(weights)}"
    for order, inverse in weights.items():
        values = np.zeros(n_draws)
        values[: len(inverse)] = inverse
        standard_error = values.std() / math.sqrt(n_draws)
        assert values.mean() == pytest.approx(1.0, abs=4 * standard_error + 1e-9), f"slate {order}"


@CASES
def test_update_does_not_mutate_inputs(case: PolicyCase) -> None:
    learner = trained_learner(case)
    context = random_context(np.random.default_rng(1))
    saved = context.copy()
    learner.update_one(OFFER_IDS[0], context, 1.0)
    np.testing.assert_array_equal(context, saved)

    contexts = np.stack([random_context(np.random.default_rng(seed)) for seed in range(3)])
    rewards = np.array([0.0, 1.0, 0.5])
    saved_contexts, saved_rewards = contexts.copy(), rewards.copy()
    learner.update_many(list(OFFER_IDS[:3]), contexts, rewards)
    np.testing.assert_array_equal(contexts, saved_contexts)
    np.testing.assert_array_equal(rewards, saved_rewards)


@CASES
def test_choose_does_not_mutate_inputs(case: PolicyCase) -> None:
    snapshot = trained_learner(case).snapshot()
    context = random_context(np.random.default_rng(1))
    multipliers = MULTIPLIERS.copy()
    offer_ids = list(OFFER_IDS)
    saved_context = context.copy()
    snapshot.choose_slate(context, offer_ids, multipliers, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(context, saved_context)
    np.testing.assert_array_equal(multipliers, MULTIPLIERS)
    assert offer_ids == list(OFFER_IDS)


@CASES
def test_seeded_draws_agree(case: PolicyCase) -> None:
    snapshot = trained_learner(case).snapshot()
    for seed in range(5):
        assert_same_choice(choose(snapshot, seed), choose(snapshot, seed))
    assert_same_choice(choose(trained_learner(case).snapshot(), 4), choose(snapshot, 4))


@CASES
def test_snapshot_pickles(case: PolicyCase) -> None:
    snapshot = trained_learner(case).snapshot()
    restored = pickle.loads(pickle.dumps(snapshot))
    assert type(restored) is type(snapshot)
    assert (restored.policy_id, restored.algorithm, restored.version) == (snapshot.policy_id, snapshot.algorithm, snapshot.version)
    assert_same_choice(choose(restored, 7), choose(snapshot, 7))
    context = random_context(np.random.default_rng(2))
    np.testing.assert_array_equal(restored.expected_rewards(context, OFFER_IDS), snapshot.expected_rewards(context, OFFER_IDS))
    params = getattr(restored, "params", None)
    if params is not None:
        assert not params.a_inv.flags.writeable


@CASES
def test_snapshot_bytes_round_trip(case: PolicyCase) -> None:
    snapshot = trained_learner(case).snapshot()
    restored = load_snapshot(snapshot.to_bytes())
    assert type(restored) is type(snapshot)
    assert (restored.policy_id, restored.algorithm, restored.version) == (snapshot.policy_id, snapshot.algorithm, snapshot.version)
    assert restored.to_bytes() == snapshot.to_bytes()
    for seed in range(3):
        assert_same_choice(choose(restored, seed, context_seed=seed), choose(snapshot, seed, context_seed=seed))
    context = random_context(np.random.default_rng(2))
    np.testing.assert_array_equal(restored.expected_rewards(context, OFFER_IDS), snapshot.expected_rewards(context, OFFER_IDS))


@CASES
def test_snapshot_is_immutable(case: PolicyCase) -> None:
    learner = trained_learner(case)
    snapshot = learner.snapshot()
    before = choose(snapshot, 3)
    train(learner, 50, seed=12)
    assert_same_choice(choose(snapshot, 3), before)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.version = 99  # type: ignore[misc]
    params = getattr(snapshot, "params", None)
    if params is not None:
        for array in params.arrays().values():
            assert not array.flags.writeable
            with pytest.raises(ValueError):
                array[...] = 0.0


@CASES
def test_unseen_offer_id_is_handled(case: PolicyCase) -> None:
    learner = trained_learner(case)
    snapshot = learner.snapshot()
    candidates = (*OFFER_IDS[:2], UNSEEN_OFFER_ID)
    context = random_context(np.random.default_rng(4))
    choice = snapshot.choose_slate(context, candidates, np.ones(3), 3, np.random.default_rng(0))
    assert sorted(choice.order) == [0, 1, 2]
    rewards = snapshot.expected_rewards(context, candidates)
    assert rewards.shape == (3,)
    assert np.isfinite(rewards).all()

    n_before = learner.n_updates
    learner.update_one(UNSEEN_OFFER_ID, context, 1.0)
    assert learner.n_updates == n_before + 1


@CASES
def test_versions_strictly_increase(case: PolicyCase) -> None:
    learner = trained_learner(case)
    versions = [learner.snapshot().version for _ in range(3)]
    assert versions == sorted(set(versions))
    assert versions[0] >= 1


@CASES
def test_learner_from_snapshot_continues(case: PolicyCase) -> None:
    original = trained_learner(case)
    stored = load_snapshot(original.snapshot().to_bytes())
    restarted: BanditLearner = learner_from_snapshot(stored)
    assert type(restarted) is type(original)
    assert restarted.n_updates == original.n_updates == 200
    assert restarted.policy_id == original.policy_id

    train(original, 30, seed=21)
    train(restarted, 30, seed=21)
    original_snapshot, restarted_snapshot = original.snapshot(), restarted.snapshot()
    assert restarted_snapshot.version == stored.version + 1
    assert restarted.n_updates == original.n_updates == 230
    context = random_context(np.random.default_rng(6))
    np.testing.assert_allclose(
        restarted_snapshot.expected_rewards(context, OFFER_IDS),
        original_snapshot.expected_rewards(context, OFFER_IDS),
        rtol=1e-12,
        atol=1e-12,
    )
    assert_same_choice(choose(restarted_snapshot, 5), choose(original_snapshot, 5))


@CASES
def test_contributions_shape(case: PolicyCase) -> None:
    choice = choose(trained_learner(case).snapshot(), seed=0)
    if case.learns:
        assert choice.contributions is not None
        assert choice.contributions.shape == (len(OFFER_IDS), DIM)
        np.testing.assert_array_equal(choice.contributions[:, -1], 0.0)
    else:
        assert choice.contributions is None
