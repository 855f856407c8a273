"""Policy cases and a small synthetic problem shared by the policy tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.config.policy import ExplorationConfig, PolicyConfig
from policies import BanditLearner, make_learner
from policies.offer_features import OFFER_FEATURE_DIM

DIM = 5
OFFER_IDS: tuple[str, ...] = ("credit-card", "savings-plus", "travel-insurance", "budget-coach", "overdraft-buffer")
UNSEEN_OFFER_ID = "brand-new-offer"


@dataclass(frozen=True)
class PolicyCase:
    """One algorithm and model combination of the conformance suite."""

    algorithm: str
    model: str = "per_offer"

    @property
    def case_id(self) -> str:
        return self.algorithm if self.algorithm in ("random", "static") else f"{self.algorithm}-{self.model}"

    @property
    def learns(self) -> bool:
        return self.algorithm not in ("random", "static")


POLICY_CASES: tuple[PolicyCase, ...] = (
    PolicyCase("random"),
    PolicyCase("static"),
    PolicyCase("epsilon_greedy", "per_offer"),
    PolicyCase("epsilon_greedy", "shared"),
    PolicyCase("linucb", "per_offer"),
    PolicyCase("linucb", "shared"),
    PolicyCase("lints", "per_offer"),
    PolicyCase("lints", "shared"),
    PolicyCase("epsilon_greedy", "hierarchical"),
    PolicyCase("linucb", "hierarchical"),
    PolicyCase("lints", "hierarchical"),
    PolicyCase("epsilon_greedy", "funnel"),
    PolicyCase("linucb", "funnel"),
    PolicyCase("lints", "funnel"),
)


def offer_features(offer_ids: tuple[str, ...] = OFFER_IDS) -> dict[str, np.ndarray]:
    """Give each offer its own category (cycling through the 7) and a business value of 10 * index."""
    features = {}
    for index, offer_id in enumerate(offer_ids):
        vector = np.zeros(OFFER_FEATURE_DIM)
        vector[index % (OFFER_FEATURE_DIM - 2)] = 1.0
        vector[-2] = np.log1p(10.0 * index)
        vector[-1] = 1.0
        features[offer_id] = vector
    return features


def make_config(case: PolicyCase, **exploration: float) -> PolicyConfig:
    return PolicyConfig(
        id="test-policy",
        algorithm=case.algorithm,  # type: ignore[arg-type]
        model=case.model,  # type: ignore[arg-type]
        exploration=ExplorationConfig(**exploration),  # type: ignore[arg-type]
    )


def random_context(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    """Return a context of order one with the trailing bias 1.0."""
    return np.append(rng.normal(0.0, 0.5, dim - 1), 1.0)


def true_reward_means(context: np.ndarray, offer_ids: tuple[str, ...] = OFFER_IDS) -> np.ndarray:
    """Reward means of the synthetic problem: offer 1 is best for every context in the test range."""
    base = np.linspace(0.2, 0.4, len(offer_ids))
    base[1] = 0.8
    return base + 0.05 * context[0]


def train(
    learner: BanditLearner,
    rounds: int,
    seed: int,
    offer_ids: tuple[str, ...] = OFFER_IDS,
) -> None:
    """Feed ``rounds`` rewards for offers chosen in turn, with Gaussian noise around the true means."""
    rng = np.random.default_rng(seed)
    for step in range(rounds):
        context = random_context(rng)
        index = step % len(offer_ids)
        reward = true_reward_means(context, offer_ids)[index] + rng.normal(0.0, 0.1)
        learner.update_one(offer_ids[index], context, float(reward))


def trained_learner(case: PolicyCase, rounds: int = 200, seed: int = 3, **exploration: float) -> BanditLearner:
    learner = make_learner(make_config(case, **exploration), dim=DIM, offer_features=offer_features())
    train(learner, rounds, seed)
    return learner


def plackett_luce_probability(weights: np.ndarray, order: tuple[int, ...]) -> float:
    """Return the probability of ``order`` under sequential sampling without replacement from ``weights``."""
    remaining = np.asarray(weights, dtype=float).copy()
    probability = 1.0
    for index in order:
        probability *= remaining[index] / remaining.sum()
        remaining[index] = 0.0
    return probability

