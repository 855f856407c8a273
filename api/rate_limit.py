"""Per-key token buckets.

A bucket holds up to ``burst`` tokens and refills at ``rate_per_s`` tokens per second;
each request takes one token. A request that finds the bucket empty is rejected with
HTTP 429 and a ``Retry-After`` header giving the seconds until a token is back.

NOTE: buckets live in each ingress replica, so with ``n`` replicas a key may get up to
``n`` times its rate through the load balancer.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TokenBucket", "RateLimiter"]


@dataclass
class TokenBucket:
    """Tokens available now and when they were last refilled.

    Attributes:
        rate_per_s: tokens added per second.
        burst: maximum tokens in the bucket.
        tokens: tokens available at ``updated_at``.
        updated_at: clock reading of the last refill, in seconds.
    """

    rate_per_s: float
    burst: int
    tokens: float
    updated_at: float

    def take(self, now: float) -> float:
        """Take one token; return 0 when it was taken, else the seconds until one is available."""
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate_per_s)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s


class RateLimiter:
    """One token bucket per API key name, created full on the key's first request.

    Args:
        clock: monotonic seconds; injected so that tests can move time.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, name: str, *, rate_per_s: float, burst: int) -> int:
        """Take a token for key ``name``; return 0 when allowed, else whole seconds to wait (at least 1)."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None or bucket.rate_per_s != rate_per_s or bucket.burst != burst:
                bucket = TokenBucket(rate_per_s=rate_per_s, burst=burst, tokens=float(burst), updated_at=now)
                self._buckets[name] = bucket
            wait_s = bucket.take(now)
        return 0 if wait_s == 0.0 else max(1, math.ceil(wait_s))
