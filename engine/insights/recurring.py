"""Recurring payment detection over a customer's transactions.

Debits are grouped by normalised merchant; a group with at least two payments whose gaps
match a weekly, monthly, quarterly or yearly cadence (with tolerance for weekends,
month-end dates and a skipped period) is reported with its next due date, expected amount
and a confidence that grows with the number of regular gaps and shrinks with amount drift.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["CADENCES", "RecurringPayment", "find_recurring"]

# cadence name -> (nominal days, tolerance in days)
CADENCES: dict[str, tuple[int, int]] = {
    "weekly": (7, 1),
    "monthly": (30, 4),
    "quarterly": (91, 7),
    "yearly": (365, 10),
}


@dataclass(frozen=True)
class RecurringPayment:
    """A detected subscription or bill."""

    merchant: str
    cadence: str
    occurrences: int
    expected_amount: float
    last_date: date
    next_due: date
    confidence: float
    category: str | None = None


def _cadence_of(gaps: list[int]) -> tuple[str, int] | None:
    for name, (days, tolerance) in CADENCES.items():
        regular = 0
        for gap in gaps:
            # A skipped period shows up as a gap of twice the cadence.
            if abs(gap - days) <= tolerance or abs(gap - 2 * days) <= 2 * tolerance:
                regular += 1
        if gaps and regular == len(gaps):
            return name, days
    return None


def find_recurring(
    transactions: Iterable[tuple[date, str, float, str | None]],
    *,
    min_occurrences: int = 2,
) -> list[RecurringPayment]:
    """Find recurring debits.

    Args:
        transactions: (booking date, normalised merchant, amount, category) tuples; only
            negative amounts (debits) are considered.
        min_occurrences: payments needed before a merchant counts as recurring.
    """
    groups: dict[str, list[tuple[date, float, str | None]]] = defaultdict(list)
    for day, merchant, amount, category in transactions:
        if amount < 0 and merchant:
            groups[merchant.lower()].append((day, -amount, category))
    found = []
    for merchant, items in groups.items():
        items.sort()
        dates = sorted({item[0] for item in items})
        if len(dates) < min_occurrences:
            continue
        gaps = [(b - a).days for a, b in zip(dates, dates[1:])]
        cadence = _cadence_of(gaps)
        if cadence is None:
            continue
        name, days = cadence
        amounts = [item[1] for item in items]
        typical = statistics.median(amounts)
        drift = statistics.pstdev(amounts) / typical if typical > 0 and len(amounts) > 1 else 0.0
        confidence = max(0.05, min(0.99, (1 - 0.5 ** len(gaps)) * (1 - min(drift, 0.9))))
        found.append(
            RecurringPayment(
                merchant=merchant,
                cadence=name,
                occurrences=len(dates),
                expected_amount=round(amounts[-1], 2),
                last_date=dates[-1],
                next_due=dates[-1] + timedelta(days=days),
                confidence=round(confidence, 3),
                category=items[-1][2],
            )
        )
    found.sort(key=lambda payment: payment.next_due)
    return found
