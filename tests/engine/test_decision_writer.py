"""The background writer of pending decisions, audit records and the decision log."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest

from engine.audit_store import InMemoryAuditStore
from engine.bus import TOPIC_DECISIONS, InMemoryEventBus
from engine.decision_store import InMemoryDecisionStore, PendingDecision
from engine.decision_writer import DecisionWriter
from engine.errors import StoreError
from engine.events import DecisionRecord, parse_decision

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def pending(decision_id: str, customer_id: str = "cust-a") -> PendingDecision:
    record = DecisionRecord(
        decision_id=decision_id,
        customer_id=customer_id,
        ts=T0,
        policy_id="lints",
        policy_version=1,
        context={"balance": 10.0},
        candidates=(),
        shown=(),
        slate_propensity=1.0,
    )
    return PendingDecision(record=record, expires_at=T0.timestamp() + 3600)


class FlakyDecisionStore(InMemoryDecisionStore):
    """Fails the first ``failures`` batch writes, or blocks them until ``gate`` is set."""

    def __init__(self, failures: int = 0, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.failures = failures
        self.gate = gate
        self.batch_sizes: list[int] = []

    def put_many(self, pendings: Sequence[PendingDecision], *, retention_s: float) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("Redis store decision failed: ConnectionError")
        self.batch_sizes.append(len(pendings))
        super().put_many(pendings, retention_s=retention_s)


class FlakyBus(InMemoryEventBus):
    """Raises on the second publish once, after the first record went out."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def publish(self, topic, value, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("broker unavailable")
        return super().publish(topic, value, **kwargs)


def make_writer(store: InMemoryDecisionStore, bus: InMemoryEventBus | None = None, **kwargs) -> DecisionWriter:  # type: ignore[no-untyped-def]
    audit = InMemoryAuditStore(clock=lambda: T0.timestamp())
    return DecisionWriter(store, audit, bus, retention_s=600, retry_s=0.001, max_retry_s=0.01, **kwargs).start()


def test_writes_stores_and_publishes_in_order() -> None:
    store, bus = InMemoryDecisionStore(), InMemoryEventBus()
    writer = make_writer(store, bus)
    items = [pending(f"d-{index}", customer_id=f"cust-{index % 3}") for index in range(50)]

    for item in items:
        writer.submit(item)
    assert writer.flush(timeout_s=5)

    assert [store.get(item.decision_id) for item in items] == items
    assert all(writer.audit.get(item.decision_id) == item.record for item in items)
    published = [parse_decision(message.value).decision_id for message in bus.messages(TOPIC_DECISIONS)]
    assert published == [item.decision_id for item in items]
    assert writer.stats.written == 50
    assert writer.backlog == 0
    writer.stop()


def test_batches_what_queued_while_a_write_was_in_flight() -> None:
    gate = threading.Event()
    store = FlakyDecisionStore(gate=gate)
    writer = make_writer(store, max_batch=8)

    for index in range(20):
        writer.submit(pending(f"d-{index}"))
    gate.set()
    assert writer.flush(timeout_s=5)

    assert sum(store.batch_sizes) == 20
    assert max(store.batch_sizes) == 8
    assert len(store.batch_sizes) < 20
    writer.stop()


def test_failed_writes_are_retried_and_nothing_is_lost_or_repeated() -> None:
    store, bus = FlakyDecisionStore(failures=3), FlakyBus()
    writer = make_writer(store, bus, max_batch=1)

    for index in range(3):
        writer.submit(pending(f"d-{index}"))
    assert writer.flush(timeout_s=5)

    assert store.count() == 3
    published = [parse_decision(message.value).decision_id for message in bus.messages(TOPIC_DECISIONS)]
    assert published == ["d-0", "d-1", "d-2"]
    assert writer.stats.retries == 4
    writer.stop()


def test_wait_for_blocks_until_the_decision_is_stored() -> None:
    gate = threading.Event()
    store = FlakyDecisionStore(gate=gate)
    writer = make_writer(store)
    writer.submit(pending("d-1"))

    assert writer.wait_for("d-1", timeout_s=0.05) is False
    assert store.get("d-1") is None
    gate.set()
    assert writer.wait_for("d-1", timeout_s=5) is True
    assert store.get("d-1") is not None
    assert writer.wait_for("never-submitted", timeout_s=0) is True
    writer.stop()


def test_full_queue_fails_the_request_instead_of_dropping() -> None:
    gate = threading.Event()
    store = FlakyDecisionStore(gate=gate)
    writer = make_writer(store, max_batch=1, max_queued=2)
    writer.submit(pending("d-in-flight"))
    assert writer.backlog == 1
    writer.submit(pending("d-1"))
    writer.submit(pending("d-2"))

    with pytest.raises(StoreError, match="waiting to be stored"):
        writer.submit(pending("d-3"), timeout_s=0.05)

    gate.set()
    assert writer.flush(timeout_s=5)
    assert store.count() == 3
    writer.stop()


def test_submit_after_stop_is_refused() -> None:
    writer = make_writer(InMemoryDecisionStore())
    writer.stop()

    with pytest.raises(StoreError, match="not running"):
        writer.submit(pending("d-1"))
