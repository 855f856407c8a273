"""An event bus view that prefixes every topic name, so several deployments share one cluster.

``NamespacedBus(bus, "staging.")`` publishes ``customer-events`` to
``staging.customer-events`` and hands consumers messages with the logical topic name, so
code above it never sees the prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from engine.bus import BusConsumer, BusMessage, EventBus

__all__ = ["NamespacedBus"]


class _NamespacedConsumer(BusConsumer):
    def __init__(self, inner: BusConsumer, prefix: str) -> None:
        self._inner = inner
        self._prefix = prefix

    def poll(self, *, max_records: int = 500, timeout_s: float = 0.1) -> list[BusMessage]:
        return [
            replace(message, topic=message.topic.removeprefix(self._prefix))
            for message in self._inner.poll(max_records=max_records, timeout_s=timeout_s)
        ]

    def commit(self, offsets: Mapping[tuple[str, int], int] | None = None) -> None:
        if offsets is not None:
            offsets = {(self._prefix + topic, partition): offset for (topic, partition), offset in offsets.items()}
        self._inner.commit(offsets)

    def close(self) -> None:
        self._inner.close()


class NamespacedBus(EventBus):
    """Wraps ``inner`` so that topic ``t`` is ``prefix + t`` on the wire."""

    def __init__(self, inner: EventBus, prefix: str) -> None:
        if not prefix or any(char.isspace() for char in prefix):
            raise ValueError(f"topic prefix must be a non-empty string without spaces; got {prefix!r}")
        self.inner = inner
        self.prefix = prefix

    def publish(self, topic, value, *, key=None, headers=()):  # type: ignore[no-untyped-def]
        self.inner.publish(self.prefix + topic, value, key=key, headers=headers)

    def flush(self, timeout_s: float = 10.0) -> None:
        self.inner.flush(timeout_s)

    def consumer(self, topics: Sequence[str], *, group_id: str) -> BusConsumer:
        inner = self.inner.consumer([self.prefix + topic for topic in topics], group_id=self.prefix + group_id)
        return _NamespacedConsumer(inner, self.prefix)

    def close(self) -> None:
        self.inner.close()
