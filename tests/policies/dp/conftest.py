"""Fixtures of the DP propensity tests: the bank marketing sample, small configs and a local Ray."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Ray reads this when it is first imported, so it is set before any test module imports Ray.
# With it, Ray keeps its listeners on 127.0.0.1.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

from policies.dp_propensity import (  # noqa: E402 - after the environment variable above
    PrivacyConfig,
    PropensityDataset,
    TrainedPropensityModel,
    load_bank_marketing,
    simulator_logs,
    train_dp_propensity,
)

BANK_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "bank_marketing" / "bank-sample.csv"


@pytest.fixture(scope="session")
def dp_ray(ray_session: None) -> None:
    """The session's Ray instance (tests/conftest.py), for the federated tests."""


@pytest.fixture(scope="session")
def bank_sample() -> PropensityDataset:
    """The 1,200-row UCI Bank Marketing sample of tests/data/bank_marketing."""
    return load_bank_marketing(BANK_SAMPLE, seed=0)


@pytest.fixture(scope="session")
def sim_logs() -> PropensityDataset:
    """300 logged offers of a 60-customer synthetic bank."""
    return simulator_logs(300, seed=1, n_customers=60)


@pytest.fixture(scope="session")
def small_config() -> PrivacyConfig:
    """Two epochs of a tiny model at epsilon 3 with the RDP accountant, whose noise search is the fastest."""
    return PrivacyConfig(target_epsilon=3.0, delta=1e-4, epochs=2, batch_size=128, hidden=(8,), seed=0, accountant="rdp")


@pytest.fixture(scope="session")
def bank_model(bank_sample: PropensityDataset, small_config: PrivacyConfig) -> TrainedPropensityModel:
    """The small config trained on 80% of the bank sample, evaluated on the rest."""
    train, test = bank_sample.split(0.2, seed=0)
    return train_dp_propensity(train, small_config, test=test)
