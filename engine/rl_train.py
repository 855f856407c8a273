"""Train an RLlib policy on the customer-journey env: progress, metrics, checkpoints and resume.

Output folder layout (``<output_dir>``)::

    metrics.jsonl                one JSON object per iteration (see ITERATION_FIELDS)
    checkpoints/iter_000010/     RLlib algorithm checkpoints (Algorithm.save_to_path)
        offerloop_policy.json    what serving needs besides the module (offer ids, features)
    latest_checkpoint.txt        path of the newest checkpoint

``offerloop train --resume PATH`` restores an algorithm checkpoint and continues counting
iterations from where it stopped; its metrics are appended to the same ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from engine.errors import InvalidInputError
from engine.rl_config import TrainConfig, build_algorithm_config

__all__ = [
    "POLICY_METADATA_FILE",
    "ITERATION_FIELDS",
    "IterationMetrics",
    "TrainResult",
    "train_policy",
    "ensure_ray",
    "write_policy_metadata",
]

logger = logging.getLogger(__name__)

POLICY_METADATA_FILE = "offerloop_policy.json"
ITERATION_FIELDS: tuple[str, ...] = (
    "iteration",
    "env_steps",
    "episodes",
    "episode_return_mean",
    "episode_len_mean",
    "time_this_iter_s",
    "time_total_s",
)
# Learner statistics copied into the metrics file when RLlib reports them.
_LEARNER_KEYS = ("policy_loss", "vf_loss", "entropy", "mean_kl_loss", "qf_loss", "qf_mean", "total_loss")


@dataclass(frozen=True)
class IterationMetrics:
    """Figures of one training iteration, as written to ``metrics.jsonl``."""

    iteration: int
    env_steps: int
    episodes: int
    episode_return_mean: float | None
    episode_len_mean: float | None
    time_this_iter_s: float
    time_total_s: float
    learner: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_policy`."""

    algo: str
    output_dir: str
    checkpoint: str
    iterations: list[IterationMetrics]
    seconds: float

    @property
    def final_return(self) -> float | None:
        """Mean episode return of the last iteration that finished an episode."""
        for metrics in reversed(self.iterations):
            if metrics.episode_return_mean is not None:
                return metrics.episode_return_mean
        return None


def ensure_ray(address: str | None = None) -> bool:
    """Start or join Ray unless this process is connected already; return True when this call connected.

    ``address`` (or, when it is None, the ``RAY_ADDRESS`` environment variable) names a
    cluster to join. Without either, a local instance starts on loopback with 2 CPUs and
    no dashboard.
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        # Keeps Ray's listeners on 127.0.0.1 instead of the machine's network address.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    logger.info("ray_started", extra={"address": address or "local"})
    return True


def write_policy_metadata(checkpoint: Path, config: TrainConfig, algo: str) -> None:
    """Write what serving needs besides the RLModule into ``checkpoint``: offer order and features."""
    from engine.features import FeatureEncoder
    from envs.journey import HISTORY_FEATURE_NAMES

    catalog, _ = config.env.load_configs()
    metadata = {
        "algo": algo,
        "offer_ids": list(catalog.ids),
        "history_features": list(HISTORY_FEATURE_NAMES),
        "features": list(FeatureEncoder.from_names(config.env.features).names),
        "env": config.env.model_dump(mode="json"),
    }
    (checkpoint / POLICY_METADATA_FILE).write_text(json.dumps(metadata, indent=2), encoding="utf-8")


def train_policy(
    config: TrainConfig,
    algo: str,
    *,
    output_dir: str | Path | None = None,
    resume: str | Path | None = None,
    address: str | None = None,
    progress: bool = True,
    on_iteration: Callable[[IterationMetrics], None] | None = None,
) -> TrainResult:
    """Train ``algo`` for ``config.iterations`` iterations (counting those of a resumed checkpoint).

    Args:
        config: run settings (:func:`engine.rl_config.load_train_config`).
        algo: ``"PPO"`` or ``"DQN"``.
        output_dir: folder for metrics and checkpoints; default ``config.output_dir/<algo>``.
        resume: algorithm checkpoint to continue from.
        address: Ray cluster address; None starts (or reuses) a local instance.
        progress: show a tqdm bar on stderr.
        on_iteration: called with each iteration's metrics, after they are written.

    Raises:
        ConfigError: invalid algo or settings.
        InvalidInputError: ``resume`` is not an RLlib checkpoint folder.
    """
    name = algo.upper()
    rl_config = build_algorithm_config(config, name)
    output = Path(output_dir) if output_dir is not None else Path(config.output_dir) / name.lower()
    if resume is not None and not (Path(resume) / "rllib_checkpoint.json").is_file():
        raise InvalidInputError(
            f"--resume must be an RLlib checkpoint folder containing rllib_checkpoint.json; got {str(resume)!r}. "
            f"Use a folder under {output / 'checkpoints'}"
        )
    output.mkdir(parents=True, exist_ok=True)
    started_ray = ensure_ray(address)
    started = time.perf_counter()
    with warnings.catch_warnings():
        # RLlib registers its env wrapper with gymnasium under one fixed id for every
        # algorithm it builds, so the second build in a process warns about the override.
        warnings.filterwarnings("ignore", message=".*Overriding environment rllib-single-agent-env-v0.*")
        algorithm = rl_config.build_algo()
    history: list[IterationMetrics] = []
    checkpoint = ""
    try:
        if resume is not None:
            algorithm.restore_from_path(str(Path(resume).resolve()))
            logger.info("training_resumed", extra={"checkpoint": str(resume), "iteration": algorithm.iteration})
        first = algorithm.iteration + 1
        bar = tqdm(
            range(first, config.iterations + 1), desc=f"train {name}", unit="iter", disable=not progress, leave=False
        )
        with (output / "metrics.jsonl").open("a", encoding="utf-8") as metrics_file:
            for iteration in bar:
                result = algorithm.train()
                metrics = _iteration_metrics(result, iteration)
                history.append(metrics)
                metrics_file.write(json.dumps(asdict(metrics)) + "\n")
                metrics_file.flush()
                if metrics.episode_return_mean is not None:
                    bar.set_postfix(ret=f"{metrics.episode_return_mean:.2f}", steps=metrics.env_steps)
                if iteration % config.checkpoint_every == 0 or iteration == config.iterations:
                    checkpoint = _save(algorithm, output, iteration, config, name)
                if on_iteration is not None:
                    on_iteration(metrics)
        if not checkpoint:
            # Resumed at or past the target: save what was restored so the caller gets a path.
            checkpoint = _save(algorithm, output, algorithm.iteration, config, name)
    finally:
        algorithm.stop()
        if started_ray:
            import ray

            ray.shutdown()
    seconds = time.perf_counter() - started
    logger.info("training_finished", extra={"algo": name, "checkpoint": checkpoint, "seconds": round(seconds, 1)})
    return TrainResult(algo=name, output_dir=str(output), checkpoint=checkpoint, iterations=history, seconds=seconds)


def _save(algorithm: Any, output: Path, iteration: int, config: TrainConfig, algo: str) -> str:
    path = output / "checkpoints" / f"iter_{iteration:06d}"
    algorithm.save_to_path(str(path.resolve()))
    write_policy_metadata(path, config, algo)
    (output / "latest_checkpoint.txt").write_text(str(path) + "\n", encoding="utf-8")
    return str(path)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


def _iteration_metrics(result: Mapping[str, Any], iteration: int) -> IterationMetrics:
    runners = result.get("env_runners", {})
    learners = result.get("learners", {}).get("default_policy", {})
    learner = {key: value for key in _LEARNER_KEYS if (value := _number(learners.get(key))) is not None}
    steps = runners.get("num_env_steps_sampled_lifetime", result.get("num_env_steps_sampled_lifetime", 0))
    return IterationMetrics(
        iteration=iteration,
        env_steps=int(_number(steps) or 0),
        episodes=int(_number(runners.get("num_episodes_lifetime")) or 0),
        episode_return_mean=_number(runners.get("episode_return_mean")),
        episode_len_mean=_number(runners.get("episode_len_mean")),
        time_this_iter_s=float(_number(result.get("time_this_iter_s")) or 0.0),
        time_total_s=float(_number(result.get("time_total_s")) or 0.0),
        learner=learner,
    )

