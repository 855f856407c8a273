"""Coverage of the doubly robust 95% interval on the simulator, against the true policy value.

States (contexts and true response probabilities) come from the synthetic bank. For each
seed the test draws 1,200 states, logs one action per state from a known logging
policy, draws the customer's outcome from the simulator's true response model, and
estimates a target policy's value. The true value is the mean over the drawn states of
``sum_a pi(a | x) q(x, a)`` with the simulator's expected rewards ``q``.
"""

from __future__ import annotations

import numpy as np

from policies.ope import cross_fit_rewards, estimate_dr

SEEDS = range(20)
EVENTS_PER_SEED = 1200


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _policies(x: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A logging policy (half softmax of a random linear score, half uniform) and a target (60% near-best)."""
    n_offers = q.shape[1]
    rng = np.random.default_rng(5)
    logging = 0.5 * _softmax(x @ rng.normal(scale=0.5, size=(n_offers, x.shape[1])).T) + 0.5 / n_offers
    noisy_best = np.argmax(q + rng.normal(scale=0.05, size=q.shape), axis=1)
    target = 0.6 * np.eye(n_offers)[noisy_best] + 0.4 / n_offers
    return logging, target

EVENTS_PER_SEED = 1200


def test_dr_interval_covers_true_value(simulator_states) -> None:
    x, outcome_probabilities, outcome_rewards, q = simulator_states
    logging, target = _policies(x, q)
    n_offers = q.shape[1]
    covered = 0
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(x), size=EVENTS_PER_SEED, replace=False)
        events = np.arange(EVENTS_PER_SEED)
        action = (rng.random(EVENTS_PER_SEED)[:, None] > np.cumsum(logging[rows], axis=1)).sum(axis=1)
        action = np.minimum(action, n_offers - 1)
        outcome_cdf = np.cumsum(outcome_probabilities[rows, action], axis=1)
        outcome = np.minimum((rng.random(EVENTS_PER_SEED)[:, None] > outcome_cdf).sum(axis=1), outcome_cdf.shape[1] - 1)
        reward = outcome_rewards[action, outcome]
        truth = float((target[rows] * q[rows]).sum(axis=1).mean())
        predicted = cross_fit_rewards(x[rows], action, reward, n_offers, seed=seed)
        estimate = estimate_dr(reward, action, logging[rows][events, action], target[rows], predicted)
        covered += estimate.ci_low <= truth <= estimate.ci_high
    assert covered >= 0.9 * len(SEEDS), f"DR 95% interval covered the true value for {covered} of {len(SEEDS)} seeds"
