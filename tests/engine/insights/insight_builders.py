"""Builders of transaction histories for the insight tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from engine.events import BalanceSnapshotEvent, TransactionEvent
from engine.insights.state import set_insight_time_zone
from engine.profile import CustomerProfile

CUSTOMER = "c-insights"


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """Return ``day`` at the given UTC time."""
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.utc)


def tx(
    event_id: str,
    when: datetime | date,
    amount: float | str,
    *,
    merchant: str | None = None,
    description: str = "",
    category: str | None = None,
    balance_after: float | None = None,
) -> TransactionEvent:
    """Return a transaction; a date becomes 12:00 UTC."""
    ts = when if isinstance(when, datetime) else at(when)
    return TransactionEvent(
        event_id=event_id,
        customer_id=CUSTOMER,
        ts=ts,
        amount=Decimal(str(amount)),
        currency="EUR",
        description=description or (merchant or ""),
        merchant=merchant,
        category=category,
        balance_after=Decimal(str(balance_after)) if balance_after is not None else None,
    )


def balance(event_id: str, when: datetime | date, amount: float) -> BalanceSnapshotEvent:
    """Return a balance snapshot; a date becomes 12:00 UTC."""
    ts = when if isinstance(when, datetime) else at(when)
    return BalanceSnapshotEvent(event_id=event_id, customer_id=CUSTOMER, ts=ts, balance=Decimal(str(amount)), currency="EUR")


def payments(
    prefix: str, dates: Sequence[date], amount: float | Sequence[float], *, merchant: str, category: str, description: str = ""
) -> list[TransactionEvent]:
    """Return one payment per date (negative ``amount`` for debits)."""
    amounts = list(amount) if isinstance(amount, (list, tuple)) else [amount] * len(dates)
    return [
        tx(f"{prefix}-{index}", day, value, merchant=merchant, category=category, description=description)
        for index, (day, value) in enumerate(zip(dates, amounts))
    ]


def daily_spend(prefix: str, start: date, days: int, amounts_by_weekday: Sequence[float], *, merchant: str = "CORNER SHOP") -> list[TransactionEvent]:
    """Return one card payment a day around the weekday's amount (Monday first); zero amounts are skipped.

    Amounts vary by up to 35 % either way in a fixed pattern that averages out over 13
    days, so that equal amounts never line up into a weekly series.
    """
    events = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        amount = amounts_by_weekday[day.weekday()] * (1.0 + 0.35 * ((offset * 5) % 13 - 6) / 6.0)
        if amount:
            events.append(tx(f"{prefix}-{offset}", at(day, 15), -round(amount, 2), merchant=merchant, category="groceries"))
    return events


def build_profile(events: Iterable[Any], *, time_zone: str = "UTC") -> CustomerProfile:
    """Apply ``events`` in time order to a new profile whose insight state counts days in ``time_zone``."""
    profile = CustomerProfile(CUSTOMER)
    set_insight_time_zone(profile, time_zone)
    for event in sorted(events, key=lambda item: item.ts):
        profile.apply(event, category=event.category if isinstance(event, TransactionEvent) else None)
    return profile


def month_dates(first: date, count: int, day: int) -> list[date]:
    """Return ``count`` dates on ``day`` of consecutive months from ``first``'s month, clamped to the month's end."""
    import calendar

    dates = []
    year, month = first.year, first.month
    for _ in range(count):
        last = calendar.monthrange(year, month)[1]
        dates.append(date(year, month, min(day, last)))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return dates
