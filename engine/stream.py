"""The stream processors of one deployment: profile, feedback and learner workers on threads."""

from __future__ import annotations

import logging
import threading
from typing import Any

from engine.bus import EventBus
from engine.consent import ConsentRegistry
from engine.features import FeatureEncoder
from engine.learner import OnlineLearner
from engine.loop import default_categorizer
from engine.rewards import RewardJoiner
from engine.runtime import Configs, Stores, checkpoint_name, restore_learner
from engine.workers import FeedbackWorker, LearnerWorker, ProfileWorker, run_workers

__all__ = ["StreamProcessors"]

logger = logging.getLogger(__name__)


class StreamProcessors:
    """Owns the three workers and runs them on one background thread.

    Args:
        configs: catalog, policy and reward configs.
        stores: where profiles, pending decisions, snapshots and checkpoints live.
        bus: the event bus (Kafka in the service).
        group_prefix: prefix of the consumer group ids.
        consent: registry that records consent events and the erased customers whose
            later events the profile worker drops; none means every event is applied.
    """

    def __init__(
        self,
        configs: Configs,
        stores: Stores,
        bus: EventBus,
        *,
        group_prefix: str = "offerloop",
        consent: ConsentRegistry | None = None,
    ) -> None:
        self.configs = configs
        self.stores = stores
        self.bus = bus
        # A policy trained offline (algorithm rllib) has no online learner: profiles and the
        # reward join still run, and its rewards stay on the rewards topic for training.
        self.learner: OnlineLearner | None = None
        if configs.policy.algorithm != "rllib":
            learner, applied = restore_learner(configs, stores.snapshots)
            self.learner = OnlineLearner(
                learner,
                FeatureEncoder.from_names(configs.policy.features),
                snapshot_config=configs.policy.snapshot,
                store=stores.snapshots,
            )
            self.learner.applied_ids.update(applied)
        self.joiner = RewardJoiner(
            configs.rewards, stores.decisions, {offer.id: offer.business_value for offer in configs.catalog.offers}
        )
        self.profile_worker = ProfileWorker(
            bus,
            stores.profiles,
            default_categorizer,
            group_id=f"{group_prefix}-profiles",
            consent=consent,
            dropped_customers=consent.is_erased if consent is not None else None,
        )
        self.feedback_worker = FeedbackWorker(bus, self.joiner, stores.profiles, group_id=f"{group_prefix}-feedback")
        self.learner_worker = (
            LearnerWorker(
                bus, self.learner, checkpoint_name=checkpoint_name(configs.policy.id), group_id=f"{group_prefix}-learner"
            )
            if self.learner is not None
            else None
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def publish_initial_snapshot(self) -> None:
        """Publish the learner's current parameters so replicas have a snapshot to load."""
        if self.learner is not None and self.stores.snapshots.latest_version(self.configs.policy.id) is None:
            self.learner.publish()

    def start(self) -> None:
        """Run each worker on its own daemon thread until :meth:`stop`.

        One thread per consumer, because a kafka-python consumer makes progress on a group
        join only while it is being polled; sharing a thread stalled joins.
        """
        for worker in self._workers():
            thread = threading.Thread(target=run_workers, args=([worker], self._stop), name=worker.name, daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.info("stream workers started for policy %s", self.configs.policy.id)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the threads and leave the consumer groups."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout_s)
        for worker in self._workers():
            worker.close()
        logger.info("stream workers stopped")

    def _workers(self) -> list[Any]:
        workers: list[Any] = [self.profile_worker, self.feedback_worker]
        if self.learner_worker is not None:
            workers.append(self.learner_worker)
        return workers

    def stats(self) -> dict[str, Any]:
        """Return counters for metrics."""
        rewards_by_offer: dict[str, tuple[int, float]] = dict(self.learner.rewards_by_offer) if self.learner else {}
        return {
            "join": self.joiner.stats_dict(),
            "rewards_by_offer": rewards_by_offer,
            "workers": {
                worker.name: vars(worker.stats).copy()
                for worker in self._workers()
            },
            "learner": (
                {"applied": self.learner.stats.applied, "published": self.learner.stats.published}
                if self.learner is not None
                else {}
            ),
        }
