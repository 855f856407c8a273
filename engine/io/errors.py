"""Exceptions raised by the Kafka adapter and the embedded broker (defined in engine.errors)."""

from __future__ import annotations

from engine.errors import BusError

__all__ = ["BusError"]
