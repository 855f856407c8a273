"""Credit lines counted from the insight state's repayment series."""

from __future__ import annotations

from datetime import date, timedelta

from insight_builders import at, build_profile, month_dates, payments

from engine.features import compute_features
from engine.insights.holdings import credit_lines
from engine.profile import CustomerProfile

START = date(2025, 1, 6)


def repayments() -> list:
    """A mortgage and a consumer loan at one lender, a card at another, and groceries, for four months."""
    return (
        payments("mortgage", month_dates(START, 4, 1), -1200.0, merchant="OFFERLOOP BANK", category="loan_repayment")
        + payments("loan", month_dates(START, 4, 3), -180.0, merchant="OFFERLOOP BANK", category="loan_repayment")
        + payments("card", month_dates(START, 4, 10), -240.0, merchant="CARD SERVICES", category="loan_repayment")
        + payments("food", month_dates(START, 4, 12), -95.0, merchant="GROCER", category="groceries")
    )


def test_credit_lines_count_lenders_and_amount_levels() -> None:
    profile = build_profile(repayments())
    now = at(date(2025, 5, 15))

    assert credit_lines(profile, now) == 3
    assert compute_features(profile, now)["credit_lines_90d"] == 3.0


def test_credit_lines_drop_repayments_older_than_window() -> None:
    events = repayments()
    last_card = max(event.ts for event in events if event.event_id.startswith("card"))
    profile = build_profile(events)

    assert credit_lines(profile, last_card + timedelta(days=20), days=30) == 3
    assert credit_lines(profile, last_card + timedelta(days=120)) == 0


def test_credit_lines_without_insight_state() -> None:
    assert credit_lines(CustomerProfile("c1"), at(START)) == 0
