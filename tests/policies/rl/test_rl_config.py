from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.rl_config import TrainConfig, build_algorithm_config, load_train_config

TRAIN_DIR = Path(__file__).resolve().parents[3] / "configs" / "train"
# apprentice_rules.yaml is a rule policy, not a training config.
TRAIN_CONFIGS = sorted(path for path in TRAIN_DIR.glob("*.yaml") if path.stem != "apprentice_rules")


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda path: path.stem)
def test_shipped_train_configs_load(path: Path) -> None:
    config = load_train_config(path)
    assert config.iterations >= 1
    assert config.env.horizon_days >= 1


def test_train_configs_found() -> None:
    assert {path.stem for path in TRAIN_CONFIGS} >= {"ppo", "dqn", "smoke"}


def test_ppo_config_carries_settings(smoke_config: TrainConfig) -> None:
    rl_config = build_algorithm_config(smoke_config, "ppo")
    assert rl_config.enable_rl_module_and_learner
    assert rl_config.enable_env_runner_and_connector_v2
    assert rl_config.train_batch_size_per_learner == smoke_config.ppo.train_batch_size
    assert rl_config.minibatch_size == smoke_config.ppo.minibatch_size
    assert rl_config.lr == smoke_config.ppo.lr
    assert rl_config.env_config["horizon_days"] == smoke_config.env.horizon_days
    assert rl_config.model_config["fcnet_hiddens"] == list(smoke_config.model.hidden)
    assert rl_config.seed == smoke_config.seed


def test_dqn_config_carries_settings(smoke_config: TrainConfig) -> None:
    rl_config = build_algorithm_config(smoke_config, "DQN")
    assert rl_config.n_step == smoke_config.dqn.n_step
    assert rl_config.replay_buffer_config["capacity"] == smoke_config.dqn.replay_capacity
    assert rl_config.epsilon == [(0, 1.0), (smoke_config.dqn.epsilon_timesteps, smoke_config.dqn.epsilon_end)]


def test_unknown_algo_is_rejected(smoke_config: TrainConfig) -> None:
    with pytest.raises(ConfigError, match=r"algo must be one of PPO, DQN; got 'SAC'"):
        build_algorithm_config(smoke_config, "SAC")


def test_invalid_train_file_names_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("iterations: 0\nenv:\n  churn_rate: 2.0\n")
    with pytest.raises(ConfigError) as raised:
        load_train_config(path)
    assert "iterations" in str(raised.value)
    assert "env.churn_rate" in str(raised.value)


def test_ppo_lambda_alias(tmp_path: Path) -> None:
    path = tmp_path / "ppo.yaml"
    path.write_text("ppo:\n  lambda: 0.9\n")
    assert load_train_config(path).ppo.lambda_ == 0.9
