"""Pseudonymisation of customer identifiers at the edge.

Raw customer ids never enter the engine: every entry point (API, importers, Kafka
producers) replaces them with ``HMAC-SHA256(key, raw_id)`` truncated to 32 hex digits.
The key comes from ``OFFERLOOP_PSEUDONYM_KEY``; without it a fixed development key is
used and a warning is logged once, because pseudonyms made with a public key can be
reversed by anyone who can guess the raw ids.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from functools import lru_cache

__all__ = ["pseudonymize", "pseudonym_key", "DEV_KEY"]

logger = logging.getLogger(__name__)

DEV_KEY = b"offerloop-development-key-do-not-use-in-production"
ENV_VAR = "OFFERLOOP_PSEUDONYM_KEY"


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
