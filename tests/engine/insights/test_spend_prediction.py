"""Daily spend prediction: weekday pattern, recurring payments, intervals, and the backtest against the baseline."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path

import pytest
from insight_builders import build_profile, daily_spend, month_dates, payments

from engine.insights.backtest import backtest_simulator, backtest_statements, score_days, summarise
from engine.insights.calendar import date_day
from engine.insights.config import load_insights_config
from engine.insights.spend import predict_spend, weekday_table
from engine.insights.state import insight_state

CONFIG = load_insights_config()
START = date(2025, 1, 6)  # a Monday
STATEMENTS = Path(__file__).resolve().parents[2] / "data" / "statements"
STATEMENT_FILES = sorted(
    path for path in STATEMENTS.rglob("*") if path.is_file() and path.parent.name in {"ofx", "camt053", "mt940", "csv"}
)
# Saturdays are big, Sundays empty.
WEEK = [10, 12, 10, 12, 15, 45, 0]


def weekly_profile(days: int = 57):
    return build_profile(daily_spend("shop", START, days, WEEK))


def test_weekday_pattern_shapes_the_prediction() -> None:
    # The history ends on Monday 3 March; predict the rest of that week.
    state = insight_state(weekly_profile())
    friday, saturday, sunday = (date_day(START + timedelta(days=offset)) for offset in (60, 61, 62))

    on_friday = predict_spend(state, friday, CONFIG)
    on_saturday = predict_spend(state, saturday, CONFIG)
    on_sunday = predict_spend(state, sunday, CONFIG)

    assert on_friday is not None
    assert on_saturday is not None
    assert on_sunday is not None
    assert on_saturday.expected == pytest.approx(45, rel=0.35)
    assert on_friday.expected == pytest.approx(15, rel=0.35)
    # Sundays are empty; shrinkage towards all days keeps a third of the pooled median.
    assert on_sunday.expected < 0.5 * on_friday.expected
    assert on_sunday.low == 0.0


def test_days_without_events_count_as_no_spend() -> None:
    state = insight_state(weekly_profile())
    saturday = date_day(START + timedelta(days=61))
    saturday_weeks_later = date_day(START + timedelta(days=61 + 28))

    soon = predict_spend(state, saturday, CONFIG)
    later = predict_spend(state, saturday_weeks_later, CONFIG)

    assert soon is not None and later is not None
    assert later.expected < soon.expected


def test_interval_contains_the_point_forecast() -> None:
    forecast = predict_spend(insight_state(weekly_profile()), date_day(START + timedelta(days=60)), CONFIG)

    assert forecast is not None
    assert forecast.low <= forecast.expected <= forecast.high
    assert forecast.rest_low <= forecast.rest_of_month <= forecast.rest_high
    assert forecast.interval == CONFIG.spend.interval


def test_recurring_payment_due_today_is_added() -> None:
    history = daily_spend("shop", START, 56, WEEK)
    history += payments("gym", month_dates(START, 2, 20), -29.99, merchant="BASIC-FIT", category="subscriptions")
    state = insight_state(build_profile(history))
    due_day = date_day(date(2025, 3, 20))

    forecast = predict_spend(state, due_day, CONFIG)
    day_before = predict_spend(state, due_day - 1, CONFIG)

    assert forecast is not None and day_before is not None
    assert forecast.scheduled_due == pytest.approx(29.99)
    assert forecast.expected >= 29.99
    assert day_before.scheduled_due == 0.0
    assert day_before.rest_of_month > forecast.rest_of_month


def test_rest_of_month_sums_the_remaining_days() -> None:
    state = insight_state(weekly_profile(84))
    last_but_one = date_day(date(2025, 3, 30))

    forecast = predict_spend(state, last_but_one, CONFIG)

    assert forecast is not None
    assert forecast.rest_days == 1
    # 31 March 2025 is a Monday.
    assert forecast.rest_of_month == pytest.approx(11, rel=0.5)


def test_too_little_history_gives_no_prediction() -> None:
    state = insight_state(build_profile(daily_spend("shop", START, 4, WEEK)))

    assert predict_spend(state, date_day(START + timedelta(days=4)), CONFIG) is None
    assert weekday_table({}, first_day=0, until_day=3, start_day=3, income_days=[], config=CONFIG) is None


def test_prediction_does_not_change_the_state() -> None:
    state = insight_state(weekly_profile())
    before = copy.deepcopy(state)

    predict_spend(state, date_day(START + timedelta(days=100)), CONFIG)

    assert state == before


def test_backtest_scores_only_days_with_a_baseline() -> None:
    events = daily_spend("shop", START, 21, WEEK)

    scores = score_days(events)

    # Day 20 is a Sunday without spend, so the history ends on day 19.
    assert [score.day for score in scores] == [date_day(START) + offset for offset in range(7, 20)]
    assert all(score.baseline >= 0 and score.low <= score.high for score in scores)


def test_model_beats_baseline_on_simulator() -> None:
    result = backtest_simulator(8, days=70, seed=3)

    assert result.days > 300
    assert result.model_mae < result.baseline_mae, result


def test_model_beats_baseline_on_statements() -> None:
    result = backtest_statements(STATEMENT_FILES)

    assert result.units >= 5
    assert result.model_mae < result.baseline_mae, result


def test_summary_of_nothing_is_empty() -> None:
    assert summarise("none", [[]]).days == 0
