"""Erasure removes everything about a customer and keeps forgetting them."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis

from api.http_app import LocalServiceClient, create_app
from engine.audit_store import InMemoryAuditStore, RedisAuditStore
from engine.bus import CUSTOMER_KEYED_TOPICS, TOPIC_CUSTOMER_EVENTS, InMemoryEventBus
from engine.consent import InMemoryConsentRegistry, RedisConsentRegistry
from engine.decision_store import InMemoryDecisionStore
from engine.erasure import erase_customer
from engine.errors import InvalidInputError
from engine.io.kafka_bus import KafkaEventBus, KafkaSettings
from engine.io.redis_stores import RedisDecisionStore, RedisProfileStore
from engine.loop import default_categorizer
from engine.privacy import pseudonymize, sanitize_event_payload
from engine.profile_store import InMemoryProfileStore
from engine.workers import ProfileWorker
from privacy_flow import RAW_ID, build_service, call_app, run_flow, security


def login_event(raw_id: str) -> bytes:
    """Return a sanitised login event of ``raw_id`` as published bytes."""
    payload = {"type": "login", "event_id": f"late-{time.monotonic_ns()}", "customer_id": raw_id,
               "ts": datetime.now(timezone.utc).isoformat()}  # fmt: skip
    return json.dumps(sanitize_event_payload(payload)).encode()


def test_in_memory_erasure_leaves_nothing(tmp_path: Path) -> None:
    bus = InMemoryEventBus()
    consent = InMemoryConsentRegistry()
    service = build_service(
        profiles=InMemoryProfileStore(), decisions=InMemoryDecisionStore(), audit=InMemoryAuditStore(), consent=consent, bus=bus
    )
    result = run_flow(tmp_path, bus=bus, service=service, consent=consent, poll_timeout_s=10.0)
    service.set_consent(RAW_ID, False, None)
    customer_id = result.customer_id
    other = service.dashboard("another-customer")
    assert service.profiles.get(customer_id) is not None
    assert service.audit.get(result.decision_id) is not None

    app = create_app(LocalServiceClient(service), security=security())
    query = 'mutation { eraseCustomer(userId: "%s") { customerId profileDeleted decisionsDeleted auditRecordsDeleted consentDeleted tombstoneTopics } }' % RAW_ID
    (response,) = call_app(app, [("POST", "/graphql", {"query": query})])

    receipt = response.json()["data"]["eraseCustomer"]
    assert receipt == {
        "customerId": customer_id,
        "profileDeleted": True,
        "decisionsDeleted": 1,
        "auditRecordsDeleted": 1,
        "consentDeleted": True,
        "tombstoneTopics": list(CUSTOMER_KEYED_TOPICS),
    }
    assert service.profiles.get(customer_id) is None
    assert service.decisions.get(result.decision_id) is None
    assert service.decisions.decision_ids_for(customer_id) == []
    assert service.audit.get(result.decision_id) is None
    assert service.audit.decision_ids_for(customer_id) == []
    assert service.consent.is_erased(customer_id)
    assert service.decision(result.decision_id) is None
    assert service.decisions.get(other["decision_id"]) is not None
    for topic in CUSTOMER_KEYED_TOPICS:
        theirs = [message for message in bus.messages(topic) if message.key == customer_id.encode()]
        assert theirs, f"no tombstone on {topic}"
        assert all(message.tombstone and message.value == b"" for message in theirs), topic


def test_erased_customer_events_are_dropped() -> None:
    bus = InMemoryEventBus()
    consent = InMemoryConsentRegistry()
    profiles = InMemoryProfileStore()
    customer_id = pseudonymize(RAW_ID)
    erase_customer(
        customer_id, profiles=profiles, decisions=InMemoryDecisionStore(), audit=InMemoryAuditStore(), consent=consent, bus=bus
    )
    worker = ProfileWorker(bus, profiles, default_categorizer, consent=consent, dropped_customers=consent.is_erased)

    bus.publish(TOPIC_CUSTOMER_EVENTS, login_event(RAW_ID), key=customer_id.encode())
    bus.publish(TOPIC_CUSTOMER_EVENTS, login_event("someone-else"), key=b"other")
    worker.step(timeout_s=0.0)

    assert profiles.get(customer_id) is None
    assert profiles.get(pseudonymize("someone-else")) is not None
    assert worker.stats.dropped == 1
    assert worker.stats.tombstones == 1
    assert worker.stats.dead_lettered == 0


def test_erase_customer_rejects_empty_id() -> None:
    with pytest.raises(InvalidInputError, match="customer_id must be the non-empty pseudonymised id; got ''"):
        erase_customer(
            "", profiles=InMemoryProfileStore(), decisions=InMemoryDecisionStore(), audit=InMemoryAuditStore(),
            consent=InMemoryConsentRegistry(), bus=None,
        )  # fmt: skip


@pytest.mark.redis
def test_redis_erasure_leaves_no_key_or_value(
    tmp_path: Path, redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    bus = InMemoryEventBus()
    consent = RedisConsentRegistry(redis_client, key_prefix=redis_key_prefix)
    service = build_service(
        profiles=RedisProfileStore(redis_client, key_prefix=redis_key_prefix),
        decisions=RedisDecisionStore(redis_client, key_prefix=redis_key_prefix),
        audit=RedisAuditStore(redis_client, key_prefix=redis_key_prefix),
        consent=consent,
        bus=bus,
    )
    result = run_flow(tmp_path, bus=bus, service=service, consent=consent, poll_timeout_s=10.0)
    service.set_consent(RAW_ID, True, False)
    customer_id = result.customer_id.encode()
    mentioning = [key for key in redis_client.scan_iter(match=f"{redis_key_prefix}*") if customer_id in key]
    assert len(mentioning) >= 4  # profile, consent, decision index, audit index

    service.erase_customer(RAW_ID)

    remaining = {}
    for key in redis_client.scan_iter(match=f"{redis_key_prefix}*"):
        kind = redis_client.type(key).decode()
        value = {
            "string": redis_client.get,
            "hash": redis_client.hgetall,
            "set": redis_client.smembers,
            "zset": lambda k: redis_client.zrange(k, 0, -1),
        }[kind](key)
        remaining[key] = repr(value).encode()
    holding = [key for key, value in remaining.items() if customer_id in key or customer_id in value]
    assert holding == [f"{redis_key_prefix}privacy:erased".encode()]
    assert redis_client.hkeys(f"{redis_key_prefix}privacy:erased") == [customer_id]
    assert not any(result.decision_id.encode() in key or result.decision_id.encode() in value for key, value in remaining.items())
    assert service.profiles.get(result.customer_id) is None


@pytest.mark.kafka
def test_kafka_tombstone_reaches_consumers_as_tombstone(kafka_bootstrap_servers: str) -> None:
    topic = f"privacy-tombstones-{time.monotonic_ns()}"
    bus = KafkaEventBus(KafkaSettings(bootstrap_servers=kafka_bootstrap_servers, client_id="privacy-tombstones"))
    try:
        bus.publish(topic, b'{"x": 1}', key=b"customer-1")
        bus.publish(topic, None, key=b"customer-1")
        bus.flush()
        consumer = bus.consumer([topic], group_id=f"{topic}-reader")
        messages = []
        deadline = time.monotonic() + 20.0
        while len(messages) < 2 and time.monotonic() < deadline:
            messages.extend(consumer.poll(timeout_s=0.5))
        consumer.close()
    finally:
        bus.close()

    assert [(m.key, m.value, m.tombstone) for m in messages] == [
        (b"customer-1", b'{"x": 1}', False),
        (b"customer-1", b"", True),
    ]


def test_tombstone_needs_a_key() -> None:
    with pytest.raises(TypeError, match="a tombstone \\(value None\\) for topic 'decisions' needs a non-empty key; got key None"):
        InMemoryEventBus().publish("decisions", None)
