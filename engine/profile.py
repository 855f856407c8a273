"""Live customer profile, updated event by event.

The profile keeps one bucket per calendar day (UTC) for the last ``HORIZON_DAYS`` days and
running sums over the 30-, 56- and 90-day windows that end on the profile's clock day.
Applying an event adds to one bucket and to the running sums; advancing the clock
subtracts the buckets that leave each window. Every day enters and leaves each window
once, so an update costs amortised O(1) whatever the history length.

Events older than ``HORIZON_DAYS`` before the clock are counted in ``stale_events`` and
otherwise ignored, because they can no longer change any windowed feature. Event ids are
remembered, as 64-bit hashes, for as long as their day stays in the horizon, which makes
replays of the same event (a re-imported statement, a redelivered Kafka message) no-ops.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgpack

from engine.categories import INCOME_CATEGORIES, REFUND_CATEGORY
from engine.categorize import refunded_category
from engine.events import (
    BalanceSnapshotEvent,
    GeoPingEvent,
    LoginEvent,
    OfferFeedbackEvent,
    TransactionEvent,
)
from engine.insights.state import refresh_insight_state, update_insight_state

__all__ = ["HORIZON_DAYS", "WINDOWS", "CustomerProfile", "ApplyResult", "day_of", "event_hash"]

logger = logging.getLogger(__name__)

HORIZON_DAYS = 90
WINDOWS: tuple[int, ...] = (30, 56, 90)
MAX_SALARY_HISTORY = 6
MAX_IMPRESSIONS_KEPT = 20
SCHEMA_VERSION = 1
_EPOCH_DAY0 = datetime(1970, 1, 1, tzinfo=timezone.utc)


def day_of(ts: datetime) -> int:
    """Return the UTC day number (days since 1970-01-01) of an aware timestamp."""
    return int(ts.timestamp() // 86400)


def event_hash(event_id: str) -> int:
    """Return a signed 64-bit hash of an event id, used to recognise replays compactly."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big", signed=True)


def _empty_bucket() -> dict[str, Any]:
    # s: spend, i: income, n: transactions, c: spend by category, r: loan and card repayments,
    # neg: 1 when a negative balance was seen that day, l: logins, h: event-id hashes.
    return {"s": 0.0, "i": 0.0, "n": 0, "c": {}, "r": 0.0, "neg": 0, "l": 0, "h": []}


def _empty_window() -> dict[str, Any]:
    return {"s": 0.0, "i": 0.0, "n": 0, "c": {}, "r": 0.0, "neg": 0, "l": 0, "wd": [0.0] * 7}


@dataclass
class ApplyResult:
    """Result of applying one event to the profile."""

    applied: bool
    reason: str = "applied"


@dataclass
class CustomerProfile:
    """Mutable per-customer state. Serialise with :meth:`to_bytes`, restore with :meth:`from_bytes`."""

    customer_id: str
    currency: str | None = None
    first_seen: float | None = None
    last_event: float | None = None
    clock_day: int | None = None
    days: dict[int, dict[str, Any]] = field(default_factory=dict)
    windows: dict[int, dict[str, Any]] = field(default_factory=lambda: {w: _empty_window() for w in WINDOWS})
    seen: set[int] = field(default_factory=set)
    salary: list[list[float]] = field(default_factory=list)
    balance: float | None = None
    balance_at: float | None = None
    credit_limit: float | None = None
    last_login: float | None = None
    last_transaction: float | None = None
    countries: dict[str, int] = field(default_factory=dict)
    last_country: str | None = None
    offers: dict[str, dict[str, Any]] = field(default_factory=dict)
    stale_events: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # Counts applied events. Caches of values derived from the profile (insights, insight
    # signals) key on it together with first_seen and last_event.
    revision: int = 0

    # ----------------------------------------------------------------- clock
    def advance_to(self, day: int) -> None:
        """Move the clock forward to ``day``, evicting buckets that leave each window."""
        if self.clock_day is None:
            self.clock_day = day
            return
        if day <= self.clock_day:
            return
        old = self.clock_day
        for width in WINDOWS:
            window = self.windows[width]
            # Days d with old - width < d <= day - width leave this window.
            start = old - width + 1
            stop = min(day - width, old)
            if stop - start >= len(self.days):
                candidates = [d for d in self.days if start <= d <= stop]
            else:
                candidates = [d for d in range(start, stop + 1) if d in self.days]
            for gone in candidates:
                self._add_to_window(window, gone, self.days[gone], sign=-1.0)
        self.clock_day = day
        horizon_start = day - HORIZON_DAYS + 1
        for gone in [d for d in self.days if d < horizon_start]:
            bucket = self.days.pop(gone)
            self.seen.difference_update(bucket["h"])

    def _add_to_window(self, window: dict[str, Any], day: int, bucket: dict[str, Any], sign: float) -> None:
        window["s"] += sign * bucket["s"]
        window["i"] += sign * bucket["i"]
        window["n"] += int(sign) * bucket["n"]
        window["r"] += sign * bucket["r"]
        window["neg"] += int(sign) * bucket["neg"]
        window["l"] += int(sign) * bucket["l"]
        window["wd"][(day + 3) % 7] += sign * bucket["s"]  # 1970-01-01 was a Thursday (weekday 3).
        categories = window["c"]
        for name, amount in bucket["c"].items():
            categories[name] = categories.get(name, 0.0) + sign * amount

    def _in_window(self, day: int, width: int) -> bool:
        assert self.clock_day is not None
        return self.clock_day - width < day <= self.clock_day

    def _bucket_delta(self, day: int, delta: dict[str, Any]) -> None:
        """Add ``delta`` (same keys as a bucket) to the day's bucket and to every window containing it."""
        bucket = self.days.get(day)
        if bucket is None:
            bucket = _empty_bucket()
            self.days[day] = bucket
        for key in ("s", "i", "r"):
            bucket[key] += delta.get(key, 0.0)
        for key in ("n", "l"):
            bucket[key] += delta.get(key, 0)
        new_neg = max(bucket["neg"], delta.get("neg", 0))
        neg_change = new_neg - bucket["neg"]
        bucket["neg"] = new_neg
        for name, amount in delta.get("c", {}).items():
            bucket["c"][name] = bucket["c"].get(name, 0.0) + amount
        for width in WINDOWS:
            if not self._in_window(day, width):
                continue
            window = self.windows[width]
            window["s"] += delta.get("s", 0.0)
            window["i"] += delta.get("i", 0.0)
            window["n"] += delta.get("n", 0)
            window["r"] += delta.get("r", 0.0)
            window["l"] += delta.get("l", 0)
            window["neg"] += neg_change
            window["wd"][(day + 3) % 7] += delta.get("s", 0.0)
            for name, amount in delta.get("c", {}).items():
                window["c"][name] = window["c"].get(name, 0.0) + amount

    # ---------------------------------------------------------------- events
    def apply(self, event: Any, *, category: str | None = None, refresh_insights: bool = True) -> ApplyResult:
        """Apply one customer or feedback event.

        Args:
            event: a TransactionEvent, LoginEvent, GeoPingEvent, BalanceSnapshotEvent or
                OfferFeedbackEvent for this customer.
            category: the transaction's category when the caller categorised it;
                otherwise ``event.category`` or ``"other"``/``"other_income"``.
            refresh_insights: False defers the rebuild of the insight signals; call
                :meth:`refresh_insights` after the last event of the batch.
        """
        ts: datetime = event.ts
        day = day_of(ts)
        if self.clock_day is not None and day <= self.clock_day - HORIZON_DAYS:
            self.stale_events += 1
            return ApplyResult(False, "stale")
        key = event_hash(event.event_id)
        if key in self.seen:
            return ApplyResult(False, "duplicate")
        self.advance_to(day)
        stamp = ts.timestamp()
        self.first_seen = stamp if self.first_seen is None else min(self.first_seen, stamp)
        self.last_event = stamp if self.last_event is None else max(self.last_event, stamp)

        if isinstance(event, TransactionEvent):
            self._apply_transaction(event, day, stamp, category)
        elif isinstance(event, LoginEvent):
            self._bucket_delta(day, {"l": 1})
            self.last_login = stamp if self.last_login is None else max(self.last_login, stamp)
        elif isinstance(event, GeoPingEvent):
            if event.country:
                self.countries[event.country] = self.countries.get(event.country, 0) + 1
                self.last_country = event.country
        elif isinstance(event, BalanceSnapshotEvent):
            self._apply_balance(float(event.balance), stamp, day)
            if event.credit_limit is not None:
                self.credit_limit = float(event.credit_limit)
            self.currency = self.currency or event.currency
        elif isinstance(event, OfferFeedbackEvent):
            self.apply_feedback(event.offer_id, event.feedback, stamp)
        else:
            raise TypeError(f"cannot apply {type(event).__name__} to a profile")

        self.days.setdefault(day, _empty_bucket())["h"].append(key)
        self.seen.add(key)
        self.revision += 1
        if isinstance(event, (TransactionEvent, BalanceSnapshotEvent)):
            update_insight_state(self, event, category, refresh=refresh_insights)
        return ApplyResult(True)

    def _apply_transaction(self, event: TransactionEvent, day: int, stamp: float, category: str | None) -> None:
        amount = float(event.amount)
        self.currency = self.currency or event.currency
        name = category or event.category or ("other_income" if amount > 0 else "other")
        delta: dict[str, Any] = {"n": 1}
        if amount < 0:
            spend = -amount
            delta["s"] = spend
            delta["c"] = {name: spend}
            if name == "loan_repayment":
                delta["r"] = spend
        elif name == REFUND_CATEGORY:
            # A refund pays back earlier spend, so it lowers spend in the category of the
            # purchase instead of counting as income. A window without the purchase can
            # then go below 0, and the features read such a total as 0.
            refunded = refunded_category(event.description, merchant=event.merchant, mcc=event.mcc)
            delta["s"] = -amount
            delta["c"] = {refunded: -amount}
        else:
            delta["i"] = amount
            if name == "salary" or (name in INCOME_CATEGORIES and amount >= 500):
                self._record_income(day, amount, name == "salary")
        if event.balance_after is not None:
            self._apply_balance(float(event.balance_after), stamp, day)
        elif self.balance is not None and (self.balance_at is None or stamp >= self.balance_at):
            self._apply_balance(self.balance + amount, stamp, day)
        self._bucket_delta(day, delta)
        self.last_transaction = stamp if self.last_transaction is None else max(self.last_transaction, stamp)

    def _record_income(self, day: int, amount: float, is_salary: bool) -> None:
        # Keep a short list of large credits; salaries replace non-salary guesses.
        if is_salary and self.salary and not any(entry[2] for entry in self.salary):
            self.salary.clear()
        if not is_salary and any(entry[2] for entry in self.salary):
            return
        self.salary.append([float(day), amount, 1.0 if is_salary else 0.0])
        self.salary.sort(key=lambda entry: entry[0])
        del self.salary[:-MAX_SALARY_HISTORY]

    def _apply_balance(self, balance: float, stamp: float, day: int) -> None:
        if self.balance_at is None or stamp >= self.balance_at:
            self.balance = balance
            self.balance_at = stamp
        if balance < 0:
            self._bucket_delta(day, {"neg": 1})

    def refresh_insights(self) -> None:
        """Rebuild the insight signals that ``apply(..., refresh_insights=False)`` deferred."""
        refresh_insight_state(self)

    def apply_feedback(self, offer_id: str, feedback: str, stamp: float) -> None:
        """Record an impression, reject or accept in the offer-fatigue counters."""
        entry = self.offers.setdefault(offer_id, {"imp": [], "rej": None, "acc": None, "dis": None})
        if feedback == "impression":
            entry["imp"].append(stamp)
            entry["imp"].sort()
            del entry["imp"][:-MAX_IMPRESSIONS_KEPT]
        elif feedback == "reject":
            entry["rej"] = max(entry["rej"] or 0.0, stamp)
        elif feedback == "accept":
            entry["acc"] = max(entry["acc"] or 0.0, stamp)
        elif feedback == "dismiss":
            entry["dis"] = max(entry["dis"] or 0.0, stamp)

    # --------------------------------------------------------- serialisation
    def to_bytes(self) -> bytes:
        """Serialise to msgpack; the inverse of :meth:`from_bytes`."""
        state = {
            "v": SCHEMA_VERSION,
            "id": self.customer_id,
            "cur": self.currency,
            "fs": self.first_seen,
            "le": self.last_event,
            "cd": self.clock_day,
            "d": self.days,
            "w": self.windows,
            "sal": self.salary,
            "b": self.balance,
            "ba": self.balance_at,
            "cl": self.credit_limit,
            "ll": self.last_login,
            "lt": self.last_transaction,
            "co": self.countries,
            "lc": self.last_country,
            "o": self.offers,
            "st": self.stale_events,
            "x": self.extra,
            "rv": self.revision,
        }
        return msgpack.packb(state, use_bin_type=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> "CustomerProfile":
        """Restore a profile written by :meth:`to_bytes`."""
        state = msgpack.unpackb(data, raw=False, strict_map_key=False)
        if state.get("v") != SCHEMA_VERSION:
            raise ValueError(f"profile schema version {state.get('v')!r} is not supported; expected {SCHEMA_VERSION}")
        return cls(
            customer_id=state["id"],
            currency=state["cur"],
            first_seen=state["fs"],
            last_event=state["le"],
            clock_day=state["cd"],
            days={int(k): v for k, v in state["d"].items()},
            windows={int(k): v for k, v in state["w"].items()},
            # The seen set is exactly the union of the buckets' hashes, so it is rebuilt, not stored.
            seen={key for bucket in state["d"].values() for key in bucket["h"]},
            salary=state["sal"],
            balance=state["b"],
            balance_at=state["ba"],
            credit_limit=state["cl"],
            last_login=state["ll"],
            last_transaction=state["lt"],
            countries=state["co"],
            last_country=state["lc"],
            offers=state["o"],
            stale_events=state["st"],
            extra=state["x"],
            revision=state.get("rv", 0),
        )

    def copy(self) -> "CustomerProfile":
        """Return a deep copy (through serialisation)."""
        return CustomerProfile.from_bytes(self.to_bytes())

