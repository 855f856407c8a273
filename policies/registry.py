"""Build learners from a PolicyConfig and restore snapshots and learners from stored bytes."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from pydantic import ValidationError

from engine.config.policy import PolicyConfig
from engine.errors import ConfigError, InvalidInputError
from policies.base import BanditLearner, PolicySnapshot
from policies.baselines import (
    EpsilonGreedyLearner,
    EpsilonGreedySnapshot,
    FixedPolicyLearner,
    FixedPolicySnapshot,
    RandomSnapshot,
    StaticSnapshot,
)
from policies.dp_propensity import DPPropensityLearner, DPPropensitySnapshot
from policies.linear import LinearLearner, LinearSnapshot, LinTSSnapshot, LinUCBSnapshot
from policies.rllib_policy import RLlibSnapshot
from policies.serialization import decode_snapshot

__all__ = ["SNAPSHOT_CLASSES", "make_learner", "make_snapshot", "load_snapshot", "learner_from_snapshot"]

logger = logging.getLogger(__name__)

SNAPSHOT_CLASSES: Mapping[
    str, type[LinearSnapshot] | type[FixedPolicySnapshot] | type[RLlibSnapshot] | type[DPPropensitySnapshot]
] = {
    "lints": LinTSSnapshot,
    "linucb": LinUCBSnapshot,
    "epsilon_greedy": EpsilonGreedySnapshot,
    "random": RandomSnapshot,
    "static": StaticSnapshot,
    "rllib": RLlibSnapshot,
    "dp_propensity": DPPropensitySnapshot,
}


def make_learner(
    config: PolicyConfig,
    *,
    dim: int,
    offer_features: Mapping[str, np.ndarray] | None = None,
    seed: int | None = None,
) -> BanditLearner:
    """Return a fresh learner for ``config`` (all parameters at the prior, version 0).

    Args:
        config: the policy; ``config.algorithm`` picks the class.
        dim: context length ``d``, bias included (``FeatureEncoder.dim``).
        offer_features: offer id to feature vector; required when ``config.model`` is
            ``"shared"`` or ``"hierarchical"`` and the algorithm learns (lints, linucb,
            epsilon_greedy).
        seed: accepted so that callers can pass one seed to every learner factory. The
            learners here update deterministically and draw nothing, so it has no effect:
            decisions take their randomness from the generator passed to ``choose_slate``.

    Raises:
        ConfigError: ``model`` ``"shared"`` or ``"hierarchical"`` without ``offer_features``.
        InvalidInputError: ``dim`` is not a positive integer, a feature vector has the wrong
            shape, or ``seed`` is neither None nor an integer.
    """
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise InvalidInputError(f"seed must be an integer or None; got {seed!r}")
    if config.algorithm == "rllib":
        raise ConfigError(
            f"policy {config.id!r} has algorithm 'rllib', which is trained offline by `offerloop train` "
            "and does not learn online; build its snapshot with make_snapshot(config)"
        )
    learner: BanditLearner
    if config.algorithm in LinearLearner.SNAPSHOT_CLASSES:
        learner = LinearLearner(config, dim=dim, offer_features=offer_features)
    elif config.algorithm in EpsilonGreedyLearner.SNAPSHOT_CLASSES:
        learner = EpsilonGreedyLearner(config, dim=dim, offer_features=offer_features)
    elif config.algorithm in DPPropensityLearner.SNAPSHOT_CLASSES:
        learner = DPPropensityLearner(config, dim=dim, offer_features=offer_features)
    else:
        learner = FixedPolicyLearner(config, dim=dim)
    logger.info(
        "policy_learner_created",
        extra={"policy": config.id, "algorithm": config.algorithm, "model": config.model, "dim": dim},
    )
    return learner


def make_snapshot(
    config: PolicyConfig,
    *,
    dim: int | None = None,
    offer_features: Mapping[str, np.ndarray] | None = None,
    seed: int | None = None,
) -> PolicySnapshot:
    """Return a snapshot ready to decide for ``config``.

    For ``algorithm: rllib`` the snapshot loads the RLModule of ``config.checkpoint``;
    for every other algorithm it is the first snapshot of a fresh learner (version 1).

    Args:
        config: the policy.
        dim: context length; required unless the algorithm is ``rllib``, whose context
            length comes from the checkpoint.
        offer_features, seed: as in :func:`make_learner`.

    Raises:
        ConfigError: ``dim`` missing for a learning algorithm, or a config error of
            :func:`make_learner`.
        InvalidInputError: the checkpoint folder is missing or incomplete.
    """
    if config.algorithm == "rllib":
        return RLlibSnapshot.from_checkpoint(config)
    if dim is None:
        raise ConfigError(
            f"policy {config.id!r} has algorithm {config.algorithm!r}, which needs dim (context length); got None. "
            "Pass dim=FeatureEncoder.from_names(config.features).dim"
        )
    return make_learner(config, dim=dim, offer_features=offer_features, seed=seed).snapshot()


def load_snapshot(data: bytes) -> PolicySnapshot:
    """Return the snapshot serialised in ``data`` by ``PolicySnapshot.to_bytes``.

    Raises:
        InvalidInputError: the bytes are corrupt, from another format, or hold a config or
            arrays that do not validate.
    """
    header, arrays = decode_snapshot(data)
    try:
        config = PolicyConfig.model_validate(header.get("config"))
    except ValidationError as err:
        raise InvalidInputError(f"snapshot contains an invalid policy config: {err}") from err
    snapshot_class = SNAPSHOT_CLASSES[config.algorithm]
    return snapshot_class.from_payload(config, header, arrays)


def learner_from_snapshot(snapshot: PolicySnapshot) -> BanditLearner:
    """Return a learner that continues from ``snapshot``: same parameters and counters, next version above it.

    Raises:
        InvalidInputError: ``snapshot`` was not made by a policy of this package.
    """
    learner: BanditLearner
    if isinstance(snapshot, EpsilonGreedySnapshot):
        learner = EpsilonGreedyLearner.from_snapshot(snapshot)
    elif isinstance(snapshot, LinearSnapshot):
        learner = LinearLearner.from_snapshot(snapshot)
    elif isinstance(snapshot, FixedPolicySnapshot):
        learner = FixedPolicyLearner.from_snapshot(snapshot)
    elif isinstance(snapshot, DPPropensitySnapshot):
        learner = DPPropensityLearner.from_snapshot(snapshot)
    else:
        raise InvalidInputError(
            f"learner_from_snapshot needs a snapshot made by policies.make_learner; got {type(snapshot).__name__}"
        )
    logger.info(
        "policy_learner_restored",
        extra={"policy": snapshot.policy_id, "algorithm": snapshot.algorithm, "version": snapshot.version},
    )
    return learner
