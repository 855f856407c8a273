"""Pseudonymisation and data minimisation at the edge.

Raw customer ids never enter the engine: every entry point (API, importers, Kafka
producers) replaces them with ``HMAC-SHA256(key, raw_id)`` truncated to 32 hex digits.
The key comes from ``OFFERLOOP_PSEUDONYM_KEY``; without it a fixed development key is
used and a warning is logged once, because pseudonyms made with a public key can be
reversed by anyone who can guess the raw ids.

:func:`sanitize_event_payload` is the one function producers call on a raw event before
it is published. It pseudonymises the customer and account ids, coarsens locations to a
0.1 degree grid (about 11 km of latitude) and, for transactions, categorises the
payment and drops the free text (description and merchant), because free text can name
people and carry account numbers. The profile needs only the category.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from engine.errors import InvalidInputError

__all__ = [
    "DEV_KEY",
    "ENV_VAR",
    "LOCATION_GRID_DEG",
    "pseudonymize",
    "pseudonymize_account",
    "pseudonym_key",
    "coarsen_location",
    "sanitize_event_payload",
]

logger = logging.getLogger(__name__)

DEV_KEY = b"offerloop-development-key-do-not-use-in-production"
ENV_VAR = "OFFERLOOP_PSEUDONYM_KEY"
# Grid of coarsened coordinates in degrees: 0.1 degree is about 11 km of latitude, the
# size of a town or a city district, enough to tell "abroad" from "at home".
LOCATION_GRID_DEG = 0.1
_ACCOUNT_PREFIX = "acct-"


@lru_cache(maxsize=1)
def pseudonym_key() -> bytes:
    """Return the HMAC key from the environment, or the development key with a warning."""
    value = os.environ.get(ENV_VAR)
    if value:
        return value.encode()
    logger.warning("pseudonym_key_missing: %s is not set; using the development key", ENV_VAR)
    return DEV_KEY


def pseudonymize(raw_id: str, key: bytes | None = None) -> str:
    """Return the stable pseudonym of ``raw_id`` (32 hex digits)."""
    if not raw_id:
        raise ValueError("customer id is empty; pass the bank's customer identifier")
    digest = hmac.new(key if key is not None else pseudonym_key(), raw_id.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def pseudonymize_account(raw_account: str, key: bytes | None = None) -> str:
    """Return the pseudonym of an account number or IBAN, ``acct-`` plus 16 hex digits.

    Spaces and case are ignored, so ``NL91 ABNA 0417 1643 00`` and ``nl91abna0417164300``
    map to the same pseudonym. An input that already is a pseudonym is returned unchanged,
    so that sanitising an event twice is harmless.
    """
    if not raw_account or not raw_account.strip():
        raise InvalidInputError(f"account id must be a non-empty string; got {raw_account!r}")
    if raw_account.startswith(_ACCOUNT_PREFIX):
        return raw_account
    normalised = "".join(raw_account.split()).upper()
    digest = hmac.new(key if key is not None else pseudonym_key(), f"account:{normalised}".encode(), hashlib.sha256)
    return _ACCOUNT_PREFIX + digest.hexdigest()[:16]


def _snap(value: float, grid_deg: float) -> float:
    # Rounding to whole cells and then to 6 decimals removes float noise such as
    # 52.400000000000006, so a coarsened value coarsens to itself.
    return round(round(value / grid_deg) * grid_deg, 6)


def coarsen_location(lat: float, lon: float, *, grid_deg: float = LOCATION_GRID_DEG) -> tuple[float, float]:
    """Return ``(lat, lon)`` snapped to the nearest point of a ``grid_deg`` degree grid.

    Coarsening is idempotent: a coarsened location is returned unchanged.

    Args:
        lat: latitude in degrees, in [-90, 90].
        lon: longitude in degrees, in [-180, 180].
        grid_deg: grid spacing in degrees, in (0, 10].

    Raises:
        InvalidInputError: a coordinate is not finite or out of range, or ``grid_deg`` is
            out of range.

    Example:
        >>> coarsen_location(52.37403, 4.88969)
        (52.4, 4.9)
    """
    if not (isinstance(grid_deg, (int, float)) and 0.0 < grid_deg <= 10.0):
        raise InvalidInputError(f"grid_deg must be a number in (0, 10] degrees; got {grid_deg!r}")
    for name, value, bound in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or abs(value) > bound:
            raise InvalidInputError(f"{name} must be a finite number of degrees in [-{bound:g}, {bound:g}]; got {value!r}")
    coarse_lat = max(-90.0, min(90.0, _snap(float(lat), grid_deg)))
    coarse_lon = max(-180.0, min(180.0, _snap(float(lon), grid_deg)))
    return coarse_lat, coarse_lon


def _edge_category(payload: Mapping[str, Any]) -> str | None:
    """Return the transaction's category, computed from its free text when the source gave none."""
    if payload.get("category"):
        return str(payload["category"])
    from engine.categorize import categorize

    try:
        amount = Decimal(str(payload.get("amount")))
    except (InvalidOperation, ValueError):
        # The event is invalid anyway; the consumer dead-letters it with the reason.
        return None
    return categorize(str(payload.get("description") or ""), merchant=payload.get("merchant"), mcc=payload.get("mcc"), amount=amount)


def sanitize_event_payload(
    payload: Mapping[str, Any],
    *,
    key: bytes | None = None,
    keep_free_text: bool = False,
    grid_deg: float = LOCATION_GRID_DEG,
) -> dict[str, Any]:
    """Return a copy of a raw event payload that is safe to publish.

    The input is not modified. Changes:

    * ``customer_id`` becomes :func:`pseudonymize` of it.
    * ``account_id`` becomes :func:`pseudonymize_account` of it.
    * ``lat``/``lon`` of a ``geo_ping`` are coarsened with :func:`coarsen_location`.
    * a ``transaction`` gets its ``category`` (from the source, else from
      :func:`engine.categorize.categorize`) and loses ``description``; ``merchant``
      becomes a known brand name or a keyed pseudonym (see :func:`_edge_merchant`),
      unless ``keep_free_text`` is True.

    Fields this function does not recognise pass through unchanged, so that the consumer
    validates the event and dead-letters it with a reason when it is invalid.

    Raises:
        InvalidInputError: ``customer_id`` is missing or not a non-empty string.
    """
    customer_id = payload.get("customer_id")
    if not isinstance(customer_id, str) or not customer_id:
        raise InvalidInputError(
            f"event customer_id must be a non-empty string (the bank's customer id); got {customer_id!r}"
        )
    clean = dict(payload)
    clean["customer_id"] = pseudonymize(customer_id, key)
    account = clean.get("account_id")
    if isinstance(account, str) and account.strip():
        clean["account_id"] = pseudonymize_account(account, key)
    event_type = clean.get("type")
    if event_type == "geo_ping":
        try:
            clean["lat"], clean["lon"] = coarsen_location(float(clean["lat"]), float(clean["lon"]), grid_deg=grid_deg)
        except (KeyError, TypeError, ValueError):
            # Missing, non-numeric or out-of-range coordinates fail event validation
            # downstream; they are dropped here so that the dead-letter record does not
            # keep a precise location either. InvalidInputError is a ValueError.
            clean["lat"], clean["lon"] = None, None
    elif event_type == "transaction" and not keep_free_text:
        category = _edge_category(clean)
        if category is not None:
            clean["category"] = category
        merchant = _edge_merchant(clean, key)
        clean.pop("description", None)
        clean.pop("merchant", None)
        if merchant is not None:
            clean["merchant"] = merchant
    return clean


def _edge_merchant(payload: Mapping[str, Any], key: bytes | None) -> str | None:
    """Return a merchant label that names no person: a known brand, else a keyed pseudonym.

    Recurring-payment detection groups payments by merchant, so a stable label is kept.
    Brands from the categoriser's merchant list (Netflix, Spotify, ...) stay readable;
    any other name, which may be a person's, becomes ``merchant-`` plus 12 hex digits.
    """
    from engine.categorize import fold, load_category_rules, normalize_merchant

    text = payload.get("merchant") or payload.get("description")
    if not isinstance(text, str) or not text.strip():
        return None
    name = normalize_merchant(text)
    if not name:
        return None
    if load_category_rules().match_spend_merchant(fold(name)) is not None:
        return name
    return "merchant-" + pseudonymize(name, key)[:12]
