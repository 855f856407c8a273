"""Exception hierarchy of offerloop.

Client errors (bad input that a caller can fix) derive from :class:`InvalidInputError`;
everything else is a server-side fault.
"""

from __future__ import annotations

__all__ = [
    "OfferloopError",
    "InvalidInputError",
    "ConfigError",
    "EventValidationError",
    "RuleError",
    "StatementError",
    "UnknownOfferError",
    "StoreError",
    "BusError",
]


class OfferloopError(Exception):
    """Root of every exception that offerloop raises on purpose."""


class InvalidInputError(OfferloopError, ValueError):
    """Raised when input supplied by a caller is invalid; the message says how to fix it."""


class ConfigError(InvalidInputError):
    """Raised when a YAML config file is missing, unreadable or fails validation."""


class EventValidationError(InvalidInputError):
    """Raised when an event payload does not match the event model."""


class RuleError(InvalidInputError):
    """Raised when an eligibility rule uses syntax or names outside the rule language."""


class StatementError(InvalidInputError):
    """Raised when a bank statement file cannot be read as any supported format."""


class UnknownOfferError(InvalidInputError):
    """Raised when an offer id is not in the catalog."""


class StoreError(OfferloopError):
    """Raised when a profile, decision or snapshot store fails to read or write."""


class BusError(OfferloopError):
    """Raised when the event bus or the embedded broker fails to start, publish, poll or commit."""
