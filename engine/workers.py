"""Stream workers: the consumers that keep profiles, rewards and the policy up to date.

Each worker reads a batch, stores the state the batch produced, makes any messages it
emits durable (``bus.flush``) and only then commits the batch's offsets. A crash at any
point therefore re-delivers messages instead of losing them, and each worker recognises
re-delivered messages by id:

* :class:`ProfileWorker` (customer-events): profiles remember applied event ids.
* :class:`FeedbackWorker` (offer-feedback): pending decisions remember feedback event
  ids; it publishes settled rewards to the rewards topic.
* :class:`LearnerWorker` (rewards): the learner remembers applied reward ids, and its
  checkpoint (snapshot plus those ids) is stored before the offsets are committed.

A message that fails validation goes to the dead-letter topic with its reason and is
committed like any other, so it never blocks the stream. Tombstones (the null-value
records that erasure publishes) are skipped by every worker and counted as ``tombstones``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from engine.bus import TOPIC_CUSTOMER_EVENTS, TOPIC_FEEDBACK, TOPIC_REWARDS, BusConsumer, BusMessage, EventBus
from engine.consent import ConsentRegistry
from engine.deadletter import dead_letter
from engine.errors import EventValidationError, InvalidInputError
from engine.events import ConsentEvent, OfferFeedbackEvent, TransactionEvent, parse_event
from engine.learner import OnlineLearner
from engine.profile_store import ProfileStore
from engine.rewards import Reward, RewardJoiner

__all__ = ["WorkerStats", "ProfileWorker", "FeedbackWorker", "LearnerWorker", "run_workers"]

logger = logging.getLogger(__name__)

Categorizer = Callable[[TransactionEvent], str]


@dataclass
class WorkerStats:
    """Counters of one worker."""

    messages: int = 0
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    commits: int = 0
    tombstones: int = 0
    dropped: int = 0


class _Worker:
    name = "worker"
    topic = ""

    def __init__(self, bus: EventBus, *, group_id: str, consumer: BusConsumer | None = None) -> None:
        self.bus = bus
        self.group_id = group_id
        self.consumer = consumer if consumer is not None else bus.consumer([self.topic], group_id=group_id)
        self.stats = WorkerStats()

    def close(self) -> None:
        """Leave the consumer group without committing."""
        self.consumer.close()

    def reset(self) -> None:
        """Rejoin the group so that uncommitted messages of a failed batch are read again."""
        self.consumer.close()
        self.consumer = self.bus.consumer([self.topic], group_id=self.group_id)

    def _read_event(self, message: BusMessage, *, feedback: bool) -> Any | None:
        """Validate one message; dead-letter it and return None when it is invalid or on the wrong topic.

        Tombstones (erasure markers) are counted and skipped. ``feedback`` says whether
        this worker reads the offer-feedback topic (else customer events).
        """
        if message.tombstone:
            self.stats.tombstones += 1
            return None
        try:
            event = parse_event(message.value)
        except EventValidationError as err:
            dead_letter(self.bus, message, str(err), worker=self.name)
            self.stats.dead_lettered += 1
            return None
        if feedback and not isinstance(event, OfferFeedbackEvent):
            reason = f"expected offer_feedback, got {event.type}"
        elif not feedback and isinstance(event, OfferFeedbackEvent):
            reason = "offer feedback belongs on the offer-feedback topic"
        else:
            return event
        dead_letter(self.bus, message, reason, worker=self.name)
        self.stats.dead_lettered += 1
        return None

    def _commit(self) -> None:
        self.bus.flush()
        self.consumer.commit()
        self.stats.commits += 1


class ProfileWorker(_Worker):
    """Applies customer events to live profiles and consent events to the consent registry.

    Args:
        bus: the event bus.
        profiles: where profiles live.
        categorizer: maps a transaction to a category.
        group_id: consumer group id.
        consumer: a consumer to use instead of a new one from ``bus``.
        dropped_customers: returns True for a customer whose events must be dropped
            (``ConsentRegistry.is_erased``); dropped events count as ``dropped``.
        consent: where consent events are recorded; without it they are dead-lettered.
    """

    name = "profile-worker"
    topic = TOPIC_CUSTOMER_EVENTS

    def __init__(
        self,
        bus: EventBus,
        profiles: ProfileStore,
        categorizer: Categorizer,
        *,
        group_id: str = "offerloop-profiles",
        consumer: BusConsumer | None = None,
        dropped_customers: Callable[[str], bool] | None = None,
        consent: ConsentRegistry | None = None,
    ) -> None:
        super().__init__(bus, group_id=group_id, consumer=consumer)
        self.profiles = profiles
        self.categorizer = categorizer
        self.dropped_customers = dropped_customers
        self.consent = consent

    def step(self, *, timeout_s: float = 0.1, max_records: int = 500) -> int:
        """Process one batch; return the number of messages read."""
        messages = self.consumer.poll(max_records=max_records, timeout_s=timeout_s)
        for message in messages:
            self.stats.messages += 1
            event = self._read_event(message, feedback=False)
            if event is None:
                continue
            if self.dropped_customers is not None and self.dropped_customers(event.customer_id):
                self.stats.dropped += 1
                continue
            if isinstance(event, ConsentEvent):
                self._apply_consent(message, event)
                continue
            category = self.categorizer(event) if isinstance(event, TransactionEvent) else None
            result = self.profiles.update(event.customer_id, lambda profile: profile.apply(event, category=category))
            if result.applied:
                self.stats.applied += 1
            else:
                self.stats.duplicates += 1
        if messages:
            self._commit()
        return len(messages)

    def _apply_consent(self, message: Any, event: ConsentEvent) -> None:
        if self.consent is None:
            dead_letter(self.bus, message, "consent events need a consent registry; pass consent= to ProfileWorker", worker=self.name)
            self.stats.dead_lettered += 1
            return
        try:
            self.consent.set(
                event.customer_id, marketing=event.marketing, personalisation=event.personalisation, at=event.ts.timestamp()
            )
        except InvalidInputError as err:
            dead_letter(self.bus, message, str(err), worker=self.name)
            self.stats.dead_lettered += 1
            return
        self.stats.applied += 1


class FeedbackWorker(_Worker):
    """Joins offer feedback to pending decisions and publishes settled rewards."""

    name = "feedback-worker"
    topic = TOPIC_FEEDBACK

    def __init__(
        self,
        bus: EventBus,
        joiner: RewardJoiner,
        profiles: ProfileStore,
        *,
        group_id: str = "offerloop-feedback",
        consumer: BusConsumer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        close_every_s: float = 1.0,
    ) -> None:
        super().__init__(bus, group_id=group_id, consumer=consumer)
        self.joiner = joiner
        self.profiles = profiles
        self.clock = clock
        self.close_every_s = close_every_s
        self._last_close = 0.0

    def _publish(self, rewards: list[Reward]) -> None:
        for reward in rewards:
            self.bus.publish(TOPIC_REWARDS, reward.to_json(), key=reward.customer_id.encode())

    def step(self, *, timeout_s: float = 0.1, max_records: int = 500) -> int:
        """Process one batch and close due decisions; return the number of messages read."""
        messages = self.consumer.poll(max_records=max_records, timeout_s=timeout_s)
        for message in messages:
            self.stats.messages += 1
            event = self._read_event(message, feedback=True)
            if event is None:
                continue
            outcome = self.joiner.on_feedback(event)
            if outcome.status in ("joined", "late", "after_settled"):
                self.profiles.update(event.customer_id, lambda profile: profile.apply(event))
                self.stats.applied += 1
            elif outcome.status == "duplicate":
                self.stats.duplicates += 1
            self._publish(list(outcome.rewards))
        if time.monotonic() - self._last_close >= self.close_every_s:
            self._last_close = time.monotonic()
            self.joiner.close_due(self.clock(), emit=self._emit_durably)
        if messages:
            self._commit()
        return len(messages)

    def _emit_durably(self, rewards: list[Reward]) -> None:
        self._publish(rewards)
        self.bus.flush()


class LearnerWorker(_Worker):
    """Applies rewards to the policy and stores checkpoints before committing."""

    name = "learner-worker"
    topic = TOPIC_REWARDS

    def __init__(
        self,
        bus: EventBus,
        learner: OnlineLearner,
        *,
        checkpoint_name: str,
        group_id: str = "offerloop-learner",
        consumer: BusConsumer | None = None,
    ) -> None:
        super().__init__(bus, group_id=group_id, consumer=consumer)
        self.learner = learner
        self.checkpoint_name = checkpoint_name
        self._uncommitted = 0

    def step(self, *, timeout_s: float = 0.1, max_records: int = 500) -> int:
        """Learn from one batch; publish, checkpoint and commit when a snapshot is due."""
        messages = self.consumer.poll(max_records=max_records, timeout_s=timeout_s)
        for message in messages:
            self.stats.messages += 1
            if message.tombstone:
                self.stats.tombstones += 1
                continue
            try:
                reward = Reward.from_json(message.value)
            except (ValueError, TypeError, KeyError) as err:
                dead_letter(self.bus, message, f"invalid reward record: {err}", worker=self.name)
                self.stats.dead_lettered += 1
                continue
            if self.learner.learn(reward):
                self.stats.applied += 1
            else:
                self.stats.duplicates += 1
        self._uncommitted += len(messages)
        if self.learner.due():
            self.checkpoint_and_commit()
        elif self._uncommitted and not self.learner._since_publish:
            # Only duplicates or dead letters arrived: nothing to store, so commit at once.
            self._commit()
            self._uncommitted = 0
        return len(messages)

    def checkpoint_and_commit(self) -> None:
        """Publish a snapshot, store the checkpoint, then commit the consumed offsets."""
        snapshot = self.learner.publish()
        store = self.learner.store
        if store is not None:
            self.learner.prune(time.time())
            store.save_checkpoint(self.checkpoint_name, self.learner.checkpoint(snapshot, {}))
        self._commit()
        self._uncommitted = 0


def run_workers(workers: list[Any], stop: threading.Event, *, idle_sleep_s: float = 0.0) -> None:
    """Run ``step`` on each worker in turn until ``stop`` is set; errors are logged and retried."""
    while not stop.is_set():
        for worker in workers:
            try:
                worker.step(timeout_s=0.2)
            except Exception:  # noqa: BLE001 - a worker must survive one bad batch; it is retried.
                logger.exception("worker %s failed a batch; rejoining and retrying after 1 s", worker.name)
                stop.wait(1.0)
                worker.reset()
        if idle_sleep_s:
            stop.wait(idle_sleep_s)
