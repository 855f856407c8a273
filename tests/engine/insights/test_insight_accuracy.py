"""Accuracy floors of categorisation, recurring payments and stable income; the figures are in docs/insights.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.insights.evaluation import categorisation_by_format, recurring_on_labels, recurring_on_simulator

STATEMENTS = Path(__file__).resolve().parents[2] / "data" / "statements"

# Categorisation through the statement import, correct over all labelled entries
# (entries the import rejects count as wrong), as measured and documented.
CATEGORISATION_FLOORS = {"all": 116 / 138, "csv": 61 / 73, "mt940": 40 / 49, "ofx": 8 / 8, "camt053": 7 / 8}
# Recurring detection against is_recurring in labels.csv.
LABEL_PRECISION_FLOOR = 0.89
LABEL_RECALL_FLOOR = 0.94
# Simulator at test size: 25 customers, 100 days, seed 7.
SIMULATOR_PRECISION_FLOOR = 0.95
SIMULATOR_RECALL_FLOOR = 0.98
SUBSCRIPTIONS_FOUND_FLOOR = 0.95
DUE_DATE_EXACT_FLOOR = 0.9
INCOME_STABLE_PRECISION_FLOOR = 0.9
INCOME_STABLE_RECALL_FLOOR = 0.95
LIFE_EVENT_FALSE_ALARMS_MAX = 3


@pytest.fixture(scope="module")
def simulated():
    return recurring_on_simulator(25, days=100, seed=7)


@pytest.mark.parametrize("file_format", sorted(CATEGORISATION_FLOORS))
def test_categorisation_accuracy_per_format(file_format: str) -> None:
    measured = categorisation_by_format(STATEMENTS)[file_format]

    assert measured.rows > 0
    assert measured.accuracy >= CATEGORISATION_FLOORS[file_format] - 1e-9, measured


def test_recurring_precision_and_recall_on_labels() -> None:
    scores = recurring_on_labels(STATEMENTS)

    assert scores.true_positives + scores.false_negatives == 18
    assert scores.precision >= LABEL_PRECISION_FLOOR, scores
    assert scores.recall >= LABEL_RECALL_FLOOR, scores


def test_recurring_payees_on_simulator(simulated) -> None:
    assert simulated.customers == 25
    assert simulated.payees.precision >= SIMULATOR_PRECISION_FLOOR, simulated.payees
    assert simulated.payees.recall >= SIMULATOR_RECALL_FLOOR, simulated.payees


def test_subscription_due_dates_on_simulator(simulated) -> None:
    assert simulated.subscriptions > 20
    assert simulated.subscriptions_found / simulated.subscriptions >= SUBSCRIPTIONS_FOUND_FLOOR, simulated
    assert simulated.due_date_exact / simulated.subscriptions_found >= DUE_DATE_EXACT_FLOOR, simulated
    assert simulated.amount_within_two_percent / simulated.subscriptions_found >= DUE_DATE_EXACT_FLOOR, simulated


def test_stable_income_on_simulator(simulated) -> None:
    assert simulated.income_stable.precision >= INCOME_STABLE_PRECISION_FLOOR, simulated.income_stable
    assert simulated.income_stable.recall >= INCOME_STABLE_RECALL_FLOOR, simulated.income_stable


def test_few_life_event_false_alarms_on_simulator(simulated) -> None:
    assert simulated.life_event_false_alarms <= LIFE_EVENT_FALSE_ALARMS_MAX, simulated
