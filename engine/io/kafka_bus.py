"""Kafka implementation of :class:`~engine.bus.EventBus` over kafka-python.

One ``KafkaProducer`` per bus publishes asynchronously with ``acks='all'``; failures are
logged from the delivery callback and reported by the next :meth:`KafkaEventBus.flush`.
Records with a key go to the partition that kafka-python's default partitioner picks
(murmur2 of the key, as in the Java client), so one customer's events stay in order.
Each :meth:`KafkaEventBus.consumer` call creates one ``KafkaConsumer`` that commits only
when asked, which gives the at-least-once delivery described in engine/bus.py.

Joining a consumer group takes about 3 s with the group timings in :class:`KafkaSettings`
(about 20 s with kafka-python's defaults), so the first polls of a new consumer return
nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.bus import ALL_TOPICS, TOPIC_CUSTOMER_EVENTS, TOPIC_FEEDBACK, BusConsumer, BusMessage, EventBus, check_tombstone
from engine.errors import InvalidInputError
from engine.io.errors import BusError

__all__ = ["DEFAULT_TOPIC_PARTITIONS", "KafkaSettings", "KafkaEventBus"]

logger = logging.getLogger(__name__)

# The customer-keyed topics carry most traffic and are read by several consumer instances.
DEFAULT_TOPIC_PARTITIONS: dict[str, int] = {TOPIC_CUSTOMER_EVENTS: 4, TOPIC_FEEDBACK: 4}
# After the first publish failure, log one in this many so a broker outage does not flood the log.
_LOG_EVERY_N_FAILURES = 1000


class KafkaSettings(BaseSettings):
    """Connection, producer, consumer-group and topic settings, read from ``KAFKA_*`` variables.

    For example ``KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092`` sets :attr:`bootstrap_servers`,
    and ``KAFKA_TOPIC_PARTITIONS='{"customer-events": 12}'`` (JSON) sets
    :attr:`topic_partitions`.
    """

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Comma-separated host:port list.")
    client_id: str = Field(default="offerloop", min_length=1, description="Client id the broker logs and quotas see.")
    linger_ms: int = Field(default=5, ge=0, description="Milliseconds the producer waits to batch records.")
    max_block_ms: int = Field(
        default=10_000, gt=0, description="Milliseconds publish may block for metadata or buffer space."
    )
    request_timeout_ms: int = Field(default=30_000, gt=0, description="Milliseconds to wait for any broker response.")
    session_timeout_ms: int = Field(
        default=6_000, gt=0, description="Milliseconds without heartbeat before the group drops a consumer."
    )
    heartbeat_interval_ms: int = Field(default=1_000, gt=0, description="Milliseconds between consumer heartbeats.")
    max_poll_interval_ms: int = Field(
        default=10_000, gt=0, description="Milliseconds allowed between polls before the consumer leaves the group."
    )
    create_topics: bool = Field(default=True, description="Create missing topics with the partition counts below.")
    topic_partitions: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_TOPIC_PARTITIONS), description="Partitions per topic name."
    )
    default_partitions: int = Field(default=1, ge=1, description="Partitions of topics not in topic_partitions.")
    replication_factor: int = Field(default=1, ge=1, description="Replicas of each created topic.")

    @model_validator(mode="after")
    def _check_timings(self) -> KafkaSettings:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError(
                f"heartbeat_interval_ms must be below session_timeout_ms (a third of it is usual); "
                f"got {self.heartbeat_interval_ms} and {self.session_timeout_ms}"
            )
        bad = {topic: count for topic, count in self.topic_partitions.items() if count < 1}
        if bad:
            raise ValueError(f"topic_partitions values must be at least 1; got {bad}")
        return self

    def partitions_for(self, topic: str) -> int:
        """Return the partition count to create ``topic`` with."""
        return self.topic_partitions.get(topic, self.default_partitions)


class KafkaEventBus(EventBus):
    """Event bus on a Kafka cluster (or the embedded Tansu broker).

    The constructor only stores settings. The first publish or consumer call (or
    :meth:`start`) connects and, when ``settings.create_topics`` is set, creates every
    missing topic of :data:`engine.bus.ALL_TOPICS`; other topics are created on first use.

    Publishing is thread-safe. Each consumer must be used from one thread at a time.
    """

    def __init__(self, settings: KafkaSettings | None = None) -> None:
        self._settings = settings if settings is not None else KafkaSettings()
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._known_topics: set[str] = set()
        self._lock = threading.Lock()
        self._failures_total = 0
        self._failures_since_flush = 0
        self._last_failure: BaseException | None = None
        self._closed = False

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        elif self._producer is not None:
            state = "connected"
        else:
            state = "not started"
        return f"KafkaEventBus({self._settings.bootstrap_servers}, {state})"

    @property
    def settings(self) -> KafkaSettings:
        """The settings this bus was created with."""
        return self._settings

    @property
    def publish_failures(self) -> int:
        """Number of messages whose delivery failed since the bus started."""
        return self._failures_total

    def start(self) -> KafkaEventBus:
        """Connect the producer and admin client and create missing standard topics.

        Raises:
            BusError: the bus is closed or no broker responded within ``request_timeout_ms``.
        """
        with self._lock:
            if self._closed:
                raise BusError("the Kafka bus is closed; create a new KafkaEventBus")
            if self._producer is not None:
                return self
            settings = self._settings
            try:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=settings.bootstrap_servers,
                    client_id=f"{settings.client_id}-admin",
                    request_timeout_ms=settings.request_timeout_ms,
                    bootstrap_timeout_ms=settings.request_timeout_ms,
                )
                self._producer = KafkaProducer(
                    bootstrap_servers=settings.bootstrap_servers,
                    client_id=settings.client_id,
                    # Every in-sync replica must store a record before it counts as sent, so
                    # a leader failover loses no decision or feedback.
                    acks="all",
                    linger_ms=settings.linger_ms,
                    max_block_ms=settings.max_block_ms,
                    request_timeout_ms=settings.request_timeout_ms,
                    bootstrap_timeout_ms=settings.request_timeout_ms,
                )
            except KafkaError as err:
                self._close_clients()
                raise BusError(self._unreachable_message("connecting", err)) from err
            logger.info(
                "kafka_bus_started bootstrap_servers=%s client_id=%s",
                settings.bootstrap_servers,
                settings.client_id,
                extra={"bootstrap_servers": settings.bootstrap_servers, "client_id": settings.client_id},
            )
        self.ensure_topics(ALL_TOPICS)
        return self

    def ensure_topics(self, topics: Iterable[str]) -> None:
        """Create the topics among ``topics`` that the broker does not have yet.

        Does nothing when ``settings.create_topics`` is False. Partition counts come from
        :meth:`KafkaSettings.partitions_for`; an existing topic keeps its partitions.

        Raises:
            BusError: the broker rejected the request or did not respond.
        """
        requested = [topic for topic in dict.fromkeys(topics) if topic not in self._known_topics]
        if not requested:
            return
        self.start()
        if not self._settings.create_topics:
            self._known_topics.update(requested)
            return
        with self._lock:
            admin = self._admin
            assert admin is not None, "start() sets the admin client"
            try:
                existing = set(admin.list_topics())
                missing = [topic for topic in requested if topic not in existing]
                if missing:
                    self._create(admin, missing)
            except KafkaError as err:
                raise BusError(self._unreachable_message(f"creating topics {requested}", err)) from err
            self._known_topics.update(requested)

    def _create(self, admin: KafkaAdminClient, topics: list[str]) -> None:
        settings = self._settings
        new_topics = [NewTopic(topic, settings.partitions_for(topic), settings.replication_factor) for topic in topics]
        try:
            admin.create_topics(new_topics, wait_for_metadata=True)
        except TopicAlreadyExistsError:
            # Another process created one of them between list_topics and create_topics.
            logger.debug("kafka_topics_already_exist topics=%s", topics)
            return
        for topic in new_topics:
            logger.info(
                "kafka_topic_created topic=%s partitions=%d",
                topic.name,
                topic.num_partitions,
                extra={"topic": topic.name, "partitions": topic.num_partitions},
            )

    def publish(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Queue a message for sending and return without waiting for the broker.

        ``value=None`` sends a record with a null value, Kafka's tombstone; it needs a key.
        Only topics created with ``cleanup.policy=compact`` drop the key's earlier records
        because of it; on other topics the records age out after ``retention.ms``.

        Raises:
            TypeError: ``value`` is neither bytes nor None, or a tombstone has no key.
            BusError: the bus is closed, or the message could not be queued within
                ``max_block_ms`` (no metadata for the topic, or the send buffer is full).
                Failures after queueing are logged and raised by :meth:`flush`.
        """
        check_tombstone(value, key, topic)
        if topic not in self._known_topics:
            self.ensure_topics([topic])
        producer = self._producer
        if producer is None or self._closed:
            raise BusError(f"cannot publish to topic {topic!r}: the Kafka bus is closed; create a new KafkaEventBus")
        try:
            future = producer.send(topic, value=bytes(value) if value is not None else None, key=key, headers=list(headers))
        except KafkaError as err:
            raise BusError(self._unreachable_message(f"publishing to topic {topic!r}", err)) from err
        future.add_errback(self._on_send_error, topic)

    def _on_send_error(self, topic: str, error: BaseException) -> None:
        with self._lock:
            self._failures_total += 1
            self._failures_since_flush += 1
            self._last_failure = error
            count = self._failures_total
        if count == 1 or count % _LOG_EVERY_N_FAILURES == 0:
            logger.error(
                "kafka_publish_failed topic=%s failures_total=%d: %s",
                topic,
                count,
                error,
                extra={"topic": topic, "failures_total": count},
            )

    def flush(self, timeout_s: float = 10.0) -> None:
        """Block until every queued message is acknowledged or failed.

        Raises:
            BusError: the wait timed out, or messages failed since the previous flush (the
                error gives their number and the last failure). Callers must not commit
                consumer offsets for input whose output failed to publish.
        """
        producer = self._producer
        if producer is None:
            return
        try:
            producer.flush(timeout=timeout_s)
        except KafkaError as err:
            raise BusError(
                f"flush did not finish within {timeout_s:g} s: {err}; check the broker at "
                f"{self._settings.bootstrap_servers} or raise timeout_s"
            ) from err
        with self._lock:
            failed, last = self._failures_since_flush, self._last_failure
            self._failures_since_flush = 0
        if failed:
            raise BusError(f"{failed} message(s) failed to publish since the previous flush; last error: {last}")

    def consumer(self, topics: Sequence[str], *, group_id: str) -> BusConsumer:
        """Create a consumer in ``group_id`` that starts at the group's committed offsets.

        A group without committed offsets starts at the earliest retained message. The
        consumer joins the group during its first polls, which takes about 3 s.

        Raises:
            InvalidInputError: ``topics`` is empty or ``group_id`` is blank.
            BusError: no broker responded.
        """
        names = list(topics)
        if not names or isinstance(topics, str):
            raise InvalidInputError(f"topics must be a non-empty list of topic names; got {topics!r}")
        if not group_id.strip():
            raise InvalidInputError(f"group_id must be a non-empty consumer group name; got {group_id!r}")
        self.ensure_topics(names)
        settings = self._settings
        try:
            consumer = KafkaConsumer(
                *names,
                bootstrap_servers=settings.bootstrap_servers,
                client_id=settings.client_id,
                group_id=group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=settings.session_timeout_ms,
                heartbeat_interval_ms=settings.heartbeat_interval_ms,
                max_poll_interval_ms=settings.max_poll_interval_ms,
                request_timeout_ms=settings.request_timeout_ms,
                bootstrap_timeout_ms=settings.request_timeout_ms,
            )
        except KafkaError as err:
            raise BusError(self._unreachable_message(f"creating a consumer for group {group_id!r}", err)) from err
        logger.info(
            "kafka_consumer_created group_id=%s topics=%s",
            group_id,
            names,
            extra={"group_id": group_id, "topics": names},
        )
        return _KafkaBusConsumer(consumer, group_id)

    def close(self) -> None:
        """Flush queued messages (waiting up to ``request_timeout_ms``) and close the clients."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._close_clients()
        logger.info("kafka_bus_closed publish_failures=%d", self._failures_total)

    def _close_clients(self) -> None:
        timeout_s = self._settings.request_timeout_ms / 1000
        if self._producer is not None:
            self._producer.close(timeout=timeout_s)
            self._producer = None
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def _unreachable_message(self, action: str, err: BaseException) -> str:
        return (
            f"{action} failed: {err}; check that a Kafka broker is reachable at "
            f"{self._settings.bootstrap_servers!r} (KAFKA_BOOTSTRAP_SERVERS)"
        )

    def __enter__(self) -> KafkaEventBus:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _to_message(record: Any) -> BusMessage:
    headers = tuple((name, value if value is not None else b"") for name, value in (record.headers or ()))
    tombstone = record.value is None
    value = b"" if tombstone else record.value
    return BusMessage(record.topic, record.partition, record.offset, record.key, value, headers, tombstone=tombstone)


class _KafkaBusConsumer(BusConsumer):
    """A kafka-python consumer behind the BusConsumer interface; not thread-safe."""

    def __init__(self, consumer: KafkaConsumer, group_id: str) -> None:
        self._consumer = consumer
        self._group_id = group_id
        self._closed = False

    def __repr__(self) -> str:
        return f"KafkaBusConsumer(group_id={self._group_id!r}, {'closed' if self._closed else 'open'})"

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("consumer is closed; create a new one from the bus")

    def poll(self, *, max_records: int = 500, timeout_s: float = 0.1) -> list[BusMessage]:
        self._check_open()
        if max_records < 1:
            raise InvalidInputError(f"max_records must be at least 1; got {max_records}")
        try:
            batches = self._consumer.poll(timeout_ms=max(0, int(timeout_s * 1000)), max_records=max_records)
        except KafkaError as err:
            raise BusError(f"poll for consumer group {self._group_id!r} failed: {err}") from err
        messages: list[BusMessage] = []
        for partition in sorted(batches, key=lambda tp: (tp.topic, tp.partition)):
            messages.extend(_to_message(record) for record in batches[partition])
        return messages

    def commit(self, offsets: Mapping[tuple[str, int], int] | None = None) -> None:
        self._check_open()
        chosen: dict[TopicPartition, OffsetAndMetadata] | None = None
        if offsets is not None:
            chosen = {}
            for (topic, partition), offset in offsets.items():
                if offset < 0:
                    raise InvalidInputError(
                        f"commit offset for {topic}[{partition}] must be the next offset to read (>= 0); got {offset}"
                    )
                chosen[TopicPartition(topic, partition)] = OffsetAndMetadata(offset, "", -1)
        try:
            self._consumer.commit(chosen)
        except KafkaError as err:
            raise BusError(
                f"commit for consumer group {self._group_id!r} failed: {err}; if the group rebalanced, "
                "the uncommitted messages will be delivered again to the partitions' new owner"
            ) from err

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._consumer.close(autocommit=False)
        logger.info("kafka_consumer_closed group_id=%s", self._group_id, extra={"group_id": self._group_id})
