"""Build the service's components from settings: event bus, stores and the policy state.

The same function serves every deployment shape: with ``REDIS_URL`` unset the stores are
in memory (so everything that shares them must live in one process), with it set every
process reads and writes the same Redis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.settings import ServiceSettings
from engine.bus import EventBus
from engine.config.loader import load_catalog, load_policy_config, load_reward_config
from engine.config.offers import OfferCatalog
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig
from engine.decision_store import DecisionStore, InMemoryDecisionStore
from engine.errors import ConfigError
from engine.features import FeatureEncoder
from engine.profile_store import InMemoryProfileStore, ProfileStore
from engine.snapshot_store import InMemorySnapshotStore, SnapshotStore
from policies.base import BanditLearner
from policies.offer_features import offer_feature_vector
from policies.registry import learner_from_snapshot, load_snapshot, make_learner

__all__ = ["Configs", "Stores", "load_configs", "build_stores", "build_bus", "restore_learner", "checkpoint_name"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Configs:
    """The three typed configs a service needs."""

    catalog: OfferCatalog
    policy: PolicyConfig
    rewards: RewardConfig


@dataclass(frozen=True)
class Stores:
    """Profile, pending-decision and snapshot stores."""

    profiles: ProfileStore
    decisions: DecisionStore
    snapshots: SnapshotStore


def load_configs(settings: ServiceSettings) -> Configs:
    """Load catalog, policy and reward configs named by ``settings``."""
    return Configs(
        catalog=load_catalog(settings.catalog_path),
        policy=load_policy_config(settings.policy),
        rewards=load_reward_config(settings.rewards_path),
    )


def check_decision_engine(configs: Configs, policy: str) -> None:
    """Build a decision engine from ``configs`` once and raise ConfigError if that fails.

    The engine is built without a snapshot, which decisions would need but construction
    does not read.
    """
    from engine.decisions import DecisionEngine
    from engine.snapshot_store import SnapshotHolder

    try:
        DecisionEngine(
            catalog=configs.catalog,
            policy_config=configs.policy,
            reward_config=configs.rewards,
            snapshots=SnapshotHolder(None),  # type: ignore[arg-type]
        )
    except ValueError as err:
        raise ConfigError(f"policy {policy!r}: a decision engine cannot be built from these configs: {err}") from err


def build_stores(settings: ServiceSettings) -> Stores:
    """Return Redis stores when ``settings.redis_url`` is set, in-memory stores otherwise."""
    if settings.redis_url is None:
        return Stores(InMemoryProfileStore(), InMemoryDecisionStore(), InMemorySnapshotStore())
    from engine.io.redis_stores import RedisDecisionStore, RedisProfileStore, RedisSettings, RedisSnapshotStore, connect_redis

    redis_settings = RedisSettings(url=settings.redis_url, key_prefix=settings.redis_key_prefix)
    client = connect_redis(redis_settings)
    prefix = settings.redis_key_prefix
    return Stores(
        RedisProfileStore(client, key_prefix=prefix),
        RedisDecisionStore(client, key_prefix=prefix),
        RedisSnapshotStore(client, key_prefix=prefix),
    )


def build_bus(bootstrap_servers: str) -> EventBus:
    """Return a started Kafka bus for ``bootstrap_servers``."""
    from engine.io.kafka_bus import KafkaEventBus, KafkaSettings

    return KafkaEventBus(KafkaSettings(bootstrap_servers=bootstrap_servers)).start()


def checkpoint_name(policy_id: str) -> str:
    """Return the checkpoint key of a policy's learner."""
    return f"learner:{policy_id}"


def restore_learner(configs: Configs, snapshots: SnapshotStore) -> tuple[BanditLearner, dict[str, float]]:
    """Restore the learner from its checkpoint, else the latest snapshot, else start fresh.

    Returns the learner and the reward ids it has already applied.
    """
    from engine.learner import OnlineLearner

    checkpoint = snapshots.load_checkpoint(checkpoint_name(configs.policy.id))
    if checkpoint is not None:
        snapshot_bytes, applied, _ = OnlineLearner.read_checkpoint(checkpoint)
        logger.info("learner restored from checkpoint with %d applied reward ids", len(applied))
        return learner_from_snapshot(load_snapshot(snapshot_bytes)), applied
    latest = snapshots.load(configs.policy.id)
    if latest is not None:
        logger.info("learner restored from snapshot version %d", latest[0])
        return learner_from_snapshot(load_snapshot(latest[1])), {}
    encoder = FeatureEncoder.from_names(configs.policy.features)
    learner = make_learner(
        configs.policy,
        dim=encoder.dim,
        offer_features={offer.id: offer_feature_vector(offer) for offer in configs.catalog.offers},
    )
    return learner, {}
