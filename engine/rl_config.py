"""Training config for RLlib policies on the customer-journey env, and the one factory of RLlib configs.

A YAML file under ``configs/train/`` becomes a :class:`TrainConfig` at the edge
(:func:`load_train_config`); :func:`build_algorithm_config` is the only place that turns
one into an RLlib ``AlgorithmConfig``. It uses RLlib's new API stack (RLModule,
Learner, EnvRunner, ConnectorV2) with torch and calls ``validate()`` before returning.

.. versionadded:: 0.1
   PPO and DQN on ``offerloop/CustomerJourney-v0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import ConfigError
from envs.journey import CustomerJourneyEnv, JourneyConfig

if TYPE_CHECKING:
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

__all__ = [
    "ALGOS",
    "ModelSpec",
    "PPOSettings",
    "DQNSettings",
    "TrainConfig",
    "load_train_config",
    "build_algorithm_config",
]

Algo = Literal["PPO", "DQN"]
ALGOS: tuple[str, ...] = ("PPO", "DQN")


class ModelSpec(BaseModel):
    """Network of the RLModule: hidden layer sizes and activation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden: tuple[int, ...] = Field(default=(64, 64), min_length=1, max_length=8)
    activation: Literal["tanh", "relu"] = "tanh"


class PPOSettings(BaseModel):
    """PPO hyper-parameters (names as in RLlib's ``PPOConfig.training``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lr: float = Field(default=3e-4, gt=0.0, le=1.0)
    gamma: float = Field(default=0.99, ge=0.0, le=1.0)
    lambda_: float = Field(default=0.95, ge=0.0, le=1.0, alias="lambda")
    clip_param: float = Field(default=0.2, gt=0.0, le=1.0)
    entropy_coeff: float = Field(default=0.01, ge=0.0, le=1.0)
    vf_loss_coeff: float = Field(default=0.5, ge=0.0, le=100.0)
    vf_clip_param: float = Field(default=50.0, gt=0.0, description="Clip of the value loss, in squared reward units.")
    num_epochs: int = Field(default=5, ge=1, le=100)
    minibatch_size: int = Field(default=256, ge=8)
    train_batch_size: int = Field(default=4000, ge=16, description="Env steps per training iteration.")


class DQNSettings(BaseModel):
    """DQN hyper-parameters (double, dueling Q-learning with a prioritised episode replay buffer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lr: float = Field(default=5e-4, gt=0.0, le=1.0)
    gamma: float = Field(default=0.99, ge=0.0, le=1.0)
    train_batch_size: int = Field(default=64, ge=1)
    replay_capacity: int = Field(default=50_000, ge=100)
    target_network_update_freq: int = Field(default=1000, ge=1, description="Env steps between target updates.")
    learning_starts: int = Field(default=1000, ge=0, description="Env steps sampled before the first update.")
    epsilon_start: float = Field(default=1.0, ge=0.0, le=1.0)
    epsilon_end: float = Field(default=0.05, ge=0.0, le=1.0)
    epsilon_timesteps: int = Field(default=20_000, ge=1, description="Env steps of the linear epsilon decay.")
    n_step: int = Field(default=3, ge=1, le=100)
    double_q: bool = True
    dueling: bool = True
    steps_per_iteration: int = Field(default=1000, ge=1, description="Minimum env steps sampled per iteration.")


class TrainConfig(BaseModel):
    """One training run: the journey env, the network, the algorithm settings and the run's size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    iterations: int = Field(default=100, ge=1, le=1_000_000, description="Training iterations (algo.train() calls).")
    seed: int = Field(default=0, ge=0)
    checkpoint_every: int = Field(default=10, ge=1, description="Iterations between checkpoints; the last is always saved.")
    output_dir: str = Field(default="out/train", description="Metrics and checkpoints go here (a folder per algo).")
    num_env_runners: int = Field(default=0, ge=0, le=1024, description="Remote env runners; 0 samples in the driver.")
    num_envs_per_env_runner: int = Field(default=1, ge=1, le=1024)
    env: JourneyConfig = JourneyConfig()
    model: ModelSpec = ModelSpec()
    ppo: PPOSettings = PPOSettings()
    dqn: DQNSettings = DQNSettings()


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a training YAML file (see ``configs/train/``).

    Raises:
        ConfigError: the file is missing, is not YAML or fails validation.
    """
    from engine.config.loader import load_yaml_model

    return load_yaml_model(path, TrainConfig)


def build_algorithm_config(config: TrainConfig, algo: str) -> AlgorithmConfig:
    """Build and validate the RLlib config of ``algo`` for ``config``.

    Each env runner builds :class:`envs.journey.CustomerJourneyEnv` from ``config.env``'s
    fields, so remote runners need offerloop importable (installed
    on the cluster's nodes, or shipped with a Ray runtime environment).

    Args:
        config: the run's settings.
        algo: ``"PPO"`` or ``"DQN"`` (case-insensitive).

    Raises:
        ConfigError: ``algo`` is not one of :data:`ALGOS`, or RLlib rejects the settings.
    """
    name = algo.upper() if isinstance(algo, str) else algo
    if name not in ALGOS:
        raise ConfigError(f"algo must be one of {', '.join(ALGOS)}; got {algo!r}. Pass --algo PPO or --algo DQN")
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    model = DefaultModelConfig(
        fcnet_hiddens=list(config.model.hidden),
        fcnet_activation=config.model.activation,
        head_fcnet_hiddens=[],
    )
    rl_config = _algorithm_class_config(name)
    rl_config = (
        rl_config.api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .framework("torch")
        .environment(env=CustomerJourneyEnv, env_config=config.env.model_dump(mode="json"), disable_env_checking=True)
        .env_runners(
            num_env_runners=config.num_env_runners,
            num_envs_per_env_runner=config.num_envs_per_env_runner,
            num_cpus_per_env_runner=1,
        )
        .learners(num_learners=0, num_gpus_per_learner=0)
        .rl_module(model_config=model)
        .debugging(seed=config.seed, log_level="WARN")
    )
    if name == "PPO":
        ppo = config.ppo
        rl_config = rl_config.training(
            lr=ppo.lr,
            gamma=ppo.gamma,
            lambda_=ppo.lambda_,
            clip_param=ppo.clip_param,
            entropy_coeff=ppo.entropy_coeff,
            vf_loss_coeff=ppo.vf_loss_coeff,
            vf_clip_param=ppo.vf_clip_param,
            num_epochs=ppo.num_epochs,
            minibatch_size=ppo.minibatch_size,
            train_batch_size_per_learner=ppo.train_batch_size,
        )
    else:
        dqn = config.dqn
        rl_config = rl_config.training(
            lr=dqn.lr,
            gamma=dqn.gamma,
            train_batch_size_per_learner=dqn.train_batch_size,
            replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer", "capacity": dqn.replay_capacity},
            target_network_update_freq=dqn.target_network_update_freq,
            num_steps_sampled_before_learning_starts=dqn.learning_starts,
            epsilon=[(0, dqn.epsilon_start), (dqn.epsilon_timesteps, dqn.epsilon_end)],
            n_step=dqn.n_step,
            double_q=dqn.double_q,
            dueling=dqn.dueling,
        ).reporting(min_sample_timesteps_per_iteration=dqn.steps_per_iteration)
    try:
        rl_config.validate()
    except (ValueError, TypeError, KeyError) as err:
        raise ConfigError(f"RLlib rejected the {name} settings: {err}") from err
    return rl_config


def _algorithm_class_config(name: str) -> AlgorithmConfig:
    if name == "PPO":
        from ray.rllib.algorithms.ppo import PPOConfig

        return PPOConfig()
    from ray.rllib.algorithms.dqn import DQNConfig

    return DQNConfig()
