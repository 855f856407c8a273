"""Daily spend prediction from the customer's local-day spend history.

The model: a day's spend is its discretionary part (everything that is not a recurring
payment) plus the recurring payments due that day. The discretionary part of a target
day is predicted from the last eight weeks of completed local days, each weighted by

    w(d) = weekly_decay ** (age of d in weeks)
           * (pay_cycle_weight if d and the target are within 3 days of the same point
              after an income credit else 1)

Every statistic S (median, interval quantiles, mean, variance) is computed twice with
these weights, over the days of the target's weekday (S_weekday, n of them) and over
all days (S_all), and shrunk towards the pooled value:

    S = a * S_weekday + (1 - a) * S_all,   a = n / (n + weekday_shrinkage_days)

The point forecast is the median, which minimises the mean absolute error. For a weekday
on which the customer usually spends nothing, only the pooled share of it remains. The
shrinkage and the weights were chosen on the simulator (docs/insights.md). The mean and
variance feed
the sums (rest of month, balance forecast) and the quantiles give the prediction
interval. Recurring payments due on the day (confidence at or above
``recurring.min_confidence``) are added to the point forecast and the interval, and
weighted by confidence in the mean.

Days with no transaction count as zero spend. A day counts as completed once an event
of a later local day arrived, so the latest active day enters the sample one event day
late.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import Any

import numpy as np

from engine.insights.calendar import day_date, month_end_day
from engine.insights.config import InsightsConfig
from engine.insights.keys import KEY_DAYS, KEY_FIRST_DAY, KEY_INCOME_DAYS, KEY_LAST_DAY, KEY_RECURRING, KEY_SERIES, KEY_TABLE
from engine.insights.recurring import SERIES_EXPECTED, confidence_and_due_days

__all__ = [
    "HISTORY_DAYS",
    "ROW_MEDIAN",
    "ROW_MEAN",
    "ROW_LOW",
    "ROW_HIGH",
    "ROW_VARIANCE",
    "DayForecast",
    "SpendForecast",
    "weekday_table",
    "table_for",
    "row_for",
    "scheduled_due",
    "predict_spend",
]

HISTORY_DAYS = 56
# Entries of a table row, in order.
ROW_MEDIAN, ROW_MEAN, ROW_LOW, ROW_HIGH, ROW_VARIANCE = range(5)
# Days either side of the same pay-cycle position that count as matching.
_PAY_CYCLE_WINDOW = 3


@dataclass(frozen=True)
class DayForecast:
    """Predicted discretionary spend of one day (account currency)."""

    median: float
    mean: float
    low: float
    high: float
    variance: float


@dataclass(frozen=True)
class SpendForecast:
    """Predicted spend for one local day and for the rest of its month.

    Attributes:
        day: the local date predicted.
        expected: point forecast of the whole day's spend (weighted median plus the
            recurring payments due), the value that minimises absolute error.
        mean: expected value of the day's spend.
        low, high: prediction interval of the day's spend with coverage ``interval``.
        spent_so_far: spend already booked on ``day`` (0 unless the state's latest
            active day is ``day``).
        scheduled_due: recurring payments due on ``day`` that are in ``expected``.
        rest_of_month: expected spend from the day after ``day`` to the month's end.
        rest_low, rest_high: interval of ``rest_of_month`` (normal approximation of
            the sum, days taken as independent).
        rest_days: number of days in ``rest_of_month``.
        basis_days: completed days the weekday pattern was estimated from.
        interval: coverage of both intervals.
    """

    day: date
    expected: float
    mean: float
    low: float
    high: float
    spent_so_far: float
    scheduled_due: float
    rest_of_month: float
    rest_low: float
    rest_high: float
    rest_days: int
    basis_days: int
    interval: float


def weekday_table(
    days: Mapping[int, Sequence[int]],
    *,
    first_day: int,
    until_day: int,
    start_day: int,
    income_days: Sequence[int],
    config: InsightsConfig,
) -> tuple[int, list[list[float]]] | None:
    """Return (completed days used, rows) predicting the days ``start_day`` to ``start_day + 6``.

    Args:
        days: local day -> [spend cents, scheduled spend cents].
        first_day: first local day with an event; earlier days are unknown, not zero.
        until_day: days before this one are completed and used.
        start_day: first day predicted; row ``i`` predicts ``start_day + i``.
        income_days: sorted local days of income credits, for the pay-cycle weight.
        config: spend and recurring settings.

    Returns:
        None when fewer than ``config.spend.min_days`` completed days are known. Each
        row is [median, mean, low, high, variance] of the discretionary spend.
    """
    spend = config.spend
    first = max(first_day, until_day - HISTORY_DAYS)
    count = until_day - first
    if count < spend.min_days:
        return None
    values = np.array(
        [0.0 if (entry := days.get(day)) is None else max(entry[0] - entry[1], 0) / 100.0 for day in range(first, until_day)]
    )
    # weights: shape (8, count); row 0 weighs all days, row 1 + i only the days of
    # target i's weekday. Stacked below to (14, count): rows 0-6 pooled, one per
    # target (their pay-cycle weights differ), rows 7-13 the targets' weekdays.
    weights = _base_weights(count, until_day % 7, start_day - until_day, spend.weekly_decay)
    if income_days and spend.pay_cycle_weight != 1.0:
        sample_phase = np.array(_phases(first, until_day, income_days))
        target_phase = np.array(_phases(start_day, start_day + 7, income_days))
        matching = np.abs(sample_phase[None, :] - target_phase[:, None]) <= _PAY_CYCLE_WINDOW
        factors = np.where(matching, spend.pay_cycle_weight, 1.0)
        weights = np.vstack([weights[:1] * factors, weights[1:] * factors])
    else:
        weights = np.vstack([np.repeat(weights[:1], 7, axis=0), weights[1:]])
    totals = weights.sum(axis=1)
    present = totals > 0
    safe_totals = np.where(present, totals, 1.0)
    means = weights @ values / safe_totals
    variances = np.maximum(weights @ (values * values) / safe_totals - means * means, 0.0)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    cumulative = np.cumsum(weights[:, order], axis=1) / safe_totals[:, None]
    tail = (1.0 - spend.interval) / 2.0
    # stats: shape (14, 5); rows 0-6 pooled per target, rows 7-13 the target's weekday.
    stats = np.empty((14, 5))
    for column, share in ((ROW_MEDIAN, 0.5), (ROW_LOW, tail), (ROW_HIGH, 1.0 - tail)):
        stats[:, column] = ordered[np.argmax(cumulative >= share - 1e-12, axis=1)]
    stats[:, ROW_MEAN] = means
    stats[:, ROW_VARIANCE] = variances
    same_weekday_days = (_base_weights(count, until_day % 7, start_day - until_day, 1.0)[1:] > 0).sum(axis=1)
    share = same_weekday_days / (same_weekday_days + spend.weekday_shrinkage_days)
    share = np.where(present[7:], share, 0.0)
    table = share[:, None] * stats[7:] + (1.0 - share[:, None]) * stats[:7]
    return count, np.round(table, 2).tolist()


@functools.lru_cache(maxsize=1024)
def _base_weights(count: int, until_phase: int, start_offset: int, decay: float) -> np.ndarray:
    """Age weights of ``count`` samples ending the day before ``until``, shape (8, count).

    Row 0 weighs every sample; row ``1 + i`` keeps only the samples with the weekday of
    target ``i`` (the day ``until + start_offset + i``). Depends on the days only through
    their weekdays (``until_phase`` is ``until % 7``), so it is cached; callers must not
    modify the returned array.
    """
    ages = np.arange(count - 1, -1, -1)
    sample_weekday = (until_phase - 1 - ages + 3) % 7
    target_weekday = (until_phase + start_offset + np.arange(7) + 3) % 7
    decay_weights = decay ** (ages / 7.0)
    same = sample_weekday[None, :] == target_weekday[:, None]
    weights = np.vstack([decay_weights[None, :], np.where(same, decay_weights[None, :], 0.0)])
    weights.setflags(write=False)
    return weights


def _phases(start: int, stop: int, income_days: Sequence[int]) -> list[int]:
    """Days since the latest income credit for each day in [start, stop).

    Days before the first income credit get a phase far from any real one, so they
    never match.
    """
    phases = []
    index = -1
    for day in range(start, stop):
        while index + 1 < len(income_days) and income_days[index + 1] <= day:
            index += 1
        phases.append(day - income_days[index] if index >= 0 else -1000)
    return phases


def table_for(state: Mapping[str, Any], today: int, config: InsightsConfig) -> tuple[int, int, list[list[float]]] | None:
    """Return (first day, completed days used, rows) of a weekday table that can predict ``today``.

    Uses the table stored at the latest event day when ``today`` is within a week of
    it, else computes one from the stored days (bounded by the kept local days).
    """
    stored = state.get(KEY_TABLE)
    if stored is not None and 0 <= today - stored[0] <= 6:
        return stored[0], stored[1], stored[2]
    if KEY_FIRST_DAY not in state:
        return None
    fresh = weekday_table(
        state.get(KEY_DAYS, {}),
        first_day=state[KEY_FIRST_DAY],
        until_day=today,
        start_day=today,
        income_days=state.get(KEY_INCOME_DAYS, []),
        config=config,
    )
    return None if fresh is None else (today, fresh[0], fresh[1])


def row_for(table: tuple[int, int, list[list[float]]], day: int) -> DayForecast:
    """Return the table row predicting ``day`` (the row of the same weekday beyond the first week)."""
    start, _, rows = table
    row = rows[(day - start) % 7]
    return DayForecast(row[ROW_MEDIAN], row[ROW_MEAN], row[ROW_LOW], row[ROW_HIGH], row[ROW_VARIANCE])


def scheduled_due(
    state: Mapping[str, Any], today: int, start: int, stop: int, min_confidence: float
) -> list[tuple[int, float, float, str]]:
    """Return (day, amount, confidence, series id) of recurring debits due in [start, stop]."""
    series = state.get(KEY_SERIES, {})
    found = []
    for series_id in state.get(KEY_RECURRING, ()):
        if not series_id.startswith("o"):
            continue
        entry = series[series_id]
        confidence, days = confidence_and_due_days(entry, today, start, stop)
        if confidence < min_confidence:
            continue
        amount = entry[SERIES_EXPECTED] / 100.0
        for day in days:
            found.append((day, amount, confidence, series_id))
    return found


def predict_spend(state: Mapping[str, Any], today: int, config: InsightsConfig) -> SpendForecast | None:
    """Predict the spend of local day ``today`` and of the rest of its month.

    Work is bounded by the number of recurring series and the days left in the month,
    except when the stored table is more than a week old (see :func:`table_for`).

    Returns:
        None when fewer than ``config.spend.min_days`` completed days are known.
    """
    table = table_for(state, today, config)
    if table is None:
        return None
    min_confidence = config.recurring.min_confidence
    day = row_for(table, today)

    spent = 0.0
    spent_discretionary = 0.0
    if state.get(KEY_LAST_DAY) == today:
        entry = state.get(KEY_DAYS, {}).get(today)
        if entry is not None:
            spent = entry[0] / 100.0
            spent_discretionary = max(entry[0] - entry[1], 0) / 100.0
    due_today = scheduled_due(state, today, today, today, min_confidence)
    due_total = sum(amount for _, amount, _, _ in due_today)
    due_mean = sum(amount * confidence for _, amount, confidence, _ in due_today)
    remaining_median = max(day.median - spent_discretionary, 0.0)
    remaining_mean = max(day.mean - spent_discretionary, 0.0)
    expected = spent + remaining_median + due_total
    mean = spent + remaining_mean + due_mean
    low = spent + max(day.low - spent_discretionary, 0.0) + due_total
    high = spent + max(day.high - spent_discretionary, 0.0) + due_total

    calendar_day = day_date(today)
    last = today + month_end_day(calendar_day) - calendar_day.day
    rest_mean = 0.0
    rest_variance = 0.0
    for future in range(today + 1, last + 1):
        row = row_for(table, future)
        rest_mean += row.mean
        rest_variance += row.variance
    rest_due = scheduled_due(state, today, today + 1, last, min_confidence)
    rest_mean += sum(amount * confidence for _, amount, confidence, _ in rest_due)
    z = NormalDist().inv_cdf(0.5 + config.spend.interval / 2.0)
    spread = z * math.sqrt(rest_variance)
    return SpendForecast(
        day=calendar_day,
        expected=round(expected, 2),
        mean=round(mean, 2),
        low=round(low, 2),
        high=round(high, 2),
        spent_so_far=round(spent, 2),
        scheduled_due=round(due_total, 2),
        rest_of_month=round(rest_mean, 2),
        rest_low=round(max(rest_mean - spread, 0.0), 2),
        rest_high=round(rest_mean + spread, 2),
        rest_days=last - today,
        basis_days=table[1],
        interval=config.spend.interval,
    )
