"""Redis-specific behaviour of the Redis stores; the shared contracts are in tests/engine/test_store_contracts.py."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.decision_store import PendingDecision
from engine.errors import InvalidInputError, StoreError
from engine.events import DecisionRecord
from engine.io.redis_stores import (
    RedisDecisionStore,
    RedisProfileStore,
    RedisSettings,
    RedisSnapshotStore,
    connect_redis,
)
from engine.profile import CustomerProfile

pytestmark = pytest.mark.redis

T0 = 1_772_409_600.0
CUSTOMER_ID = "pseud-4b1c9e0f77d2"


def make_pending(decision_id: str, *, window_s: float) -> PendingDecision:
    record = DecisionRecord(
        decision_id=decision_id,
        customer_id=CUSTOMER_ID,
        ts=datetime.fromtimestamp(T0, tz=timezone.utc),
        policy_id="linucb",
        policy_version=1,
        context={},
        candidates=(),
        shown=(),
        slate_propensity=1.0,
    )
    return PendingDecision(record=record, expires_at=T0 + window_s)


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/3")
    monkeypatch.setenv("REDIS_KEY_PREFIX", "bank-a:")

    settings = RedisSettings()

    assert settings.url == "redis://127.0.0.1:6390/3"
    assert settings.key_prefix == "bank-a:"
    assert connect_redis(settings).connection_pool.connection_kwargs["db"] == 3


def test_profile_key_layout(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    store = RedisProfileStore(redis_client, key_prefix=redis_key_prefix)

    store.put(CustomerProfile(CUSTOMER_ID))

    stored = redis_client.get(f"{redis_key_prefix}profile:{CUSTOMER_ID}")
    assert stored is not None
    assert CustomerProfile.from_bytes(stored).customer_id == CUSTOMER_ID
    assert redis_client.get(f"{redis_key_prefix}profiles:count") == b"1"


def test_from_settings_uses_prefix(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    url = f"redis://127.0.0.1:{redis_client.connection_pool.connection_kwargs['port']}/15"
    store = RedisSnapshotStore.from_settings(RedisSettings(url=url, key_prefix=redis_key_prefix, snapshot_keep=2))

    store.publish("linucb", 1, b"weights")

    assert redis_client.get(f"{redis_key_prefix}snap:linucb:1") == b"weights"
    assert redis_client.get(f"{redis_key_prefix}snap:linucb:latest") == b"1"


def test_decision_ttl_is_window_plus_retention(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    store = RedisDecisionStore(redis_client, key_prefix=redis_key_prefix)
    store.put(make_pending("dec-1", window_s=7 * 86400), retention_s=86400)
    key = f"{redis_key_prefix}decision:dec-1"
    ttl_after_put = redis_client.ttl(key)

    store.update("dec-1", lambda pending: pending.seen_events.append("evt-1"))

    assert 8 * 86400 - 5 <= ttl_after_put <= 8 * 86400
    assert 8 * 86400 - 5 <= redis_client.ttl(key) <= 8 * 86400


def test_decision_batch_writes_every_index(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    store = RedisDecisionStore(redis_client, key_prefix=redis_key_prefix)
    short, long_ = make_pending("dec-1", window_s=100), make_pending("dec-2", window_s=5000)
    closed = make_pending("dec-3", window_s=300)
    closed.closed = True

    store.put_many([short, long_, closed], retention_s=600)

    open_key, retained_key = f"{redis_key_prefix}decisions:open", f"{redis_key_prefix}decisions:retained"
    index_key = f"{redis_key_prefix}decisions:customer:{CUSTOMER_ID}"
    assert redis_client.zrange(open_key, 0, -1, withscores=True) == [(b"dec-1", T0 + 100), (b"dec-2", T0 + 5000)]
    assert dict(redis_client.zrange(retained_key, 0, -1, withscores=True)) == {
        b"dec-1": T0 + 700, b"dec-3": T0 + 900, b"dec-2": T0 + 5600
    }
    assert redis_client.smembers(index_key) == {b"dec-1", b"dec-2", b"dec-3"}
    # The index lives as long as the longest-lived decision in it, whatever the order.
    assert 5600 - 5 <= redis_client.ttl(index_key) <= 5600
    assert 700 - 5 <= redis_client.ttl(f"{redis_key_prefix}decision:dec-1") <= 700


def test_decision_close_removes_open_index(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    store = RedisDecisionStore(redis_client, key_prefix=redis_key_prefix)
    store.put(make_pending("dec-1", window_s=100), retention_s=600)
    open_key = f"{redis_key_prefix}decisions:open"
    assert redis_client.zscore(open_key, "dec-1") == T0 + 100

    store.due(T0 + 100, lease_s=30)
    leased_until = redis_client.zscore(open_key, "dec-1")
    store.update("dec-1", lambda pending: setattr(pending, "closed", True))

    assert leased_until == T0 + 130
    assert redis_client.zscore(open_key, "dec-1") is None


def test_update_gives_up_after_retries(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    store = RedisProfileStore(redis_client, key_prefix=redis_key_prefix, max_update_retries=3)
    store.put(CustomerProfile(CUSTOMER_ID))
    calls: list[int] = []

    def conflicting_write(profile: CustomerProfile) -> None:
        calls.append(1)
        # Another writer changes the key between WATCH and EXEC on every attempt.
        redis_client.set(f"{redis_key_prefix}profile:{CUSTOMER_ID}", CustomerProfile(CUSTOMER_ID).to_bytes())

    with pytest.raises(StoreError, match="profile update gave up after 3 retries") as raised:
        store.update(CUSTOMER_ID, conflicting_write)

    assert len(calls) == 4
    assert redis_key_prefix in str(raised.value)
    assert CUSTOMER_ID not in str(raised.value)


def test_unreachable_redis_raises_store_error() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    store = RedisProfileStore(client, key_prefix="ol-unreachable:")

    with pytest.raises(StoreError, match="Redis GET profile failed \\(key prefix 'ol-unreachable:'\\)") as raised:
        store.get(CUSTOMER_ID)

    assert CUSTOMER_ID not in str(raised.value)


def test_corrupt_profile_raises_store_error(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    redis_client.set(f"{redis_key_prefix}profile:{CUSTOMER_ID}", b"\xc1 not msgpack")
    store = RedisProfileStore(redis_client, key_prefix=redis_key_prefix)

    with pytest.raises(StoreError, match="could not be decoded") as raised:
        store.get(CUSTOMER_ID)

    assert CUSTOMER_ID not in str(raised.value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda client: RedisProfileStore(client, key_prefix=""), "key_prefix must be a non-empty string"),
        (lambda client: RedisSnapshotStore(client, keep=0), "keep must be at least 1 snapshot version; got 0"),
    ],
    ids=["empty-prefix", "keep-zero"],
)
def test_invalid_arguments_raise(redis_client: redis.Redis, build: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        build(redis_client)  # type: ignore[operator]


def test_negative_retention_raises(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    store = RedisDecisionStore(redis_client, key_prefix=redis_key_prefix)

    with pytest.raises(InvalidInputError, match="retention_s must be >= 0 seconds; got -1"):
        store.put(make_pending("dec-1", window_s=100), retention_s=-1)
