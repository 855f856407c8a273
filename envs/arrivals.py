"""App opens: each customer's login times, and their merge into one arrival stream.

A customer's logins are a Poisson process with the customer's daily rate and a diurnal
profile in local time (morning, lunch and evening peaks). One :class:`LoginSchedule` per
customer serves both the customer's ``LoginEvent`` stream and the population-wide
arrival stream, so every arrival has a matching login event at the same instant and on
the same channel.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from envs.population import CustomerTraits

__all__ = ["Arrival", "LoginSchedule", "ArrivalProcess"]

SECONDS_PER_DAY = 86400
CHUNK_DAYS = 28
WEARABLE_SHARE = 0.02
# Diurnal profile of app opens in local time: (start hour, end hour, share of opens).
_LOGIN_WINDOWS: tuple[tuple[float, float, float], ...] = (
    (0.0, 7.0, 0.03),
    (7.0, 9.0, 0.20),
    (9.0, 12.0, 0.13),
    (12.0, 14.0, 0.17),
    (14.0, 17.0, 0.10),
    (17.0, 20.0, 0.18),
    (20.0, 24.0, 0.19),
)
_WINDOW_START = np.array([window[0] for window in _LOGIN_WINDOWS])
_WINDOW_LENGTH = np.array([window[1] - window[0] for window in _LOGIN_WINDOWS])
_WINDOW_SHARE = np.array([window[2] for window in _LOGIN_WINDOWS])


@dataclass(frozen=True)
class Arrival:
    """One app open: who, when (aware UTC) and through which channel."""

    customer_id: str
    ts: datetime
    channel: str


class LoginSchedule:
    """Login times of one customer, generated lazily in 28-day chunks from the customer's own generator.

    Args:
        traits: the customer.
        rng: generator used only for this schedule, so the times do not depend on what
            else the simulator draws.
        origin: epoch seconds of the first simulated UTC day; chunks are aligned to the
            customer's local midnights from there.
        rate_scale: factor applied to the customer's app-open rate.
    """

    def __init__(
        self, traits: CustomerTraits, rng: np.random.Generator, origin: float, rate_scale: float = 1.0
    ) -> None:
        self._rate = traits.logins_per_day * rate_scale
        self._web_share = traits.web_share
        self._rng = rng
        self._local_midnight = origin - traits.home.utc_offset_hours * 3600.0
        self._chunks = 0
        self.times: list[float] = []
        self.channels: list[str] = []

    @property
    def generated_until(self) -> float:
        """Epoch seconds up to which every login has been generated."""
        return self._local_midnight + self._chunks * CHUNK_DAYS * SECONDS_PER_DAY

    def _extend(self) -> None:
        rng = self._rng
        counts = rng.poisson(self._rate, CHUNK_DAYS)
        total = int(counts.sum())
        first_day = self._chunks * CHUNK_DAYS
        self._chunks += 1
        if total == 0:
            return
        days = np.repeat(np.arange(first_day, first_day + CHUNK_DAYS), counts)
        window = rng.choice(len(_LOGIN_WINDOWS), size=total, p=_WINDOW_SHARE)
        hours = _WINDOW_START[window] + rng.random(total) * _WINDOW_LENGTH[window]
        stamps = np.floor(self._local_midnight + days * SECONDS_PER_DAY + hours * 3600.0)
        draws = rng.random(total)
        order = np.argsort(stamps, kind="stable")
        for index in order:
            self.times.append(float(stamps[index]))
            draw = draws[index]
            if draw < self._web_share:
                self.channels.append("web")
            elif draw < self._web_share + WEARABLE_SHARE:
                self.channels.append("wearable")
            else:
                self.channels.append("mobile")

    def between(self, start: float, stop: float) -> list[tuple[float, str]]:
        """Return the (epoch seconds, channel) logins with ``start <= t < stop``."""
        while self.generated_until < stop:
            self._extend()
        low = bisect.bisect_left(self.times, start)
        high = bisect.bisect_left(self.times, stop)
        return list(zip(self.times[low:high], self.channels[low:high]))

    def first_index_at_or_after(self, start: float) -> int:
        """Return the index of the first login at or after ``start``, generating chunks as needed."""
        while not self.times or self.times[-1] < start:
            self._extend()
        return bisect.bisect_left(self.times, start)

    def login(self, index: int) -> tuple[float, str]:
        """Return the ``index``-th login (epoch seconds, channel), generating chunks as needed."""
        while index >= len(self.times):
            self._extend()
        return self.times[index], self.channels[index]


class ArrivalProcess:
    """Merges the customers' login schedules from ``start`` on into one stream in time order.

    Ties at the same second go to the customer with the lower population index.
    """

    def __init__(self, customer_ids: Sequence[str], schedules: Sequence[LoginSchedule], start: float) -> None:
        self._customer_ids = list(customer_ids)
        self._schedules = schedules
        self._heap: list[tuple[float, int, int]] = []
        for customer, schedule in enumerate(schedules):
            index = schedule.first_index_at_or_after(start)
            stamp, _ = schedule.login(index)
            self._heap.append((stamp, customer, index))
        heapq.heapify(self._heap)
        self.count = 0

    def next_arrival(self) -> Arrival:
        """Pop the earliest pending app open and schedule that customer's next one."""
        stamp, customer, index = self._heap[0]
        schedule = self._schedules[customer]
        _, channel = schedule.login(index)
        next_stamp, _ = schedule.login(index + 1)
        heapq.heapreplace(self._heap, (next_stamp, customer, index + 1))
        self.count += 1
        return Arrival(
            customer_id=self._customer_ids[customer],
            ts=datetime.fromtimestamp(stamp, timezone.utc),
            channel=channel,
        )
