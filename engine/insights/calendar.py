"""Local calendar days: day numbers in a customer's time zone, months and weekends.

Insight state counts days as integers, "local day numbers": days since 1970-01-01 in the
customer's time zone, so that the state stays plain msgpack-friendly integers.
"""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import InvalidInputError

__all__ = [
    "UTC",
    "EPOCH_ORDINAL",
    "MONTH_END",
    "local_day",
    "day_date",
    "date_day",
    "weekday",
    "month_end_day",
    "anchored_date",
    "add_months",
    "move_off_weekend",
    "zone",
]

UTC = ZoneInfo("UTC")
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Anchor value meaning "the last day of the month", whatever its length.
MONTH_END = 0


def local_day(ts: datetime, tz: tzinfo) -> int:
    """Return the local day number of an aware timestamp in ``tz``."""
    return ts.astimezone(tz).date().toordinal() - EPOCH_ORDINAL


@functools.lru_cache(maxsize=4096)
def day_date(day: int) -> date:
    """Return the calendar date of a local day number."""
    return date.fromordinal(day + EPOCH_ORDINAL)


def date_day(value: date) -> int:
    """Return the local day number of a calendar date."""
    return value.toordinal() - EPOCH_ORDINAL


def weekday(day: int) -> int:
    """Return the weekday of a local day number, Monday 0 to Sunday 6 (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


def month_end_day(value: date) -> int:
    """Return the number of days in the month of ``value``."""
    return calendar.monthrange(value.year, value.month)[1]


def anchored_date(year: int, month: int, anchor: int) -> date:
    """Return day ``anchor`` of the month, clamped to its length; ``MONTH_END`` is its last day."""
    last = calendar.monthrange(year, month)[1]
    return date(year, month, last if anchor == MONTH_END else min(anchor, last))


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    """Return (year, month) ``months`` months after the given month (negative goes back)."""
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def move_off_weekend(value: date, shift: int) -> date:
    """Move a Saturday or Sunday to the next Monday (shift 1) or previous Friday (shift -1); shift 0 keeps it."""
    if shift == 0:
        return value
    while value.weekday() >= 5:
        value += timedelta(days=shift)
    return value


def zone(name: str | tzinfo | None) -> tzinfo:
    """Return a time zone from an IANA name ("Europe/Amsterdam"), a tzinfo, or None for UTC.

    Raises:
        InvalidInputError: the name is not a known IANA time zone.
    """
    if name is None:
        return UTC
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise InvalidInputError(
            f"time zone {name!r} is not a known IANA time zone name; use a name such as 'Europe/Amsterdam' or 'UTC'"
        ) from err
