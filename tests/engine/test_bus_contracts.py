"""One contract suite for the EventBus interface, run against the in-memory bus and Kafka.

A Kafka consumer needs about 3 s to join its group, so each test creates only the
consumers its case needs, and consumers of different groups poll in parallel threads.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator

import pytest

from engine.bus import BusConsumer, BusMessage, EventBus, InMemoryEventBus
from engine.io.kafka_bus import KafkaEventBus, KafkaSettings

IMPLEMENTATIONS = [
    pytest.param("memory", id="memory"),
    pytest.param("kafka", id="kafka", marks=pytest.mark.kafka),
]
# Test topics get several partitions on Kafka, so per-key order is checked across partitions.
KAFKA_TEST_PARTITIONS = 3
POLL_TIMEOUT_S = 20.0


@pytest.fixture(params=IMPLEMENTATIONS)
def bus(request: pytest.FixtureRequest) -> Iterator[EventBus]:
    if request.param == "memory":
        yield InMemoryEventBus()
        return
    settings = KafkaSettings(
        bootstrap_servers=request.getfixturevalue("kafka_bootstrap_servers"),
        client_id="offerloop-contract-tests",
        default_partitions=KAFKA_TEST_PARTITIONS,
    )
    kafka_bus = KafkaEventBus(settings)
    yield kafka_bus
    kafka_bus.close()


@pytest.fixture
def topic() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def new_group() -> str:
    return f"group-{uuid.uuid4().hex[:12]}"


def poll_until(consumer: BusConsumer, count: int, *, max_records: int = 500) -> list[BusMessage]:
    """Poll until ``count`` messages arrived or POLL_TIMEOUT_S passed; return what arrived."""
    received: list[BusMessage] = []
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while len(received) < count and time.monotonic() < deadline:
        received.extend(consumer.poll(max_records=max_records, timeout_s=0.2))
    return received


def poll_for(consumer: BusConsumer, duration_s: float) -> list[BusMessage]:
    """Poll for ``duration_s`` seconds and return everything that arrived."""
    received: list[BusMessage] = []
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        received.extend(consumer.poll(timeout_s=0.1))
    return received


def publish_values(bus: EventBus, topic: str, values: list[str], *, keys: int = 4) -> None:
    for index, value in enumerate(values):
        bus.publish(topic, value.encode(), key=f"cust-{index % keys}".encode())
    bus.flush()


def test_bus_publish_poll_keeps_key_order(bus: EventBus, topic: str) -> None:
    sent: dict[bytes, list[bytes]] = defaultdict(list)
    for index in range(30):
        key = f"cust-{index % 5}".encode()
        value = f"event-{index}".encode()
        bus.publish(topic, value, key=key, headers=[("schema", b"v1"), ("seq", str(index).encode())])
        sent[key].append(value)
    bus.flush()
    consumer = bus.consumer([topic], group_id=new_group())

    received: list[BusMessage] = []
    batch_sizes: list[int] = []
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while len(received) < 30 and time.monotonic() < deadline:
        batch = consumer.poll(max_records=4, timeout_s=0.2)
        batch_sizes.append(len(batch))
        received.extend(batch)
    consumer.close()

    assert len(received) == 30
    assert max(batch_sizes) <= 4
    by_key: dict[bytes | None, list[bytes]] = defaultdict(list)
    partitions_by_key: dict[bytes | None, set[int]] = defaultdict(set)
    offsets: dict[tuple[str, int], list[int]] = defaultdict(list)
    for message in received:
        by_key[message.key].append(message.value)
        partitions_by_key[message.key].add(message.partition)
        offsets[(message.topic, message.partition)].append(message.offset)
    assert by_key == sent
    assert all(len(partitions) == 1 for partitions in partitions_by_key.values())
    assert all(sequence == sorted(set(sequence)) for sequence in offsets.values())
    assert {message.topic for message in received} == {topic}
    first = next(message for message in received if message.value == b"event-0")
    assert first.headers == (("schema", b"v1"), ("seq", b"0"))


def test_bus_group_redelivers_uncommitted(bus: EventBus, topic: str) -> None:
    group = new_group()
    committed_batch = [f"committed-{index}" for index in range(6)]
    uncommitted_batch = [f"uncommitted-{index}" for index in range(4)]
    publish_values(bus, topic, committed_batch)
    first = bus.consumer([topic], group_id=group)
    first_received = poll_until(first, len(committed_batch))
    first.commit()
    publish_values(bus, topic, uncommitted_batch)
    first_received += poll_until(first, len(uncommitted_batch))
    first.close()

    second = bus.consumer([topic], group_id=group)
    redelivered = poll_until(second, len(uncommitted_batch))
    redelivered += poll_for(second, 0.5)
    second.close()

    assert sorted(message.value.decode() for message in first_received) == sorted(committed_batch + uncommitted_batch)
    assert sorted(message.value.decode() for message in redelivered) == sorted(uncommitted_batch)


def test_bus_two_groups_each_see_all(bus: EventBus, topic: str) -> None:
    values = [f"event-{index}" for index in range(10)]
    publish_values(bus, topic, values)
    consumers = [bus.consumer([topic], group_id=new_group()) for _ in range(2)]
    received: list[list[BusMessage]] = [[], []]

    def drain(index: int) -> None:
        received[index] = poll_until(consumers[index], len(values))

    threads = [threading.Thread(target=drain, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=POLL_TIMEOUT_S + 5)
    for consumer in consumers:
        consumer.close()

    assert sorted(message.value.decode() for message in received[0]) == sorted(values)
    assert sorted(message.value.decode() for message in received[1]) == sorted(values)


def test_bus_commit_explicit_offsets(bus: EventBus, topic: str) -> None:
    group = new_group()
    values = [f"event-{index}" for index in range(9)]
    publish_values(bus, topic, values, keys=9)
    first = bus.consumer([topic], group_id=group)
    received = poll_until(first, len(values))
    first_per_partition: dict[tuple[str, int], BusMessage] = {}
    for message in received:
        first_per_partition.setdefault((message.topic, message.partition), message)
    first.commit({partition: message.offset + 1 for partition, message in first_per_partition.items()})
    first.close()

    second = bus.consumer([topic], group_id=group)
    expected = sorted(set(values) - {message.value.decode() for message in first_per_partition.values()})
    resumed = poll_until(second, len(expected))
    resumed += poll_for(second, 0.5)
    second.close()

    assert sorted(message.value.decode() for message in received) == sorted(values)
    assert sorted(message.value.decode() for message in resumed) == expected


def test_bus_poll_after_close_raises(bus: EventBus, topic: str) -> None:
    consumer = bus.consumer([topic], group_id=new_group())
    consumer.close()

    with pytest.raises(RuntimeError, match="consumer is closed"):
        consumer.poll()


def test_bus_publish_rejects_non_bytes(bus: EventBus, topic: str) -> None:
    with pytest.raises(TypeError, match="message value must be bytes; got str"):
        bus.publish(topic, "not bytes")  # type: ignore[arg-type]
