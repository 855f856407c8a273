"""Shared fixtures: the Kafka-compatible broker and the Redis test database.

Kafka tests use the broker named by ``KAFKA_BOOTSTRAP_SERVERS`` (as .ci/run sets it) or,
when it is unset, one embedded broker started for the whole session. Redis tests use
database 15 of the server in ``REDIS_URL`` (default 127.0.0.1:6379) and a key prefix
unique to each test, whose keys are deleted afterwards.
"""

from __future__ import annotations

import os

# Ray reads this when it picks its node address; set before any test module imports Ray,
# so the session's Ray instance listens on loopback only.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from engine.io.broker import EmbeddedBroker

REDIS_TEST_DB = 15


def _redis_test_url() -> str:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_TEST_DB}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def kafka_bootstrap_servers() -> Iterator[str]:
    """``host:port`` of a Kafka-compatible broker for the session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """Client for the Redis test database; fails the test when Redis does not respond."""
    client = redis.Redis.from_url(_redis_test_url(), socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as err:
        pytest.fail(f"Redis at {_redis_test_url()} did not respond to PING ({err}); start Redis or set REDIS_URL")
    yield client
    client.close()


def _delete_keys_with_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key that starts with ``prefix``; return how many were deleted."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    return deleted


@pytest.fixture
def redis_key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix unique to this test; its keys are deleted when the test ends."""
    prefix = f"ol-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    _delete_keys_with_prefix(redis_client, prefix)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray instance for the whole test session, on loopback, two CPUs."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            _node_ip_address="127.0.0.1",
        )
        started = True
    yield
    if started:
        ray.shutdown()
