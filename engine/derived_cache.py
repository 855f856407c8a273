"""A bounded cache of values derived from a customer's profile on one local day.

Insights and date-dependent insight signals depend only on the profile's state and on the
customer's local day, so a dashboard requested again before a new event arrives, on the
same day, can reuse them. An entry is keyed by customer id. It is stamped with the
profile's revision, first-seen and last-event times and the day, and any change of the
stamp recomputes the value.

A cache lives in one process. Erasure must clear it (pass :meth:`DerivedValueCache.forget`
in ``extra_erasers``), and other replicas' caches cannot be reached from here: their
entries for an erased customer become unreachable because the erased profile is gone and
a rebuilt one has a different stamp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import LRUCache

from engine.errors import InvalidInputError
from engine.profile import CustomerProfile

__all__ = ["DerivedValueCache", "profile_stamp"]

T = TypeVar("T")


def profile_stamp(profile: CustomerProfile) -> tuple[int, float | None, float | None]:
    """Return what identifies one state of a profile: revision, first-seen and last-event times."""
    return (profile.revision, profile.first_seen, profile.last_event)


class DerivedValueCache(Generic[T]):
    """Least-recently-used values per customer, valid while the profile stamp and key match.

    Thread-safe. A profile that has applied no event (a cold start) is never cached,
    because its stamp does not tell two empty profiles apart and computing for it is cheap.

    Args:
        maxsize: customers kept; the least recently used is dropped beyond it.
    """

    def __init__(self, maxsize: int = 50_000) -> None:
        if maxsize < 1:
            raise InvalidInputError(f"maxsize must be at least 1 customer; got {maxsize}")
        self._entries: LRUCache[str, tuple[Hashable, T]] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_compute(self, profile: CustomerProfile, key: Hashable, compute: Callable[[], T]) -> T:
        """Return the cached value for ``profile`` and ``key``, else ``compute()`` and keep it.

        ``key`` carries whatever else the value depends on (the local day, a currency).
        ``compute`` runs outside the lock; two threads missing together both compute.
        """
        if profile.revision == 0:
            return compute()
        full_key = (profile_stamp(profile), key)
        with self._lock:
            entry = self._entries.get(profile.customer_id)
            if entry is not None and entry[0] == full_key:
                self.hits += 1
                return entry[1]
            self.misses += 1
        value = compute()
        with self._lock:
            self._entries[profile.customer_id] = (full_key, value)
        return value

    def forget(self, customer_id: str) -> int:
        """Drop the customer's entry; return 1 when there was one, else 0 (a CustomerEraser)."""
        with self._lock:
            return 0 if self._entries.pop(customer_id, None) is None else 1

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
