"""Ridge models: Sherman-Morrison updates against direct solves, and the shared covariance."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InvalidInputError
from policies.offer_features import OFFER_FEATURE_DIM, default_offer_feature_vector
from policies.ridge import PerOfferRidge, PerOfferRidgeParams, SharedRidge, SharedRidgeParams
from policy_cases import DIM, OFFER_IDS, offer_features, random_context

RIDGE = 2.0


def direct_solution(features: np.ndarray, rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(inv(ridge I + X^T X), inv(...) X^T y)`` computed without rank-one updates."""
    precision = RIDGE * np.eye(features.shape[1]) + features.T @ features
    a_inv = np.linalg.inv(precision)
    return a_inv, a_inv @ features.T @ rewards


def test_per_offer_matches_direct_solve() -> None:
    rng = np.random.default_rng(0)
    model = PerOfferRidge(DIM, RIDGE)
    history: dict[str, list[tuple[np.ndarray, float]]] = {}
    for step in range(300):
        offer_id = OFFER_IDS[step % 3]
        context, reward = random_context(rng), float(rng.normal())
        model.update_one(offer_id, context, reward)
        history.setdefault(offer_id, []).append((context, reward))
    params = model.freeze()
    assert params.offer_ids == OFFER_IDS[:3]
    for row, offer_id in enumerate(params.offer_ids, start=1):
        contexts = np.stack([context for context, _ in history[offer_id]])
        rewards = np.array([reward for _, reward in history[offer_id]])
        a_inv, theta = direct_solution(contexts, rewards)
        np.testing.assert_allclose(params.a_inv[row], a_inv, atol=1e-12)
        np.testing.assert_allclose(params.theta[row], theta, atol=1e-10)
    np.testing.assert_array_equal(params.a_inv[0], np.eye(DIM) / RIDGE)
    np.testing.assert_array_equal(params.theta[0], np.zeros(DIM))


def test_shared_matches_direct_solve() -> None:
    rng = np.random.default_rng(1)
    features = offer_features()
    model = SharedRidge(DIM, RIDGE, features)
    rows, rewards = [], []
    for step in range(200):
        offer_id = OFFER_IDS[step % 5] if step % 7 else "unknown-offer"
        context, reward = random_context(rng), float(rng.normal())
        model.update_one(offer_id, context, reward)
        vector = features.get(offer_id, default_offer_feature_vector())
        rows.append(np.kron(context, vector))
        rewards.append(reward)
    a_inv, theta = direct_solution(np.stack(rows), np.array(rewards))
    params = model.freeze()
    np.testing.assert_allclose(params.a_inv, a_inv, atol=1e-12)
    np.testing.assert_allclose(params.theta, theta, atol=1e-10)


def test_shared_context_covariance_matches_explicit() -> None:
    rng = np.random.default_rng(2)
    model = SharedRidge(DIM, RIDGE, offer_features())
    for step in range(50):
        model.update_one(OFFER_IDS[step % 5], random_context(rng), float(rng.normal()))
    params = model.freeze()
    context = random_context(rng)
    rows = params.rows_of(OFFER_IDS)
    joint = np.stack([np.kron(context, params.features[row]) for row in rows])
    explicit = joint @ params.a_inv @ joint.T
    via_blocks = params.features[rows] @ params.context_covariance(context) @ params.features[rows].T
    np.testing.assert_allclose(via_blocks, explicit, atol=1e-12)
    np.testing.assert_allclose(params.score_variances(context, rows), np.diag(explicit), atol=1e-12)
    np.testing.assert_allclose(params.means(context, rows), joint @ params.theta, atol=1e-12)


def test_shared_samples_have_joint_covariance() -> None:
    rng = np.random.default_rng(3)
    model = SharedRidge(DIM, RIDGE, offer_features())
    for step in range(20):
        model.update_one(OFFER_IDS[step % 5], random_context(rng), float(rng.normal()))
    params = model.freeze()
    context = random_context(rng)
    rows = params.rows_of(OFFER_IDS)
    means = params.means(context, rows)
    values, may_tie = params.sample_values(context, rows, means, np.ones(5), 1.0, 200_000, np.random.default_rng(0))
    assert may_tie
    joint = np.stack([np.kron(context, params.features[row]) for row in rows])
    np.testing.assert_allclose(np.cov(values, rowvar=False), joint @ params.a_inv @ joint.T, atol=0.01)
    np.testing.assert_allclose(values.mean(axis=0), means, atol=0.01)


def test_shared_zero_context_samples_the_mean() -> None:
    params = SharedRidge(DIM, RIDGE, offer_features()).freeze()
    rows = params.rows_of(OFFER_IDS)
    zero = np.zeros(DIM)
    values, _ = params.sample_values(zero, rows, np.zeros(5), np.ones(5), 1.0, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(values, np.zeros((4, 5)))


def test_per_offer_grows_past_capacity() -> None:
    rng = np.random.default_rng(4)
    model = PerOfferRidge(DIM, RIDGE)
    offer_ids = [f"offer-{index}" for index in range(40)]
    for offer_id in offer_ids:
        model.update_one(offer_id, random_context(rng), 1.0)
    params = model.freeze()
    assert params.a_inv.shape == (41, DIM, DIM)
    restored = PerOfferRidge.from_params(params)
    restored.update_one("offer-41", random_context(rng), 1.0)
    assert restored.offer_ids[-1] == "offer-41"
    np.testing.assert_array_equal(restored.freeze().theta[:41], params.theta)


def test_per_offer_variances_use_gather_for_large_stacks() -> None:
    rng = np.random.default_rng(5)
    model = PerOfferRidge(DIM, RIDGE)
    for index in range(12):
        model.update_one(f"offer-{index}", random_context(rng), 1.0)
    params = model.freeze()
    context = random_context(rng)
    for candidates in (["offer-3", "offer-7"], [f"offer-{index}" for index in range(12)]):
        rows = params.rows_of(candidates)
        expected = [context @ params.a_inv[row] @ context for row in rows]
        np.testing.assert_allclose(params.score_variances(context, rows), expected, atol=1e-14)


def test_per_offer_params_reject_bad_shapes() -> None:
    message = r"per-offer ridge parameter a_inv must have shape \(2, 5, 5\) for 1 offers of dimension 5; got \(2, 4, 4\)"
    with pytest.raises(InvalidInputError, match=message):
        PerOfferRidgeParams(
            ridge=1.0,
            offer_ids=("a1",),
            a_inv=np.zeros((2, 4, 4)),
            b=np.zeros((2, DIM)),
            theta=np.zeros((2, DIM)),
            context_mean=np.zeros(DIM),
            n_contexts=0,
        )


def test_shared_rejects_bad_feature_vector() -> None:
    message = r"offer_features\['bad-offer'\] must be a finite vector of shape \(9,\); got shape \(3,\)"
    with pytest.raises(InvalidInputError, match=message):
        SharedRidge(DIM, RIDGE, {"bad-offer": np.ones(3)})


def test_shared_params_reject_bad_shapes() -> None:
    joint = DIM * OFFER_FEATURE_DIM
    with pytest.raises(InvalidInputError, match=r"shared ridge parameter theta must have shape \(45,\)"):
        SharedRidgeParams(
            ridge=1.0,
            offer_ids=(),
            features=np.zeros((1, OFFER_FEATURE_DIM)),
            a_inv=np.eye(joint),
            b=np.zeros(joint),
            theta=np.zeros(joint + 1),
            context_mean=np.zeros(DIM),
            n_contexts=0,
        )


def test_sherman_morrison_drift_stays_small() -> None:
    rng = np.random.default_rng(6)
    dim = 21
    model = PerOfferRidge(dim, 1.0)
    precision = np.eye(dim)
    for _ in range(20_000):
        context = random_context(rng, dim)
        model.update_one("only-offer", context, 1.0)
        precision += np.outer(context, context)
    exact = np.linalg.inv(precision)
    relative_error = np.abs(model.freeze().a_inv[1] - exact).max() / np.abs(exact).max()
    assert relative_error < 1e-11
