"""Balance forecast over the next days and overdraft risk.

The forecast starts from the latest known balance and adds, for each of the next
``forecast.horizon_days`` local days (tomorrow first):

* the recurring credits due that day (income series at or above the recurring
  confidence), at their expected amount;
* minus the recurring debits due that day, at their expected amount;
* minus the day's mean discretionary spend from the weekday table
  (:mod:`engine.insights.spend`).

The discretionary variances add up day by day, so the balance at day ``k`` is taken as
normal with mean ``balance + sum of flows`` and that variance. Overdraft risk is the
first day on which P(balance < 0) reaches ``forecast.risk_probability``. The suggested
transfer is the smallest amount (rounded up to ``forecast.transfer_step``) that keeps the
``1 - transfer_coverage`` quantile of every day's balance at or above zero.

Known gaps: today's remaining spend is left out, the timing of recurring payments is
taken as certain, and the balance is the latest one of whichever account reported last.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import Any

from engine.insights.calendar import day_date
from engine.insights.config import InsightsConfig
from engine.insights.keys import KEY_RECURRING, KEY_SERIES, NO_OVERDRAFT_DAYS
from engine.insights.recurring import SERIES_EXPECTED, SERIES_NAME, confidence_and_due_days
from engine.insights.spend import ROW_MEAN, ROW_VARIANCE, scheduled_due, table_for

__all__ = [
    "OverdraftRisk",
    "BalanceForecast",
    "daily_flows",
    "cumulative_plan",
    "first_risk_day",
    "overdraft_risk",
    "forecast_balance",
]


@dataclass(frozen=True)
class OverdraftRisk:
    """Overdraft risk read from a plan and a balance.

    Attributes:
        at_risk: P(balance < 0) reaches the configured probability within the horizon.
        days_to_overdraft: days from today to the first such day, or
            :data:`~engine.insights.keys.NO_OVERDRAFT_DAYS` when none.
        probability: the largest P(balance < 0) over the horizon.
        suggested_transfer: amount to move in to stay above zero (0 when not at risk).
        lowest_expected: the lowest expected end-of-day balance over the horizon.
    """

    at_risk: bool
    days_to_overdraft: float
    probability: float
    suggested_transfer: float
    lowest_expected: float


@dataclass(frozen=True)
class BalanceForecast:
    """Expected end-of-day balances over the horizon and what they imply.

    Attributes:
        start_balance: the balance the forecast starts from.
        days: local dates, tomorrow first.
        expected: expected end-of-day balance of each date.
        risk: overdraft risk of the path.
        overdraft_date: first date at risk, or None.
        largest_debit: (payee, amount, date) of the largest recurring debit due up to
            the overdraft date (or over the horizon), for explanations; None without one.
    """

    start_balance: float
    days: tuple[date, ...]
    expected: tuple[float, ...]
    risk: OverdraftRisk
    overdraft_date: date | None
    largest_debit: tuple[str, float, date] | None


def daily_flows(
    state: Mapping[str, Any],
    today: int,
    config: InsightsConfig,
    due: Sequence[tuple[int, float, float, str]] | None = None,
) -> list[tuple[float, float]]:
    """Return (expected net flow, variance) for each of the ``horizon_days`` days after ``today``.

    Args:
        due: the recurring debits due from ``today + 1`` to ``today + horizon_days`` as
            :func:`scheduled_due` returns them, when the caller already has them. Entries
            below ``recurring.min_confidence`` are skipped.
    """
    horizon = config.forecast.horizon_days
    min_confidence = config.recurring.min_confidence
    table = table_for(state, today, config)
    flows: list[list[float]] = []
    for offset in range(1, horizon + 1):
        if table is None:
            flows.append([0.0, 0.0])
            continue
        start, _, rows = table
        row = rows[(today + offset - start) % 7]
        flows.append([-row[ROW_MEAN], row[ROW_VARIANCE]])
    if due is None:
        due = scheduled_due(state, today, today + 1, today + horizon, min_confidence)
    for day, amount, confidence, _ in due:
        if confidence >= min_confidence:
            flows[day - today - 1][0] -= amount
    series = state.get(KEY_SERIES, {})
    for series_id in state.get(KEY_RECURRING, ()):
        if not series_id.startswith("i"):
            continue
        entry = series[series_id]
        confidence, days = confidence_and_due_days(entry, today, today + 1, today + horizon)
        if confidence < min_confidence:
            continue
        for day in days:
            flows[day - today - 1][0] += entry[SERIES_EXPECTED] / 100.0
    return [(flow, variance) for flow, variance in flows]


def cumulative_plan(
    state: Mapping[str, Any],
    today: int,
    config: InsightsConfig,
    due: Sequence[tuple[int, float, float, str]] | None = None,
) -> list[Any]:
    """Return the plan stored in the state: [today, cumulative mean flows, cumulative standard deviations].

    ``due`` is passed on to :func:`daily_flows`.
    """
    means = []
    deviations = []
    total = 0.0
    variance = 0.0
    for flow, day_variance in daily_flows(state, today, config, due):
        total += flow
        variance += day_variance
        means.append(round(total, 2))
        deviations.append(round(math.sqrt(variance), 2))
    return [today, means, deviations]


def overdraft_risk(plan: list[Any], balance: float | None, config: InsightsConfig) -> OverdraftRisk:
    """Read overdraft risk from a stored plan and the current balance, in O(horizon)."""
    if balance is None or not plan[1]:
        return OverdraftRisk(False, NO_OVERDRAFT_DAYS, 0.0, 0.0, balance if balance is not None else 0.0)
    forecast = config.forecast
    coverage_z = _z(forecast.transfer_coverage)
    first: int | None = None
    worst = 0.0
    needed = 0.0
    lowest = math.inf
    for index, (mean_flow, deviation) in enumerate(zip(plan[1], plan[2]), start=1):
        expected = balance + mean_flow
        lowest = min(lowest, expected)
        if deviation > 0:
            # P(balance < 0) for a normal balance: Phi(-expected / deviation).
            probability = 0.5 * math.erfc(expected / (deviation * math.sqrt(2.0)))
        else:
            probability = 1.0 if expected < 0 else 0.0
        worst = max(worst, probability)
        if first is None and probability >= forecast.risk_probability:
            first = index
        needed = max(needed, coverage_z * deviation - expected)
    if first is None:
        return OverdraftRisk(False, NO_OVERDRAFT_DAYS, round(worst, 3), 0.0, round(lowest, 2))
    step = forecast.transfer_step
    transfer = math.ceil(max(needed, 0.0) / step) * step
    return OverdraftRisk(True, float(first), round(worst, 3), float(transfer), round(lowest, 2))


def first_risk_day(plan: list[Any], balance: float | None, config: InsightsConfig) -> float:
    """Return the days to the first day at overdraft risk, or NO_OVERDRAFT_DAYS; the per-event fast path.

    P(balance < 0) >= p is true exactly when expected <= -z(p) * deviation, so no normal
    CDF is evaluated.
    """
    if balance is None:
        return NO_OVERDRAFT_DAYS
    threshold = -_z(config.forecast.risk_probability)
    for index, (mean_flow, deviation) in enumerate(zip(plan[1], plan[2]), start=1):
        expected = balance + mean_flow
        if expected < 0 if deviation <= 0 else expected <= threshold * deviation:
            return float(index)
    return NO_OVERDRAFT_DAYS


@functools.lru_cache(maxsize=16)
def _z(coverage: float) -> float:
    return NormalDist().inv_cdf(coverage)


def forecast_balance(
    state: Mapping[str, Any], balance: float | None, today: int, config: InsightsConfig
) -> BalanceForecast | None:
    """Forecast the balance from ``balance`` over the days after local day ``today``.

    Returns:
        None when no balance is known.
    """
    if balance is None:
        return None
    plan = cumulative_plan(state, today, config)
    risk = overdraft_risk(plan, balance, config)
    days = tuple(day_date(today + offset) for offset in range(1, len(plan[1]) + 1))
    expected = tuple(round(balance + flow, 2) for flow in plan[1])
    overdraft_date = days[int(risk.days_to_overdraft) - 1] if risk.at_risk else None
    stop = today + (int(risk.days_to_overdraft) if risk.at_risk else len(days))
    largest: tuple[str, float, date] | None = None
    series = state.get(KEY_SERIES, {})
    for day, amount, _, series_id in scheduled_due(state, today, today + 1, stop, config.recurring.min_confidence):
        if largest is None or amount > largest[1]:
            largest = (series[series_id][SERIES_NAME], amount, day_date(day))
    return BalanceForecast(
        start_balance=round(balance, 2),
        days=days,
        expected=expected,
        risk=risk,
        overdraft_date=overdraft_date,
        largest_debit=largest,
    )
