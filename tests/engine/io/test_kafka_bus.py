"""Kafka-specific behaviour of KafkaEventBus; the shared contract is in tests/engine/test_bus_contracts.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient
from pydantic import ValidationError

from engine.bus import ALL_TOPICS, TOPIC_CUSTOMER_EVENTS, TOPIC_DECISIONS, TOPIC_FEEDBACK
from engine.errors import InvalidInputError
from engine.io.errors import BusError
from engine.io.kafka_bus import KafkaEventBus, KafkaSettings


@pytest.fixture
def kafka_bus(kafka_bootstrap_servers: str) -> Iterator[KafkaEventBus]:
    bus = KafkaEventBus(KafkaSettings(bootstrap_servers=kafka_bootstrap_servers, default_partitions=2))
    yield bus
    bus.close()


def partition_counts(bootstrap_servers: str, topics: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        return {entry["name"]: len(entry["partitions"]) for entry in admin.describe_topics(topics)}
    finally:
        admin.close()


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19999")
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", '{"customer-events": 12}')

    settings = KafkaSettings()

    assert settings.bootstrap_servers == "127.0.0.1:19999"
    assert settings.partitions_for(TOPIC_CUSTOMER_EVENTS) == 12
    assert settings.partitions_for(TOPIC_FEEDBACK) == 1


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KAFKA_TOPIC_PARTITIONS",
        "KAFKA_SESSION_TIMEOUT_MS",
        "KAFKA_HEARTBEAT_INTERVAL_MS",
        "KAFKA_MAX_POLL_INTERVAL_MS",
    ):
        monkeypatch.delenv(name, raising=False)

    settings = KafkaSettings()

    assert settings.partitions_for(TOPIC_CUSTOMER_EVENTS) == 4
    assert settings.partitions_for(TOPIC_FEEDBACK) == 4
    assert settings.partitions_for(TOPIC_DECISIONS) == 1
    assert (settings.session_timeout_ms, settings.heartbeat_interval_ms, settings.max_poll_interval_ms) == (
        6000,
        1000,
        10000,
    )


def test_settings_reject_slow_heartbeat() -> None:
    with pytest.raises(ValidationError, match="heartbeat_interval_ms must be below session_timeout_ms"):
        KafkaSettings(session_timeout_ms=3000, heartbeat_interval_ms=3000)


def test_settings_reject_zero_partitions() -> None:
    with pytest.raises(ValidationError, match="topic_partitions values must be at least 1"):
        KafkaSettings(topic_partitions={"customer-events": 0})


@pytest.mark.kafka
def test_start_creates_standard_topics(kafka_bus: KafkaEventBus, kafka_bootstrap_servers: str) -> None:
    kafka_bus.start()

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    existing = set(admin.list_topics())
    admin.close()
    assert set(ALL_TOPICS) <= existing


@pytest.mark.kafka
def test_ensure_topics_uses_configured_partitions(kafka_bootstrap_servers: str) -> None:
    wide, narrow = f"test-wide-{uuid.uuid4().hex[:8]}", f"test-narrow-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap_servers, topic_partitions={wide: 3}, default_partitions=2)

    with KafkaEventBus(settings) as bus:
        bus.ensure_topics([wide, narrow])
        bus.ensure_topics([wide])

    assert partition_counts(kafka_bootstrap_servers, [wide, narrow]) == {wide: 3, narrow: 2}


@pytest.mark.kafka
def test_publish_oversized_message_raises(kafka_bus: KafkaEventBus) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}"

    with pytest.raises(BusError, match=f"publishing to topic '{topic}' failed"):
        kafka_bus.publish(topic, b"x" * 2_000_000)


@pytest.mark.kafka
def test_commit_negative_offset_raises(kafka_bus: KafkaEventBus) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}"
    consumer = kafka_bus.consumer([topic], group_id=f"group-{uuid.uuid4().hex[:8]}")

    try:
        with pytest.raises(InvalidInputError, match=rf"commit offset for {topic}\[0\] must be .* got -1"):
            consumer.commit({(topic, 0): -1})
    finally:
        consumer.close()


def test_consumer_without_topics_raises() -> None:
    bus = KafkaEventBus(KafkaSettings(bootstrap_servers="127.0.0.1:1"))

    with pytest.raises(InvalidInputError, match=r"topics must be a non-empty list of topic names; got \[\]"):
        bus.consumer([], group_id="group")


def test_unreachable_broker_raises() -> None:
    bus = KafkaEventBus(KafkaSettings(bootstrap_servers="127.0.0.1:1", request_timeout_ms=500))

    with pytest.raises(BusError, match="check that a Kafka broker is reachable at '127.0.0.1:1'"):
        bus.start()


def test_publish_after_close_raises() -> None:
    bus = KafkaEventBus(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    bus.close()

    with pytest.raises(BusError, match="the Kafka bus is closed"):
        bus.publish("decisions", b"{}")
