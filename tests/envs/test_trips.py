"""Trips abroad are paid from each customer's savings plan."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from engine.events import TransactionEvent
from envs.bank import SyntheticBank
from envs.merchants import HOME_COUNTRIES
from envs.transactions import SAVINGS_ACCOUNT
from envs.trips import away_share, expected_monthly_trip_cost, expected_trip_cost


@pytest.fixture(scope="module")
def year_of_spending(catalog, reward_config) -> dict[str, np.ndarray]:
    """Planned and realised spending of 200 customers over one year, with their trips a year."""
    bank = SyntheticBank(catalog, reward_config, n_customers=200, seed=9, warmup_days=0)
    rows = []
    for customer_id in bank.customer_ids:
        customer = bank.customer(customer_id)
        events = bank.events_until(customer_id, bank.start + timedelta(days=364))
        # A standing order to savings moves money the plan saves, so it is not spending.
        amounts = [
            float(event.amount)
            for event in events
            if isinstance(event, TransactionEvent) and event.merchant != SAVINGS_ACCOUNT
        ]
        debits = -sum(amount for amount in amounts if amount < 0)
        credits = sum(amount for amount in amounts if amount > 0)
        planned_spend = 12 * (customer.monthly_income + customer.family_support) * (1.0 - customer.savings_rate)
        rows.append((debits / planned_spend, customer.savings_rate, 1.0 - debits / credits, customer.trips_per_year))
    spend_ratio, planned_rate, realised_rate, trips = map(np.array, zip(*rows))
    return {"spend_ratio": spend_ratio, "planned_rate": planned_rate, "realised_rate": realised_rate, "trips": trips}


def test_trip_cost_grows_with_income_and_trips() -> None:
    home = HOME_COUNTRIES[0]
    assert expected_trip_cost(6000.0, home) > expected_trip_cost(1500.0, home) > 0.0
    assert expected_monthly_trip_cost(6.0, 3000.0, home) == pytest.approx(2 * expected_monthly_trip_cost(3.0, 3000.0, home))
    assert expected_monthly_trip_cost(0.0, 3000.0, home) == 0.0


def test_away_share_is_capped() -> None:
    assert away_share(0.0) == 0.0
    assert away_share(3.0) == pytest.approx(3 * 6 / 364.8)
    assert away_share(500.0) == 0.9


def test_yearly_spending_follows_plan(year_of_spending) -> None:
    assert 0.92 < year_of_spending["spend_ratio"].mean() < 1.05


def test_frequent_travellers_keep_to_plan(year_of_spending) -> None:
    """Trips come off the budgets at home; paid on top, they took travellers about 15% over plan."""
    travellers = year_of_spending["trips"] > 4.0
    assert travellers.sum() >= 10
    assert 0.92 < year_of_spending["spend_ratio"][travellers].mean() < 1.08


def test_realised_savings_rate_follows_plan(year_of_spending) -> None:
    correlation = np.corrcoef(year_of_spending["planned_rate"], year_of_spending["realised_rate"])[0, 1]
    assert correlation > 0.45
