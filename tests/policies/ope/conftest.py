"""Fixtures of the OPE tests: decision logs simulated once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config.loader import load_catalog, load_reward_config
from engine.config.offers import OfferCatalog
from engine.config.rewards import RewardConfig
from engine.features import FeatureEncoder, compute_features
from engine.log_simulation import simulate_decision_logs
from engine.ope_logs import LoggedDecision, write_decision_logs
from engine.profile import CustomerProfile
from envs.bank import SyntheticBank


@pytest.fixture(scope="session")
def shipped_catalog() -> OfferCatalog:
    """configs/offers.yaml."""
    return load_catalog()


@pytest.fixture(scope="session")
def shipped_rewards() -> RewardConfig:
    """configs/rewards.yaml."""
    return load_reward_config()


@pytest.fixture(scope="session")
def random_logs(shipped_catalog: OfferCatalog, shipped_rewards: RewardConfig) -> list[LoggedDecision]:
    """700 decisions of two offers each, logged by the uniform-random policy on 120 customers."""
    return simulate_decision_logs(
        "random", catalog=shipped_catalog, reward_config=shipped_rewards, decisions=700, seed=3, customers=120, slate_size=2
    )


@pytest.fixture(scope="session")
def random_logs_path(random_logs: list[LoggedDecision], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random-policy logs written as JSON lines."""
    return write_decision_logs(tmp_path_factory.mktemp("logs") / "random.jsonl", random_logs)


@pytest.fixture(scope="session")
def simulator_states(
    shipped_catalog: OfferCatalog, shipped_rewards: RewardConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """1,800 app opens of the synthetic bank as arrays, for tests that need the true response model.

    Returns ``(x, outcome_probabilities, outcome_rewards, q)``:

    * ``x``: encoded contexts, shape (n, d);
    * ``outcome_probabilities``: each offer's outcome probabilities at position 1 without
      fatigue, shape (n, n_offers, n_outcomes);
    * ``outcome_rewards``: each outcome's reward, shape (n_offers, n_outcomes);
    * ``q``: the true expected rewards, shape (n, n_offers).
    """
    bank = SyntheticBank(shipped_catalog, shipped_rewards, n_customers=120, seed=11, warmup_days=30)
    encoder = FeatureEncoder.from_names("default")
    n_offers = len(shipped_catalog.ids)
    no_history, not_owned = np.zeros(n_offers), np.zeros(n_offers, dtype=bool)
    profiles: dict[str, CustomerProfile] = {}
    contexts, probabilities = [], []
    for _ in range(1800):
        arrival = bank.next_arrival()
        profile = profiles.setdefault(arrival.customer_id, CustomerProfile(arrival.customer_id))
        for event in bank.events_until(arrival.customer_id, arrival.ts):
            profile.apply(event)
        contexts.append(encoder.encode(compute_features(profile, arrival.ts)))
        latent = bank.latent(arrival.customer_id)
        probabilities.append(bank.response_model.outcome_probabilities(latent, 1, no_history, not_owned))
    outcome_probabilities = np.array(probabilities)
    outcome_rewards = bank.response_model.outcome_rewards
    q = (outcome_probabilities * outcome_rewards[None]).sum(axis=2)
    return np.array(contexts), outcome_probabilities, outcome_rewards, q
