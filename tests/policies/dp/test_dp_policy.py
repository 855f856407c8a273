"""The DP propensity model as a policy snapshot, a bandit warm start, and inside the decision engine."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from engine.config.loader import load_catalog, load_policy_config, load_reward_config
from engine.config.policy import PolicyConfig
from engine.decisions import DecisionEngine
from engine.errors import ConfigError
from engine.features import FeatureEncoder
from engine.snapshot_store import SnapshotHolder
from policies import learner_from_snapshot, load_snapshot, make_learner
from policies.dp_propensity import (
    DPPropensitySnapshot,
    MLPWeights,
    PrivacyConfig,
    PropensityDataset,
    TrainedPropensityModel,
    train_dp_propensity,
    warm_start_learner,
)
from policies.offer_features import OFFER_FEATURE_DIM, offer_features_of

CATALOG = load_catalog()
OFFER_FEATURES = offer_features_of(CATALOG.offers)
DIM = FeatureEncoder.from_names("default").dim


@pytest.fixture(scope="module")
def sim_model(sim_logs: PropensityDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on the simulator logs, saved as a checkpoint directory."""
    config = PrivacyConfig(target_epsilon=None, noise_multiplier=1.0, delta=1e-4, epochs=2, batch_size=64, hidden=(8,), accountant="rdp")
    model = train_dp_propensity(sim_logs, config)
    return model.save(tmp_path_factory.mktemp("dp-model"))


def dp_config(**changes: object) -> PolicyConfig:
    return PolicyConfig.model_validate({"id": "dp-policy", "algorithm": "dp_propensity", "seed": 5, **changes})


def test_untrained_snapshot_draws_valid_slates() -> None:
    snapshot = make_learner(dp_config(), dim=DIM, offer_features=OFFER_FEATURES).snapshot()
    offer_ids = [offer.id for offer in CATALOG.offers][:6]
    context = np.append(np.linspace(0.0, 1.0, DIM - 1), 1.0)

    choice = snapshot.choose_slate(context, offer_ids, np.ones(6), 3, np.random.default_rng(0))

    assert isinstance(snapshot, DPPropensitySnapshot)
    assert len(choice.order) == 3
    assert len(set(choice.order)) == 3
    assert np.isclose(choice.first_position_dist.sum(), 1.0)
    assert np.all((choice.scores > 0.0) & (choice.scores < 1.0))
    assert choice.contributions is not None
    assert choice.contributions.shape == (6, DIM)
    assert np.all(choice.contributions[:, -1] == 0.0)
    assert np.allclose(snapshot.expected_rewards(context, offer_ids), choice.scores)


def test_snapshot_round_trips_through_registry() -> None:
    learner = make_learner(dp_config(), dim=DIM, offer_features=OFFER_FEATURES)
    learner.update_one("travel-insurance", np.ones(DIM), 1.0)
    snapshot = learner.snapshot()
    context = np.append(np.full(DIM - 1, 0.3), 1.0)

    restored = load_snapshot(snapshot.to_bytes())
    continued = learner_from_snapshot(restored)

    assert isinstance(restored, DPPropensitySnapshot)
    assert (restored.version, restored.n_updates, restored.algorithm) == (1, 1, "dp_propensity")
    assert np.allclose(restored.expected_rewards(context, ["travel-insurance", "unknown-offer"]),
                       snapshot.expected_rewards(context, ["travel-insurance", "unknown-offer"]))  # fmt: skip
    assert continued.snapshot().version == 2


def test_gradients_match_finite_differences() -> None:
    mlp = MLPWeights.initial(7, (5, 4), seed=3)
    inputs = np.random.default_rng(1).normal(size=(3, 7))

    _, gradients = mlp.logits_and_gradients(inputs)

    step = 1e-6
    for column in range(7):
        shifted = inputs.copy()
        shifted[:, column] += step
        numeric = (mlp.logits(shifted) - mlp.logits(inputs)) / step
        assert np.allclose(gradients[:, column], numeric, atol=1e-4)


def test_linear_model_contributions_are_exact() -> None:
    mlp = MLPWeights.initial(DIM + OFFER_FEATURE_DIM, (), seed=2)
    snapshot = DPPropensitySnapshot(
        config=dp_config(), version=1, n_updates=0, mlp=mlp, offer_ids=(), offer_matrix=np.zeros((1, OFFER_FEATURE_DIM)),
        context_dim=DIM,
    )  # fmt: skip
    context = np.append(np.linspace(-1.0, 1.0, DIM - 1), 1.0)

    choice = snapshot.choose_slate(context, ["a"], np.ones(1), 1, np.random.default_rng(0))

    expected = mlp.weights[0][0, :DIM] * context
    expected[-1] = 0.0
    assert np.allclose(choice.contributions[0], expected)


def test_checkpoint_loads_trained_model(sim_model: Path) -> None:
    learner = make_learner(dp_config(checkpoint=str(sim_model)), dim=DIM, offer_features=OFFER_FEATURES)
    model = TrainedPropensityModel.load(sim_model)

    snapshot = learner.snapshot()

    assert snapshot.epsilon == model.card.epsilon
    assert snapshot.epsilon is not None
    assert "epsilon=" in repr(learner)
    context = np.append(np.full(DIM - 1, 0.2), 1.0)
    features = OFFER_FEATURES["travel-insurance"]
    assert np.isclose(
        snapshot.expected_rewards(context, ["travel-insurance"])[0],
        model.mlp.predict_proba(np.concatenate([context, features])[None, :])[0],
    )


def test_checkpoint_with_other_dimensions_is_rejected(tmp_path: Path, bank_model: TrainedPropensityModel) -> None:
    bank_model.save(tmp_path / "bank")

    with pytest.raises(ConfigError, match=r"takes inputs of length 47; policy 'dp-policy' needs 21 context entries plus 9"):
        make_learner(dp_config(checkpoint=str(tmp_path / "bank")), dim=DIM, offer_features=OFFER_FEATURES)


def test_decision_engine_records_dp_policy_reasons(sim_model: Path) -> None:
    policy = PolicyConfig.model_validate({**load_policy_config("lints").model_dump(), "id": "dp-policy",
                                          "algorithm": "dp_propensity", "model": "per_offer", "features": "default", "checkpoint": str(sim_model)})  # fmt: skip
    snapshot = make_learner(policy, dim=DIM, offer_features=OFFER_FEATURES).snapshot()
    engine = DecisionEngine(
        catalog=CATALOG, policy_config=policy, reward_config=load_reward_config(), snapshots=SnapshotHolder(snapshot), seed=1
    )

    record = engine.decide(None, customer_id="c1", now=datetime(2026, 3, 2, tzinfo=timezone.utc), channel="web").record

    assert (record.policy_id, record.algorithm) == ("dp-policy", "dp_propensity")
    assert record.shown
    assert all(0.0 < shown.score < 1.0 for shown in record.shown)


def test_warm_start_moves_bandit_towards_model(sim_logs: PropensityDataset, sim_model: Path) -> None:
    model = TrainedPropensityModel.load(sim_model)
    contexts = sim_logs.customer[:40].astype(np.float64)
    offers = dict(list(OFFER_FEATURES.items())[:5])
    learner = make_learner(PolicyConfig(id="warm", algorithm="lints"), dim=DIM)

    absorbed = warm_start_learner(learner, model.mlp, contexts, offers, reward_per_accept=2.0)

    snapshot = learner.snapshot()
    predicted = np.array([
        model.mlp.predict_proba(np.concatenate([contexts, np.broadcast_to(vector, (40, OFFER_FEATURE_DIM))], axis=1)).mean()
        for vector in offers.values()
    ]) * 2.0  # fmt: skip
    learned = np.array([snapshot.expected_rewards(contexts[i], list(offers)).tolist() for i in range(40)]).mean(axis=0)
    assert absorbed == 200
    assert learner.n_updates == 200
    assert np.allclose(learned, predicted, atol=0.05)


def test_warm_start_rejects_mismatched_contexts(bank_model: TrainedPropensityModel) -> None:
    learner = make_learner(PolicyConfig(id="warm", algorithm="lints"), dim=DIM)

    with pytest.raises(Exception, match=r"contexts of length 21 plus offer features make inputs of length 30; the model takes 47"):
        warm_start_learner(learner, bank_model.mlp, np.ones((3, DIM)), OFFER_FEATURES)


def test_dp_learner_rejects_other_algorithm() -> None:
    from policies.dp_propensity import DPPropensityLearner

    with pytest.raises(ConfigError, match="DPPropensityLearner serves algorithm 'dp_propensity'; policy 'x1' has 'lints'"):
        DPPropensityLearner(PolicyConfig(id="x1", algorithm="lints"), dim=DIM)
