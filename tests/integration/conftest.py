"""Fixtures for tests that run the stream workers against the real broker and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from engine.bus import EventBus
from engine.runtime import Configs, Stores, build_bus, build_stores, load_configs
from engine.settings import ServiceSettings
from engine.topic_namespace import NamespacedBus


@dataclass
class Infra:
    settings: ServiceSettings
    configs: Configs
    stores: Stores
    bus: EventBus
    namespace: str


@pytest.fixture
def infra(kafka_bootstrap_servers: str, redis_client, redis_key_prefix: str) -> Iterator[Infra]:
    """Redis stores under a unique key prefix and a Kafka bus under a unique topic prefix."""
    url = redis_client.connection_pool.connection_kwargs
    redis_url = f"redis://{url.get('host', '127.0.0.1')}:{url.get('port', 6379)}/{url.get('db', 15)}"
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        redis_url=redis_url,
        redis_key_prefix=redis_key_prefix,
    )
    namespace = f"t{uuid.uuid4().hex[:10]}."
    bus = NamespacedBus(build_bus(kafka_bootstrap_servers), namespace)
    yield Infra(settings, load_configs(settings), build_stores(settings), bus, namespace)
    bus.close()
