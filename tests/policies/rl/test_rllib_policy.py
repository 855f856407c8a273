from __future__ import annotations

import copy
import math
import os
import pickle

import numpy as np
import pytest
from pydantic import ValidationError

from engine.config.policy import ExplorationConfig, PolicyConfig
from engine.errors import ConfigError, InvalidInputError
from envs.journey import CustomerJourneyEnv, JourneyConfig
from policies.registry import load_snapshot, make_learner, make_snapshot
from policies.rllib_policy import RLlibSnapshot

pytestmark = pytest.mark.ray


def _config(checkpoint: str, share: float = 0.0) -> PolicyConfig:
    return PolicyConfig(
        id="journey-rl",
        algorithm="rllib",
        checkpoint=checkpoint,
        exploration=ExplorationConfig(min_propensity_share=share),
    )


@pytest.fixture(scope="module")
def contexts() -> np.ndarray:
    env = CustomerJourneyEnv(JourneyConfig(horizon_days=20, population_size=8))
    rows = []
    for seed in range(3):
        observation, _ = env.reset(seed=seed)
        rows.append(observation)
        for day in range(4):
            observation, *_ = env.step(day)
            rows.append(observation)
    return np.asarray(rows, dtype=np.float64)


@pytest.fixture(scope="module")
def ppo_snapshot(ppo_run) -> RLlibSnapshot:
    return make_snapshot(_config(ppo_run.checkpoint, share=0.1))


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def test_snapshot_reads_checkpoint(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    assert ppo_snapshot.algorithm == "rllib"
    assert ppo_snapshot.algo == "PPO"
    assert ppo_snapshot.dim == contexts.shape[1]
    assert len(ppo_snapshot.offer_ids) == 21
    assert ppo_snapshot.action_values(contexts).shape == (len(contexts), 22)


def test_first_position_dist_masks_and_renormalises(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    offer_ids = [ppo_snapshot.offer_ids[index] for index in (4, 0, 9)]
    context = contexts[3]
    choice = ppo_snapshot.choose_slate(context, offer_ids, np.ones(3), 1, np.random.default_rng(0))
    logits = ppo_snapshot.action_values(context[None, :])[0][[4, 0, 9]]
    expected = 0.9 * _softmax(logits) + 0.1 / 3
    np.testing.assert_allclose(choice.first_position_dist, expected, rtol=1e-9)
    assert choice.first_position_dist.sum() == pytest.approx(1.0)


def test_slate_propensities_are_plackett_luce(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    offer_ids = list(ppo_snapshot.offer_ids[:6])
    multipliers = np.array([1.0, 2.0, 0.5, 1.0, 1.0, 3.0])
    for seed in range(5):
        choice = ppo_snapshot.choose_slate(contexts[seed], offer_ids, multipliers, 3, np.random.default_rng(seed))
        weights = choice.first_position_dist.copy()
        for position, index in enumerate(choice.order):
            assert choice.propensities[position] == pytest.approx(weights[index] / weights.sum())
            weights[index] = 0.0
        assert choice.slate_propensity == pytest.approx(math.prod(choice.propensities))
        assert len(set(choice.order)) == 3


def test_multipliers_scale_the_distribution(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    offer_ids = list(ppo_snapshot.offer_ids[:2])
    rng = np.random.default_rng(0)
    even = ppo_snapshot.choose_slate(contexts[0], offer_ids, np.array([1.0, 1.0]), 1, rng).first_position_dist
    tilted = ppo_snapshot.choose_slate(contexts[0], offer_ids, np.array([1.0, 4.0]), 1, rng).first_position_dist
    assert tilted[1] > even[1]


def test_draws_follow_first_position_dist(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    offer_ids = list(ppo_snapshot.offer_ids[:4])
    rng = np.random.default_rng(3)
    draws = [ppo_snapshot.choose_slate(contexts[1], offer_ids, np.ones(4), 1, rng).order[0] for _ in range(2000)]
    expected = ppo_snapshot.choose_slate(contexts[1], offer_ids, np.ones(4), 1, rng).first_position_dist
    observed = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(observed, expected, atol=0.04)


def test_choose_action_includes_no_offer(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    offer_ids = list(ppo_snapshot.offer_ids[:3])
    choice = ppo_snapshot.choose_action(contexts[0], offer_ids, np.random.default_rng(1))
    values = ppo_snapshot.action_values(contexts[:1])[0][[0, 1, 2, ppo_snapshot.no_offer_action]]
    np.testing.assert_allclose(choice.action_dist, 0.9 * _softmax(values) + 0.1 / 4)
    index = 3 if choice.index is None else choice.index
    assert choice.propensity == pytest.approx(choice.action_dist[index])


def test_unknown_offer_gets_only_the_floor(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    offer_ids = [ppo_snapshot.offer_ids[0], "brand-new-offer"]
    choice = ppo_snapshot.choose_slate(contexts[0], offer_ids, np.ones(2), 2, np.random.default_rng(0))
    np.testing.assert_allclose(choice.first_position_dist, [0.95, 0.05])
    assert choice.scores[1] == 0.0


def test_batch_dist_matches_single_decisions(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    mask = np.zeros((len(contexts), 21), dtype=bool)
    mask[:, [1, 5, 7]] = True
    batch = ppo_snapshot.batch_action_dist(contexts, mask)
    offer_ids = [ppo_snapshot.offer_ids[index] for index in (1, 5, 7)]
    for row in range(3):
        single = ppo_snapshot.choose_slate(contexts[row], offer_ids, np.ones(3), 1, np.random.default_rng(0))
        np.testing.assert_allclose(batch[row, [1, 5, 7]], single.first_position_dist, rtol=1e-6)
    assert (batch[:, ~mask[0]] == 0.0).all()


def test_choose_slate_does_not_mutate_inputs(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    context, multipliers = contexts[2].copy(), np.array([1.0, 2.0, 3.0])
    offer_ids = list(ppo_snapshot.offer_ids[:3])
    kept = copy.deepcopy((context, multipliers, offer_ids))
    ppo_snapshot.choose_slate(context, offer_ids, multipliers, 2, np.random.default_rng(0))
    np.testing.assert_array_equal(context, kept[0])
    np.testing.assert_array_equal(multipliers, kept[1])
    assert offer_ids == kept[2]


def test_seeded_draws_agree(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    offer_ids = list(ppo_snapshot.offer_ids[:8])
    first = ppo_snapshot.choose_slate(contexts[4], offer_ids, np.ones(8), 3, np.random.default_rng(42))
    second = ppo_snapshot.choose_slate(contexts[4], offer_ids, np.ones(8), 3, np.random.default_rng(42))
    assert first.order == second.order
    assert first.propensities == second.propensities


def test_bytes_and_pickle_round_trip(ppo_snapshot: RLlibSnapshot, contexts: np.ndarray) -> None:
    offer_ids = list(ppo_snapshot.offer_ids[:5])
    restored = load_snapshot(ppo_snapshot.to_bytes())
    assert isinstance(restored, RLlibSnapshot)
    np.testing.assert_allclose(restored.expected_rewards(contexts[0], offer_ids), ppo_snapshot.expected_rewards(contexts[0], offer_ids), rtol=1e-6)
    clone = pickle.loads(pickle.dumps(ppo_snapshot))
    np.testing.assert_allclose(clone.action_values(contexts), ppo_snapshot.action_values(contexts))


def test_dqn_distribution_is_greedy_with_floor(dqn_run, contexts: np.ndarray) -> None:
    snapshot = make_snapshot(_config(dqn_run.checkpoint, share=0.2))
    assert snapshot.algo == "DQN"
    offer_ids = list(snapshot.offer_ids[:4])
    choice = snapshot.choose_slate(contexts[0], offer_ids, np.ones(4), 1, np.random.default_rng(0))
    q_values = snapshot.action_values(contexts[:1])[0][:4]
    expected = np.full(4, 0.05)
    expected[np.argmax(q_values)] += 0.8
    np.testing.assert_allclose(choice.first_position_dist, expected)
    np.testing.assert_allclose(snapshot.expected_rewards(contexts[0], offer_ids), q_values, rtol=1e-6)


def test_context_shape_is_checked(ppo_snapshot: RLlibSnapshot) -> None:
    with pytest.raises(InvalidInputError, match=r"context must be a vector of shape \(45,\)"):
        ppo_snapshot.choose_slate(np.ones(21), ["a-offer"], np.ones(1), 1, np.random.default_rng(0))


def test_rllib_config_requires_checkpoint() -> None:
    with pytest.raises(ValidationError, match="checkpoint is required when algorithm is 'rllib'"):
        PolicyConfig(id="journey-rl", algorithm="rllib")
    with pytest.raises(ValidationError, match="checkpoint is only allowed when algorithm is 'rllib'"):
        PolicyConfig(id="lints-x", algorithm="lints", checkpoint="somewhere")


def test_relative_checkpoint_path_loads(ppo_run) -> None:
    relative = os.path.relpath(ppo_run.checkpoint)
    assert not os.path.isabs(relative)
    assert make_snapshot(_config(relative)).dim == 45


def test_missing_checkpoint_folder_is_reported(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="has no offerloop_policy.json|not an RLlib"):
        make_snapshot(_config(str(tmp_path / "missing")))


def test_rllib_policies_do_not_learn_online(ppo_run) -> None:
    with pytest.raises(ConfigError, match="does not learn online; build its snapshot with make_snapshot"):
        make_learner(_config(ppo_run.checkpoint), dim=45)


def test_make_snapshot_needs_dim_for_bandits() -> None:
    with pytest.raises(ConfigError, match="needs dim"):
        make_snapshot(PolicyConfig(id="lints-x", algorithm="lints"))
    snapshot = make_snapshot(PolicyConfig(id="lints-x", algorithm="lints"), dim=4)
    assert snapshot.version == 1
