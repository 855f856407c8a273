"""Federated training of the DP propensity model across data silos, one Ray actor per silo.

Each silo (a region, a branch, a subsidiary) keeps its rows inside its actor. A round:

1. The coordinator sends the global weights to every silo.
2. Each silo trains ``federated.local_epochs`` epochs with DP-SGD (per-record gradient
   clipping and Gaussian noise, Opacus) on its own rows and returns its new weights.
   Everything a silo ever shares is a post-processing of those clipped, noised steps.
3. The coordinator averages the silos' updates with equal weights, so that silos do not
   reveal their row counts. When ``federated.update_max_norm`` is set, it first clips each
   update to that L2 norm, which stops one silo from dominating but adds no privacy.

Privacy accounting: each silo's accountant composes every step the silo takes over all
rounds, and ``target_epsilon`` is spread over ``rounds * local_epochs`` epochs, so each
silo spends at most the configured budget on its own records. The silos hold disjoint
records, so by parallel composition the global model is ``(max_i epsilon_i, delta)``
differentially private with respect to any one record. That maximum is the combined
budget reported.

The bank's silos are regions of customers (policies.dp_propensity.SIMULATOR_REGIONS) or
branches; :meth:`PropensityDataset.by_group` splits a dataset by its ``groups``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import InvalidInputError
from policies.dp_propensity import (
    DPTrainer,
    MLPWeights,
    PrivacyConfig,
    PropensityDataset,
    TrainedPropensityModel,
    evaluate_model,
    make_card,
)

__all__ = ["SiloReport", "FederatedResult", "train_federated", "average_updates"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiloReport:
    """Privacy and size figures of one silo after training.

    Attributes:
        name: the silo.
        n_train: its training rows (stays in the silo; reported for the model card only).
        epsilon: budget its accountant reports spent, None without privacy.
        noise_multiplier: noise standard deviation over the clipping norm.
        sample_rate: Poisson sampling rate of its batches.
        steps: DP-SGD steps it took.
    """

    name: str
    n_train: int
    epsilon: float | None
    noise_multiplier: float | None
    sample_rate: float
    steps: int


@dataclass(frozen=True)
class FederatedResult:
    """The global model, per-silo figures and the combined budget.

    Attributes:
        model: global weights and their model card.
        silos: one report per silo.
        epsilon: combined budget, ``max`` over silos (parallel composition); None
            without privacy.
        losses: mean local training loss per round, averaged over silos.
    """

    model: TrainedPropensityModel
    silos: tuple[SiloReport, ...]
    epsilon: float | None
    losses: tuple[float, ...]


class _SiloTrainer:
    """The body of a silo actor: one DP trainer over the silo's rows."""

    def __init__(self, name: str, data: PropensityDataset, config: PrivacyConfig, total_epochs: int) -> None:
        import torch

        # Several actors share the node's CPUs, and torch starts one thread per core by
        # default, so one thread per actor avoids oversubscribing them.
        torch.set_num_threads(1)
        self.name = name
        self.trainer = DPTrainer(data, config, total_epochs=total_epochs)

    def train_round(self, global_weights: MLPWeights, local_epochs: int) -> tuple[MLPWeights, float]:
        self.trainer.set_weights(global_weights)
        loss = self.trainer.run_epochs(local_epochs)
        return self.trainer.weights(), loss

    def report(self) -> SiloReport:
        return SiloReport(
            name=self.name,
            n_train=len(self.trainer.data),
            epsilon=self.trainer.epsilon(),
            noise_multiplier=self.trainer.noise_multiplier,
            sample_rate=self.trainer.sample_rate,
            steps=self.trainer.steps,
        )


def average_updates(
    global_weights: MLPWeights, silo_weights: list[MLPWeights], *, update_max_norm: float | None = None
) -> MLPWeights:
    """Return ``global + mean_i clip(w_i - global)``, the equal-weight federated average.

    Args:
        global_weights: the weights every silo started the round from.
        silo_weights: each silo's weights after its local epochs.
        update_max_norm: clip each update (all layers together) to this L2 norm; None
            keeps updates as they are.

    Raises:
        InvalidInputError: no silo weights.
    """
    if not silo_weights:
        raise InvalidInputError("average_updates needs at least one silo's weights; got none")
    base = [*global_weights.weights, *global_weights.biases]
    total = [np.zeros_like(array) for array in base]
    for weights in silo_weights:
        update = [new - old for new, old in zip([*weights.weights, *weights.biases], base)]
        if update_max_norm is not None:
            norm = float(np.sqrt(sum(float(np.sum(part * part)) for part in update)))
            if norm > update_max_norm:
                update = [part * (update_max_norm / norm) for part in update]
        for accumulated, part in zip(total, update):
            accumulated += part
    averaged = [old + accumulated / len(silo_weights) for old, accumulated in zip(base, total)]
    n_layers = len(global_weights.weights)
    return MLPWeights(weights=tuple(averaged[:n_layers]), biases=tuple(averaged[n_layers:]))


def train_federated(
    silos: Mapping[str, PropensityDataset],
    config: PrivacyConfig,
    *,
    test: PropensityDataset | None = None,
    actor_num_cpus: float = 0.5,
) -> FederatedResult:
    """Train the propensity model across ``silos`` by federated averaging on Ray actors.

    Ray must already be running (``ray.init``), so the caller decides where: tests start a
    local instance on 127.0.0.1.

    Args:
        silos: silo name to its training rows; at least one, all with the same columns.
        config: privacy budget, training settings and ``config.federated`` rounds.
        test: held-out rows for the model card's AUC and log-loss.
        actor_num_cpus: CPUs Ray reserves per silo actor.

    Raises:
        InvalidInputError: no silos, silos with different columns, Ray not started, or
            a silo too small for ``config.delta``.
    """
    import ray

    if not silos:
        raise InvalidInputError("train_federated needs at least one silo; got none")
    if not ray.is_initialized():
        raise InvalidInputError(
            "Ray is not running; call ray.init(num_cpus=..., include_dashboard=False) before train_federated"
        )
    names = list(silos)
    first = silos[names[0]]
    for name in names[1:]:
        if silos[name].inputs.shape[1] != first.inputs.shape[1]:
            raise InvalidInputError(
                f"silo {name!r} has {silos[name].inputs.shape[1]} input columns; silo {names[0]!r} has {first.inputs.shape[1]}"
            )
    federated = config.federated
    total_epochs = federated.rounds * federated.local_epochs
    started = time.perf_counter()
    actor_class = ray.remote(num_cpus=actor_num_cpus)(_SiloTrainer)
    actors = [actor_class.remote(name, silos[name], config, total_epochs) for name in names]
    try:
        global_weights = MLPWeights.initial(first.inputs.shape[1], config.hidden, seed=config.seed)
        losses = []
        for round_index in range(federated.rounds):
            results = ray.get([actor.train_round.remote(global_weights, federated.local_epochs) for actor in actors])
            global_weights = average_updates(
                global_weights, [weights for weights, _ in results], update_max_norm=federated.update_max_norm
            )
            losses.append(float(np.nanmean([loss for _, loss in results])))
            logger.debug("federated_round_done", extra={"round": round_index + 1, "loss": losses[-1]})
        reports = tuple(ray.get([actor.report.remote() for actor in actors]))
    finally:
        for actor in actors:
            ray.kill(actor)
    epsilons = [report.epsilon for report in reports if report.epsilon is not None]
    combined = max(epsilons) if epsilons else None
    model = _federated_model(global_weights, silos, config, reports, combined, test)
    logger.info(
        "federated_training_done silos=%d rounds=%d epsilon=%s seconds=%.1f",
        len(reports),
        federated.rounds,
        "none" if combined is None else f"{combined:.3f}",
        time.perf_counter() - started,
        extra={"silos": len(reports), "rounds": federated.rounds, "epsilon": combined},
    )
    return FederatedResult(model=model, silos=reports, epsilon=combined, losses=tuple(losses))


def _federated_model(
    weights: MLPWeights,
    silos: Mapping[str, PropensityDataset],
    config: PrivacyConfig,
    reports: tuple[SiloReport, ...],
    epsilon: float | None,
    test: PropensityDataset | None,
) -> TrainedPropensityModel:
    """Build the global model's card: totals over silos plus each silo's figures."""
    first = next(iter(silos.values()))
    federated: dict[str, Any] = {
        "rounds": config.federated.rounds,
        "local_epochs": config.federated.local_epochs,
        "update_max_norm": config.federated.update_max_norm,
        "weighting": "equal",
        "composition": "parallel over disjoint silos: combined epsilon is the maximum over silos",
        "silos": [vars(report) for report in reports],
    }
    # The card gives the largest sample rate, noise multiplier and step count of any
    # silo; each silo's own figures are in card.federated["silos"].
    card = make_card(
        first,
        config,
        epsilon=epsilon,
        steps=max(report.steps for report in reports),
        epochs=config.federated.rounds * config.federated.local_epochs,
        noise_multiplier=max((r.noise_multiplier for r in reports if r.noise_multiplier is not None), default=None),
        sample_rate=max(report.sample_rate for report in reports),
        n_train=sum(report.n_train for report in reports),
        federated=federated,
    )
    card.dataset = f"{first.name} ({len(reports)} silos)"
    if test is not None:
        card.metrics.update(evaluate_model(weights, test))
    return TrainedPropensityModel(mlp=weights, card=card)
