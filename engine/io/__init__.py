"""Adapters to real infrastructure: Kafka, Redis and the embedded Kafka-compatible broker.

Import the modules directly (``engine.io.kafka_bus``, ``engine.io.redis_stores``,
``engine.io.broker``); importing this package alone loads no client library.
"""

from __future__ import annotations

__all__: list[str] = []
