"""No raw id, name, account number or precise location anywhere the engine writes.

The real flow (privacy_flow.py) runs once on the in-memory bus and stores and once on the
embedded Kafka-compatible broker with Redis database 15. Then every topic (keys, values
and dead-letter payloads), every Redis key and value under the test's prefix or every
in-memory record, every captured log record, the GraphQL responses and the /metrics
output are searched for the raw values.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis

from engine.audit_store import InMemoryAuditStore, RedisAuditStore
from engine.bus import ALL_TOPICS, InMemoryEventBus
from engine.consent import InMemoryConsentRegistry, RedisConsentRegistry
from engine.decision_store import InMemoryDecisionStore
from engine.io.kafka_bus import KafkaEventBus, KafkaSettings
from engine.io.redis_stores import RedisDecisionStore, RedisProfileStore
from engine.privacy import pseudonymize
from engine.profile_store import InMemoryProfileStore
from privacy_flow import RAW_ID, build_service, leaks, message_texts, read_all_topics, run_flow

# Four valid events, one dead-lettered, a decision, a feedback event, a reward and a dead letter.
EXPECTED_MESSAGES = 9


def redis_texts(client: redis.Redis, prefix: str) -> list[str]:
    """Return every key under ``prefix`` and its value, whatever the Redis type."""
    texts = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            value: object = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1)
        else:
            value = client.lrange(key, 0, -1)
        texts.append(f"{key!r} {value!r}")
    return texts


def log_texts(records: list[logging.LogRecord]) -> list[str]:
    """Return each record's message plus its structured fields."""
    return [f"{record.getMessage()} {record.__dict__!r}" for record in records]


def test_in_memory_flow_leaks_no_raw_value(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bus = InMemoryEventBus()
    consent = InMemoryConsentRegistry()
    service = build_service(
        profiles=InMemoryProfileStore(), decisions=InMemoryDecisionStore(), audit=InMemoryAuditStore(), consent=consent, bus=bus
    )

    result = run_flow(tmp_path, bus=bus, service=service, consent=consent, poll_timeout_s=10.0)

    messages = [message for topic in ALL_TOPICS for message in bus.messages(topic)]
    customer_id = pseudonymize(RAW_ID)
    profile = service.profiles.get(customer_id)
    stored = [profile.to_bytes().decode("latin-1")] if profile is not None else []
    stored += [service.decisions.get(i).to_bytes().decode() for i in service.decisions.decision_ids_for(customer_id)]
    stored += [service.audit.get(i).model_dump_json() for i in service.audit.decision_ids_for(customer_id)]
    assert len(messages) == EXPECTED_MESSAGES
    assert profile is not None
    assert profile.last_country == "NL"
    assert result.customer_id == customer_id
    assert leaks(" ".join(message_texts(messages))) == []
    assert leaks(" ".join(stored)) == []
    assert leaks(" ".join(log_texts(caplog.records))) == []
    assert leaks(" ".join(result.graphql_bodies)) == []
    assert leaks(result.metrics_text) == []
    assert "offerloop_decisions_total 1.0" in result.metrics_text
    assert 'offerloop_decision_writer_total{kind="written"} 1.0' in result.metrics_text
    assert 'offerloop_cache_lookups_total{cache="insights",result="miss"} 1.0' in result.metrics_text


@pytest.mark.kafka
@pytest.mark.redis
def test_kafka_and_redis_flow_leaks_no_raw_value(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    kafka_bootstrap_servers: str,
    redis_client: redis.Redis,
    redis_key_prefix: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("kafka").setLevel(logging.INFO)
    # Topics of a fresh name space on the shared broker, so earlier sessions' messages do not count.
    bus = KafkaEventBus(KafkaSettings(bootstrap_servers=kafka_bootstrap_servers, client_id="privacy-flow"))
    consent = RedisConsentRegistry(redis_client, key_prefix=redis_key_prefix)
    service = build_service(
        profiles=RedisProfileStore(redis_client, key_prefix=redis_key_prefix),
        decisions=RedisDecisionStore(redis_client, key_prefix=redis_key_prefix),
        audit=RedisAuditStore(redis_client, key_prefix=redis_key_prefix),
        consent=consent,
        bus=bus,
    )
    try:
        before = read_all_topics(bus, expected=0, timeout_s=6.0)
        result = run_flow(tmp_path, bus=bus, service=service, consent=consent, poll_timeout_s=40.0)
        after = read_all_topics(bus, expected=len(before) + EXPECTED_MESSAGES, timeout_s=40.0)
    finally:
        bus.close()

    keys = redis_texts(redis_client, redis_key_prefix)
    assert len(after) - len(before) >= EXPECTED_MESSAGES
    assert any(f"profile:{result.customer_id}" in text for text in keys)
    assert leaks(" ".join(message_texts(after))) == []
    assert leaks(" ".join(keys)) == []
    assert leaks(" ".join(log_texts(caplog.records))) == []
    assert leaks(" ".join(result.graphql_bodies)) == []
    assert leaks(result.metrics_text) == []
