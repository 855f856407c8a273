"""Event bus interface, topic names and the in-memory implementation.

The interface follows Kafka's model so that the Kafka adapter (engine/io/kafka_bus.py) is
a thin mapping: topics, messages with offsets, consumer groups, and commits that a
consumer makes only after the state it derived from the messages is stored. A consumer
that stops without committing hands its uncommitted messages to the next consumer of the
same group, which gives at-least-once delivery; consumers make it effectively-once by
recognising event ids.

A message published with value None is a tombstone: on a compacted Kafka topic it makes
the broker drop every earlier record with the same key, which is how an erased customer's
records are forgotten (see engine/erasure.py). Consumers receive a tombstone as a message
with ``tombstone=True`` and an empty value, and skip it.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "TOPIC_CUSTOMER_EVENTS",
    "TOPIC_DECISIONS",
    "TOPIC_FEEDBACK",
    "TOPIC_DEAD_LETTER",
    "TOPIC_REWARDS",
    "ALL_TOPICS",
    "CUSTOMER_KEYED_TOPICS",
    "BusMessage",
    "BusConsumer",
    "EventBus",
    "InMemoryEventBus",
    "check_tombstone",
]

TOPIC_CUSTOMER_EVENTS = "customer-events"
TOPIC_DECISIONS = "decisions"
TOPIC_FEEDBACK = "offer-feedback"
TOPIC_DEAD_LETTER = "dead-letter"
TOPIC_REWARDS = "rewards"
ALL_TOPICS: tuple[str, ...] = (
    TOPIC_CUSTOMER_EVENTS,
    TOPIC_DECISIONS,
    TOPIC_FEEDBACK,
    TOPIC_DEAD_LETTER,
    TOPIC_REWARDS,
)
# Topics whose records are keyed by the pseudonymised customer id; erasure writes a
# tombstone with that key to each of them.
CUSTOMER_KEYED_TOPICS: tuple[str, ...] = (
    TOPIC_CUSTOMER_EVENTS,
    TOPIC_DECISIONS,
    TOPIC_FEEDBACK,
    TOPIC_REWARDS,
    TOPIC_DEAD_LETTER,
)

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class BusMessage:
    """One message read from a topic; a tombstone has ``tombstone=True`` and an empty value."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    tombstone: bool = False


class BusConsumer(ABC):
    """A member of a consumer group reading one or more topics."""

    @abstractmethod
    def poll(self, *, max_records: int = 500, timeout_s: float = 0.1) -> list[BusMessage]:
        """Return up to ``max_records`` new messages, waiting at most ``timeout_s`` for the first."""

    @abstractmethod
    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        """Commit the next offset to read per partition; None commits everything polled so far."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group without committing."""


class EventBus(ABC):
    """Publishes messages to topics and creates consumers."""

    @abstractmethod
    def publish(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Append a message; messages with the same key keep their order.

        ``value=None`` publishes a tombstone, which needs a ``key``.

        .. versionchanged:: 0.1
            ``value`` may be None for tombstones.
        """

    @abstractmethod
    def flush(self, timeout_s: float = 10.0) -> None:
        """Block until every published message is acknowledged."""

    @abstractmethod
    def consumer(self, topics: Sequence[str], *, group_id: str) -> BusConsumer:
        """Join ``group_id`` on ``topics``, starting at the group's committed offsets (or the beginning)."""

    def close(self) -> None:
        """Release connections; the default does nothing."""


@dataclass
class _Group:
    committed: dict[TopicPartition, int] = field(default_factory=dict)


def check_tombstone(value: bytes | None, key: bytes | None, topic: str) -> None:
    """Raise unless ``value`` is bytes, or None with a key (a tombstone)."""
    if value is None:
        if not key:
            raise TypeError(f"a tombstone (value None) for topic {topic!r} needs a non-empty key; got key {key!r}")
        return
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(
            f"message value must be bytes; got {type(value).__name__}. Pass None with a key to publish a tombstone"
        )


class InMemoryEventBus(EventBus):
    """Thread-safe in-process bus with one partition per topic, for the embedded default and tests.

    Messages live in memory for the life of the bus. A group has one active consumer at
    a time: a new consumer of the group starts from the committed offsets, as after a
    Kafka rebalance.

    Every topic behaves as a compacted topic whose cleaner runs at once: a tombstone
    replaces each earlier message with its key by a tombstone at the same offset, so
    offsets and committed positions stay valid and the earlier values are gone.
    """

    def __init__(self) -> None:
        self._topics: dict[str, list[BusMessage]] = {}
        self._groups: dict[str, _Group] = {}
        self._condition = threading.Condition()

    def publish(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        check_tombstone(value, key, topic)
        with self._condition:
            log = self._topics.setdefault(topic, [])
            if value is None:
                for index, message in enumerate(log):
                    if message.key == key and not message.tombstone:
                        log[index] = BusMessage(topic, 0, message.offset, key, b"", (), tombstone=True)
                log.append(BusMessage(topic, 0, len(log), key, b"", tuple(headers), tombstone=True))
            else:
                log.append(BusMessage(topic, 0, len(log), key, bytes(value), tuple(headers)))
            self._condition.notify_all()

    def flush(self, timeout_s: float = 10.0) -> None:
        return None

    def consumer(self, topics: Sequence[str], *, group_id: str) -> BusConsumer:
        with self._condition:
            group = self._groups.setdefault(group_id, _Group())
            return _InMemoryConsumer(self, tuple(topics), group)

    def messages(self, topic: str) -> list[BusMessage]:
        """Return every message of ``topic`` so far (for tests and replay tools)."""
        with self._condition:
            return list(self._topics.get(topic, ()))

    def end_offset(self, topic: str) -> int:
        """Return the offset the next message of ``topic`` will get."""
        with self._condition:
            return len(self._topics.get(topic, ()))


class _InMemoryConsumer(BusConsumer):
    def __init__(self, bus: InMemoryEventBus, topics: tuple[str, ...], group: _Group) -> None:
        self._bus = bus
        self._topics = topics
        self._group = group
        self._position = {(topic, 0): group.committed.get((topic, 0), 0) for topic in topics}
        self._closed = False

    def _available(self, max_records: int) -> list[BusMessage]:
        batch: list[BusMessage] = []
        for (topic, partition), position in self._position.items():
            log = self._bus._topics.get(topic, [])
            take = log[position : position + max_records - len(batch)]
            batch.extend(take)
            self._position[(topic, partition)] = position + len(take)
            if len(batch) >= max_records:
                break
        return batch

    def poll(self, *, max_records: int = 500, timeout_s: float = 0.1) -> list[BusMessage]:
        if self._closed:
            raise RuntimeError("consumer is closed; create a new one from the bus")
        with self._bus._condition:
            batch = self._available(max_records)
            if not batch and timeout_s > 0:
                self._bus._condition.wait(timeout_s)
                batch = self._available(max_records)
            return batch

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        with self._bus._condition:
            chosen = dict(self._position) if offsets is None else dict(offsets)
            for key, offset in chosen.items():
                self._group.committed[key] = max(self._group.committed.get(key, 0), offset)

    def close(self) -> None:
        self._closed = True
