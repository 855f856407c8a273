"""Consent and erasure registry: what each customer allows, and who was erased.

Two consents are kept per pseudonymised customer id:

* ``marketing``: offers of products the customer does not hold may be shown. Without it
  the dashboard keeps service content only: insights, and offers the catalog marks
  ``transactional`` (service messages such as a transfer that avoids an overdraft fee) or
  ``mandatory`` (regulatory notices).
* ``personalisation``: the customer's profile may be used to rank offers and word their
  reasons. Without it a static ranking decides from a zero context (see
  engine/decisions.py). Eligibility rules and contact policies still read the profile,
  because they protect the customer (suitability, frequency caps).

A customer without a record gets the registry's defaults, which the service reads from
``OFFERLOOP_CONSENT_DEFAULT_MARKETING`` and ``OFFERLOOP_CONSENT_DEFAULT_PERSONALISATION``.
Both default to True (an opt-out regime); a bank that collects opt-in consent sets them
to False.

The registry also remembers erased customers. An erased pseudonym keeps no consent
record, and the profile worker drops its later events. Only the pseudonym and the
erasure time remain, because without them a replayed event would rebuild the profile.
An erased customer who comes back is served as if both consents were withheld.

Redis layout, with the store's key prefix ``P``: ``P consent:<customer id>`` is a hash
with fields ``m`` and ``p`` (``1`` or ``0``) and ``t`` (epoch seconds of the consent);
``P privacy:erased`` is one hash from customer id to erasure time.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import InvalidInputError, StoreError

if TYPE_CHECKING:
    import redis

    from engine.settings import ServiceSettings

__all__ = [
    "ConsentState",
    "ConsentRegistry",
    "InMemoryConsentRegistry",
    "RedisConsentRegistry",
    "consent_registry_from_settings",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsentState:
    """The consents that apply to one customer now.

    Attributes:
        marketing: marketing offers may be shown.
        personalisation: the profile may be used to rank offers and word reasons.
        updated_at: epoch seconds of the consent record; None when the defaults apply.
        erased: the customer was erased; both consents then read False.
    """

    marketing: bool
    personalisation: bool
    updated_at: float | None = None
    erased: bool = False


_ERASED = ConsentState(marketing=False, personalisation=False, erased=True)


class ConsentRegistry(ABC):
    """Per-customer consent flags and the set of erased customers.

    Args:
        default_marketing: marketing consent of a customer without a record.
        default_personalisation: personalisation consent of a customer without a record.
    """

    def __init__(self, *, default_marketing: bool = True, default_personalisation: bool = True) -> None:
        self.defaults = ConsentState(marketing=default_marketing, personalisation=default_personalisation)

    def get(self, customer_id: str) -> ConsentState:
        """Return the consents of one customer: erased, recorded, or the defaults."""
        if self.is_erased(customer_id):
            return _ERASED
        return self._read(customer_id) or self.defaults

    def set(
        self,
        customer_id: str,
        *,
        marketing: bool | None = None,
        personalisation: bool | None = None,
        at: float,
    ) -> ConsentState:
        """Record consent given or withdrawn at ``at`` (epoch seconds) and return the result.

        A field left None keeps its current value. A change older than the stored record
        is ignored, so consent events applied out of order or twice end in the newest
        state.

        Raises:
            InvalidInputError: both fields are None, or the customer was erased (an
                erased pseudonym stays blocked; a returning customer needs a new id).
        """
        if marketing is None and personalisation is None:
            raise InvalidInputError(
                "a consent change must set marketing, personalisation or both; got neither. "
                "Pass marketing=True/False and/or personalisation=True/False"
            )
        if self.is_erased(customer_id):
            raise InvalidInputError(
                "this customer was erased; consent cannot be recorded for an erased pseudonym. "
                "A returning customer needs a new customer id"
            )
        return self._write(customer_id, marketing, personalisation, float(at))

    @abstractmethod
    def _read(self, customer_id: str) -> ConsentState | None:
        """Return the stored consent record, or None."""

    @abstractmethod
    def _write(self, customer_id: str, marketing: bool | None, personalisation: bool | None, at: float) -> ConsentState:
        """Merge a change into the stored record unless the record is newer; return the record."""

    @abstractmethod
    def forget(self, customer_id: str) -> bool:
        """Delete the customer's consent record; return whether one existed."""

    @abstractmethod
    def mark_erased(self, customer_id: str, *, at: float) -> None:
        """Add the customer to the erased set, recording the erasure time."""

    @abstractmethod
    def is_erased(self, customer_id: str) -> bool:
        """Return whether the customer was erased; the profile worker's drop hook."""

    @abstractmethod
    def erased_count(self) -> int:
        """Return the number of erased customers."""


def _merge(current: ConsentState | None, defaults: ConsentState, marketing: bool | None, personalisation: bool | None, at: float) -> ConsentState:
    base = current or defaults
    if current is not None and current.updated_at is not None and current.updated_at > at:
        return current
    return ConsentState(
        marketing=base.marketing if marketing is None else bool(marketing),
        personalisation=base.personalisation if personalisation is None else bool(personalisation),
        updated_at=at,
    )


class InMemoryConsentRegistry(ConsentRegistry):
    """Consent records and erased ids in dicts guarded by one lock."""

    def __init__(self, *, default_marketing: bool = True, default_personalisation: bool = True) -> None:
        super().__init__(default_marketing=default_marketing, default_personalisation=default_personalisation)
        self._records: dict[str, ConsentState] = {}
        self._erased: dict[str, float] = {}
        self._lock = threading.Lock()

    def _read(self, customer_id: str) -> ConsentState | None:
        return self._records.get(customer_id)

    def _write(self, customer_id: str, marketing: bool | None, personalisation: bool | None, at: float) -> ConsentState:
        with self._lock:
            state = _merge(self._records.get(customer_id), self.defaults, marketing, personalisation, at)
            self._records[customer_id] = state
            return state

    def forget(self, customer_id: str) -> bool:
        with self._lock:
            return self._records.pop(customer_id, None) is not None

    def mark_erased(self, customer_id: str, *, at: float) -> None:
        with self._lock:
            self._erased[customer_id] = float(at)
            self._records.pop(customer_id, None)

    def is_erased(self, customer_id: str) -> bool:
        return customer_id in self._erased

    def erased_count(self) -> int:
        return len(self._erased)


class RedisConsentRegistry(ConsentRegistry):
    """Consent records as Redis hashes and the erased set as one hash (layout in the module docstring).

    Args:
        client: redis-py client (see engine.io.redis_stores.connect_redis).
        key_prefix: prefix of every key this registry writes.
        default_marketing, default_personalisation: consents of customers without a record.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        key_prefix: str = "ol:",
        default_marketing: bool = True,
        default_personalisation: bool = True,
    ) -> None:
        super().__init__(default_marketing=default_marketing, default_personalisation=default_personalisation)
        if not key_prefix:
            raise InvalidInputError(f"key_prefix must be a non-empty string such as 'ol:'; got {key_prefix!r}")
        self._client = client
        self._prefix = key_prefix
        self._erased_key = f"{key_prefix}privacy:erased"

    def __repr__(self) -> str:
        return f"RedisConsentRegistry(key_prefix={self._prefix!r})"

    def _key(self, customer_id: str) -> str:
        return f"{self._prefix}consent:{customer_id}"

    def _call(self, operation: str, function: object, *args: object, **kwargs: object) -> object:
        from redis.exceptions import RedisError

        try:
            return function(*args, **kwargs)  # type: ignore[operator]
        except RedisError as err:
            # The message names the operation and prefix, never a key, because keys hold customer ids.
            raise StoreError(
                f"Redis {operation} failed (key prefix {self._prefix!r}): {type(err).__name__}: {err}; "
                "check that Redis is reachable at REDIS_URL"
            ) from err

    @property
    def client(self) -> redis.Redis:
        """The redis-py client; other Redis stores on the same client can share a round trip."""
        return self._client

    def get(self, customer_id: str) -> ConsentState:
        """Read the erased flag and the consent record in one round trip."""

        def read() -> list[object]:
            with self._client.pipeline(transaction=False) as pipe:
                self.queue_get(pipe, customer_id)
                return pipe.execute()

        return self.decode_replies(self._call("read consent", read))  # type: ignore[arg-type]

    def queue_get(self, pipe: Any, customer_id: str) -> None:
        """Add the two reads of :meth:`get` to ``pipe``; pass their replies to :meth:`decode_replies`."""
        pipe.hexists(self._erased_key, customer_id)
        pipe.hgetall(self._key(customer_id))

    def decode_replies(self, replies: Sequence[object]) -> ConsentState:
        """Return the consent state from the replies of :meth:`queue_get`."""
        erased, fields = replies
        if erased:
            return _ERASED
        return self._state(fields) or self.defaults

    def _read(self, customer_id: str) -> ConsentState | None:
        return self._state(self._call("HGETALL consent", self._client.hgetall, self._key(customer_id)))

    @staticmethod
    def _state(fields: object) -> ConsentState | None:
        if not fields:
            return None
        assert isinstance(fields, dict)
        return ConsentState(
            marketing=fields.get(b"m") == b"1",
            personalisation=fields.get(b"p") == b"1",
            updated_at=float(fields[b"t"]) if b"t" in fields else None,
        )

    def _write(self, customer_id: str, marketing: bool | None, personalisation: bool | None, at: float) -> ConsentState:
        from redis.exceptions import WatchError

        key = self._key(customer_id)
        for _ in range(20):
            with self._client.pipeline() as pipe:
                try:
                    self._call("WATCH consent", pipe.watch, key)
                    state = _merge(self._read(customer_id), self.defaults, marketing, personalisation, at)
                    pipe.multi()
                    pipe.hset(
                        key,
                        mapping={
                            "m": "1" if state.marketing else "0",
                            "p": "1" if state.personalisation else "0",
                            "t": repr(state.updated_at),
                        },
                    )
                    self._call("HSET consent", pipe.execute)
                    return state
                except WatchError:
                    continue
        raise StoreError(
            f"Redis consent update gave up after 20 retries because other writers kept changing the same record "
            f"(key prefix {self._prefix!r}); send one customer's consent changes through one consumer"
        )

    def forget(self, customer_id: str) -> bool:
        return bool(self._call("DEL consent", self._client.delete, self._key(customer_id)))

    def mark_erased(self, customer_id: str, *, at: float) -> None:
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(self._erased_key, customer_id, repr(float(at)))
            pipe.delete(self._key(customer_id))
            self._call("mark erased", pipe.execute)

    def is_erased(self, customer_id: str) -> bool:
        return bool(self._call("HEXISTS erased", self._client.hexists, self._erased_key, customer_id))

    def erased_count(self) -> int:
        return int(self._call("HLEN erased", self._client.hlen, self._erased_key))  # type: ignore[arg-type]


def consent_registry_from_settings(settings: ServiceSettings, *, client: redis.Redis | None = None) -> ConsentRegistry:
    """Return a Redis registry when ``settings.redis_url`` is set, an in-memory one otherwise.

    ``client`` reuses a Redis client (for example the profile store's, so that one round
    trip can read both); a new one is connected when None.
    """
    defaults = {
        "default_marketing": settings.consent_default_marketing,
        "default_personalisation": settings.consent_default_personalisation,
    }
    if settings.redis_url is None:
        return InMemoryConsentRegistry(**defaults)
    from engine.io.redis_stores import RedisSettings, connect_redis

    if client is None:
        client = connect_redis(RedisSettings(url=settings.redis_url, key_prefix=settings.redis_key_prefix))
    return RedisConsentRegistry(client, key_prefix=settings.redis_key_prefix, **defaults)
