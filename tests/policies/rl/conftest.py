"""Fixtures of the RLlib tests: one tiny PPO and DQN run per session, on the session's Ray instance (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.rl_config import TrainConfig, load_train_config
from engine.rl_train import TrainResult, train_policy

SMOKE_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "train" / "smoke.yaml"


@pytest.fixture(scope="session")
def smoke_config() -> TrainConfig:
    """configs/train/smoke.yaml: two iterations of a 20-day journey."""
    return load_train_config(SMOKE_CONFIG)


@pytest.fixture(scope="session")
def ppo_run(ray_session: None, smoke_config: TrainConfig, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """A two-iteration PPO run on the smoke config."""
    return train_policy(smoke_config, "PPO", output_dir=tmp_path_factory.mktemp("ppo"), progress=False)


@pytest.fixture(scope="session")
def dqn_run(ray_session: None, smoke_config: TrainConfig, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """A two-iteration DQN run on the smoke config."""
    return train_policy(smoke_config, "DQN", output_dir=tmp_path_factory.mktemp("dqn"), progress=False)
