"""Contract tests of the audit store, the consent registry and the per-customer decision index.

Each test runs against the in-memory and the Redis implementation (database 15, a key
prefix unique to the test).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from engine.audit_store import AuditStore, InMemoryAuditStore, RedisAuditStore, check_retention
from engine.consent import ConsentRegistry, ConsentState, InMemoryConsentRegistry, RedisConsentRegistry
from engine.decision_store import DecisionStore, InMemoryDecisionStore, PendingDecision
from engine.errors import ConfigError, InvalidInputError
from engine.io.redis_stores import RedisDecisionStore
from privacy_records import T0, make_record

IMPLEMENTATIONS = [pytest.param("memory", id="memory"), pytest.param("redis", id="redis", marks=pytest.mark.redis)]
DAY_S = 86400.0


class Clock:
    """A settable epoch-seconds clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0.timestamp())


@pytest.fixture(params=IMPLEMENTATIONS)
def audit(request: pytest.FixtureRequest, clock: Clock) -> Iterator[AuditStore]:
    if request.param == "memory":
        yield InMemoryAuditStore(retention_s=30 * DAY_S, clock=clock)
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisAuditStore(client, key_prefix=request.getfixturevalue("redis_key_prefix"), retention_s=30 * DAY_S, clock=clock)


@pytest.fixture(params=IMPLEMENTATIONS)
def consent(request: pytest.FixtureRequest) -> Iterator[ConsentRegistry]:
    if request.param == "memory":
        yield InMemoryConsentRegistry(default_marketing=True, default_personalisation=False)
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisConsentRegistry(
        client, key_prefix=request.getfixturevalue("redis_key_prefix"), default_marketing=True, default_personalisation=False
    )


@pytest.fixture(params=IMPLEMENTATIONS)
def decisions(request: pytest.FixtureRequest) -> Iterator[DecisionStore]:
    if request.param == "memory":
        yield InMemoryDecisionStore()
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisDecisionStore(client, key_prefix=request.getfixturevalue("redis_key_prefix"))


# ------------------------------------------------------------------ audit store


def test_audit_store_returns_full_record(audit: AuditStore) -> None:
    record = make_record("d-1", "cust-a")

    audit.put(record)

    stored = audit.get("d-1")
    assert stored == record
    assert stored.shown[0].contributions == {"spend_30d_travel": 0.21, "balance": -0.02}
    assert stored.ineligible == {"personal-loan-consolidation": "has_salary == 1"}
    assert stored.policy_version == 3


def test_audit_store_indexes_by_customer(audit: AuditStore) -> None:
    for decision_id, customer in (("d-1", "cust-a"), ("d-2", "cust-a"), ("d-3", "cust-b")):
        audit.put(make_record(decision_id, customer))

    assert sorted(audit.decision_ids_for("cust-a")) == ["d-1", "d-2"]
    assert audit.decision_ids_for("cust-c") == []
    assert audit.count() == 3


def test_audit_store_delete_customer_removes_only_theirs(audit: AuditStore) -> None:
    for decision_id, customer in (("d-1", "cust-a"), ("d-2", "cust-a"), ("d-3", "cust-b")):
        audit.put(make_record(decision_id, customer))

    deleted = audit.delete_customer("cust-a")

    assert deleted == 2
    assert audit.get("d-1") is None
    assert audit.get("d-2") is None
    assert audit.decision_ids_for("cust-a") == []
    assert audit.get("d-3") is not None
    assert audit.delete_customer("cust-a") == 0


def test_audit_store_forgets_records_after_retention(audit: AuditStore, clock: Clock) -> None:
    audit.put(make_record("d-1", "cust-a"))

    clock.now += 29 * DAY_S
    kept = audit.get("d-1")
    clock.now += 2 * DAY_S
    if isinstance(audit, RedisAuditStore):
        # Redis expires keys on its own clock, so the test checks the TTL it set instead.
        ttl = audit._client.ttl(audit._key("d-1"))  # noqa: SLF001 - the expiry is the contract under test
        assert 29 * DAY_S < ttl <= 30 * DAY_S
    else:
        assert audit.get("d-1") is None
    assert kept is not None


def test_audit_store_skips_records_already_past_retention(audit: AuditStore, clock: Clock) -> None:
    clock.now += 31 * DAY_S

    audit.put(make_record("d-old", "cust-a"))

    assert audit.get("d-old") is None


def test_check_retention_requires_more_than_attribution_window() -> None:
    with pytest.raises(ConfigError, match=r"longer than the longest attribution window \(604800 s\).*got 86400.0 s"):
        check_retention(86400.0, attribution_window_s=7 * DAY_S)
    assert check_retention(8 * DAY_S, attribution_window_s=7 * DAY_S) == 8 * DAY_S


# ------------------------------------------------------------- consent registry


def test_consent_defaults_apply_without_record(consent: ConsentRegistry) -> None:
    assert consent.get("cust-a") == ConsentState(marketing=True, personalisation=False)


def test_consent_set_merges_fields(consent: ConsentRegistry) -> None:
    consent.set("cust-a", marketing=False, at=100.0)
    state = consent.set("cust-a", personalisation=True, at=200.0)

    assert state == ConsentState(marketing=False, personalisation=True, updated_at=200.0)
    assert consent.get("cust-a") == state


def test_consent_ignores_older_change(consent: ConsentRegistry) -> None:
    consent.set("cust-a", marketing=False, at=200.0)

    state = consent.set("cust-a", marketing=True, at=100.0)

    assert state.marketing is False
    assert consent.get("cust-a").marketing is False


def test_consent_requires_a_field(consent: ConsentRegistry) -> None:
    with pytest.raises(InvalidInputError, match="must set marketing, personalisation or both; got neither"):
        consent.set("cust-a", at=1.0)


def test_consent_erased_customer_reads_withheld_and_is_blocked(consent: ConsentRegistry) -> None:
    consent.set("cust-a", marketing=True, personalisation=True, at=1.0)

    consent.mark_erased("cust-a", at=2.0)

    assert consent.is_erased("cust-a")
    assert not consent.is_erased("cust-b")
    assert consent.get("cust-a") == ConsentState(marketing=False, personalisation=False, erased=True)
    assert consent.forget("cust-a") is False
    assert consent.erased_count() == 1
    with pytest.raises(InvalidInputError, match="consent cannot be recorded for an erased pseudonym"):
        consent.set("cust-a", marketing=True, at=3.0)


# ------------------------------------------------------ decision store index


def test_decision_index_lists_and_deletes_customer(decisions: DecisionStore) -> None:
    for decision_id, customer in (("d-1", "cust-a"), ("d-2", "cust-a"), ("d-3", "cust-b")):
        record = make_record(decision_id, customer)
        decisions.put(PendingDecision(record=record, expires_at=record.ts.timestamp() + 3600), retention_s=600)

    listed = sorted(decisions.decision_ids_for("cust-a"))
    deleted = decisions.delete_customer("cust-a")

    assert listed == ["d-1", "d-2"]
    assert deleted == 2
    assert decisions.get("d-1") is None
    assert decisions.get("d-2") is None
    assert decisions.decision_ids_for("cust-a") == []
    assert decisions.get("d-3") is not None
    assert decisions.count() == 1


def test_decision_index_drops_deleted_decisions(decisions: DecisionStore) -> None:
    for decision_id in ("d-1", "d-2"):
        record = make_record(decision_id, "cust-a")
        decisions.put(PendingDecision(record=record, expires_at=record.ts.timestamp() + 3600), retention_s=600)

    decisions.delete("d-1")

    assert decisions.decision_ids_for("cust-a") == ["d-2"]


def test_decision_index_forgets_pruned_decisions(decisions: DecisionStore) -> None:
    record = make_record("d-1", "cust-a")
    decisions.put(PendingDecision(record=record, expires_at=record.ts.timestamp() + 3600), retention_s=600)
    closed_at = record.ts.timestamp() + 3600

    decisions.due(closed_at, lease_s=0.0)
    decisions.update("d-1", lambda pending: setattr(pending, "closed", True))
    decisions.due(closed_at + 601.0)

    assert decisions.get("d-1") is None
    assert decisions.decision_ids_for("cust-a") == []


def test_redis_decision_index_key_expires(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    store = RedisDecisionStore(redis_client, key_prefix=redis_key_prefix)
    record = make_record("d-1", "cust-a")

    store.put(PendingDecision(record=record, expires_at=record.ts.timestamp() + 3600), retention_s=600)

    ttl = redis_client.ttl(f"{redis_key_prefix}decisions:customer:cust-a")
    assert 0 < ttl <= 4200


def test_audit_store_put_many_stores_each_and_skips_expired(audit: AuditStore, clock: Clock) -> None:
    old = make_record("d-old", "cust-b", ts=T0 - timedelta(days=31))
    records = [make_record("d-1", "cust-a"), make_record("d-2", "cust-a"), old]

    audit.put_many(records)

    assert audit.get("d-1") == records[0]
    assert audit.get("d-2") == records[1]
    assert audit.get("d-old") is None
    assert sorted(audit.decision_ids_for("cust-a")) == ["d-1", "d-2"]
    assert audit.count() == 2
