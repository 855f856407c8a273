import copy
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from engine.events import BalanceSnapshotEvent, GeoPingEvent, LoginEvent, TransactionEvent
from engine.features import FEATURE_NAMES, FeatureEncoder, compute_features
from engine.profile import HORIZON_DAYS, CustomerProfile

T0 = datetime(2025, 3, 3, 12, tzinfo=timezone.utc)  # a Monday


def tx(event_id, day, amount, category=None, **extra):
    return TransactionEvent(
        event_id=event_id,
        customer_id="c1",
        ts=T0 + timedelta(days=day),
        amount=Decimal(str(amount)),
        currency="EUR",
        category=category,
        **extra,
    )


def test_window_sums_and_eviction():
    profile = CustomerProfile("c1")
    for day in range(60):
        profile.apply(tx(f"g{day}", day, -10), category="groceries")
    features = compute_features(profile, T0 + timedelta(days=59, hours=1))
    assert features["spend_30d"] == pytest.approx(300.0)
    assert features["spend_30d_groceries"] == pytest.approx(300.0)
    assert features["tx_count_30d"] == 30
    later = compute_features(profile, T0 + timedelta(days=79, hours=1))
    assert later["spend_30d"] == pytest.approx(100.0)
    gone = compute_features(profile, T0 + timedelta(days=200))
    assert gone["spend_30d"] == pytest.approx(0.0)
    assert profile.days == {}


def test_duplicate_event_counts_once():
    profile = CustomerProfile("c1")
    assert profile.apply(tx("a", 0, -25), category="dining").applied
    result = profile.apply(tx("a", 0, -25), category="dining")
    assert not result.applied
    assert result.reason == "duplicate"
    assert compute_features(profile, T0 + timedelta(days=1))["spend_30d_dining"] == pytest.approx(25.0)


def test_out_of_order_and_stale_events():
    profile = CustomerProfile("c1")
    profile.apply(tx("late", 100, -5))
    assert profile.apply(tx("early", 95, -7)).applied
    stale = profile.apply(tx("ancient", 100 - HORIZON_DAYS - 1, -9))
    assert stale.reason == "stale"
    assert profile.stale_events == 1
    assert compute_features(profile, T0 + timedelta(days=100, hours=1))["spend_30d"] == pytest.approx(12.0)


def test_weekend_ratio_and_weekday_spend():
    profile = CustomerProfile("c1")
    for week in range(4):
        for weekday in range(7):
            amount = -60 if weekday >= 5 else -10
            profile.apply(tx(f"w{week}-{weekday}", week * 7 + weekday, amount), category="dining")
    features = compute_features(profile, T0 + timedelta(days=28))
    assert features["weekend_spend_ratio"] == pytest.approx(6.0)
    assert features["spend_56d_sat"] == pytest.approx(240.0)
    assert features["spend_56d_mon"] == pytest.approx(40.0)


def test_income_cadence_and_stability():
    profile = CustomerProfile("c1")
    for month in range(4):
        profile.apply(tx(f"s{month}", month * 30, 2500, "salary"))
    features = compute_features(profile, T0 + timedelta(days=95))
    assert features["has_salary"] == 1.0
    assert features["income_cadence_days"] == pytest.approx(30.0)
    assert features["income_stability"] > 0.9
    assert features["days_since_income"] == pytest.approx(5.0)


def test_balance_overdraft_logins_geo():
    profile = CustomerProfile("c1")
    profile.apply(BalanceSnapshotEvent(event_id="b1", customer_id="c1", ts=T0, balance=Decimal("100"), currency="EUR", credit_limit=Decimal("1000")))
    profile.apply(tx("t1", 1, -300))
    profile.apply(tx("t2", 2, -50, balance_after=Decimal("-400")))
    for day in range(3):
        profile.apply(LoginEvent(event_id=f"l{day}", customer_id="c1", ts=T0 + timedelta(days=day)))
    for index, country in enumerate(["NL", "NL", "NL", "ES"]):
        profile.apply(GeoPingEvent(event_id=f"g{index}", customer_id="c1", ts=T0 + timedelta(days=index), lat=1.0, lon=1.0, country=country))
    features = compute_features(profile, T0 + timedelta(days=3))
    assert features["balance"] == pytest.approx(-400.0)
    assert features["overdraft_days_90d"] == 2
    assert features["credit_utilisation"] == pytest.approx(0.4)
    assert features["logins_30d"] == 3
    assert features["travelling"] == 1.0


def test_serialisation_round_trip():
    profile = CustomerProfile("c1")
    for day in range(40):
        profile.apply(tx(f"t{day}", day, -day - 1), category="shopping")
    profile.apply_feedback("offer-a", "impression", T0.timestamp())
    restored = CustomerProfile.from_bytes(profile.to_bytes())
    now = T0 + timedelta(days=41)
    assert compute_features(restored, now) == compute_features(profile, now)
    assert restored.seen == profile.seen


def test_feature_set_and_encoding():
    profile = CustomerProfile("c1")
    features = compute_features(profile, T0)
    assert set(features) == set(FEATURE_NAMES)
    encoder = FeatureEncoder.from_names("default")
    vector = encoder.encode(features)
    assert vector.shape == (encoder.dim,)
    assert vector[-1] == 1.0
    assert abs(vector).max() <= 10.0
    before = copy.deepcopy(features)
    encoder.encode(features)
    assert features == before
