"""Profile store interface and the in-memory implementation.

A store keeps one :class:`~engine.profile.CustomerProfile` per pseudonymised customer id.
``update`` is the only way writers change a profile: it reads, applies a function and
writes back atomically, so concurrent writers (several consumer instances) never lose an
update. The Redis implementation lives in engine/io/redis_stores.py and passes the same
contract tests (tests/engine/test_store_contracts.py).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import TypeVar

from engine.profile import CustomerProfile

__all__ = ["ProfileStore", "InMemoryProfileStore"]

T = TypeVar("T")


class ProfileStore(ABC):
    """Live customer profiles keyed by pseudonymised customer id."""

    @abstractmethod
    def get(self, customer_id: str) -> CustomerProfile | None:
        """Return a private copy of the profile, or None for an unknown customer."""

    def get_many(self, customer_ids: Iterable[str]) -> dict[str, CustomerProfile]:
        """Return the known profiles among ``customer_ids``."""
        found = {}
        for customer_id in customer_ids:
            profile = self.get(customer_id)
            if profile is not None:
                found[customer_id] = profile
        return found

    @abstractmethod
    def update(self, customer_id: str, function: Callable[[CustomerProfile], T]) -> T:
        """Atomically apply ``function`` to the profile (created empty when missing) and store it."""

    @abstractmethod
    def put(self, profile: CustomerProfile) -> None:
        """Store ``profile``, replacing any previous one."""

    @abstractmethod
    def delete(self, customer_id: str) -> bool:
        """Remove the profile; return whether one existed."""

    @abstractmethod
    def count(self) -> int:
        """Return the number of stored profiles."""


class InMemoryProfileStore(ProfileStore):
    """Profiles serialised in a dict, guarded by one lock.

    Profiles are stored as bytes so that callers always get private copies and the
    memory figures match what Redis would hold.
    """

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, customer_id: str) -> CustomerProfile | None:
        data = self._data.get(customer_id)
        return CustomerProfile.from_bytes(data) if data is not None else None

    def update(self, customer_id: str, function: Callable[[CustomerProfile], T]) -> T:
        with self._lock:
            data = self._data.get(customer_id)
            profile = CustomerProfile.from_bytes(data) if data is not None else CustomerProfile(customer_id)
            result = function(profile)
            self._data[customer_id] = profile.to_bytes()
            return result

    def put(self, profile: CustomerProfile) -> None:
        with self._lock:
            self._data[profile.customer_id] = profile.to_bytes()

    def delete(self, customer_id: str) -> bool:
        with self._lock:
            return self._data.pop(customer_id, None) is not None

    def count(self) -> int:
        return len(self._data)
