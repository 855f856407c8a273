"""dashboard_insights: insights with reasons, purity, time zones, and offers made eligible by insight signals."""

from __future__ import annotations

import copy
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from insight_builders import at, balance, build_profile, daily_spend, month_dates, payments

from engine.config.loader import load_catalog, load_policy_config, load_reward_config
from engine.decisions import DecisionEngine
from engine.features import FeatureEncoder, compute_features
from engine.insights import Insight, dashboard_insights
from engine.insights.config import load_insights_config
from engine.insights.insight import CATEGORY_ORDER
from engine.insights.live import live_insights
from engine.snapshot_store import SnapshotHolder
from policies import make_learner

CONFIG = load_insights_config()
START = date(2025, 1, 6)
LIQUIDITY_OFFER = "liquidity-transfer-from-savings"


def household(balance_on_march_25: float, *, rent_day: int = 27) -> list:
    rent_days = [day for day in month_dates(START, 3, rent_day) if day < date(2025, 3, 25)]
    events = payments("rent", rent_days, -1100.0, merchant="CITY HOUSING", category="rent")
    events += payments("salary", month_dates(date(2024, 12, 1), 3, 28), 2400.0, merchant="ACME GMBH", category="salary")
    netflix_days = month_dates(START, 2, 26)  # 26 January and February; the next is due on 26 March
    events += payments("netflix", netflix_days, -13.99, merchant="NETFLIX.COM", category="subscriptions")
    events += daily_spend("shop", START, 78, [20, 20, 20, 20, 30, 60, 5])
    events.append(balance("b", at(date(2025, 3, 25), 20), balance_on_march_25))
    return events


def insights_for(events: list, now: datetime, **kwargs) -> tuple[list[Insight], dict]:
    profile = build_profile(events)
    features = compute_features(profile, now)
    return dashboard_insights(profile, features, now, "EUR", **kwargs), features


def by_category(insights: list[Insight]) -> dict[str, list[Insight]]:
    grouped: dict[str, list[Insight]] = {}
    for insight in insights:
        grouped.setdefault(insight.category, []).append(insight)
    return grouped


def test_every_insight_is_complete_and_ordered() -> None:
    insights, _ = insights_for(household(600.0), at(date(2025, 3, 25), 21))

    assert insights
    order = [CATEGORY_ORDER.index(insight.category) for insight in insights]
    assert order == sorted(order)
    for insight in insights:
        assert insight.prediction
        assert 0.0 <= insight.confidence <= 1.0
        assert insight.reason.endswith("."), insight
        assert len(insight.reason) > 30, insight
        assert insight.unit or insight.value is None


def test_dashboard_insights_change_nothing() -> None:
    profile = build_profile(household(600.0))
    now = at(date(2025, 3, 25), 21)
    features = compute_features(profile, now)
    profile_before = profile.to_bytes()
    features_before = copy.deepcopy(features)

    dashboard_insights(profile, features, now, "EUR")

    assert profile.to_bytes() == profile_before
    assert features == features_before


def test_overdraft_insight_names_date_payment_and_transfer() -> None:
    insights, features = insights_for(household(600.0), at(date(2025, 3, 25), 21))

    (overdraft,) = by_category(insights)["overdraft_risk"]
    assert overdraft.prediction == "2025-03-27"
    assert overdraft.unit == "EUR"
    assert overdraft.value is not None
    assert overdraft.value >= 500
    assert "CITY HOUSING" in overdraft.reason
    assert "Thursday 27 March" in overdraft.reason
    assert features["overdraft_risk_14d"] == 1.0


def test_subscription_due_tomorrow() -> None:
    insights, _ = insights_for(household(3000.0), at(date(2025, 3, 25), 21))

    due = by_category(insights)["subscription_due"]
    assert [insight.prediction for insight in due] == ["2025-03-26"]
    assert "NETFLIX.COM" in due[0].reason
    assert due[0].value == pytest.approx(13.99)


def test_stable_income_suggests_a_savings_goal() -> None:
    insights, _ = insights_for(household(3000.0), at(date(2025, 3, 25), 21))
    grouped = by_category(insights)

    (income,) = grouped["income"]
    assert income.prediction == "2025-03-28"
    (goal,) = grouped["savings_goal"]
    assert goal.value == pytest.approx(240.0)
    assert "3 months" in goal.reason


def test_spend_prediction_uses_the_customers_time_zone() -> None:
    events = household(3000.0)
    # 23:30 UTC on Tuesday 25 March is already Wednesday 26 March in Tokyo.
    now = datetime(2025, 3, 25, 23, 30, tzinfo=timezone.utc)

    in_utc, _ = insights_for(events, now)
    in_tokyo, _ = insights_for(events, now, tz=ZoneInfo("Asia/Tokyo"))

    assert "On Tuesdays" in by_category(in_utc)["spend_prediction"][0].reason
    assert "On Wednesdays" in by_category(in_tokyo)["spend_prediction"][0].reason


def test_weekend_overspending_from_features() -> None:
    profile = build_profile(household(3000.0))
    now = at(date(2025, 3, 25), 21)
    features = compute_features(profile, now)

    calm = by_category(dashboard_insights(profile, features | {"weekend_spend_ratio": 1.2}, now, "EUR"))
    heavy = by_category(dashboard_insights(profile, features | {"weekend_spend_ratio": 2.35}, now, "EUR"))

    assert "weekend_spending" not in calm
    (weekend,) = heavy["weekend_spending"]
    assert weekend.unit == "ratio"
    assert weekend.value == 2.35
    assert weekend.prediction == "2.4x"


def test_credit_limit_review_bounds() -> None:
    profile = build_profile(household(3000.0))
    now = at(date(2025, 3, 25), 21)
    features = compute_features(profile, now) | {
        "repayment_velocity": 0.6,
        "credit_utilisation": 0.7,
        "overdraft_days_90d": 0.0,
        "income_stable_3m": 1.0,
        "overdraft_risk_14d": 0.0,
    }

    (review,) = by_category(dashboard_insights(profile, features, now, "EUR"))["credit_limit_review"]
    # Half of a 2,400 monthly income, rounded down to a step of 100.
    assert review.value == 1200.0

    capped = CONFIG.model_copy(update={"credit_limit_review": CONFIG.credit_limit_review.model_copy(update={"max_increase": 450.0})})
    (small,) = by_category(dashboard_insights(profile, features, now, "EUR", config=capped))["credit_limit_review"]
    assert small.value == 400.0

    risky = features | {"overdraft_days_90d": 2.0}
    assert "credit_limit_review" not in by_category(dashboard_insights(profile, risky, now, "EUR"))


def test_profile_without_history_gets_feature_insights_only() -> None:
    profile = build_profile([])
    now = at(date(2025, 3, 25), 9)

    assert dashboard_insights(profile, compute_features(profile, now), now, "EUR") == []


def test_live_insights_stay_importable() -> None:
    assert live_insights({"spend_56d_mon": 80.0}, at(date(2025, 3, 24)), "EUR")[0].category == "spend_prediction"


def make_engine() -> DecisionEngine:
    policy = load_policy_config("lints")
    learner = make_learner(policy, dim=FeatureEncoder.from_names(policy.features).dim)
    return DecisionEngine(
        catalog=load_catalog(),
        policy_config=policy,
        reward_config=load_reward_config(),
        snapshots=SnapshotHolder(learner.snapshot()),
        seed=5,
    )


def test_overdraft_forecast_makes_liquidity_offer_eligible() -> None:
    engine = make_engine()
    now = at(date(2025, 3, 25), 21)
    at_risk = build_profile(household(600.0))
    safe = build_profile(household(3000.0))
    assert at_risk.balance is not None and at_risk.balance >= 300

    risky_decision = engine.decide(at_risk, customer_id="c-risk", now=now)
    safe_decision = engine.decide(safe, customer_id="c-safe", now=now)

    assert risky_decision.features["overdraft_risk_14d"] == 1.0
    assert LIQUIDITY_OFFER not in risky_decision.record.ineligible
    assert safe_decision.features["overdraft_risk_14d"] == 0.0
    assert safe_decision.record.ineligible[LIQUIDITY_OFFER].startswith("rule not met")
