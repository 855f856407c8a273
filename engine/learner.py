"""Online learner: applies rewards to a bandit learner and publishes snapshots.

Rewards are applied at most once: their ids are remembered for ``dedup_horizon`` after
the decision, and a reward whose id was applied is skipped. The learner publishes a new
immutable snapshot every ``snapshot.every_updates`` updates or ``every_seconds`` seconds,
whichever comes first, to a :class:`SnapshotHolder` (in-process decisions) and/or a
:class:`SnapshotStore` (other processes and replicas).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from engine.config.policy import SnapshotConfig
from engine.features import FeatureEncoder
from engine.rewards import Reward
from engine.snapshot_store import SnapshotHolder, SnapshotStore
from policies.base import BanditLearner, PolicySnapshot

__all__ = ["LearnerStats", "OnlineLearner"]

logger = logging.getLogger(__name__)


@dataclass
class LearnerStats:
    """Counters of what the learner did."""

    applied: int = 0
    skipped_duplicate: int = 0
    published: int = 0


class OnlineLearner:
    """Wraps a :class:`BanditLearner` with de-duplication and snapshot publishing."""

    def __init__(
        self,
        learner: BanditLearner,
        encoder: FeatureEncoder,
        *,
        snapshot_config: SnapshotConfig,
        holder: SnapshotHolder[PolicySnapshot] | None = None,
        store: SnapshotStore | None = None,
        dedup_horizon_s: float = 14 * 86400.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.learner = learner
        self.encoder = encoder
        self.snapshot_config = snapshot_config
        self.holder = holder
        self.store = store
        self.dedup_horizon_s = dedup_horizon_s
        self.clock = clock
        self.applied_ids: dict[str, float] = {}
        self.stats = LearnerStats()
        self.rewards_by_offer: dict[str, tuple[int, float]] = {}
        self._since_publish = 0
        self._last_publish = clock()
        self.last_snapshot: PolicySnapshot | None = None

    def learn(self, reward: Reward) -> bool:
        """Apply one reward; return False when its id was applied before."""
        if reward.reward_id in self.applied_ids:
            self.stats.skipped_duplicate += 1
            return False
        context = self.encoder.encode(reward.context)
        self.learner.update_with_feedback(reward.offer_id, context, reward.reward, reward.feedback)
        self.applied_ids[reward.reward_id] = reward.decided_at
        count, total = self.rewards_by_offer.get(reward.offer_id, (0, 0.0))
        self.rewards_by_offer[reward.offer_id] = (count + 1, total + reward.reward)
        self.stats.applied += 1
        self._since_publish += 1
        return True

    def prune(self, now_epoch_s: float) -> int:
        """Forget applied reward ids whose decision is older than the de-duplication horizon."""
        cutoff = now_epoch_s - self.dedup_horizon_s
        old = [key for key, decided_at in self.applied_ids.items() if decided_at < cutoff]
        for key in old:
            del self.applied_ids[key]
        return len(old)

    def due(self) -> bool:
        """Return whether a snapshot is due by update count or elapsed time."""
        if self._since_publish == 0:
            return False
        if self._since_publish >= self.snapshot_config.every_updates:
            return True
        return self.clock() - self._last_publish >= self.snapshot_config.every_seconds

    def publish(self) -> PolicySnapshot:
        """Take a snapshot now and hand it to the holder and the store."""
        snapshot = self.learner.snapshot()
        if self.holder is not None:
            self.holder.swap(snapshot)
        if self.store is not None:
            self.store.publish(snapshot.policy_id, snapshot.version, snapshot.to_bytes())
        self._since_publish = 0
        self._last_publish = self.clock()
        self.stats.published += 1
        self.last_snapshot = snapshot
        logger.debug("snapshot_published", extra={"policy": snapshot.policy_id, "version": snapshot.version})
        return snapshot

    def maybe_publish(self) -> PolicySnapshot | None:
        """Publish when :meth:`due`; return the new snapshot or None."""
        return self.publish() if self.due() else None

    def checkpoint(self, snapshot: PolicySnapshot, progress: dict[str, Any]) -> bytes:
        """Serialise a snapshot, the applied reward ids and consumer progress into one blob."""
        return msgpack.packb(
            {"snapshot": snapshot.to_bytes(), "applied": self.applied_ids, "progress": progress},
            use_bin_type=True,
        )

    @staticmethod
    def read_checkpoint(data: bytes) -> tuple[bytes, dict[str, float], dict[str, Any]]:
        """Split a checkpoint blob into (snapshot bytes, applied reward ids, progress)."""
        state = msgpack.unpackb(data, raw=False, strict_map_key=False)
        return state["snapshot"], dict(state["applied"]), dict(state["progress"])
