"""One round trip for consent and profile when both are in Redis on one client."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
import redis

from engine.consent import InMemoryConsentRegistry, RedisConsentRegistry
from engine.events import TransactionEvent
from engine.io.customer_reads import read_customer, shares_round_trip
from engine.io.redis_stores import RedisProfileStore
from engine.profile import CustomerProfile
from engine.profile_store import InMemoryProfileStore

pytestmark = pytest.mark.redis


def stored_profile(customer_id: str) -> CustomerProfile:
    profile = CustomerProfile(customer_id)
    profile.apply(
        TransactionEvent(
            event_id="t-1",
            customer_id=customer_id,
            ts=datetime(2026, 3, 2, tzinfo=timezone.utc),
            amount=Decimal("-12.50"),
            currency="EUR",
        )
    )
    return profile


class CountingClient(redis.Redis):
    """Counts pipelines and single commands sent to Redis."""

    round_trips = 0

    def execute_command(self, *args, **options):  # type: ignore[no-untyped-def]
        CountingClient.round_trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingClient.round_trips += 1
        return super().pipeline(*args, **kwargs)


def test_shared_client_reads_both_in_one_round_trip(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    kwargs = redis_client.connection_pool.connection_kwargs
    client = CountingClient(host=kwargs.get("host", "127.0.0.1"), port=kwargs.get("port", 6379), db=kwargs.get("db", 15))
    profiles = RedisProfileStore(client, key_prefix=redis_key_prefix)
    consent = RedisConsentRegistry(client, key_prefix=redis_key_prefix, default_personalisation=True)
    profiles.put(stored_profile("c-1"))
    consent.set("c-1", marketing=False, at=1.0)
    consent.mark_erased("c-gone", at=2.0)
    assert shares_round_trip(profiles, consent)

    CountingClient.round_trips = 0
    state, profile = read_customer(profiles, consent, "c-1")
    unknown_state, unknown = read_customer(profiles, consent, "c-unknown")
    erased_state, _ = read_customer(profiles, consent, "c-gone")

    assert CountingClient.round_trips == 3
    assert (state.marketing, state.personalisation) == (False, True)
    assert profile is not None and profile.revision == 1
    assert unknown is None and unknown_state == consent.defaults
    assert erased_state.erased and not erased_state.marketing


def test_separate_stores_are_read_in_turn(redis_client: redis.Redis, redis_key_prefix: str) -> None:
    profiles = RedisProfileStore(redis_client, key_prefix=redis_key_prefix)
    profiles.put(stored_profile("c-1"))
    consent = InMemoryConsentRegistry()
    consent.set("c-1", personalisation=False, at=1.0)

    assert not shares_round_trip(profiles, consent)
    assert not shares_round_trip(InMemoryProfileStore(), consent)
    state, profile = read_customer(profiles, consent, "c-1")

    assert state.personalisation is False
    assert profile is not None and profile.customer_id == "c-1"
