"""Decision records and stores shared by the privacy tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.events import DecisionRecord, ShownOffer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def make_record(decision_id: str, customer_id: str, *, ts: datetime = T0) -> DecisionRecord:
    """Return a decision record with one shown offer and its audit fields."""
    return DecisionRecord(
        decision_id=decision_id,
        customer_id=customer_id,
        ts=ts,
        policy_id="lints",
        policy_version=3,
        context={"balance": 1200.0, "spend_30d_travel": 450.0},
        candidates=(),
        shown=(
            ShownOffer(
                offer_id="travel-insurance",
                position=1,
                propensity=0.8,
                score=0.3,
                reason="Because you spent 450 EUR on travel in the last 30 days.",
                reason_features=("spend_30d_travel",),
                contributions={"spend_30d_travel": 0.21, "balance": -0.02},
            ),
        ),
        slate_propensity=0.8,
        ineligible={"personal-loan-consolidation": "has_salary == 1"},
        eligible=("travel-insurance", "budgeting-course"),
        algorithm="lints",
    )


def hours(n: float) -> timedelta:
    """Return ``n`` hours."""
    return timedelta(hours=n)
