"""Balance forecast, overdraft risk and stable income from recurring inflows and outflows."""

from __future__ import annotations

from datetime import date

import pytest
from insight_builders import balance, build_profile, daily_spend, month_dates, payments

from engine.insights.calendar import date_day
from engine.insights.config import load_insights_config
from engine.insights.forecast import cumulative_plan, first_risk_day, forecast_balance, overdraft_risk
from engine.insights.income import main_income
from engine.insights.keys import NO_OVERDRAFT_DAYS
from engine.insights.state import insight_state

CONFIG = load_insights_config()
START = date(2025, 1, 6)


def household(balance_on_march_25: float, *, rent_day: int = 1, salary: float = 2400.0) -> list:
    rent_days = [day for day in month_dates(START, 3, rent_day) if day < date(2025, 3, 25)]
    events = payments("rent", rent_days, -1100.0, merchant="CITY HOUSING", category="rent")
    # Salaries on 28 December, January and February; the next one is due on 28 March.
    events += payments("salary", month_dates(date(2024, 12, 1), 3, 28), salary, merchant="ACME GMBH", category="salary")
    events += daily_spend("shop", START, 78, [20, 20, 20, 20, 30, 50, 0])
    events.append(balance("b", date(2025, 3, 25), balance_on_march_25))
    return events


def test_rent_before_payday_projects_an_overdraft() -> None:
    # 25 March: rent of 1,100 leaves on the 27th, the salary arrives on the 28th.
    profile = build_profile(household(600.0, rent_day=27))
    today = date_day(date(2025, 3, 25))

    forecast = forecast_balance(insight_state(profile), profile.balance, today, CONFIG)

    assert forecast is not None and forecast.risk.at_risk
    assert forecast.overdraft_date == date(2025, 3, 27)
    assert forecast.risk.days_to_overdraft == 2.0
    assert forecast.largest_debit == ("CITY HOUSING", 1100.0, date(2025, 3, 27))
    # 1,100 rent and two days of spending against 600: at least 500 is missing.
    assert 500 <= forecast.risk.suggested_transfer <= 800
    assert forecast.risk.suggested_transfer % CONFIG.forecast.transfer_step == 0
    assert forecast.days[0] == date(2025, 3, 26)


def test_low_balance_runs_out_before_payday() -> None:
    profile = build_profile(household(30.0))

    forecast = forecast_balance(insight_state(profile), profile.balance, date_day(date(2025, 3, 25)), CONFIG)

    assert forecast is not None and forecast.risk.at_risk
    assert forecast.overdraft_date is not None and forecast.overdraft_date < date(2025, 3, 28)


def test_salary_before_rent_avoids_the_overdraft() -> None:
    profile = build_profile(household(900.0))
    today = date_day(date(2025, 3, 25))

    forecast = forecast_balance(insight_state(profile), profile.balance, today, CONFIG)

    assert forecast is not None
    assert not forecast.risk.at_risk
    assert forecast.overdraft_date is None
    # Salary on the 28th lifts the balance, rent on 1 April lowers it.
    assert forecast.expected[2] > forecast.expected[1] + 2000
    assert forecast.expected[6] < forecast.expected[5] - 1000


def test_fast_path_agrees_with_full_risk() -> None:
    state = insight_state(build_profile(household(150.0)))
    today = date_day(date(2025, 3, 25))
    plan = cumulative_plan(state, today, CONFIG)

    for start_balance in (-50.0, 0.0, 150.0, 400.0, 900.0, 5000.0):
        full = overdraft_risk(plan, start_balance, CONFIG)
        assert first_risk_day(plan, start_balance, CONFIG) == full.days_to_overdraft


def test_unknown_balance_has_no_forecast() -> None:
    state = insight_state(build_profile(household(150.0)))

    assert forecast_balance(state, None, date_day(date(2025, 3, 25)), CONFIG) is None
    assert first_risk_day([0, [1.0], [1.0]], None, CONFIG) == NO_OVERDRAFT_DAYS


def test_three_regular_salaries_are_stable_income() -> None:
    state = insight_state(build_profile(household(900.0)))

    income = main_income(state, date_day(date(2025, 3, 30)), CONFIG)

    assert income is not None
    assert income.payer == "ACME GMBH"
    assert income.cadence == "monthly"
    assert income.stable
    assert income.next_date == date(2025, 3, 28)
    assert income.typical_amount == pytest.approx(2400.0)


def test_short_salary_is_not_stable() -> None:
    events = payments("salary", month_dates(START, 3, 28), [2400.0, 1500.0, 2400.0], merchant="ACME GMBH", category="salary")
    state = insight_state(build_profile(events))

    income = main_income(state, date_day(date(2025, 3, 30)), CONFIG)

    assert income is not None and not income.stable


def test_missed_salary_is_not_stable() -> None:
    state = insight_state(build_profile(household(900.0)))

    income = main_income(state, date_day(date(2025, 5, 10)), CONFIG)

    # Two missed salaries read as a stopped income, which is not stable either.
    assert income is None or not income.stable


def test_two_salaries_are_not_three_months() -> None:
    events = payments("salary", month_dates(START, 2, 28), 2400.0, merchant="ACME GMBH", category="salary")
    state = insight_state(build_profile(events))

    income = main_income(state, date_day(date(2025, 3, 1)), CONFIG)

    assert income is not None and not income.stable
