"""Income detection: the customer's main regular income, its cadence and its stability.

The main income is the recurring credit series (see :mod:`engine.insights.recurring`)
with the largest amount per month. It counts as stable over ``income.stable_months``
months when, within that span, it was paid every period (weekly, biweekly or monthly),
is not overdue, and no payment fell more than ``income.max_shortfall`` below the typical
amount. Payments above the typical amount (bonuses) do not make it unstable.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from engine.insights.calendar import day_date
from engine.insights.config import InsightsConfig
from engine.insights.keys import KEY_RECURRING, KEY_SERIES
from engine.insights.recurring import (
    CADENCES,
    SERIES_AMOUNTS,
    SERIES_CADENCE,
    SERIES_CATEGORY,
    SERIES_CONFIDENCE,
    SERIES_DAYS,
    SERIES_EXPECTED,
    SERIES_NAME,
    effective_status,
)

__all__ = ["IncomeAssessment", "main_income"]

_STABLE_CADENCES = ("weekly", "biweekly", "monthly")


@dataclass(frozen=True)
class IncomeAssessment:
    """The main regular income as of one day.

    Attributes:
        payer: who pays it, as the bank shows the name.
        category: category of the latest payment (salary, other_income, transfers_in).
        cadence: weekly, biweekly, monthly, quarterly or yearly.
        typical_amount: expected size of the next payment.
        monthly_amount: ``typical_amount`` scaled to 30.44 days.
        next_date: local date the next payment is expected.
        last_date: local date of the latest payment.
        confidence: confidence of the series as of the day.
        stable: paid regularly and in full for ``income.stable_months`` months.
        regular_payments: payments inside the stability span.
    """

    payer: str
    category: str | None
    cadence: str
    typical_amount: float
    monthly_amount: float
    next_date: date
    last_date: date
    confidence: float
    stable: bool
    regular_payments: int


def main_income(state: Mapping[str, Any], today: int, config: InsightsConfig) -> IncomeAssessment | None:
    """Return the main regular income as of local day ``today``, or None when no income series is recurring.

    Work is O(number of recurring series).
    """
    series = state.get(KEY_SERIES, {})
    best: tuple[float, float, int, dict[str, Any]] | None = None
    for series_id in state.get(KEY_RECURRING, ()):
        if not series_id.startswith("i"):
            continue
        entry = series[series_id]
        confidence, next_due = effective_status(entry, today)
        if confidence < config.recurring.min_confidence:
            continue
        monthly = entry[SERIES_EXPECTED] / 100.0 * CADENCES["monthly"].days / CADENCES[entry[SERIES_CADENCE]].days
        if best is None or monthly > best[0]:
            best = (monthly, confidence, next_due, entry)
    if best is None:
        return None
    monthly, confidence, next_due, entry = best
    stable, regular = _stability(entry, today, confidence, config)
    return IncomeAssessment(
        payer=entry[SERIES_NAME],
        category=entry[SERIES_CATEGORY],
        cadence=entry[SERIES_CADENCE],
        typical_amount=round(entry[SERIES_EXPECTED] / 100.0, 2),
        monthly_amount=round(monthly, 2),
        next_date=day_date(next_due),
        last_date=day_date(entry[SERIES_DAYS][-1]),
        confidence=round(confidence, 3),
        stable=stable,
        regular_payments=regular,
    )


def _stability(entry: Mapping[str, Any], today: int, confidence: float, config: InsightsConfig) -> tuple[bool, int]:
    income = config.income
    cadence = CADENCES[entry[SERIES_CADENCE]]
    span = income.stable_months * CADENCES["monthly"].days
    recent = [
        (day, amount)
        for day, amount in zip(entry[SERIES_DAYS], entry[SERIES_AMOUNTS])
        if today - day <= span + cadence.tolerance
    ]
    if cadence.name not in _STABLE_CADENCES or confidence < float(entry[SERIES_CONFIDENCE]) * 0.99:
        # Overdue (effective confidence below the stored one) or too slow a cadence.
        return False, len(recent)
    periods = max(1, round(span / cadence.days))
    # Weekly income over three months has more payments than a series keeps.
    needed = min(periods, config.state.max_occurrences)
    if len(recent) < needed:
        return False, len(recent)
    gaps = [later[0] - earlier[0] for earlier, later in zip(recent, recent[1:])]
    if any(abs(gap - cadence.days) > cadence.tolerance for gap in gaps):
        return False, len(recent)
    typical = statistics.median(amount for _, amount in recent)
    if any(amount < (1.0 - income.max_shortfall) * typical for _, amount in recent):
        return False, len(recent)
    return True, len(recent)
