"""Life events from payment and spending shifts: a move, a new job, a new child."""

from __future__ import annotations

from datetime import date, timedelta

from insight_builders import build_profile, daily_spend, month_dates, payments

from engine.insights.keys import FEATURES_KEY, KEY_LIFE_EVENT

START = date(2025, 1, 6)


def steady_life(months: int = 5) -> list:
    events = payments("rent", month_dates(START, months, 1), -900.0, merchant="CITY HOUSING", category="rent")
    events += payments("salary", month_dates(START, months, 25), 2600.0, merchant="ACME GMBH", category="salary")
    events += daily_spend("shop", START, months * 30, [12, 12, 12, 12, 15, 30, 0])
    return events


def signals(events: list) -> dict:
    return build_profile(events).extra[FEATURES_KEY]


def test_steady_customer_has_no_life_event() -> None:
    features = signals(steady_life())

    assert features["life_event_score"] == 0.0
    assert features["life_event_move"] == features["life_event_new_job"] == features["life_event_new_child"] == 0.0


def test_new_landlord_reads_as_a_move() -> None:
    events = payments("rent", month_dates(START, 3, 1), -900.0, merchant="CITY HOUSING", category="rent")
    events += payments("rent2", month_dates(date(2025, 4, 1), 2, 1), -1150.0, merchant="HARBOUR FLATS BV", category="rent")
    events += payments("salary", month_dates(START, 4, 25), 2600.0, merchant="ACME GMBH", category="salary")
    # The history ends on 15 May, within the signal's 60 days of the move.
    events += daily_spend("shop", START, 130, [12, 12, 12, 12, 15, 30, 0])

    profile = build_profile(events)
    features = profile.extra[FEATURES_KEY]

    assert features["life_event_move"] == 1.0
    assert features["life_event_score"] == 0.8
    assert profile.extra["insights"][KEY_LIFE_EVENT][0] == "move"


def test_new_employer_reads_as_a_new_job() -> None:
    events = payments("rent", month_dates(START, 5, 1), -900.0, merchant="CITY HOUSING", category="rent")
    events += payments("salary", month_dates(START, 3, 25), 2600.0, merchant="ACME GMBH", category="salary")
    events += payments("salary2", month_dates(date(2025, 4, 1), 2, 28), 3100.0, merchant="NORDWIND LOGISTICS", category="salary")
    events += daily_spend("shop", START, 150, [12, 12, 12, 12, 15, 30, 0])

    features = signals(events)

    assert features["life_event_new_job"] == 1.0
    assert features["life_event_score"] == 0.8


def test_childcare_payments_read_as_a_new_child() -> None:
    events = steady_life()
    events += payments("care", month_dates(date(2025, 5, 1), 1, 15), -640.0, merchant="KINDERGARTEN SONNENSCHEIN", category="other")

    features = signals(events)

    assert features["life_event_new_child"] == 1.0


def test_doubled_household_spending_reads_as_a_new_child() -> None:
    events = payments("rent", month_dates(START, 6, 1), -900.0, merchant="CITY HOUSING", category="rent")
    events += daily_spend("shop", START, 100, [10, 10, 10, 10, 12, 20, 0])
    events += daily_spend("baby", START + timedelta(days=100), 80, [30, 30, 30, 30, 36, 60, 0], merchant="DRUGSTORE")

    features = signals(events)

    assert features["life_event_new_child"] == 1.0
    assert 0.5 <= features["life_event_score"] <= 0.9
