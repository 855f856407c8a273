"""The per-customer cache of values derived from a profile and a day."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from engine.derived_cache import DerivedValueCache
from engine.errors import InvalidInputError
from engine.events import TransactionEvent
from engine.profile import CustomerProfile

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def profile_with(customer_id: str, *amounts: str) -> CustomerProfile:
    profile = CustomerProfile(customer_id)
    for index, amount in enumerate(amounts):
        profile.apply(
            TransactionEvent(
                event_id=f"{customer_id}-{index}",
                customer_id=customer_id,
                ts=T0,
                amount=Decimal(amount),
                currency="EUR",
                category="groceries",
            )
        )
    return profile


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


def test_reuses_value_while_profile_and_key_hold() -> None:
    cache: DerivedValueCache[int] = DerivedValueCache(10)
    compute = Counter()
    profile = profile_with("c-1", "-10")

    first = cache.get_or_compute(profile, ("day", 1), compute)
    again = cache.get_or_compute(CustomerProfile.from_bytes(profile.to_bytes()), ("day", 1), compute)

    assert (first, again, compute.calls) == (1, 1, 1)
    assert (cache.hits, cache.misses) == (1, 1)


def test_new_event_or_new_key_recomputes() -> None:
    cache: DerivedValueCache[int] = DerivedValueCache(10)
    compute = Counter()
    profile = profile_with("c-1", "-10")
    cache.get_or_compute(profile, 1, compute)

    profile.apply(
        TransactionEvent(event_id="c-1-new", customer_id="c-1", ts=T0, amount=Decimal("-5"), currency="EUR")
    )
    after_event = cache.get_or_compute(profile, 1, compute)
    next_day = cache.get_or_compute(profile, 2, compute)

    assert (after_event, next_day) == (2, 3)


def test_duplicate_event_does_not_change_the_stamp() -> None:
    cache: DerivedValueCache[int] = DerivedValueCache(10)
    compute = Counter()
    profile = profile_with("c-1", "-10")
    cache.get_or_compute(profile, 1, compute)

    profile.apply(
        TransactionEvent(event_id="c-1-0", customer_id="c-1", ts=T0, amount=Decimal("-10"), currency="EUR", category="groceries")
    )

    assert cache.get_or_compute(profile, 1, compute) == 1


def test_rebuilt_profile_with_same_revision_is_not_confused() -> None:
    cache: DerivedValueCache[int] = DerivedValueCache(10)
    compute = Counter()
    cache.get_or_compute(profile_with("c-1", "-10"), 1, compute)

    rebuilt = CustomerProfile("c-1")
    rebuilt.apply(
        TransactionEvent(
            event_id="other", customer_id="c-1", ts=T0.replace(hour=11), amount=Decimal("-99"), currency="EUR"
        )
    )

    assert rebuilt.revision == 1
    assert cache.get_or_compute(rebuilt, 1, compute) == 2


def test_cold_profile_is_never_cached() -> None:
    cache: DerivedValueCache[int] = DerivedValueCache(10)
    compute = Counter()

    cache.get_or_compute(CustomerProfile("c-new"), 1, compute)
    cache.get_or_compute(CustomerProfile("c-new"), 1, compute)

    assert compute.calls == 2
    assert len(cache) == 0


def test_forget_and_size_bound() -> None:
    cache: DerivedValueCache[int] = DerivedValueCache(2)
    compute = Counter()
    for customer in ("c-1", "c-2", "c-3"):
        cache.get_or_compute(profile_with(customer, "-1"), 1, compute)

    assert len(cache) == 2
    assert cache.forget("c-3") == 1
    assert cache.forget("c-3") == 0
    assert cache.forget("c-1") == 0, "the least recently used entry was dropped"


def test_rejects_empty_cache() -> None:
    with pytest.raises(InvalidInputError, match="maxsize"):
        DerivedValueCache(0)
