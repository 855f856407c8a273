"""Exceptions raised by the Kafka adapter and the embedded broker."""

from __future__ import annotations

from engine.errors import OfferloopError

__all__ = ["BusError"]


# TODO: move to engine/errors.py next to StoreError; this module then re-exports it.
class BusError(OfferloopError):
    """Raised when the event bus or the embedded broker fails to start, publish, poll or commit."""
