"""Redis implementations of the profile, decision and snapshot stores over redis-py.

Each store matches its in-memory twin in engine/ and passes the same contract tests.
Key layout, with the configurable prefix ``P`` (default ``ol:``):

- ``P profile:<customer id>``: one msgpack profile; ``P profiles:count``: number of profiles.
- ``P decision:<decision id>``: one JSON pending decision, expiring ``window + retention``
  seconds after it is stored.
- ``P decisions:open``: sorted set of open decisions, scored by ``expires_at`` until
  :meth:`RedisDecisionStore.due` claims them and by the end of the lease after that.
- ``P decisions:retained``: sorted set of all decisions, scored by their deletion time.
- ``P decisions:customer:<customer id>``: set of one customer's decision ids, expiring with
  the customer's newest decision; ids of decisions deleted since are dropped when read.
- ``P snap:<policy id>:<version>``: one snapshot; ``P snap:<policy id>:latest``: newest
  version; ``P snap:<policy id>:versions``: sorted set of kept versions.
- ``P checkpoint:<name>``: one learner checkpoint.

Key names contain pseudonymised customer ids and random decision ids only.

NOTE: the Lua scripts and MULTI blocks touch several keys with different hash slots, so
these stores need a single Redis server (with or without replicas), not Redis Cluster.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import msgpack
import redis
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.exceptions import RedisError, WatchError

from engine.decision_store import DecisionStore, PendingDecision
from engine.errors import InvalidInputError, StoreError
from engine.profile import CustomerProfile
from engine.profile_store import ProfileStore
from engine.snapshot_store import SnapshotStore

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "LUA_STORE_INDEXED",
    "RedisSettings",
    "connect_redis",
    "RedisProfileStore",
    "RedisDecisionStore",
    "RedisSnapshotStore",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_KEY_PREFIX = "ol:"
# After the n-th WATCH conflict, the writer pauses a random time of at most 1 ms * 2**n,
# capped at this many seconds, so competing writers spread out.
_MAX_BACKOFF_S = 0.05


class RedisSettings(BaseSettings):
    """Redis connection and store settings, read from ``REDIS_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="REDIS_", extra="ignore")

    url: str = Field(default="redis://127.0.0.1:6379/0", description="redis:// or rediss:// URL with the database.")
    key_prefix: str = Field(default=DEFAULT_KEY_PREFIX, min_length=1, description="Prefix of every key written.")
    socket_timeout_s: float = Field(default=5.0, gt=0, description="Seconds to wait for a connection or reply.")
    update_max_retries: int = Field(
        default=50, ge=0, description="Retries of a read-modify-write after a concurrent write to the same key."
    )
    snapshot_keep: int = Field(default=5, ge=1, description="Snapshot versions kept per policy.")


def connect_redis(settings: RedisSettings | None = None) -> redis.Redis:
    """Create a client for ``settings.url``; it connects on its first command.

    The client is thread-safe and pools connections; share one per process.
    """
    settings = settings if settings is not None else RedisSettings()
    return redis.Redis.from_url(
        settings.url,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.socket_timeout_s,
        health_check_interval=30,
    )


@contextmanager
def _wrap_errors(operation: str, key_prefix: str) -> Iterator[None]:
    # Messages name the operation and prefix, never a key, because keys hold customer ids.
    try:
        yield
    except WatchError:
        raise
    except RedisError as err:
        raise StoreError(
            f"Redis {operation} failed (key prefix {key_prefix!r}): {type(err).__name__}: {err}; "
            "check that Redis is reachable at REDIS_URL"
        ) from err


def _check_prefix(key_prefix: str) -> str:
    if not key_prefix:
        raise InvalidInputError(f"key_prefix must be a non-empty string such as 'ol:'; got {key_prefix!r}")
    return key_prefix


class _WatchRetry:
    """Bounded retries with jittered exponential backoff for WATCH/MULTI conflicts."""

    def __init__(self, max_retries: int, operation: str, key_prefix: str) -> None:
        self.max_retries = max_retries
        self.operation = operation
        self.key_prefix = key_prefix
        self._random = random.Random()

    def attempts(self) -> Iterator[int]:
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._random.uniform(0.0, min(_MAX_BACKOFF_S, 0.001 * 2**attempt)))
            yield attempt
        logger.warning(
            "redis_update_conflicts_exhausted operation=%s retries=%d",
            self.operation,
            self.max_retries,
            extra={"operation": self.operation, "retries": self.max_retries},
        )
        raise StoreError(
            f"Redis {self.operation} gave up after {self.max_retries} retries because other writers kept "
            f"changing the same key (key prefix {self.key_prefix!r}); raise update_max_retries or send each "
            "key's writes through one consumer (partition by the key)"
        )


# --------------------------------------------------------------------------- profiles

_PUT_PROFILE = """
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
if existed == 0 then redis.call('INCR', KEYS[2]) end
return existed
"""

_DELETE_PROFILE = """
if redis.call('DEL', KEYS[1]) == 1 then
  redis.call('DECR', KEYS[2])
  return 1
end
return 0
"""


def _decode_profile(data: bytes, key_prefix: str) -> CustomerProfile:
    try:
        return CustomerProfile.from_bytes(data)
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as err:
        raise StoreError(
            f"a profile under key prefix {key_prefix!r} could not be decoded: {err}; "
            "it was written by another schema version or another program"
        ) from err


class RedisProfileStore(ProfileStore):
    """Profiles as msgpack strings, one key per pseudonymised customer id.

    :meth:`update` is optimistic: it WATCHes the key, applies ``function`` and writes in
    MULTI/EXEC, and repeats all of it when another writer changed the key in between. So
    ``function`` may run more than once and must change nothing but the profile.

    :meth:`count` reads a counter that :meth:`put`, :meth:`update` and :meth:`delete`
    maintain atomically; keys deleted by other programs are not counted out.

    Args:
        client: redis-py client (see :func:`connect_redis`).
        key_prefix: prefix of every key this store writes.
        max_update_retries: retries of :meth:`update` after conflicting writes.
    """

    def __init__(self, client: redis.Redis, *, key_prefix: str = DEFAULT_KEY_PREFIX, max_update_retries: int = 50) -> None:
        self._client = client
        self._prefix = _check_prefix(key_prefix)
        self._max_update_retries = max_update_retries
        self._count_key = f"{key_prefix}profiles:count"
        self._put_script = client.register_script(_PUT_PROFILE)
        self._delete_script = client.register_script(_DELETE_PROFILE)

    @classmethod
    def from_settings(cls, settings: RedisSettings | None = None) -> RedisProfileStore:
        """Create a store with its own client from ``settings`` (environment by default)."""
        settings = settings if settings is not None else RedisSettings()
        return cls(connect_redis(settings), key_prefix=settings.key_prefix, max_update_retries=settings.update_max_retries)

    def __repr__(self) -> str:
        return f"RedisProfileStore(key_prefix={self._prefix!r})"

    def _key(self, customer_id: str) -> str:
        return f"{self._prefix}profile:{customer_id}"

    @property
    def client(self) -> redis.Redis:
        """The redis-py client; other Redis stores on the same client can share a round trip."""
        return self._client

    def get(self, customer_id: str) -> CustomerProfile | None:
        with _wrap_errors("GET profile", self._prefix):
            data = self._client.get(self._key(customer_id))
        return self.decode_reply(data)

    def queue_get(self, pipe: Any, customer_id: str) -> None:
        """Add the read of :meth:`get` to ``pipe``; pass its reply to :meth:`decode_reply`."""
        pipe.get(self._key(customer_id))

    def decode_reply(self, data: bytes | None) -> CustomerProfile | None:
        """Return the profile from a GET reply (None when the key was missing)."""
        return _decode_profile(data, self._prefix) if data is not None else None

    def get_many(self, customer_ids: Iterable[str]) -> dict[str, CustomerProfile]:
        """Return the known profiles among ``customer_ids``, read with one MGET."""
        ids = list(dict.fromkeys(customer_ids))
        if not ids:
            return {}
        with _wrap_errors("MGET profiles", self._prefix):
            values = self._client.mget([self._key(customer_id) for customer_id in ids])
        return {
            customer_id: _decode_profile(data, self._prefix)
            for customer_id, data in zip(ids, values)
            if data is not None
        }

    def update(self, customer_id: str, function: Callable[[CustomerProfile], T]) -> T:
        key = self._key(customer_id)
        retry = _WatchRetry(self._max_update_retries, "profile update", self._prefix)
        for _ in retry.attempts():
            with self._client.pipeline() as pipe:
                try:
                    with _wrap_errors("profile update", self._prefix):
                        pipe.watch(key)
                        data = pipe.get(key)
                    profile = _decode_profile(data, self._prefix) if data is not None else CustomerProfile(customer_id)
                    result = function(profile)
                    with _wrap_errors("profile update", self._prefix):
                        pipe.multi()
                        pipe.set(key, profile.to_bytes())
                        if data is None:
                            pipe.incr(self._count_key)
                        pipe.execute()
                    return result
                except WatchError:
                    continue
        raise AssertionError("unreachable: _WatchRetry.attempts raises when retries run out")

    def put(self, profile: CustomerProfile) -> None:
        with _wrap_errors("SET profile", self._prefix):
            self._put_script(keys=[self._key(profile.customer_id), self._count_key], args=[profile.to_bytes()])

    def delete(self, customer_id: str) -> bool:
        with _wrap_errors("DEL profile", self._prefix):
            return bool(self._delete_script(keys=[self._key(customer_id), self._count_key]))

    def count(self) -> int:
        with _wrap_errors("GET profile count", self._prefix):
            value = self._client.get(self._count_key)
        return int(value) if value is not None else 0


# -------------------------------------------------------------------------- decisions

# Claims up to ARGV[2] open decisions whose window closed at or before ARGV[1], in expiry
# order, and leases them: they stay in the open index with score ARGV[3] (now + lease), so
# they come back after the lease unless a worker stores them closed first. Then deletes
# every decision whose retention ended at or before ARGV[1], except those just claimed,
# whose deletion moves 1 s later. One script makes claim and prune atomic, so two workers
# never claim the same decision while its lease runs.
_CLAIM_DUE = """
local limit = tonumber(ARGV[2])
local ready = {}
local claimed = {}
while #ready < limit do
  local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, limit - #ready)
  if #ids == 0 then break end
  redis.call('ZREM', KEYS[1], unpack(ids))
  for _, id in ipairs(ids) do
    if redis.call('EXISTS', ARGV[4] .. id) == 1 then
      table.insert(ready, id)
      claimed[id] = true
    end
  end
end
for _, id in ipairs(ready) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
end
local expired = redis.call('ZRANGE', KEYS[2], '-inf', ARGV[1], 'BYSCORE', 'WITHSCORES')
for i = 1, #expired, 2 do
  local id = expired[i]
  if claimed[id] then
    redis.call('ZADD', KEYS[2], tonumber(expired[i + 1]) + 1, id)
  else
    redis.call('DEL', ARGV[4] .. id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[1], id)
  end
end
return ready
"""


def _decode_decision(data: bytes, key_prefix: str) -> PendingDecision:
    try:
        return PendingDecision.from_bytes(data)
    except (ValueError, TypeError, KeyError) as err:
        raise StoreError(
            f"a pending decision under key prefix {key_prefix!r} could not be decoded: {err}; "
            "it was written by another schema version or another program"
        ) from err

# A Lua function for batch scripts: store a value with a TTL and add its id to an index set.
# The set's TTL is set when the set is new (NX) and lengthened (GT) otherwise, so the set
# lives as long as its longest-lived member.
LUA_STORE_INDEXED = """
local function store_indexed(key, value, ttl, index, id)
  redis.call('SET', key, value, 'EX', ttl)
  redis.call('SADD', index, id)
  redis.call('EXPIRE', index, ttl, 'NX')
  redis.call('EXPIRE', index, ttl, 'GT')
end
"""

# Stores a batch of pending decisions in one call, so the client packs one command per
# batch instead of six per decision. Per decision: the payload with a TTL of window +
# retention, indexed by customer. Then the deletion time goes in the retention index, and
# the window close in the open index (or the id leaves it when the decision is closed).
# KEYS: open index, retention index. ARGV: decision key prefix, customer index prefix, then
# six values per decision: id, payload, TTL seconds, customer id, window close ('' when
# closed), deletion time.
_PUT_DECISIONS = LUA_STORE_INDEXED + """
local fields = 6
for base = 2, #ARGV - 1, fields do
  local id = ARGV[base + 1]
  store_indexed(ARGV[1] .. id, ARGV[base + 2], ARGV[base + 3], ARGV[2] .. ARGV[base + 4], id)
  redis.call('ZADD', KEYS[2], ARGV[base + 6], id)
  if ARGV[base + 5] == '' then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('ZADD', KEYS[1], ARGV[base + 5], id)
  end
end
return (#ARGV - 2) / fields
"""


class RedisDecisionStore(DecisionStore):
    """Pending decisions as JSON strings plus sorted-set indexes by window close and deletion time.

    Leases and retention follow the ``now`` that :meth:`due` receives, as in the in-memory
    store, so simulated clocks work. Each key also expires through Redis ``window +
    retention`` seconds after it is stored (window = ``expires_at`` minus the decision's
    timestamp), so keys do not pile up when no worker calls :meth:`due`.

    NOTE: unlike in memory, that expiry also removes a decision that is still open because
    no worker claimed it within ``retention`` after its window closed.

    Args:
        client: redis-py client (see :func:`connect_redis`).
        key_prefix: prefix of every key this store writes.
        max_update_retries: retries of :meth:`update` after conflicting writes.
    """

    def __init__(self, client: redis.Redis, *, key_prefix: str = DEFAULT_KEY_PREFIX, max_update_retries: int = 50) -> None:
        self._client = client
        self._prefix = _check_prefix(key_prefix)
        self._max_update_retries = max_update_retries
        self._decision_prefix = f"{key_prefix}decision:"
        self._open_key = f"{key_prefix}decisions:open"
        self._retained_key = f"{key_prefix}decisions:retained"
        self._customer_prefix = f"{key_prefix}decisions:customer:"
        self._claim_script = client.register_script(_CLAIM_DUE)
        self._put_script = client.register_script(_PUT_DECISIONS)

    @classmethod
    def from_settings(cls, settings: RedisSettings | None = None) -> RedisDecisionStore:
        """Create a store with its own client from ``settings`` (environment by default)."""
        settings = settings if settings is not None else RedisSettings()
        return cls(connect_redis(settings), key_prefix=settings.key_prefix, max_update_retries=settings.update_max_retries)

    def __repr__(self) -> str:
        return f"RedisDecisionStore(key_prefix={self._prefix!r})"

    def _key(self, decision_id: str) -> str:
        return f"{self._decision_prefix}{decision_id}"

    def put(self, pending: PendingDecision, *, retention_s: float) -> None:
        if retention_s < 0:
            raise InvalidInputError(f"retention_s must be >= 0 seconds; got {retention_s}")
        self.put_many([pending], retention_s=retention_s)

    def put_many(self, pendings: Sequence[PendingDecision], *, retention_s: float) -> None:
        """Store the decisions with one script call, which Redis runs atomically."""
        if retention_s < 0:
            raise InvalidInputError(f"retention_s must be >= 0 seconds; got {retention_s}")
        if not pendings:
            return
        args: list[Any] = [self._decision_prefix, self._customer_prefix]
        for pending in pendings:
            window_s = max(0.0, pending.expires_at - pending.record.ts.timestamp())
            args += (
                pending.decision_id,
                pending.to_bytes(),
                max(1, math.ceil(window_s + retention_s)),
                pending.record.customer_id,
                "" if pending.closed else repr(float(pending.expires_at)),
                repr(float(pending.expires_at + retention_s)),
            )
        with _wrap_errors("store decision", self._prefix):
            self._put_script(keys=[self._open_key, self._retained_key], args=args)

    def get(self, decision_id: str) -> PendingDecision | None:
        with _wrap_errors("GET decision", self._prefix):
            data = self._client.get(self._key(decision_id))
        return _decode_decision(data, self._prefix) if data is not None else None

    def update(self, decision_id: str, function: Callable[[PendingDecision], T]) -> T | None:
        """Apply ``function`` atomically; it may run more than once, as in RedisProfileStore.update."""
        key = self._key(decision_id)
        retry = _WatchRetry(self._max_update_retries, "decision update", self._prefix)
        for _ in retry.attempts():
            with self._client.pipeline() as pipe:
                try:
                    with _wrap_errors("decision update", self._prefix):
                        pipe.watch(key)
                        data = pipe.get(key)
                    if data is None:
                        return None
                    pending = _decode_decision(data, self._prefix)
                    result = function(pending)
                    with _wrap_errors("decision update", self._prefix):
                        pipe.multi()
                        pipe.set(key, pending.to_bytes(), keepttl=True)
                        if pending.closed:
                            pipe.zrem(self._open_key, decision_id)
                        pipe.execute()
                    return result
                except WatchError:
                    continue
        raise AssertionError("unreachable: _WatchRetry.attempts raises when retries run out")

    def due(self, now: float, *, limit: int = 1000, lease_s: float = 60.0) -> list[str]:
        # NOTE: the prune in the claim script deletes every expired decision in one step, so a
        # large backlog (no due() call for a long time) blocks Redis while it runs.
        now_text = repr(float(now))
        lease_until = repr(float(now) + lease_s)
        with _wrap_errors("claim due decisions", self._prefix):
            ready = self._claim_script(
                keys=[self._open_key, self._retained_key],
                args=[now_text, max(0, limit), lease_until, self._decision_prefix],
            )
        return [decision_id.decode() for decision_id in ready]

    def delete(self, decision_id: str) -> bool:
        with _wrap_errors("DEL decision", self._prefix):
            with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(decision_id))
                pipe.zrem(self._open_key, decision_id)
                pipe.zrem(self._retained_key, decision_id)
                deleted, _, _ = pipe.execute()
        return bool(deleted)

    def count(self) -> int:
        with _wrap_errors("count decisions", self._prefix):
            return int(self._client.zcard(self._retained_key))

    def decision_ids_for(self, customer_id: str) -> list[str]:
        """Return the customer's stored decision ids, removing index entries of deleted decisions."""
        index_key = f"{self._customer_prefix}{customer_id}"
        with _wrap_errors("read customer decision index", self._prefix):
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

    def delete_customer(self, customer_id: str) -> int:
        index_key = f"{self._customer_prefix}{customer_id}"
        with _wrap_errors("delete customer decisions", self._prefix):
            ids = [member.decode() for member in self._client.smembers(index_key)]
            with self._client.pipeline(transaction=True) as pipe:
                for decision_id in ids:
                    pipe.delete(self._key(decision_id))
                if ids:
                    pipe.zrem(self._open_key, *ids)
                    pipe.zrem(self._retained_key, *ids)
                pipe.delete(index_key)
                results = pipe.execute()
        return int(sum(results[: len(ids)]))


# -------------------------------------------------------------------------- snapshots

# Stores version ARGV[1], drops all but the newest ARGV[3] versions and sets the latest.
_PUBLISH_SNAPSHOT = """
redis.call('SET', ARGV[4] .. ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
local old = redis.call('ZRANGE', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
for _, version in ipairs(old) do
  redis.call('DEL', ARGV[4] .. version)
end
if #old > 0 then redis.call('ZREM', KEYS[1], unpack(old)) end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1)
redis.call('SET', KEYS[2], newest[1])
return newest[1]
"""

# Returns {version, data} of the latest snapshot in one step, so pruning cannot interleave.
_LOAD_LATEST = """
local version = redis.call('GET', KEYS[1])
if not version then return false end
local data = redis.call('GET', ARGV[1] .. version)
if not data then return false end
return {version, data}
"""


class RedisSnapshotStore(SnapshotStore):
    """Versioned policy snapshots and learner checkpoints as plain Redis strings.

    Args:
        client: redis-py client (see :func:`connect_redis`).
        key_prefix: prefix of every key this store writes.
        keep: versions kept per policy; older ones are deleted on publish.
    """

    def __init__(self, client: redis.Redis, *, key_prefix: str = DEFAULT_KEY_PREFIX, keep: int = 5) -> None:
        if keep < 1:
            raise InvalidInputError(f"keep must be at least 1 snapshot version; got {keep}")
        self._client = client
        self._prefix = _check_prefix(key_prefix)
        self._keep = keep
        self._publish_script = client.register_script(_PUBLISH_SNAPSHOT)
        self._load_latest_script = client.register_script(_LOAD_LATEST)

    @classmethod
    def from_settings(cls, settings: RedisSettings | None = None) -> RedisSnapshotStore:
        """Create a store with its own client from ``settings`` (environment by default)."""
        settings = settings if settings is not None else RedisSettings()
        return cls(connect_redis(settings), key_prefix=settings.key_prefix, keep=settings.snapshot_keep)

    def __repr__(self) -> str:
        return f"RedisSnapshotStore(key_prefix={self._prefix!r}, keep={self._keep})"

    def _policy_prefix(self, policy_id: str) -> str:
        return f"{self._prefix}snap:{policy_id}:"

    def publish(self, policy_id: str, version: int, data: bytes) -> None:
        policy_prefix = self._policy_prefix(policy_id)
        with _wrap_errors("publish snapshot", self._prefix):
            self._publish_script(
                keys=[f"{policy_prefix}versions", f"{policy_prefix}latest"],
                args=[int(version), data, self._keep, policy_prefix],
            )

    def latest_version(self, policy_id: str) -> int | None:
        with _wrap_errors("GET latest snapshot version", self._prefix):
            value = self._client.get(f"{self._policy_prefix(policy_id)}latest")
        return int(value) if value is not None else None

    def load(self, policy_id: str, version: int | None = None) -> tuple[int, bytes] | None:
        policy_prefix = self._policy_prefix(policy_id)
        with _wrap_errors("load snapshot", self._prefix):
            if version is None:
                found = self._load_latest_script(keys=[f"{policy_prefix}latest"], args=[policy_prefix])
                return (int(found[0]), bytes(found[1])) if found else None
            data = self._client.get(f"{policy_prefix}{int(version)}")
        return (int(version), bytes(data)) if data is not None else None

    def save_checkpoint(self, name: str, data: bytes) -> None:
        with _wrap_errors("SET checkpoint", self._prefix):
            self._client.set(f"{self._prefix}checkpoint:{name}", data)

    def load_checkpoint(self, name: str) -> bytes | None:
        with _wrap_errors("GET checkpoint", self._prefix):
            data = self._client.get(f"{self._prefix}checkpoint:{name}")
        return bytes(data) if data is not None else None
