"""Funnel ridge: per-offer reward models guided by per-offer models of clicks and rejects."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pydantic import ValidationError

from engine.config.policy import PolicyConfig
from engine.errors import InvalidInputError
from engine.features import FeatureEncoder
from engine.learner import OnlineLearner
from engine.rewards import Reward
from policies import LinearLearner, learner_from_snapshot, load_snapshot, make_learner
from policies.funnel_ridge import FunnelRidge, FunnelRidgeParams, funnel_posterior

DIM = 4
RIDGE = 1.0
OFFER_IDS: tuple[str, ...] = ("card", "savings", "insurance")


def config(algorithm: str = "lints", prior_strength: float = 300.0, signal: dict | None = None) -> PolicyConfig:
    funnel: dict = {"prior_strength": prior_strength}
    if signal is not None:
        funnel["signal"] = signal
    return PolicyConfig.model_validate(
        {"id": "fun", "algorithm": algorithm, "model": "funnel", "ridge": RIDGE, "funnel": funnel}
    )


def random_context(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    return np.append(rng.normal(0.0, 1.0, dim - 1), 1.0)


def trained(rounds: int = 120, seed: int = 3, algorithm: str = "lints") -> LinearLearner:
    learner = make_learner(config(algorithm), dim=DIM)
    assert isinstance(learner, LinearLearner)
    rng = np.random.default_rng(seed)
    for step in range(rounds):
        context = random_context(rng)
        feedback = ("impression", "click") if rng.random() < 0.4 else ("impression", "reject")
        learner.update_with_feedback(OFFER_IDS[step % 3], context, float(rng.random() < 0.1), feedback)
    return learner


# --------------------------------------------------------------------------- config


def test_config_defaults_to_clicks_and_rejects() -> None:
    loaded = config()
    assert loaded.model == "funnel"
    assert dict(loaded.funnel.signal) == {"click": 1.0, "reject": -1.0}
    assert loaded.funnel.prior_strength == 300.0


def test_config_rejects_unknown_feedback_type() -> None:
    with pytest.raises(ValidationError, match=r"funnel\.signal\.view"):
        config(signal={"view": 1.0})


def test_config_rejects_all_zero_signal() -> None:
    with pytest.raises(ValidationError, match=r"signal needs at least one feedback type with a non-zero weight"):
        config(signal={"click": 0.0})


def test_config_rejects_non_positive_prior_strength() -> None:
    with pytest.raises(ValidationError, match=r"funnel\.prior_strength"):
        config(prior_strength=0.0)


# --------------------------------------------------------------------------- posterior


def test_posterior_matches_direct_solve() -> None:
    rng = np.random.default_rng(0)
    model = FunnelRidge(DIM, RIDGE, prior_strength=50.0)
    xs, rewards, signals = [], [], []
    for _ in range(40):
        x = random_context(rng)
        reward, signal = float(rng.normal()), float(rng.normal())
        model.update_one("card", x, reward, signal)
        xs.append(x), rewards.append(reward), signals.append(signal)
    model.update_one("card", random_context(rng), 0.5)  # a reward without feedback: reward model only
    params = model.freeze()

    x_all = np.array(xs)
    phi = np.linalg.solve(x_all.T @ x_all + RIDGE * np.eye(DIM), x_all.T @ np.array(signals))
    gram = params.gram[1]
    design_gram = np.block([[gram, (gram @ phi)[:, None]], [(phi @ gram)[None, :], np.array([[phi @ gram @ phi]])]])
    precision = design_gram + np.diag([50.0] * DIM + [RIDGE])
    w = np.linalg.solve(precision, np.append(params.b[1], phi @ params.b[1]))
    lift = np.vstack([np.eye(DIM), phi])
    np.testing.assert_allclose(params.theta[1], w[:DIM] + w[DIM] * phi, atol=1e-10)
    np.testing.assert_allclose(params.a_inv[1], lift.T @ np.linalg.inv(precision) @ lift, atol=1e-10)
    # Row 0, the prior: score 0 with covariance I / prior_strength.
    np.testing.assert_allclose(params.theta[0], 0.0)
    np.testing.assert_allclose(params.a_inv[0], np.eye(DIM) / 50.0)


def test_few_rewards_follow_the_engagement_direction() -> None:
    """The signal is far less noisy than the reward, so 60 rewards point the right way with the funnel."""
    dim = 8
    rng = np.random.default_rng(11)
    direction = rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    cosines: dict[str, list[float]] = {"funnel": [], "plain": []}
    for _ in range(20):
        funnel = FunnelRidge(dim, RIDGE, prior_strength=300.0)
        xs, rewards = [], []
        for _ in range(60):
            x = rng.normal(size=dim)
            appeal = float(x @ direction)
            reward = 0.2 * appeal + rng.normal(0.0, 1.0)
            funnel.update_one("o", x, reward, appeal + rng.normal(0.0, 0.5))
            xs.append(x)
            rewards.append(reward)
        theta = funnel.freeze().theta[1]
        cosines["funnel"].append(float(theta @ direction / np.linalg.norm(theta)))
        x_all = np.array(xs)
        plain = np.linalg.solve(x_all.T @ x_all + RIDGE * np.eye(dim), x_all.T @ np.array(rewards))
        cosines["plain"].append(float(plain @ direction / np.linalg.norm(plain)))
    assert np.median(cosines["funnel"]) > 0.95
    assert np.median(cosines["funnel"]) > np.median(cosines["plain"]) + 0.2


def test_many_rewards_override_a_misleading_signal() -> None:
    """When clicks point elsewhere, enough rewards take the reward's own direction."""
    rng = np.random.default_rng(5)
    model = FunnelRidge(DIM, RIDGE, prior_strength=30.0)
    truth = np.array([0.3, -0.2, 0.1, 0.05])
    for _ in range(20_000):
        x = random_context(rng)
        model.update_one("o", x, float(x @ truth + rng.normal(0.0, 0.3)), float(x[1] + rng.normal(0.0, 0.3)))
    np.testing.assert_allclose(model.freeze().theta[1], truth, atol=0.02)


def test_stacked_posterior_equals_one_offer_at_a_time() -> None:
    rng = np.random.default_rng(2)
    gram = np.stack([np.cov(rng.normal(size=(DIM, 30))) * 30 for _ in range(3)])
    b, b_signal = rng.normal(size=(3, DIM)), rng.normal(size=(3, DIM))
    theta, a_inv = funnel_posterior(gram, b, gram * 0.5, b_signal, ridge=1.0, prior_strength=10.0)
    for row in range(3):
        one_theta, one_a_inv = funnel_posterior(
            gram[row : row + 1], b[row : row + 1], gram[row : row + 1] * 0.5, b_signal[row : row + 1],
            ridge=1.0, prior_strength=10.0,
        )
        np.testing.assert_allclose(theta[row], one_theta[0], atol=1e-12)
        np.testing.assert_allclose(a_inv[row], one_a_inv[0], atol=1e-12)
        assert np.all(np.linalg.eigvalsh(a_inv[row]) > 0)


# --------------------------------------------------------------------------- learner


def test_signal_sums_each_feedback_type_once() -> None:
    learner = make_learner(config(signal={"click": 1.0, "accept": 2.0, "reject": -1.0}), dim=DIM)
    x = np.array([1.0, 0.0, 0.0, 1.0])
    learner.update_with_feedback("card", x, 1.0, ("impression", "click", "accept", "click"))
    params = learner.snapshot().params
    assert isinstance(params, FunnelRidgeParams)
    np.testing.assert_allclose(params.b_signal[1], 3.0 * x)
    np.testing.assert_allclose(params.signal_gram[1], np.outer(x, x))


def test_accept_alone_counts_as_click() -> None:
    learner = make_learner(config(signal={"click": 1.0, "accept": 2.0}), dim=DIM)
    x = np.array([0.0, 1.0, 0.0, 1.0])
    learner.update_with_feedback("card", x, 1.0, ("impression", "accept"))
    params = learner.snapshot().params
    np.testing.assert_allclose(params.b_signal[1], 3.0 * x)


def test_update_one_without_feedback_leaves_the_engagement_model() -> None:
    learner = make_learner(config(), dim=DIM)
    learner.update_one("card", np.ones(DIM), 1.0)
    params = learner.snapshot().params
    assert isinstance(params, FunnelRidgeParams)
    assert not params.signal_gram.any()
    assert not params.b_signal.any()
    np.testing.assert_allclose(params.gram[1], np.ones((DIM, DIM)))
    assert learner.n_updates == 1


def test_online_learner_passes_feedback_types() -> None:
    encoder = FeatureEncoder.from_names(["balance", "logins_30d", "income_stability"])
    learner = make_learner(config(), dim=encoder.dim)
    online = OnlineLearner(learner, encoder, snapshot_config=config().snapshot)
    context = {"balance": 3000.0, "logins_30d": 4.0, "income_stability": 0.9}
    reward = Reward(
        reward_id="r1", decision_id="d1", offer_id="card", customer_id="c1", policy_id="fun", policy_version=1,
        context=context, position=1, propensity=0.5, reward=0.0, feedback=("impression", "reject"),
        settled_by="terminal", decided_at=0.0, settled_at=1.0,
    )
    assert online.learn(reward)
    params = learner.snapshot().params
    np.testing.assert_allclose(params.b_signal[1], -encoder.encode(context))


@pytest.mark.parametrize("algorithm", ["lints", "linucb", "epsilon_greedy"])
def test_restored_learner_continues_identically(algorithm: str) -> None:
    original = trained(algorithm=algorithm)
    restored = learner_from_snapshot(load_snapshot(original.snapshot().to_bytes()))
    rng = np.random.default_rng(8)
    for step in range(40):
        context = random_context(rng)
        offer_id = (*OFFER_IDS, "partner-offer")[step % 4]
        original.update_with_feedback(offer_id, context, 0.0, ("impression", "click"))
        restored.update_with_feedback(offer_id, context, 0.0, ("impression", "click"))
    expected, actual = original.snapshot(), restored.snapshot()
    assert actual.version == expected.version
    assert actual.params.offer_ids == expected.params.offer_ids
    for name, array in expected.params.arrays().items():
        np.testing.assert_allclose(actual.params.arrays()[name], array, atol=1e-12, err_msg=name)


def test_snapshot_pickle_round_trip() -> None:
    snapshot = trained().snapshot()
    restored = pickle.loads(pickle.dumps(snapshot))
    assert type(restored.params) is FunnelRidgeParams
    np.testing.assert_array_equal(restored.params.gram, snapshot.params.gram)
    assert not restored.params.b_signal.flags.writeable


def test_params_reject_bad_shape() -> None:
    params = trained().snapshot().params
    arrays = params.arrays()
    arrays["b_signal"] = arrays["b_signal"][:, :2]
    with pytest.raises(InvalidInputError, match=r"funnel ridge parameter b_signal must have shape \(4, 4\)"):
        FunnelRidgeParams(ridge=RIDGE, offer_ids=params.offer_ids, n_contexts=params.n_contexts, **arrays)
