"""Backtest of the daily spend prediction against the naive same-weekday-last-week baseline.

Every local day ``D`` of a customer's history whose day ``D - 7`` is inside the history
is scored. The model predicts ``D``'s spend from the events before ``D``, that is from
the live state just before the first event of ``D``. The baseline predicts the spend of
``D - 7``.
Spend is the sum of all debits of the local day; days without debits count as 0. Both
are scored by mean absolute error over all such days, pooled across customers or files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from engine.events import TransactionEvent
from engine.insights.calendar import UTC, local_day
from engine.insights.config import InsightsConfig, load_insights_config
from engine.insights.spend import predict_spend
from engine.insights.state import insight_state, set_insight_time_zone
from engine.profile import CustomerProfile

__all__ = ["DayScore", "BacktestResult", "score_days", "summarise", "backtest_statements", "backtest_simulator"]

BASELINE_LAG_DAYS = 7


@dataclass(frozen=True)
class DayScore:
    """One predicted day: actual spend, model forecast with interval, and the baseline."""

    day: int
    actual: float
    predicted: float
    low: float
    high: float
    baseline: float


@dataclass(frozen=True)
class BacktestResult:
    """Mean absolute errors of the model and the baseline over the scored days.

    Attributes:
        source: what was backtested ("statements" or "simulator").
        units: files or customers with at least one scored day.
        days: scored days.
        model_mae: mean |actual - model point forecast|.
        baseline_mae: mean |actual - spend on the same weekday a week earlier|.
        interval_coverage: share of days whose actual spend lies in the model's interval.
    """

    source: str
    units: int
    days: int
    model_mae: float
    baseline_mae: float
    interval_coverage: float

    @property
    def improvement(self) -> float:
        """Relative MAE reduction against the baseline (0.2 means 20 % lower)."""
        return 1.0 - self.model_mae / self.baseline_mae if self.baseline_mae > 0 else 0.0


def score_days(
    events: Sequence[Any],
    *,
    time_zone: tzinfo = UTC,
    config: InsightsConfig | None = None,
) -> list[DayScore]:
    """Replay one customer's events and score every day that has a baseline.

    Args:
        events: the customer's events (any order; they are sorted by time).
        time_zone: the zone local days are counted in, for the model and the actuals.
        config: insight thresholds; ``configs/insights.yaml`` by default.
    """
    settings = config or load_insights_config()
    ordered = sorted(events, key=lambda event: event.ts)
    if not ordered:
        return []
    actual: dict[int, float] = {}
    by_day: dict[int, list[Any]] = {}
    for event in ordered:
        day = local_day(event.ts, time_zone)
        by_day.setdefault(day, []).append(event)
        if isinstance(event, TransactionEvent) and event.amount < 0:
            actual[day] = actual.get(day, 0.0) - float(event.amount)
    first, last = min(by_day), max(by_day)
    profile = CustomerProfile("backtest")
    set_insight_time_zone(profile, getattr(time_zone, "key", "UTC"))
    scores = []
    for day in range(first, last + 1):
        state = insight_state(profile)
        if day - BASELINE_LAG_DAYS >= first and state is not None:
            forecast = predict_spend(state, day, settings)
            if forecast is not None:
                scores.append(
                    DayScore(
                        day=day,
                        actual=round(actual.get(day, 0.0), 2),
                        predicted=forecast.expected,
                        low=forecast.low,
                        high=forecast.high,
                        baseline=round(actual.get(day - BASELINE_LAG_DAYS, 0.0), 2),
                    )
                )
        for event in by_day.get(day, ()):
            profile.apply(event, category=event.category if isinstance(event, TransactionEvent) else None)
    return scores


def summarise(source: str, per_unit: Iterable[list[DayScore]]) -> BacktestResult:
    """Pool day scores of several customers or files into one result."""
    units = 0
    scores: list[DayScore] = []
    for unit in per_unit:
        if unit:
            units += 1
            scores.extend(unit)
    if not scores:
        return BacktestResult(source, 0, 0, 0.0, 0.0, 0.0)
    count = len(scores)
    return BacktestResult(
        source=source,
        units=units,
        days=count,
        model_mae=round(sum(abs(s.actual - s.predicted) for s in scores) / count, 4),
        baseline_mae=round(sum(abs(s.actual - s.baseline) for s in scores) / count, 4),
        interval_coverage=round(sum(1 for s in scores if s.low - 1e-9 <= s.actual <= s.high + 1e-9) / count, 4),
    )


def backtest_statements(
    paths: Iterable[str | os.PathLike[str]], *, config: InsightsConfig | None = None
) -> BacktestResult:
    """Backtest on statement files, each file one customer with local days in UTC."""
    from engine.statements import read_statement

    per_file = []
    for path in paths:
        imported = read_statement(Path(path), customer_id="backtest")
        per_file.append(score_days([*imported.transactions, *imported.balances], config=config))
    return summarise("statements", per_file)


def backtest_simulator(
    n_customers: int, *, days: int, seed: int, config: InsightsConfig | None = None
) -> BacktestResult:
    """Backtest on simulated customers, local days in each customer's own zone."""
    from engine.insights.simulation import simulate_customers

    return summarise(
        "simulator",
        (
            score_days(customer.events, time_zone=customer.time_zone, config=config)
            for customer in simulate_customers(n_customers, days=days, seed=seed)
        ),
    )
