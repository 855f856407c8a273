"""One contract suite per store interface, run against the in-memory and the Redis implementation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import redis

from engine.decision_store import DecisionStore, InMemoryDecisionStore, PendingDecision
from engine.events import DecisionRecord, LoginEvent, TransactionEvent
from engine.io.redis_stores import RedisDecisionStore, RedisProfileStore, RedisSnapshotStore
from engine.profile import CustomerProfile
from engine.profile_store import InMemoryProfileStore, ProfileStore
from engine.snapshot_store import InMemorySnapshotStore, SnapshotStore

IMPLEMENTATIONS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]
# Epoch seconds of 2026-03-02 00:00 UTC; decisions in these tests open then.
T0 = 1_772_409_600.0
SNAPSHOT_KEEP = 3


@pytest.fixture(params=IMPLEMENTATIONS)
def profile_store(request: pytest.FixtureRequest) -> Iterator[ProfileStore]:
    if request.param == "memory":
        yield InMemoryProfileStore()
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisProfileStore(client, key_prefix=request.getfixturevalue("redis_key_prefix"))


@pytest.fixture(params=IMPLEMENTATIONS)
def decision_store(request: pytest.FixtureRequest) -> Iterator[DecisionStore]:
    if request.param == "memory":
        yield InMemoryDecisionStore()
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisDecisionStore(client, key_prefix=request.getfixturevalue("redis_key_prefix"))


@pytest.fixture(params=IMPLEMENTATIONS)
def snapshot_store(request: pytest.FixtureRequest) -> Iterator[SnapshotStore]:
    if request.param == "memory":
        yield InMemorySnapshotStore(keep=SNAPSHOT_KEEP)
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisSnapshotStore(client, key_prefix=request.getfixturevalue("redis_key_prefix"), keep=SNAPSHOT_KEEP)


def make_profile(customer_id: str) -> CustomerProfile:
    """Return a profile with a few days of transactions and logins applied."""
    profile = CustomerProfile(customer_id)
    start = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
    for day in range(5):
        ts = start + timedelta(days=day)
        profile.apply(
            TransactionEvent(
                event_id=f"{customer_id}-tx-{day}",
                customer_id=customer_id,
                ts=ts,
                amount=Decimal("-23.40"),
                currency="EUR",
                category="groceries",
            )
        )
        profile.apply(LoginEvent(event_id=f"{customer_id}-login-{day}", customer_id=customer_id, ts=ts))
    return profile


def make_pending(decision_id: str, expires_at: float, *, closed: bool = False) -> PendingDecision:
    """Return a pending decision made one hour before ``expires_at``."""
    record = DecisionRecord(
        decision_id=decision_id,
        customer_id="cust-7f3a",
        ts=datetime.fromtimestamp(expires_at - 3600, tz=timezone.utc),
        policy_id="linucb",
        policy_version=3,
        context={"spend_30d": 812.5},
        candidates=(),
        shown=(),
        slate_propensity=1.0,
    )
    return PendingDecision(record=record, expires_at=expires_at, closed=closed)


def increment_counter(profile: CustomerProfile) -> int:
    profile.extra["counter"] = profile.extra.get("counter", 0) + 1
    return int(profile.extra["counter"])


# ----------------------------------------------------------------------------- profiles


def test_profile_get_unknown_returns_none(profile_store: ProfileStore) -> None:
    assert profile_store.get("cust-unknown") is None
    assert profile_store.count() == 0


def test_profile_put_get_round_trip(profile_store: ProfileStore) -> None:
    profile = make_profile("cust-1")

    profile_store.put(profile)
    stored = profile_store.get("cust-1")

    assert stored == profile
    assert stored is not profile
    assert profile_store.count() == 1


def test_profile_put_replaces(profile_store: ProfileStore) -> None:
    profile_store.put(make_profile("cust-1"))
    replacement = CustomerProfile("cust-1", currency="GBP")

    profile_store.put(replacement)

    assert profile_store.get("cust-1") == replacement
    assert profile_store.count() == 1


def test_profile_get_many_returns_known(profile_store: ProfileStore) -> None:
    profile_store.put(make_profile("cust-1"))
    profile_store.put(make_profile("cust-2"))

    found = profile_store.get_many(["cust-2", "cust-unknown", "cust-1"])

    assert sorted(found) == ["cust-1", "cust-2"]
    assert found["cust-2"] == make_profile("cust-2")


def test_profile_update_creates_missing(profile_store: ProfileStore) -> None:
    result = profile_store.update("cust-new", increment_counter)

    stored = profile_store.get("cust-new")
    assert result == 1
    assert stored is not None
    assert stored.customer_id == "cust-new"
    assert stored.extra == {"counter": 1}
    assert profile_store.count() == 1


def test_profile_update_modifies_existing(profile_store: ProfileStore) -> None:
    profile_store.put(make_profile("cust-1"))

    profile_store.update("cust-1", increment_counter)
    result = profile_store.update("cust-1", increment_counter)

    stored = profile_store.get("cust-1")
    assert result == 2
    assert stored is not None
    assert stored.extra["counter"] == 2
    assert stored.windows == make_profile("cust-1").windows
    assert profile_store.count() == 1


def test_profile_update_error_keeps_profile(profile_store: ProfileStore) -> None:
    profile_store.put(make_profile("cust-1"))

    def fail_halfway(profile: CustomerProfile) -> None:
        profile.currency = "USD"
        raise ValueError("rejected by the caller")

    with pytest.raises(ValueError, match="rejected by the caller"):
        profile_store.update("cust-1", fail_halfway)

    assert profile_store.get("cust-1") == make_profile("cust-1")


def test_profile_concurrent_updates_lose_nothing(profile_store: ProfileStore) -> None:
    threads_n, increments = 4, 200
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(increments):
                profile_store.update("cust-hot", increment_counter)
        except BaseException as err:  # noqa: BLE001 - reported by the assert below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    stored = profile_store.get("cust-hot")
    assert errors == []
    assert stored is not None
    assert stored.extra["counter"] == threads_n * increments
    assert profile_store.count() == 1


def test_profile_returned_copy_is_private(profile_store: ProfileStore) -> None:
    profile = make_profile("cust-1")
    profile_store.put(profile)

    profile.extra["after_put"] = True
    fetched = profile_store.get("cust-1")
    assert fetched is not None
    fetched.extra["after_get"] = True
    fetched.days.clear()

    assert profile_store.get("cust-1") == make_profile("cust-1")


def test_profile_delete(profile_store: ProfileStore) -> None:
    profile_store.put(make_profile("cust-1"))
    profile_store.put(make_profile("cust-2"))

    assert profile_store.delete("cust-1") is True
    assert profile_store.delete("cust-1") is False
    assert profile_store.get("cust-1") is None
    assert profile_store.count() == 1


# ---------------------------------------------------------------------------- decisions


def test_decision_put_get_round_trip(decision_store: DecisionStore) -> None:
    pending = make_pending("dec-1", T0 + 3600)
    pending.feedback["offer-a"] = [["click", T0 + 10, "evt-1"]]

    decision_store.put(pending, retention_s=600)

    assert decision_store.get("dec-1") == pending
    assert decision_store.get("dec-unknown") is None
    assert decision_store.count() == 1


def test_decision_put_many_equals_put_each(decision_store: DecisionStore) -> None:
    pendings = [make_pending("dec-1", T0 + 300), make_pending("dec-2", T0 + 100), make_pending("dec-3", T0 + 200, closed=True)]

    decision_store.put_many(pendings, retention_s=600)
    decision_store.put_many([], retention_s=600)

    assert [decision_store.get(p.decision_id) for p in pendings] == pendings
    assert decision_store.count() == 3
    assert decision_store.due(T0 + 1000) == ["dec-2", "dec-1"]


def test_decision_update_persists_and_returns(decision_store: DecisionStore) -> None:
    decision_store.put(make_pending("dec-1", T0 + 3600), retention_s=600)

    def settle(pending: PendingDecision) -> int:
        pending.settled["offer-a"] = 1.5
        pending.seen_events.append("evt-9")
        return len(pending.seen_events)

    result = decision_store.update("dec-1", settle)

    stored = decision_store.get("dec-1")
    assert result == 1
    assert stored is not None
    assert stored.settled == {"offer-a": 1.5}
    assert stored.seen_events == ["evt-9"]


def test_decision_update_unknown_returns_none(decision_store: DecisionStore) -> None:
    calls: list[str] = []

    result = decision_store.update("dec-unknown", lambda pending: calls.append(pending.decision_id))

    assert result is None
    assert calls == []
    assert decision_store.count() == 0


def close_pending(pending: PendingDecision) -> None:
    pending.closed = True


def test_decision_due_in_expiry_order_once(decision_store: DecisionStore) -> None:
    decision_store.put(make_pending("dec-late", T0 + 300), retention_s=3600)
    decision_store.put(make_pending("dec-early", T0 + 100), retention_s=3600)
    decision_store.put(make_pending("dec-middle", T0 + 200), retention_s=3600)

    assert decision_store.due(T0 + 50) == []
    assert decision_store.due(T0 + 250) == ["dec-early", "dec-middle"]
    assert decision_store.due(T0 + 250) == []
    assert decision_store.due(T0 + 300) == ["dec-late"]
    for decision_id in ("dec-early", "dec-middle", "dec-late"):
        decision_store.update(decision_id, close_pending)
    assert decision_store.due(T0 + 1000) == []
    assert decision_store.count() == 3


def test_decision_lease_expiry_returns_unclosed(decision_store: DecisionStore) -> None:
    decision_store.put(make_pending("dec-closed", T0 + 100), retention_s=3600)
    decision_store.put(make_pending("dec-crashed", T0 + 100), retention_s=3600)

    assert decision_store.due(T0 + 100, lease_s=60) == ["dec-closed", "dec-crashed"]
    decision_store.update("dec-closed", close_pending)

    assert decision_store.due(T0 + 159, lease_s=60) == []
    assert decision_store.due(T0 + 160, lease_s=60) == ["dec-crashed"]
    decision_store.update("dec-crashed", close_pending)
    assert decision_store.due(T0 + 1000, lease_s=60) == []


def test_decision_due_respects_limit(decision_store: DecisionStore) -> None:
    for index in range(5):
        decision_store.put(make_pending(f"dec-{index}", T0 + index), retention_s=3600)

    first = decision_store.due(T0 + 10, limit=2)
    second = decision_store.due(T0 + 10, limit=2)
    third = decision_store.due(T0 + 10, limit=2)

    assert first == ["dec-0", "dec-1"]
    assert second == ["dec-2", "dec-3"]
    assert third == ["dec-4"]


def test_decision_due_skips_closed_and_deleted(decision_store: DecisionStore) -> None:
    decision_store.put(make_pending("dec-closed", T0 + 100, closed=True), retention_s=3600)
    decision_store.put(make_pending("dec-deleted", T0 + 100), retention_s=3600)
    decision_store.put(make_pending("dec-open", T0 + 100), retention_s=3600)
    decision_store.delete("dec-deleted")

    assert decision_store.due(T0 + 200) == ["dec-open"]


def test_decision_due_concurrent_workers_claim_once(decision_store: DecisionStore) -> None:
    ids = [f"dec-{index:03d}" for index in range(200)]
    for index, decision_id in enumerate(ids):
        decision_store.put(make_pending(decision_id, T0 + index), retention_s=3600)
    claimed: list[list[str]] = [[] for _ in range(4)]

    def work(worker: int) -> None:
        while batch := decision_store.due(T0 + 1000, limit=7):
            claimed[worker].extend(batch)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    every_claim = [decision_id for batch in claimed for decision_id in batch]
    assert sorted(every_claim) == ids
    assert len(set(every_claim)) == len(every_claim)


def test_decision_retention_removes_closed(decision_store: DecisionStore) -> None:
    decision_store.put(make_pending("dec-1", T0 + 100), retention_s=600)
    decision_store.put(make_pending("dec-2", T0 + 5000), retention_s=600)

    assert decision_store.due(T0 + 100) == ["dec-1"]
    decision_store.update("dec-1", close_pending)
    closed = decision_store.get("dec-1")
    assert closed is not None
    assert closed.closed is True

    decision_store.due(T0 + 699)
    assert decision_store.get("dec-1") is not None
    decision_store.due(T0 + 700)
    assert decision_store.get("dec-1") is None
    assert decision_store.update("dec-1", lambda pending: 1) is None
    assert decision_store.get("dec-2") is not None
    assert decision_store.count() == 1


def test_decision_claimed_survives_same_prune(decision_store: DecisionStore) -> None:
    decision_store.put(make_pending("dec-1", T0 + 100), retention_s=10)

    assert decision_store.due(T0 + 200) == ["dec-1"]

    assert decision_store.get("dec-1") is not None
    assert decision_store.count() == 1


def test_decision_delete(decision_store: DecisionStore) -> None:
    decision_store.put(make_pending("dec-1", T0 + 100), retention_s=600)

    assert decision_store.delete("dec-1") is True
    assert decision_store.delete("dec-1") is False
    assert decision_store.get("dec-1") is None
    assert decision_store.count() == 0


# ---------------------------------------------------------------------------- snapshots


def test_snapshot_empty_store_returns_none(snapshot_store: SnapshotStore) -> None:
    assert snapshot_store.latest_version("linucb") is None
    assert snapshot_store.load("linucb") is None
    assert snapshot_store.load("linucb", 1) is None


def test_snapshot_latest_wins(snapshot_store: SnapshotStore) -> None:
    snapshot_store.publish("linucb", 1, b"weights-1")
    snapshot_store.publish("linucb", 2, b"weights-2")

    assert snapshot_store.latest_version("linucb") == 2
    assert snapshot_store.load("linucb") == (2, b"weights-2")
    assert snapshot_store.load("linucb", 1) == (1, b"weights-1")


def test_snapshot_older_publish_keeps_latest(snapshot_store: SnapshotStore) -> None:
    snapshot_store.publish("linucb", 5, b"weights-5")
    snapshot_store.publish("linucb", 4, b"weights-4")

    assert snapshot_store.latest_version("linucb") == 5
    assert snapshot_store.load("linucb") == (5, b"weights-5")
    assert snapshot_store.load("linucb", 4) == (4, b"weights-4")


def test_snapshot_old_versions_pruned(snapshot_store: SnapshotStore) -> None:
    for version in range(1, 6):
        snapshot_store.publish("linucb", version, f"weights-{version}".encode())

    loaded = {version: snapshot_store.load("linucb", version) for version in range(1, 6)}

    assert loaded[1] is None
    assert loaded[2] is None
    assert loaded[3] == (3, b"weights-3")
    assert loaded[5] == (5, b"weights-5")
    assert snapshot_store.latest_version("linucb") == 5


def test_snapshot_policies_are_separate(snapshot_store: SnapshotStore) -> None:
    snapshot_store.publish("linucb", 7, b"linucb-7")
    snapshot_store.publish("thompson", 2, b"thompson-2")

    assert snapshot_store.load("linucb") == (7, b"linucb-7")
    assert snapshot_store.load("thompson") == (2, b"thompson-2")
    assert snapshot_store.load("thompson", 7) is None


def test_checkpoint_round_trip(snapshot_store: SnapshotStore) -> None:
    assert snapshot_store.load_checkpoint("learner") is None

    snapshot_store.save_checkpoint("learner", b"\x00state-1")
    snapshot_store.save_checkpoint("learner", b"\x00state-2")

    assert snapshot_store.load_checkpoint("learner") == b"\x00state-2"
    assert snapshot_store.load_checkpoint("other") is None
