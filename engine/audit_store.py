"""Audit records of decisions: why a customer was shown what they were shown.

An audit record is the full :class:`~engine.events.DecisionRecord`. It contains the
features the policy saw (``context``), and per shown offer the reason and the per-feature
contributions it was chosen from. It also contains the eligibility results (``eligible``,
and ``ineligible`` with the rule that excluded each offer), the policy id, algorithm and
version, and whether consent limited the decision. The pending-decision store forgets a decision soon after its
attribution window; the audit store keeps it for ``retention_s``, which must be longer,
so that a bank can answer a customer's question months later.

Erasure (engine/erasure.py) deletes a customer's audit records with the rest of their
data. A bank that must keep them for a legal obligation exports them before erasing.

Redis layout, with the store's key prefix ``P``: ``P audit:<decision id>`` holds one
record as JSON and expires ``retention_s`` after the decision's time;
``P audit:customer:<customer id>`` is the set of the customer's audited decision ids,
expiring with the newest of them.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from engine.errors import ConfigError, InvalidInputError, StoreError
from engine.events import DecisionRecord, parse_decision
from engine.io.redis_stores import LUA_STORE_INDEXED

if TYPE_CHECKING:
    import redis

    from engine.settings import ServiceSettings

__all__ = [
    "DEFAULT_AUDIT_RETENTION_S",
    "AuditStore",
    "InMemoryAuditStore",
    "RedisAuditStore",
    "check_retention",
    "audit_store_from_settings",
]

# 400 days: a year of statements plus the time a complaint takes to reach the bank.
DEFAULT_AUDIT_RETENTION_S = 400 * 86400.0


def check_retention(retention_s: float, *, attribution_window_s: float) -> float:
    """Return ``retention_s`` if it is longer than the attribution window, else raise.

    Raises:
        ConfigError: ``retention_s`` is not longer than ``attribution_window_s``.
    """
    if not (isinstance(retention_s, (int, float)) and math.isfinite(retention_s)) or retention_s <= attribution_window_s:
        raise ConfigError(
            f"audit retention must be longer than the longest attribution window ({attribution_window_s:g} s), "
            f"so that every decision can still be explained after its rewards settle; got {retention_s!r} s. "
            "Raise OFFERLOOP_AUDIT_RETENTION_DAYS"
        )
    return float(retention_s)


class AuditStore(ABC):
    """Decision records kept for audit, by decision id, with an index by customer.

    Args:
        retention_s: seconds a record is kept after its decision time.
        clock: epoch seconds now; injected so that tests can move time.
    """

    def __init__(self, *, retention_s: float, clock: Callable[[], float] = time.time) -> None:
        if not (isinstance(retention_s, (int, float)) and retention_s > 0 and math.isfinite(retention_s)):
            raise InvalidInputError(f"retention_s must be a positive number of seconds; got {retention_s!r}")
        self.retention_s = float(retention_s)
        self.clock = clock

    @abstractmethod
    def put(self, record: DecisionRecord) -> None:
        """Store a record until ``record.ts + retention_s``; an expired record is not stored."""

    def put_many(self, records: Sequence[DecisionRecord]) -> None:
        """Store several records, as :meth:`put` each; Redis does it in one round trip."""
        for record in records:
            self.put(record)

    @abstractmethod
    def get(self, decision_id: str) -> DecisionRecord | None:
        """Return the record, or None when it is unknown or past retention."""

    @abstractmethod
    def decision_ids_for(self, customer_id: str) -> list[str]:
        """Return the ids of the customer's stored records, in no particular order."""

    @abstractmethod
    def delete_customer(self, customer_id: str) -> int:
        """Delete every record of one customer and the index entry; return how many existed."""

    @abstractmethod
    def count(self) -> int:
        """Return the number of records stored and not yet past retention."""

    def _expires_at(self, record: DecisionRecord) -> float:
        return record.ts.timestamp() + self.retention_s


class InMemoryAuditStore(AuditStore):
    """Records in a dict, pruned at each write once their retention ended."""

    def __init__(self, *, retention_s: float = DEFAULT_AUDIT_RETENTION_S, clock: Callable[[], float] = time.time) -> None:
        super().__init__(retention_s=retention_s, clock=clock)
        self._records: dict[str, tuple[float, bytes]] = {}
        self._by_customer: dict[str, set[str]] = {}
        self._expiry: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def put(self, record: DecisionRecord) -> None:
        expires_at = self._expires_at(record)
        now = self.clock()
        with self._lock:
            self._prune(now)
            if expires_at <= now:
                return
            self._records[record.decision_id] = (expires_at, record.json_bytes())
            self._by_customer.setdefault(record.customer_id, set()).add(record.decision_id)
            heapq.heappush(self._expiry, (expires_at, record.decision_id))

    def get(self, decision_id: str) -> DecisionRecord | None:
        entry = self._records.get(decision_id)
        if entry is None or entry[0] <= self.clock():
            return None
        return parse_decision(entry[1])

    def decision_ids_for(self, customer_id: str) -> list[str]:
        now = self.clock()
        with self._lock:
            return [i for i in self._by_customer.get(customer_id, ()) if i in self._records and self._records[i][0] > now]

    def delete_customer(self, customer_id: str) -> int:
        with self._lock:
            ids = self._by_customer.pop(customer_id, set())
            return sum(self._records.pop(decision_id, None) is not None for decision_id in ids)

    def count(self) -> int:
        now = self.clock()
        return sum(1 for expires_at, _ in list(self._records.values()) if expires_at > now)

    def _prune(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, decision_id = heapq.heappop(self._expiry)
            entry = self._records.get(decision_id)
            if entry is None or entry[0] > now:
                continue
            customer_id = parse_decision(entry[1]).customer_id
            del self._records[decision_id]
            ids = self._by_customer.get(customer_id)
            if ids is not None:
                ids.discard(decision_id)
                if not ids:
                    del self._by_customer[customer_id]


# Stores a batch of audit records in one call, run atomically inside Redis, each indexed by
# customer. ARGV: record key prefix, customer index prefix, then four values per record:
# decision id, JSON, TTL seconds, customer id.
_PUT_RECORDS = LUA_STORE_INDEXED + """
for base = 2, #ARGV - 1, 4 do
  local id = ARGV[base + 1]
  store_indexed(ARGV[1] .. id, ARGV[base + 2], ARGV[base + 3], ARGV[2] .. ARGV[base + 4], id)
end
return (#ARGV - 2) / 4
"""


class RedisAuditStore(AuditStore):
    """Records as JSON strings expiring through Redis, plus one index set per customer.

    Args:
        client: redis-py client (see engine.io.redis_stores.connect_redis).
        key_prefix: prefix of every key this store writes.
        retention_s: seconds a record is kept after its decision time.
        clock: epoch seconds now.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        key_prefix: str = "ol:",
        retention_s: float = DEFAULT_AUDIT_RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(retention_s=retention_s, clock=clock)
        if not key_prefix:
            raise InvalidInputError(f"key_prefix must be a non-empty string such as 'ol:'; got {key_prefix!r}")
        self._client = client
        self._prefix = key_prefix
        self._put_script = client.register_script(_PUT_RECORDS)

    def __repr__(self) -> str:
        return f"RedisAuditStore(key_prefix={self._prefix!r}, retention_s={self.retention_s:g})"

    def _key(self, decision_id: str) -> str:
        return f"{self._prefix}audit:{decision_id}"

    def _index_key(self, customer_id: str) -> str:
        return f"{self._prefix}audit:customer:{customer_id}"

    def _run(self, operation: str, function: Callable[[], object]) -> object:
        from redis.exceptions import RedisError

        try:
            return function()
        except RedisError as err:
            # The message names the operation and prefix, never a key, because keys hold customer ids.
            raise StoreError(
                f"Redis {operation} failed (key prefix {self._prefix!r}): {type(err).__name__}: {err}; "
                "check that Redis is reachable at REDIS_URL"
            ) from err

    def put(self, record: DecisionRecord) -> None:
        self.put_many([record])

    def put_many(self, records: Sequence[DecisionRecord]) -> None:
        """Store the records with one script call, which Redis runs atomically; expired ones are skipped."""
        now = self.clock()
        live = [(record, math.ceil(self._expires_at(record) - now)) for record in records]
        live = [(record, ttl_s) for record, ttl_s in live if ttl_s > 0]
        if not live:
            return

        args: list[object] = [self._key(""), self._index_key("")]
        for record, ttl_s in live:
            args += (record.decision_id, record.json_bytes(), ttl_s, record.customer_id)
        self._run("store audit record", lambda: self._put_script(args=args))

    def get(self, decision_id: str) -> DecisionRecord | None:
        data = self._run("GET audit record", lambda: self._client.get(self._key(decision_id)))
        return parse_decision(data) if isinstance(data, bytes) else None

    def decision_ids_for(self, customer_id: str) -> list[str]:
        index_key = self._index_key(customer_id)

        def read() -> list[str]:
            ids = [member.decode() for member in self._client.smembers(index_key)]
            if not ids:
                return []
            with self._client.pipeline(transaction=False) as pipe:
                for decision_id in ids:
                    pipe.exists(self._key(decision_id))
                exists = pipe.execute()
            stale = [decision_id for decision_id, found in zip(ids, exists) if not found]
            if stale:
                self._client.srem(index_key, *stale)
            return [decision_id for decision_id, found in zip(ids, exists) if found]

        return self._run("read audit index", read)  # type: ignore[return-value]

    def delete_customer(self, customer_id: str) -> int:
        index_key = self._index_key(customer_id)

        def delete() -> int:
            ids = [member.decode() for member in self._client.smembers(index_key)]
            with self._client.pipeline(transaction=True) as pipe:
                for decision_id in ids:
                    pipe.delete(self._key(decision_id))
                pipe.delete(index_key)
                results = pipe.execute()
            return int(sum(results[: len(ids)]))

        return self._run("delete customer audit records", delete)  # type: ignore[return-value]

    def count(self) -> int:
        def scan() -> int:
            return sum(
                1
                for key in self._client.scan_iter(match=f"{self._prefix}audit:*", count=1000)
                if not key.startswith(f"{self._prefix}audit:customer:".encode())
            )

        # NOTE: SCAN walks the whole keyspace, so count() is for tests and operations, not hot paths.
        return self._run("count audit records", scan)  # type: ignore[return-value]


def audit_store_from_settings(settings: ServiceSettings, *, attribution_window_s: float) -> AuditStore:
    """Return a Redis audit store when ``settings.redis_url`` is set, an in-memory one otherwise.

    Raises:
        ConfigError: ``settings.audit_retention_days`` is not longer than the attribution window.
    """
    retention_s = check_retention(settings.audit_retention_days * 86400.0, attribution_window_s=attribution_window_s)
    if settings.redis_url is None:
        return InMemoryAuditStore(retention_s=retention_s)
    from engine.io.redis_stores import RedisSettings, connect_redis

    client = connect_redis(RedisSettings(url=settings.redis_url, key_prefix=settings.redis_key_prefix))
    return RedisAuditStore(client, key_prefix=settings.redis_key_prefix, retention_s=retention_s)
