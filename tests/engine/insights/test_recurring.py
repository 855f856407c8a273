"""Recurring-payment series: cadences, month ends, weekends, drift, skips and priors."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from engine.insights.calendar import MONTH_END, date_day, day_date
from engine.insights.config import load_insights_config
from engine.insights.recurring import (
    SERIES_ANCHOR,
    SERIES_CADENCE,
    SERIES_CONFIDENCE,
    SERIES_EXPECTED,
    SERIES_NEXT,
    SERIES_SHIFT,
    cancel_payment,
    due_days,
    effective_status,
    find_recurring,
    observe_payment,
    scheduled_prior,
)

CONFIG = load_insights_config()


def series_of(
    dates: list[date],
    amounts: list[float] | float,
    *,
    category: str = "subscriptions",
    outgoing: bool = True,
    description: str = "",
    key: str = "payee",
) -> dict[str, dict[str, Any]]:
    series: dict[str, dict[str, Any]] = {}
    values = amounts if isinstance(amounts, list) else [amounts] * len(dates)
    for day, amount in zip(dates, values):
        observe_payment(
            series,
            key=key,
            name=key.upper(),
            day=date_day(day),
            cents=int(round(amount * 100)),
            category=category,
            prior=scheduled_prior(description, category, CONFIG.recurring) if outgoing else 0.0,
            outgoing=outgoing,
            config=CONFIG.recurring,
            max_occurrences=CONFIG.state.max_occurrences,
        )
    return series


def only(series: dict[str, dict[str, Any]]) -> dict[str, Any]:
    assert len(series) == 1, series
    return next(iter(series.values()))


def test_month_end_subscription_follows_month_length() -> None:
    entry = only(series_of([date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)], 12.99))

    assert entry[SERIES_CADENCE] == "monthly"
    assert entry[SERIES_ANCHOR] == MONTH_END
    assert day_date(entry[SERIES_NEXT]) == date(2025, 5, 31)
    assert entry[SERIES_CONFIDENCE] > 0.9


def test_direct_debit_moved_to_monday_is_learned() -> None:
    # The 1st of February, March and June 2025 fell on a weekend; the bank booked on Monday.
    dates = [date(2025, 2, 3), date(2025, 3, 3), date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 2)]
    entry = only(series_of(dates, 950.0, category="rent"))

    assert entry[SERIES_ANCHOR] == 1
    assert entry[SERIES_SHIFT] == 1
    assert day_date(entry[SERIES_NEXT]) == date(2025, 7, 1)
    # 1 November 2025 is a Saturday: due on Monday 3 November.
    start, stop = date_day(date(2025, 10, 25)), date_day(date(2025, 11, 10))
    assert [day_date(day) for day in due_days(entry, date_day(date(2025, 6, 3)), start, stop)] == [date(2025, 11, 3)]


def test_salary_moved_to_friday_before_weekend() -> None:
    # Paid on the 25th, or the Friday before when the 25th is a weekend (January and May 2025).
    dates = [date(2025, 1, 24), date(2025, 2, 25), date(2025, 3, 25), date(2025, 4, 25), date(2025, 5, 23)]
    entry = only(series_of(dates, 2800.0, category="salary", outgoing=False))

    assert entry[SERIES_CADENCE] == "monthly"
    assert entry[SERIES_SHIFT] == -1
    assert day_date(entry[SERIES_NEXT]) == date(2025, 6, 25)
    # 25 October 2025 is a Saturday.
    october = due_days(entry, date_day(date(2025, 6, 1)), date_day(date(2025, 10, 20)), date_day(date(2025, 10, 31)))
    assert [day_date(day) for day in october] == [date(2025, 10, 24)]


def test_price_drift_keeps_series_and_tracks_latest_amount() -> None:
    prices = [9.99 * 1.01**month for month in range(6)]
    dates = [date(2025, month, 14) for month in range(1, 7)]
    entry = only(series_of(dates, prices))

    assert entry[SERIES_CADENCE] == "monthly"
    assert entry[SERIES_EXPECTED] == round(prices[-1] * 100)
    assert entry[SERIES_CONFIDENCE] > 0.9


def test_skipped_month_is_tolerated_with_lower_confidence() -> None:
    regular = only(series_of([date(2025, month, 5) for month in (1, 2, 3, 4, 5)], 30.0, category="utilities", key="a"))
    skipped = only(series_of([date(2025, month, 5) for month in (1, 2, 4, 5, 6)], 30.0, category="utilities", key="b"))

    assert skipped[SERIES_CADENCE] == "monthly"
    assert skipped[SERIES_CONFIDENCE] >= CONFIG.recurring.min_confidence
    assert skipped[SERIES_CONFIDENCE] < regular[SERIES_CONFIDENCE]


@pytest.mark.parametrize(
    "gap_days, count, expected",
    [(7, 6, "weekly"), (14, 4, "biweekly"), (91, 3, "quarterly"), (365, 3, "yearly")],
    ids=["weekly", "biweekly", "quarterly", "yearly"],
)
def test_day_counted_cadences(gap_days: int, count: int, expected: str) -> None:
    dates = [date(2023, 1, 6) + timedelta(days=gap_days * index) for index in range(count)]
    entry = only(series_of(dates, 20.0, category="entertainment"))

    assert entry[SERIES_CADENCE] == expected
    assert entry[SERIES_CONFIDENCE] >= CONFIG.recurring.min_confidence


def test_irregular_payments_are_not_recurring() -> None:
    dates = [date(2025, 1, 2) + timedelta(days=offset) for offset in (0, 3, 19, 23, 50, 51)]
    entry = only(series_of(dates, 25.0, category="dining"))

    assert entry[SERIES_CONFIDENCE] < CONFIG.recurring.min_confidence


def test_two_payments_without_prior_are_not_enough() -> None:
    entry = only(series_of([date(2025, 1, 10), date(2025, 2, 10)], 40.0, category="shopping"))

    assert entry[SERIES_CONFIDENCE] < CONFIG.recurring.min_confidence


def test_one_subscription_payment_expects_the_next_month() -> None:
    entry = only(series_of([date(2025, 3, 14)], 7.99))

    assert entry[SERIES_CADENCE] == "monthly"
    assert day_date(entry[SERIES_NEXT]) == date(2025, 4, 14)
    assert entry[SERIES_CONFIDENCE] == pytest.approx(0.55)


def test_amount_levels_of_one_payee_form_separate_series() -> None:
    # A mortgage on the 1st and a consumer loan on the 3rd, both debited by the same bank.
    series: dict[str, dict[str, Any]] = {}
    for month in (1, 2, 3, 4):
        for day, amount in ((1, 1200.0), (3, 180.0)):
            observe_payment(
                series,
                key="bank",
                name="BANK",
                day=date_day(date(2025, month, day)),
                cents=int(amount * 100),
                category="loan_repayment",
                prior=0.9,
                outgoing=True,
                config=CONFIG.recurring,
                max_occurrences=CONFIG.state.max_occurrences,
            )

    assert len(series) == 2
    assert sorted(entry[SERIES_EXPECTED] for entry in series.values()) == [18000, 120000]
    assert all(entry[SERIES_CADENCE] == "monthly" for entry in series.values())


def test_overdue_series_loses_confidence() -> None:
    entry = only(series_of([date(2025, month, 10) for month in (1, 2, 3, 4)], 15.0))
    confidence, next_due = effective_status(entry, date_day(date(2025, 5, 1)))
    assert next_due == date_day(date(2025, 5, 10))
    assert confidence == entry[SERIES_CONFIDENCE]

    late, moved = effective_status(entry, date_day(date(2025, 5, 20)))
    assert late == pytest.approx(entry[SERIES_CONFIDENCE] * 0.6)
    assert moved == date_day(date(2025, 6, 10))

    ended, _ = effective_status(entry, date_day(date(2025, 6, 20)))
    assert ended == pytest.approx(entry[SERIES_CONFIDENCE] * 0.2)


@pytest.mark.parametrize(
    "description, category, expected",
    [
        ("DAUERAUFTRAG Miete", "transfers_out", 1.0),
        ("SEPA-Lastschrift Stadtwerke", "other", 1.0),
        ("Recibo seguro hogar", "other", 1.0),
        ("Kosten kinderopvang juni", "other", 0.95),
        ("Shell purchase MASTER card | Lastschrifteinzug", "transport", 0.0),
        ("NETFLIX.COM", "subscriptions", 1.0),
        ("KLARNA INSTALMENT 123", "loan_repayment", 0.9),
        ("CARD PAYMENT ALDI", "groceries", 0.0),
    ],
)
def test_scheduled_prior(description: str, category: str, expected: float) -> None:
    assert scheduled_prior(description, category, CONFIG.recurring) == pytest.approx(expected)


def test_find_recurring_batch_matches_live_rules() -> None:
    history = [(date(2025, month, 3), "Spotify", -10.99, "subscriptions") for month in (1, 2, 3)]
    history += [(date(2025, 1, day), "Bakery", -4.0 - day, "dining") for day in (2, 9, 13, 24)]
    history += [(date(2025, 2, 1), "Salary", 2500.0, "salary")]

    found = find_recurring(history)

    assert [payment.merchant for payment in found] == ["Spotify"]
    assert found[0].cadence == "monthly"
    assert found[0].next_due == date(2025, 4, 3)
    assert found[0].expected_amount == pytest.approx(10.99)


def cancel(series: dict[str, dict[str, Any]], day: date, amount: float, *, key: str = "payee") -> Any:
    return cancel_payment(
        series, key=key, day=date_day(day), cents=int(round(amount * 100)), within_days=90, config=CONFIG.recurring
    )


def test_full_refund_removes_payment():
    start = date(2025, 1, 6)
    series = series_of([start, start + timedelta(days=31), start + timedelta(days=59)], 9.99)

    series_id, paid_day, removed = cancel(series, start + timedelta(days=60), 9.99)

    assert removed is False
    assert paid_day == date_day(start + timedelta(days=59))
    assert series[series_id]["d"] == [date_day(start), date_day(start + timedelta(days=31))]


def test_partial_refund_shrinks_payment():
    day = date(2025, 1, 6)
    series = series_of([day], 50.0)

    series_id, _, removed = cancel(series, day + timedelta(days=3), 20.0)

    assert removed is False
    assert series[series_id]["a"] == [3000]


def test_refund_of_only_payment_removes_series():
    day = date(2025, 1, 6)
    series = series_of([day], 8.78)

    result = cancel(series, day, 8.78)

    assert result is not None
    assert result[2] is True
    assert series == {}


def test_refund_without_matching_payment_changes_nothing():
    day = date(2025, 1, 6)
    series = series_of([day], 8.78)
    before = {series_id: dict(entry) for series_id, entry in series.items()}

    assert cancel(series, day, 8.78, key="other payee") is None
    assert cancel(series, day + timedelta(days=120), 8.78) is None
    assert cancel(series, day - timedelta(days=1), 8.78) is None
    assert series == before


def test_other_size_next_day_new_series():
    day = date(2025, 1, 6)

    series = series_of([day, day + timedelta(days=1)], [8.76, 7.07])

    assert len(series) == 2
    assert sorted(entry[SERIES_EXPECTED] for entry in series.values()) == [707, 876]
