from __future__ import annotations

import copy

import numpy as np
import pytest

from engine.errors import InvalidInputError
from policies.ope import (
    estimate_all,
    estimate_dm,
    estimate_dr,
    estimate_ips,
    estimate_snips,
    fit_reward_model,
    importance_weights,
)


def synthetic_bandit(seed: int, n: int = 4000, n_actions: int = 4, d: int = 3):
    """Contexts, a uniform logger, Bernoulli rewards and a softmax target policy with a known value."""
    rng = np.random.default_rng(seed)
    context = np.c_[rng.normal(size=(n, d - 1)), np.ones(n)]
    theta = np.random.default_rng(99).normal(scale=0.8, size=(n_actions, d))
    q = 1.0 / (1.0 + np.exp(-(context @ theta.T)))
    logging = np.full((n, n_actions), 1.0 / n_actions)
    action = rng.integers(n_actions, size=n)
    reward = rng.binomial(1, q[np.arange(n), action]).astype(float)
    target = np.exp(4.0 * q)
    target /= target.sum(axis=1, keepdims=True)
    truth = float((target * q).sum(axis=1).mean())
    return context, action, reward, logging[np.arange(n), action], target, q, truth


def test_ips_matches_formula() -> None:
    reward = np.array([1.0, 0.0, 2.0])
    action = np.array([0, 1, 1])
    pscore = np.array([0.5, 0.25, 0.5])
    dist = np.array([[0.2, 0.8], [0.5, 0.5], [0.0, 1.0]])
    estimate = estimate_ips(reward, action, pscore, dist)
    assert estimate.value == pytest.approx((0.2 / 0.5 * 1 + 0.5 / 0.25 * 0 + 1.0 / 0.5 * 2) / 3)
    assert estimate.estimator == "ips"
    assert estimate.ci_low < estimate.value < estimate.ci_high


def test_snips_matches_formula() -> None:
    reward = np.array([1.0, 0.0, 2.0])
    action = np.array([0, 1, 1])
    pscore = np.array([0.5, 0.25, 0.5])
    dist = np.array([[0.2, 0.8], [0.5, 0.5], [0.0, 1.0]])
    weights = np.array([0.4, 2.0, 2.0])
    estimate = estimate_snips(reward, action, pscore, dist)
    assert estimate.value == pytest.approx((weights * reward).sum() / weights.sum())


def test_dm_and_dr_match_formula() -> None:
    reward = np.array([1.0, 0.0])
    action = np.array([0, 1])
    pscore = np.array([0.5, 0.5])
    dist = np.array([[0.25, 0.75], [1.0, 0.0]])
    predicted = np.array([[0.6, 0.2], [0.4, 0.3]])
    dm = estimate_dm(dist, predicted)
    assert dm.value == pytest.approx(((0.25 * 0.6 + 0.75 * 0.2) + 0.4) / 2)
    dr = estimate_dr(reward, action, pscore, dist, predicted)
    corrections = [0.25 / 0.5 * (1.0 - 0.6), 0.0 / 0.5 * (0.0 - 0.3)]
    assert dr.value == pytest.approx(dm.value + np.mean(corrections))


def test_dr_equals_dm_with_exact_rewards() -> None:
    reward = np.array([0.6, 0.3])
    action = np.array([0, 1])
    dist = np.array([[0.5, 0.5], [0.1, 0.9]])
    predicted = np.array([[0.6, 0.2], [0.4, 0.3]])
    assert estimate_dr(reward, action, np.array([0.5, 0.5]), dist, predicted).value == pytest.approx(
        estimate_dm(dist, predicted).value
    )


def test_estimators_recover_known_value() -> None:
    context, action, reward, pscore, target, _, truth = synthetic_bandit(seed=1)
    model = fit_reward_model(context, action, reward, target.shape[1])
    estimates = estimate_all(reward, action, pscore, target, model.predict(context))
    for name in ("ips", "snips", "dr"):
        assert estimates[name].ci_low <= truth <= estimates[name].ci_high, name
    assert abs(estimates["dm"].value - truth) < 0.05


def test_snips_stays_within_reward_range() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = 30
        reward = rng.uniform(-1.0, 2.0, size=n)
        action = rng.integers(3, size=n)
        pscore = rng.uniform(0.01, 1.0, size=n)
        dist = rng.dirichlet(np.ones(3), size=n)
        value = estimate_snips(reward, action, pscore, dist).value
        assert reward.min() - 1e-12 <= value <= reward.max() + 1e-12


def test_bootstrap_interval_is_seeded() -> None:
    context, action, reward, pscore, target, _, _ = synthetic_bandit(seed=2, n=500)
    first = estimate_ips(reward, action, pscore, target, ci="bootstrap", n_bootstrap=200, seed=7)
    second = estimate_ips(reward, action, pscore, target, ci="bootstrap", n_bootstrap=200, seed=7)
    normal = estimate_ips(reward, action, pscore, target)
    assert (first.ci_low, first.ci_high) == (second.ci_low, second.ci_high)
    assert first.ci_method == "bootstrap"
    assert first.std_error == pytest.approx(normal.std_error, rel=0.3)


def test_estimators_do_not_mutate_inputs() -> None:
    context, action, reward, pscore, target, q, _ = synthetic_bandit(seed=4, n=200)
    inputs = (reward, action, pscore, target, q)
    copies = copy.deepcopy(inputs)
    estimate_all(*inputs)
    estimate_dr(*inputs, ci="bootstrap", n_bootstrap=20)
    for original, kept in zip(inputs, copies):
        np.testing.assert_array_equal(original, kept)


def test_importance_weights() -> None:
    weights = importance_weights(np.array([1, 0]), np.array([0.5, 0.25]), np.array([[0.5, 0.5], [1.0, 0.0]]))
    np.testing.assert_allclose(weights, [1.0, 4.0])


VALID = {
    "reward": np.array([1.0, 0.0]),
    "action": np.array([0, 1]),
    "pscore": np.array([0.5, 0.5]),
    "action_dist": np.array([[0.5, 0.5], [0.5, 0.5]]),
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pscore": np.array([0.5, 0.0])}, r"pscore must be in \(0, 1\]; got 0.0 at index 1"),
        ({"pscore": np.array([np.nan, 0.5])}, r"pscore must be in \(0, 1\]; got nan at index 0"),
        ({"pscore": np.array([0.5])}, r"pscore must have shape \(2,\), one per event; got \(1,\)"),
        ({"action": np.array([0, 2])}, r"action indices must be in \[0, 1\] .* got min 0, max 2"),
        ({"action": np.array([0.0, 1.0])}, "action must contain integer action indices"),
        ({"action_dist": np.array([[0.5, 0.6], [0.5, 0.5]])}, "row 0 sums to 1.1"),
        ({"action_dist": np.array([[1.5, -0.5], [0.5, 0.5]])}, "finite, non-negative"),
        ({"reward": np.array([1.0, np.inf])}, "reward must be finite"),
    ],
)
def test_ips_rejects_invalid_input(changes, message) -> None:
    arguments = {**VALID, **changes}
    with pytest.raises(InvalidInputError, match=message):
        estimate_ips(**arguments)


def test_interval_options_are_validated() -> None:
    with pytest.raises(InvalidInputError, match="alpha must be in"):
        estimate_ips(**VALID, alpha=1.5)
    with pytest.raises(InvalidInputError, match="ci must be 'normal' or 'bootstrap'"):
        estimate_ips(**VALID, ci="exact")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="estimated_rewards must have the shape"):
        estimate_dm(VALID["action_dist"], np.zeros((2, 3)))


def test_snips_without_support_raises() -> None:
    with pytest.raises(InvalidInputError, match="SNIPS is undefined"):
        estimate_snips(VALID["reward"], VALID["action"], VALID["pscore"], np.array([[0.0, 1.0], [1.0, 0.0]]))
